"""``fit(X, y, sample_weight)`` as scikit-learn's MLPs define it."""

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, r2_score
from sklearn.neural_network import MLPClassifier, MLPRegressor

from sk_adaprune import AdaptivePrunedMLPClassifier, AdaptivePrunedMLPRegressor
from sk_adaprune._training.losses import BinaryLogLoss, HalfSquaredError, SoftmaxLogLoss

SHORT = dict(max_iter=5, tol=0, random_state=0)


def _probabilities(logits, softmax=True):
    if softmax:
        return torch.softmax(logits, dim=1).double().numpy()
    return torch.sigmoid(logits).double().numpy()


@pytest.mark.parametrize("seed", range(3))
def test_weighted_losses_are_scikit_learns_weighted_averages(seed):
    rng = np.random.RandomState(seed)
    weight = rng.uniform(0.1, 3, size=12)
    w = torch.tensor(weight)
    logits = torch.tensor(rng.normal(size=(12, 4)))
    codes = rng.randint(0, 4, size=12)
    indicators = rng.randint(0, 2, size=(12, 4)).astype(float)
    targets = rng.normal(size=(12, 4))

    # MLPClassifier's log_loss, binary_log_loss and MLPRegressor's squared_loss.
    p = _probabilities(logits)
    expected = -np.average(np.log(p[np.arange(12), codes]), weights=weight)
    got = SoftmaxLogLoss()(logits, torch.tensor(codes), sample_weight=w).item()
    assert got == pytest.approx(expected, rel=1e-12)

    q = _probabilities(logits, softmax=False)
    per_entry = indicators * np.log(q) + (1 - indicators) * np.log(1 - q)
    expected = -np.average(per_entry, weights=weight, axis=0).sum()
    got = BinaryLogLoss()(logits, torch.tensor(indicators), sample_weight=w).item()
    assert got == pytest.approx(expected, rel=1e-12)

    outputs = logits.numpy()
    expected = 0.5 * np.average((targets - outputs) ** 2, weights=weight, axis=0).mean()
    got = HalfSquaredError()(logits, torch.tensor(targets), sample_weight=w).item()
    assert got == pytest.approx(expected, rel=1e-12)

    # Unit weights give the unweighted losses.
    ones = torch.ones(12, dtype=torch.float64)
    for loss, y_true in (
        (SoftmaxLogLoss(), torch.tensor(codes)),
        (BinaryLogLoss(), torch.tensor(indicators)),
        (HalfSquaredError(), torch.tensor(targets)),
    ):
        assert loss(logits, y_true, sample_weight=ones).item() == pytest.approx(
            loss(logits, y_true).item(), rel=1e-12
        )


def test_zero_weights_are_rows_left_out(blobs):
    X, y = blobs
    weight = np.random.RandomState(1).randint(0, 3, size=len(y)).astype(float)
    kept = weight > 0
    for early_stopping in (False, True):
        params = dict(early_stopping=early_stopping, **SHORT)
        weighted = AdaptivePrunedMLPClassifier(**params).fit(X, y, sample_weight=weight)
        dropped = AdaptivePrunedMLPClassifier(**params).fit(
            X[kept], y[kept], sample_weight=weight[kept]
        )
        for a, b in zip(weighted.coefs_, dropped.coefs_):
            np.testing.assert_array_equal(a, b)
        assert weighted.loss_curve_ == dropped.loss_curve_


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (AdaptivePrunedMLPClassifier, MLPClassifier),
        (AdaptivePrunedMLPRegressor, MLPRegressor),
    ],
)
def test_integer_weights_are_repeated_rows_as_in_scikit_learn(ours, theirs, blobs):
    # One batch an epoch (batch_size >= the rows), so that the shuffling,
    # which differs between 60 rows and their repetitions, plays no part.
    X, y = blobs
    X, y = X[:60], y[:60]
    if ours is AdaptivePrunedMLPRegressor:
        y = y.astype(float)
    weight = np.random.RandomState(2).randint(1, 4, size=60)
    params = dict(max_iter=20, tol=0, random_state=0)  # batch: all rows
    fits = {}
    for estimator in (ours, theirs):
        weighted = estimator(**params).fit(X, y, sample_weight=weight)
        repeated = estimator(**params).fit(
            np.repeat(X, weight, 0), np.repeat(y, weight)
        )
        np.testing.assert_allclose(
            weighted.predict(X), repeated.predict(X), rtol=1e-4, atol=1e-4
        )
        np.testing.assert_allclose(
            weighted.loss_curve_, repeated.loss_curve_, rtol=1e-4
        )
        fits[estimator] = weighted
    # The weights changed our fit: ignoring them would not pass the above.
    unweighted = ours(**params).fit(X, y)
    assert not np.allclose(unweighted.coefs_[0], fits[ours].coefs_[0], atol=1e-4)


@pytest.mark.parametrize(
    "estimator", [AdaptivePrunedMLPClassifier, AdaptivePrunedMLPRegressor]
)
def test_equivalence_check_holds_to_float32_round_off_on_float32_X(estimator):
    # scikit-learn's check_sample_weight_equivalence_on_dense_data (run at
    # float64 in tests/test_common.py) on float32 X, which trains in float32:
    # the weighted and repeated sums round apart by a few units in the last
    # place, so the tolerance is float32's in place of the check's 1e-7.
    from sklearn.utils import shuffle

    rng = np.random.RandomState(42)
    X = rng.rand(15, 30).astype(np.float32)
    y = rng.randint(0, 3, size=15)
    weight = rng.randint(0, 5, size=15)
    X_repeated, y_repeated = X.repeat(weight, axis=0), y.repeat(weight)
    X_weighted, y_weighted, weight = shuffle(X, y, weight, random_state=0)
    params = dict(max_iter=100, random_state=0)
    repeated = estimator(**params).fit(X_repeated, y_repeated)
    weighted = estimator(**params).fit(X_weighted, y_weighted, sample_weight=weight)
    method = "predict_proba" if hasattr(repeated, "predict_proba") else "predict"
    np.testing.assert_allclose(
        getattr(weighted, method)(X), getattr(repeated, method)(X), rtol=1e-5, atol=1e-6
    )


def test_unit_weights_give_the_unweighted_fit(blobs):
    X, y = blobs
    plain = AdaptivePrunedMLPClassifier(**SHORT).fit(X, y)
    ones = AdaptivePrunedMLPClassifier(**SHORT).fit(X, y, sample_weight=np.ones(150))
    np.testing.assert_allclose(plain.predict_proba(X), ones.predict_proba(X), atol=1e-5)
    assert plain.loss_curve_ == pytest.approx(ones.loss_curve_, rel=1e-6)


@pytest.mark.parametrize("regression", [False, True])
def test_early_stopping_scores_the_held_out_rows_with_their_weights(
    regression, blobs, early_stopping_split
):
    X, y = blobs
    # Distinct weights, so that the score would differ unweighted.
    weight = np.linspace(0.1, 5.0, len(y))
    estimator, score = (
        (AdaptivePrunedMLPRegressor, r2_score)
        if regression
        else (AdaptivePrunedMLPClassifier, accuracy_score)
    )
    target = X[:, 0] + y if regression else y
    fitted = estimator(early_stopping=True, **SHORT).fit(
        X, target, sample_weight=weight
    )
    valid = early_stopping_split["valid"]
    expected = score(
        target[valid], fitted.predict(X[valid]), sample_weight=weight[valid]
    )
    assert fitted.best_validation_score_ == pytest.approx(expected, rel=1e-6)
    unweighted = score(target[valid], fitted.predict(X[valid]))
    assert unweighted != pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    "weight, message",
    [
        (-np.ones(150), "Negative values in data passed to `sample_weight`"),
        (np.zeros(150), "Sample weights must contain at least one non-zero"),
        (np.r_[1.0, np.zeros(149)], "positive for only one sample"),
        (np.ones(10), "sample_weight.shape == \\(10,\\), expected \\(150,\\)"),
        (np.r_[np.nan, np.ones(149)], "Input sample_weight contains NaN"),
    ],
)
def test_bad_sample_weights_are_refused(weight, message, blobs):
    X, y = blobs
    with pytest.raises(ValueError, match=message):
        AdaptivePrunedMLPClassifier(**SHORT).fit(X, y, sample_weight=weight)


def test_the_fitted_estimator_keeps_no_weights(blobs):
    X, y = blobs
    clf = AdaptivePrunedMLPClassifier(**SHORT).fit(X, y, sample_weight=np.ones(150) * 2)
    assert clf.net_.sample_weight is None
