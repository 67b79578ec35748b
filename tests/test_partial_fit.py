"""``partial_fit``: one epoch per call, the network going on between calls."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor

from sk_adaprune import AdaptivePrunedMLPClassifier, AdaptivePrunedMLPRegressor

CLASSES = np.arange(10)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def chunks(X, y, size):
    """The rows in chunks of ``size``, as a stream too large for memory would
    come (a generator: each chunk is seen once per pass)."""
    for start in range(0, len(X), size):
        yield X[start : start + size], y[start : start + size]


def test_a_stream_of_chunks_reaches_one_fits_accuracy_and_sparsity(digits_split):
    X, X_test, y, y_test = digits_split
    epochs = 30
    # Batches of 135: 10 steps a pass for both (1347 rows; chunks of 270).
    params = dict(batch_size=135, random_state=0)
    # The whole fit without a ramp, as a stream of unknown length has none.
    whole = AdaptivePrunedMLPClassifier(
        max_iter=epochs, tol=0, r_ramp=None, **params
    ).fit(X, y)
    streamed = AdaptivePrunedMLPClassifier(**params)
    for _ in range(epochs):
        for X_chunk, y_chunk in chunks(X, y, 270):
            streamed.partial_fit(X_chunk, y_chunk, classes=CLASSES)
    assert len(streamed.loss_curve_) == epochs * 5
    # Within 2 points of accuracy and 10 of sparsity: both start dense and
    # prune from their first steps.
    assert abs(streamed.score(X_test, y_test) - whole.score(X_test, y_test)) <= 0.02
    assert abs(streamed.learned_sparsity_ - whole.learned_sparsity_) <= 0.10
    assert streamed.learned_sparsity_ > 0.2


@pytest.mark.parametrize("estimator", [AdaptivePrunedMLPClassifier, MLPClassifier])
def test_calls_count_as_mlpclassifiers_do(estimator, blobs):
    X, y = blobs
    clf = estimator(random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X, y)
    for call in range(1, 4):
        clf.partial_fit(X, y, classes=[0, 1, 2])
        assert (clf.n_iter_, len(clf.loss_curve_)) == (1, call)
    with pytest.raises(ValueError, match="`y` has classes not in `self.classes_`"):
        clf.partial_fit(X, np.where(y == 2, 7, y))
    with pytest.raises(ValueError, match="is not the same as on last call"):
        clf.partial_fit(X, y, classes=[0, 1, 2, 3])


@pytest.mark.parametrize(
    "estimator", [AdaptivePrunedMLPRegressor, MLPRegressor, AdaptivePrunedMLPClassifier]
)
def test_partial_fit_refuses_early_stopping(estimator, blobs):
    X, y = blobs
    with pytest.raises(ValueError, match="partial_fit does not support early_stop"):
        estimator(early_stopping=True).partial_fit(X, y)


def test_predictions_use_the_hard_mask_while_training_stays_soft(blobs):
    X, y = blobs
    # From r = 0.5, so that one call's hard mask prunes.
    clf = AdaptivePrunedMLPClassifier(r_init=0.5, random_state=0).partial_fit(
        X, y, classes=[0, 1, 2]
    )
    module = clf.net_.module_
    assert not module.hardened
    assert clf.net_.optimizer_.state  # Adam's moments go on to the next call
    weights = np.concatenate([c.ravel() for c in clf.coefs_])
    assert clf.learned_sparsity_ == pytest.approx(np.mean(weights == 0))
    assert clf.learned_sparsity_ > 0.3
    assert np.all(np.abs(weights[weights != 0]) >= clf.threshold_)
    module.eval()
    with torch.no_grad():
        logits = module(torch.as_tensor(X))  # in X's dtype, as trained
    np.testing.assert_allclose(
        clf.predict_proba(X), torch.softmax(logits, 1).numpy(), atol=1e-5
    )
    # The next call trains on: the module's weights below the threshold
    # were never zeroed, and they move on.
    below = module.weights.detach().abs() < clf.threshold_
    assert (module.weights.detach()[below] != 0).any()
    clf.partial_fit(X, y)
    assert not clf.net_.module_.hardened
    moved = np.concatenate([c.ravel() for c in clf.coefs_])
    assert not np.array_equal(moved, weights)


def test_after_fit_a_call_goes_on_from_the_fitted_network(blobs):
    X, y = blobs
    clf = AdaptivePrunedMLPClassifier(max_iter=5, tol=0, random_state=0).fit(X, y)
    fitted = [c.copy() for c in clf.coefs_]
    clf.set_params(learning_rate_init=1e-12, lr_r=0.0, lr_tau=0.0)
    clf.partial_fit(X, y)
    for before, after in zip(fitted, clf.coefs_):
        np.testing.assert_allclose(after, before, atol=1e-9)
    assert len(clf.loss_curve_) == 6


def test_fit_after_partial_fit_starts_over(blobs):
    X, y = blobs
    params = dict(max_iter=3, tol=0, random_state=0)
    clf = AdaptivePrunedMLPClassifier(**params).partial_fit(X, y, classes=[0, 1, 2])
    clf.fit(X, y)
    fresh = AdaptivePrunedMLPClassifier(**params).fit(X, y)
    for ours, theirs in zip(clf.coefs_, fresh.coefs_):
        np.testing.assert_array_equal(ours, theirs)
    assert clf.loss_curve_ == fresh.loss_curve_


def test_regressor_streams_with_sample_weights(blobs):
    X, y = blobs
    target = X[:, 0] - X[:, 1]
    weight = np.random.RandomState(0).randint(0, 3, size=len(y)).astype(float)
    kept = weight > 0
    weighted = AdaptivePrunedMLPRegressor(random_state=0)
    dropped = AdaptivePrunedMLPRegressor(random_state=0)
    for _ in range(3):
        weighted.partial_fit(X, target, sample_weight=weight)
        dropped.partial_fit(X[kept], target[kept], sample_weight=weight[kept])
    np.testing.assert_array_equal(weighted.predict(X), dropped.predict(X))
    assert len(weighted.loss_curve_) == 3
