"""``warm_start=True``: a second ``fit`` continues, as MLPClassifier's does."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

import sk_adaprune
from sk_adaprune import AdaptivePrunedMLPClassifier, AdaptivePrunedMLPRegressor

PARAMS = dict(max_iter=4, tol=0, random_state=0)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def test_records_continue_as_mlpclassifiers_do(blobs):
    X, y = blobs
    ours = AdaptivePrunedMLPClassifier(warm_start=True, **PARAMS).fit(X, y)
    theirs = MLPClassifier(warm_start=True, **PARAMS).fit(X, y)
    first_curve = list(ours.loss_curve_)
    first_history = ours.pruning_history_["ratio"].copy()
    ours.fit(X, y)
    theirs.fit(X, y)
    # MLPClassifier: loss_curve_ goes on, n_iter_ counts this call's epochs.
    assert (len(ours.loss_curve_), ours.n_iter_) == (8, 4)
    assert (len(theirs.loss_curve_), theirs.n_iter_) == (8, 4)
    assert ours.loss_curve_[:4] == first_curve
    assert ours.best_loss_ == min(ours.loss_curve_)
    np.testing.assert_array_equal(ours.pruning_history_["ratio"][:4], first_history)
    assert len(ours.pruning_history_["sparsity"]) == 8


def test_the_second_fit_starts_from_the_fitted_network(blobs):
    X, y = blobs
    clf = AdaptivePrunedMLPClassifier(warm_start=True, **PARAMS).fit(X, y)
    ratio, temperature = clf.learned_ratio_, clf.temperature_
    clf.set_params(max_iter=1, learning_rate_init=1e-12, lr_r=0.0, lr_tau=0.0)
    first = [c.copy() for c in clf.coefs_]
    clf.fit(X, y)
    # With nothing allowed to move, the fit ends where the first one did.
    assert clf.initial_ratio_ == pytest.approx(ratio)
    assert clf.learned_ratio_ == pytest.approx(ratio)
    assert clf.temperature_ == pytest.approx(temperature)
    for before, after in zip(first, clf.coefs_):
        np.testing.assert_allclose(after, before, atol=1e-9)
    # The loss goes on from where it was, not from a new initialisation's.
    cold = AdaptivePrunedMLPClassifier(**{**PARAMS, "max_iter": 1}).fit(X, y)
    assert clf.loss_curve_[-1] < cold.loss_curve_[-1]


def test_without_warm_start_a_second_fit_starts_over(blobs):
    X, y = blobs
    clf = AdaptivePrunedMLPClassifier(**PARAMS).fit(X, y)
    first = clf.coefs_[0].copy()
    clf.fit(X, y)
    np.testing.assert_array_equal(clf.coefs_[0], first)
    assert len(clf.loss_curve_) == 4


def test_a_loaded_model_continues_like_the_fitted_one(blobs, tmp_path):
    X, y = blobs
    clf = AdaptivePrunedMLPClassifier(warm_start=True, **PARAMS).fit(X, y)
    path = tmp_path / "model.skadaprune"
    clf.save(path)
    loaded = sk_adaprune.load(path)
    clf.fit(X, y)
    loaded.fit(X, y)
    for ours, theirs in zip(clf.coefs_, loaded.coefs_):
        np.testing.assert_array_equal(ours, theirs)
    assert loaded.loss_curve_ == clf.loss_curve_


@pytest.mark.parametrize(
    "change, message",
    [
        ({"hidden_layer_sizes": (7,)}, "warm_start continues the fitted network"),
        ({"y": "classes"}, "warm_start can only be used where `y` has the same"),
        ({"X": "features"}, "X has 4 features, but AdaptivePrunedMLPClassifier"),
    ],
)
def test_what_a_warm_start_cannot_continue_raises(change, message, blobs):
    X, y = blobs
    clf = AdaptivePrunedMLPClassifier(warm_start=True, **PARAMS).fit(X, y)
    if "hidden_layer_sizes" in change:
        clf.set_params(**change)
    if change.get("y") == "classes":
        y = np.where(y == 2, 5, y)
    if change.get("X") == "features":
        X = X[:, :4]
    coefs = clf.coefs_
    with pytest.raises(ValueError, match=message):
        clf.fit(X, y)
    assert clf.coefs_ is coefs  # the fitted model is left as it was


def test_mlpclassifier_raises_the_same_for_other_classes(blobs):
    X, y = blobs
    mlp = MLPClassifier(warm_start=True, **PARAMS).fit(X, y)
    with pytest.raises(ValueError, match="warm_start can only be used where `y`"):
        mlp.fit(X, np.where(y == 2, 5, y))


def test_regressor_warm_start_checks_the_outputs(blobs):
    X, y = blobs
    reg = AdaptivePrunedMLPRegressor(warm_start=True, **PARAMS).fit(X, y * 1.0)
    with pytest.raises(ValueError, match="network of 1 outputs; y has 2"):
        reg.fit(X, np.c_[y, y] * 1.0)
    reg.fit(X, y * 1.0)
    assert len(reg.loss_curve_) == 8


def test_warm_start_hardens_again_at_the_end(blobs):
    X, y = blobs
    clf = AdaptivePrunedMLPClassifier(warm_start=True, **PARAMS).fit(X, y)
    clf.fit(X, y)
    weights = np.concatenate([c.ravel() for c in clf.coefs_])
    assert clf.learned_sparsity_ == pytest.approx(np.mean(weights == 0))
    assert np.all(np.abs(weights[weights != 0]) >= clf.threshold_)
