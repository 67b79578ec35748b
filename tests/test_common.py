"""scikit-learn's estimator checks on every public estimator.

The classifiers with max_iter=30, the fit length at which MLPClassifier
passes them too: a short fit starts dense and ramps r, so the checks'
training-accuracy thresholds hold after a few dozen epochs. The regressors
with max_iter=100: at 30, check_regressors_train's R^2 > 0.5 on its
200-row set (30 full-batch steps) is a matter of the initial draw, for
MLPRegressor as for ours (at random_state=0 ours reaches 0.49 with or
without pruning, MLPRegressor 0.77; at seeds 1 to 3 ours 0.55, 0.53, 0.41,
MLPRegressor 0.51, 0.53, 0.61).

Both pruning targets, weights and whole neurons, are checked. No check is
expected to fail. The sample-weight equivalence checks (a
weighted fit against one on repeated rows, to 1e-7 relative) hold because
training computes in X's dtype, float64 there, as MLPClassifier's.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sk_adaprune import AdaptivePrunedMLPClassifier, AdaptivePrunedMLPRegressor


@parametrize_with_checks(
    [
        AdaptivePrunedMLPClassifier(max_iter=30),
        AdaptivePrunedMLPRegressor(max_iter=100),
        AdaptivePrunedMLPClassifier(max_iter=30, prune="neurons"),
        AdaptivePrunedMLPRegressor(max_iter=100, prune="neurons"),
    ],
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
