"""scikit-learn's estimator checks on every public estimator.

Both estimators at their defaults, and with max_iter=30, the fit length at
which MLPClassifier and MLPRegressor pass them too: a short fit starts dense,
its mask off while the ramp holds r at 0, and from
check_random_state(random_state) the network starts from MLPClassifier's
own initial weights, so thresholds such as check_regressors_train's
R^2 > 0.5 on its 200-row set hold where they hold for MLPRegressor (at
random_state=0 both reach 0.77).

Both pruning targets, weights and whole neurons, are checked. No check is
expected to fail. The sample-weight equivalence checks (a
weighted fit against one on repeated rows, to 1e-7 relative) hold because
training computes in X's dtype, float64 there, as MLPClassifier's.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sk_adaprune import AdaptivePrunedMLPClassifier, AdaptivePrunedMLPRegressor


@parametrize_with_checks(
    [
        AdaptivePrunedMLPClassifier(),
        AdaptivePrunedMLPRegressor(),
        AdaptivePrunedMLPClassifier(max_iter=30),
        AdaptivePrunedMLPRegressor(max_iter=30),
        AdaptivePrunedMLPClassifier(max_iter=30, prune="neurons"),
        AdaptivePrunedMLPRegressor(max_iter=30, prune="neurons"),
    ],
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
