"""
Which inputs a model still uses
===============================

Pruning the first layer can drop inputs altogether. On ``load_digits`` the pixels at
the border carry little; :func:`~sk_adaprune.plotting.plot_input_usage` shows how many
outgoing weights each pixel kept, and ``used_features_`` lists those that kept any.
"""

# %%
import warnings

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from sk_adaprune import AdaptivePrunedMLPClassifier
from sk_adaprune.plotting import plot_input_usage

warnings.simplefilter("ignore", ConvergenceWarning)
X, y = load_digits(return_X_y=True)
clf = AdaptivePrunedMLPClassifier(lambda_=100.0, random_state=0).fit(X / 16, y)
print(f"{len(clf.used_features_)} of {X.shape[1]} pixels still used")
plot_input_usage(clf, image_shape=(8, 8))
plt.show()
