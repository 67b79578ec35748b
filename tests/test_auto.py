"""The 'auto' rule's decisions: how fits of every length start and prune."""

import numpy as np
import pytest

from sk_adaprune import AdaptivePrunedMLPClassifier, AdaptivePrunedMLPRegressor
from sk_adaprune._auto import Schedule, schedule, steps_of


def test_a_long_fit_starts_dense_under_gradual_pruning_s_ramp():
    # 10 epochs of 500 batches at lr_r=1e-3: r could climb 5 times from 0 to 1.
    steps = steps_of(10, 100_000, 200)
    assert steps == 5_000
    plan = schedule(AdaptivePrunedMLPClassifier(max_iter=10), steps)
    assert plan == Schedule(0.0, (500, 3750), "masked")


def test_a_short_fit_starts_dense_under_a_late_ramp_with_the_full_gradient():
    # load_digits' demo fit: 200 epochs of 7 batches, r could climb 1.4 times.
    steps = steps_of(200, 1347, 200)
    assert steps == 1_400
    plan = schedule(AdaptivePrunedMLPClassifier(), steps)
    assert plan == Schedule(0.0, (700, 1330), "full")


def test_a_short_fit_with_early_stopping_has_no_ramp():
    # Its length is unknown: a ramp sized to max_iter would hold r at 0 past
    # the epoch where it stops.
    plan = schedule(AdaptivePrunedMLPClassifier(early_stopping=True), 1_400)
    assert plan == Schedule(0.0, None, "full")
    long_plan = schedule(AdaptivePrunedMLPClassifier(early_stopping=True), 5_000)
    assert long_plan == Schedule(0.0, (500, 3750), "masked")


def test_a_stream_starts_dense_without_a_ramp_and_a_continued_fit_goes_on():
    assert schedule(AdaptivePrunedMLPRegressor(), None) == Schedule(0.0, None, "full")
    continued = schedule(AdaptivePrunedMLPRegressor(), 1_400, continued_ratio=0.8)
    assert continued == Schedule(0.8, None, "full")


def test_explicit_settings_override_auto():
    estimator = AdaptivePrunedMLPClassifier(
        r_init=0.25, r_ramp=None, weight_gradient="masked"
    )
    assert schedule(estimator, 1_400) == Schedule(0.25, None, "masked")
    estimator.set_params(r_ramp=(0.0, 0.5))
    assert schedule(estimator, 1_400).ratio_ramp == (0, 700)
    assert schedule(estimator, None).ratio_ramp is None  # a stream has no length


def test_a_short_fit_prunes_under_its_ramp(blobs):
    X, y = blobs
    clf = AdaptivePrunedMLPClassifier(
        max_iter=40, lr_r=1e-2, n_iter_no_change=100, random_state=0
    ).fit(X, y)
    assert clf.initial_ratio_ == 0.0
    ratio = clf.pruning_history_["ratio"]
    # One batch an epoch: r is held at 0 for 50% of the 40 steps, then
    # climbs, by at most about lr_r a step (Adam's step).
    assert np.all(ratio[:20] == 0.0) and ratio[20] > 0.0
    assert np.all(np.diff(ratio) <= 1.01e-2) and ratio[-1] > 0.1


def test_an_early_stopped_short_fit_prunes_from_its_first_steps(blobs):
    X, y = blobs
    clf = AdaptivePrunedMLPClassifier(
        max_iter=20, lr_r=1e-2, early_stopping=True, random_state=0
    ).fit(X, y)
    ratio = clf.pruning_history_["ratio"]
    assert 0.0 < ratio[0] <= 1.01e-2


@pytest.mark.parametrize("max_iter, long_fit", [(200, False), (3000, True)])
def test_the_fit_length_decides_the_weight_gradient(blobs, max_iter, long_fit):
    X, y = blobs  # 150 rows: one batch an epoch
    steps = steps_of(max_iter, len(X), 200)
    plan = schedule(AdaptivePrunedMLPClassifier(max_iter=max_iter), steps)
    assert (plan.weight_gradient == "masked") == long_fit


def test_while_the_ramp_holds_r_at_0_the_fit_trains_mlpregressor_s_network():
    # The mask is off: at r = 0 the soft mask would still scale the smallest
    # weights by about a half. Same initial weights, batches in order, Adam:
    # the losses follow MLPRegressor's (its Adam adds eps after the bias
    # correction, torch's before) until the ramp begins.
    from sklearn.datasets import load_diabetes
    from sklearn.neural_network import MLPRegressor

    X, y = load_diabetes(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    X, y = X[:200], y[:200]
    params = dict(shuffle=False, batch_size=50, max_iter=20, random_state=0)
    reference = MLPRegressor(tol=0, **params).fit(X, y).loss_curve_
    losses = (
        AdaptivePrunedMLPRegressor(r_ramp=(0.5, 0.9), finetune_fraction=0, **params)
        .fit(X, y)
        .loss_curve_
    )
    # 4 steps an epoch: r is held at 0 for the first 10 epochs.
    np.testing.assert_allclose(losses[:10], reference[:10], rtol=1e-6)
    assert abs(losses[12] / reference[12] - 1) > 1e-6  # then the mask is on
