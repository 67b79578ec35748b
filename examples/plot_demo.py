"""
A pruned network against MLPClassifier
======================================

Fit :class:`sklearn.neural_network.MLPClassifier` and
:class:`~sk_adaprune.AdaptivePrunedMLPClassifier` with the same parameters on
``load_digits``: both start from the same initial weights, and ours learns how many of
them to remove while it trains. One seed's accuracy on these 450 test rows is luck to
within a row or two (0.22 points each); ``python -m sk_adaprune`` makes the same
comparison for ten seeds and prints the means, level with MLPClassifier's.
"""

# %%
import warnings

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

from sk_adaprune import AdaptivePrunedMLPClassifier
from sk_adaprune.plotting import plot_layer_sparsity, plot_pruning_history

warnings.simplefilter("ignore", ConvergenceWarning)
X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X / 16.0, y, test_size=0.25, stratify=y, random_state=0
)
mlp = MLPClassifier(random_state=0).fit(X_train, y_train)
ours = AdaptivePrunedMLPClassifier(random_state=0).fit(X_train, y_train)

for name, model in (("MLPClassifier", mlp), ("ours", ours)):
    kept = sum(int((coef != 0).sum()) for coef in model.coefs_)
    print(f"{name:<14} accuracy {model.score(X_test, y_test):.4f}, {kept} weights")
print(f"learned sparsity {ours.learned_sparsity_:.1%}")

# %%
# How the fit went: the loss, the learned ratio ``r``, the temperature and the
# sparsity of the hard mask, epoch by epoch. Here r is still climbing at the end; once
# it has settled, a fine-tuning phase at the end of a fit trains
# the surviving weights with the mask hardened.
plot_pruning_history(ours)
plt.show()

# %%
# Each layer keeps a different share of its weights.
plot_layer_sparsity(ours)
plt.show()
