"""scikit-learn's estimator checks on every public estimator.

With max_iter=100, as scikit-learn checks its own MLPs: half the epochs of
the default. (Narrower networks, e.g. 16 or 32 units, prune too much of
themselves at the default lambda_ to pass the checks' training-accuracy
thresholds.)

Both pruning targets, weights and whole neurons, are checked. No check is
expected to fail. The sample-weight equivalence checks (a
weighted fit against one on repeated rows, to 1e-7 relative) hold because
training computes in X's dtype, float64 there, as MLPClassifier's.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sk_adaprune import AdaptivePrunedMLPClassifier, AdaptivePrunedMLPRegressor


@parametrize_with_checks(
    [
        AdaptivePrunedMLPClassifier(max_iter=100),
        AdaptivePrunedMLPRegressor(max_iter=100),
        AdaptivePrunedMLPClassifier(max_iter=100, prune="neurons"),
        AdaptivePrunedMLPRegressor(max_iter=100, prune="neurons"),
    ],
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
