"""
Choosing ``lambda_`` by grid search
===================================

``lambda_`` trades accuracy for sparsity. Score each candidate on both with
:func:`~sk_adaprune.model_selection.sparsity_scorer`, and let
:func:`~sk_adaprune.model_selection.sparsest_within` refit the sparsest candidate
within one point of the best accuracy.
"""

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from sk_adaprune import AdaptivePrunedMLPClassifier
from sk_adaprune.model_selection import sparsest_within, sparsity_scorer

warnings.simplefilter("ignore", ConvergenceWarning)
X, y = load_digits(return_X_y=True)
lambdas = [0.3, 3.0, 30.0, 300.0]
search = GridSearchCV(
    AdaptivePrunedMLPClassifier(random_state=0),
    {"lambda_": lambdas},
    scoring={"accuracy": "accuracy", "sparsity": sparsity_scorer},
    refit=sparsest_within(0.01),
    cv=3,
).fit(X / 16, y)
print("chosen:", search.best_params_)
print(f"its sparsity: {search.best_estimator_.learned_sparsity_:.1%}")

# %%
# Accuracy and sparsity of every candidate, mean over the folds.
results = search.cv_results_
fig, ax = plt.subplots(figsize=(6, 4))
ax.errorbar(
    lambdas,
    results["mean_test_accuracy"],
    yerr=results["std_test_accuracy"],
    marker="o",
    label="accuracy",
)
ax.plot(lambdas, results["mean_test_sparsity"], "s--", label="sparsity")
ax.set_xscale("log")
ax.set_xlabel("lambda_")
ax.set_ylim(0, 1.02)
ax.axvline(search.best_params_["lambda_"], color="grey", linewidth=0.8)
ax.legend()
ax.set_yticks(np.linspace(0, 1, 6))
plt.show()
