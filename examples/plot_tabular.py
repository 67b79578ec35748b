"""
A tabular set in a pipeline
===========================

Like :class:`~sklearn.neural_network.MLPClassifier`, the estimators want standardised
inputs: put them in a :class:`~sklearn.pipeline.Pipeline` after a
:class:`~sklearn.preprocessing.StandardScaler`. Five-fold cross-validation on the breast
cancer data, ours against ``MLPClassifier`` from the same initial network.
"""

# %%
import warnings

from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold, cross_validate
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sk_adaprune import AdaptivePrunedMLPClassifier

warnings.simplefilter("ignore", ConvergenceWarning)
X, y = load_breast_cancer(return_X_y=True)
folds = KFold(5, shuffle=True, random_state=0)
models = (MLPClassifier(random_state=0), AdaptivePrunedMLPClassifier(random_state=0))
for model in models:
    pipe = make_pipeline(StandardScaler(), model)
    scores = cross_validate(pipe, X, y, cv=folds, return_estimator=True)
    sparsity = [getattr(p[-1], "learned_sparsity_", 0.0) for p in scores["estimator"]]
    print(
        f"{type(model).__name__:<28} accuracy {scores['test_score'].mean():.4f} "
        f"± {scores['test_score'].std():.4f}, sparsity {sum(sparsity) / 5:.1%}"
    )
