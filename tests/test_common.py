"""scikit-learn's estimator checks on every public estimator.

With max_iter=100, as scikit-learn checks its own MLPs: half the epochs of
the default. (Narrower networks, e.g. 16 or 32 units, prune too much of
themselves at the default lambda_ to pass the checks' training-accuracy
thresholds.)

One kind of check is expected to fail, for a stated reason: the sample-weight
equivalence checks compare a weighted fit with one on repeated rows to 1e-7
relative, and our training runs in float32, where the two sums round apart
by a few units in the last place (measured: 6e-7 relative for the
classifier, 2.5e-6 for the regressor, 2.4e-7 absolute).
tests/test_sample_weight.py holds the same scenario to float32 round-off.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sk_adaprune import AdaptivePrunedMLPClassifier, AdaptivePrunedMLPRegressor

FLOAT32_ROUND_OFF = (
    "float32 training: weighted and repeated rows agree to float32 round-off "
    "(tests/test_sample_weight.py), not to the check's 1e-7"
)


def expected_failures(estimator):
    return {
        f"check_sample_weight_equivalence_on_{kind}_data": FLOAT32_ROUND_OFF
        for kind in ("dense", "sparse")
    }


@parametrize_with_checks(
    [
        AdaptivePrunedMLPClassifier(max_iter=100),
        AdaptivePrunedMLPRegressor(max_iter=100),
    ],
    expected_failed_checks=expected_failures,
    xfail_strict=True,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
