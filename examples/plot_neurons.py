"""
Pruning neurons for fast predictions
====================================

With ``prune='neurons'`` the learned ratio removes whole hidden units: the matrices
really shrink, and predictions on the compacted network are faster than on the dense
one, at a small cost in accuracy.
"""

# %%
import time
import warnings

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

from sk_adaprune import AdaptivePrunedMLPClassifier

warnings.simplefilter("ignore", ConvergenceWarning)
X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X / 16.0, y, test_size=0.25, stratify=y, random_state=0
)
hidden = (256, 128)
mlp = MLPClassifier(hidden_layer_sizes=hidden, random_state=0).fit(X_train, y_train)
neurons = AdaptivePrunedMLPClassifier(
    hidden_layer_sizes=hidden, prune="neurons", random_state=0
).fit(X_train, y_train)


def seconds_per_predict(model, repeats=200):
    start = time.perf_counter()
    for _ in range(repeats):
        model.predict(X_test)
    return (time.perf_counter() - start) / repeats


print("units kept per hidden layer:", [c.shape[1] for c in neurons.compact_.coefs[:-1]])
for name, model in (("MLPClassifier", mlp), ("neurons", neurons)):
    print(
        f"{name:<14} accuracy {model.score(X_test, y_test):.4f}, "
        f"predict {1e3 * seconds_per_predict(model):.3f} ms for {len(X_test)} rows"
    )

# %%
# The share of each hidden layer's units that the network does without.
fig, ax = plt.subplots(figsize=(5, 3))
ax.bar([f"layer {i + 1}" for i in range(len(hidden))], neurons.unit_sparsity_)
ax.set_ylabel("units pruned")
ax.set_ylim(0, 1)
plt.show()
