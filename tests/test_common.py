"""scikit-learn's estimator checks on every public estimator."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sk_adaprune import AdaptivePrunedMLPClassifier, AdaptivePrunedMLPRegressor


@parametrize_with_checks(
    [AdaptivePrunedMLPClassifier(), AdaptivePrunedMLPRegressor()],
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
