"""Training faults: divergence, everything pruned, interrupts, awkward data."""

import copy
import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from sk_adaprune import (
    AdaptivePrunedMLPClassifier,
    AdaptivePrunedMLPRegressor,
    _classifier,
)
from sk_adaprune._training import callbacks
from sk_adaprune._training import net as _net


def all_finite(estimator):
    arrays = estimator.coefs_ + estimator.intercepts_
    return all(np.isfinite(a).all() for a in arrays)


def test_divergence_in_the_first_epoch_raises_with_advice(blobs):
    X, y = blobs
    # MLPClassifier's words first, then the advice.
    with pytest.raises(
        ValueError,
        match="^Solver produced non-finite parameter weights. The input data may "
        "contain large values.*diverged in the first epoch.*learning_rate_init",
    ):
        AdaptivePrunedMLPClassifier(learning_rate_init=1e3, random_state=0).fit(X, y)


def poison_training_losses_after(monkeypatch, healthy_batches):
    """Make every training loss after the first ``healthy_batches`` NaN."""
    calls = {"n": 0}
    original = _net.PruningNet.get_loss

    def poisoned(self, y_pred, y_true, X=None, training=False):
        loss = original(self, y_pred, y_true, X=X, training=training)
        calls["n"] += training
        return loss * float("nan") if calls["n"] > healthy_batches else loss

    monkeypatch.setattr(_net.PruningNet, "get_loss", poisoned)


def test_divergence_later_restores_the_last_good_epoch(blobs, monkeypatch):
    X, y = blobs
    poison_training_losses_after(monkeypatch, 7)
    clf = AdaptivePrunedMLPClassifier(batch_size=50, max_iter=10, random_state=0)
    with pytest.warns(
        ConvergenceWarning, match="diverged in epoch 3.*epoch 2 were restored"
    ):
        clf.fit(X, y)  # 3 batches an epoch: batch 8 is in epoch 3
    assert clf.n_iter_ == 2 and len(clf.loss_curve_) == 2
    assert all_finite(clf)
    assert np.isfinite(clf.predict_proba(X)).all()


def test_everything_pruned_warns_and_still_predicts(blobs):
    X, y = blobs
    clf = AdaptivePrunedMLPClassifier(
        lambda_=1e4, lr_r=0.1, max_iter=40, random_state=0
    )
    with pytest.warns(ConvergenceWarning, match="ceiling.*Lower lambda_"):
        clf.fit(X, y)
    assert clf.learned_sparsity_ > 0.99
    assert clf.predict(X).shape == (150,)
    assert np.isfinite(clf.predict_proba(X)).all()


def test_keyboard_interrupt_leaves_a_consistent_hard_masked_model(blobs, monkeypatch):
    X, y = blobs
    original = _net.BatchIterator.__iter__
    epochs = {"n": 0}

    def interrupted(self):
        epochs["n"] += 1
        for i, batch in enumerate(original(self)):
            if epochs["n"] == 4 and i == 1:
                raise KeyboardInterrupt
            yield batch

    monkeypatch.setattr(_net.BatchIterator, "__iter__", interrupted)
    clf = AdaptivePrunedMLPClassifier(batch_size=50, max_iter=10, random_state=0)
    with pytest.warns(UserWarning, match="Training interrupted by user"):
        clf.fit(X, y)
    assert clf.n_iter_ == 3
    assert clf.net_.module_.hardened
    zeros = sum((c == 0).sum() for c in clf.coefs_) / sum(c.size for c in clf.coefs_)
    assert clf.learned_sparsity_ == zeros
    kept = np.concatenate([np.abs(c[c != 0]) for c in clf.coefs_])
    assert kept.min() >= clf.threshold_
    # The estimator predicts with the network it holds.
    assert all_finite(clf)
    with torch.no_grad():
        exported = clf.to_torch()(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(clf.predict_proba(X), exported, rtol=1e-12)


@pytest.mark.parametrize(
    "transform",
    [
        lambda X: np.column_stack([X, np.ones(len(X))]),  # a constant feature
        lambda X: np.vstack([X, X]),  # every row twice
    ],
    ids=["constant feature", "duplicated rows"],
)
def test_awkward_but_valid_data_trains(blobs, transform):
    X, y = blobs
    X2 = transform(X)
    y2 = y if len(X2) == len(X) else np.concatenate([y, y])
    clf = AdaptivePrunedMLPClassifier(random_state=0).fit(X2, y2)
    assert clf.score(X2, y2) > 0.9


def test_huge_features_get_advice_and_a_finite_model(blobs):
    X, y = blobs
    with pytest.warns(UserWarning, match="Standardise them"):
        clf = AdaptivePrunedMLPClassifier(max_iter=20, random_state=0).fit(X * 1e6, y)
    assert all_finite(clf)


@pytest.mark.parametrize(
    "Estimator", [AdaptivePrunedMLPClassifier, AdaptivePrunedMLPRegressor]
)
@pytest.mark.parametrize("fitted", [False, True])
def test_round_trips_of_fitted_and_unfitted_estimators(blobs, Estimator, fitted):
    X, y = blobs
    estimator = Estimator(max_iter=3, random_state=0, lambda_=2.0)
    if fitted:
        estimator.fit(X, y)
    for twin in (pickle.loads(pickle.dumps(estimator)), copy.deepcopy(estimator)):
        assert twin.get_params() == estimator.get_params()
        if fitted:
            np.testing.assert_array_equal(twin.predict(X), estimator.predict(X))
            assert twin.pruning_history_.keys() == estimator.pruning_history_.keys()
        else:
            assert not hasattr(twin, "net_")
    assert not hasattr(clone(estimator), "net_")


@pytest.mark.parametrize(
    "poisoned_step, early_stopping, diverged_in",
    [(8, False, 3), (9, False, 4), (9, True, 4)],
    ids=["mid-epoch", "last step of an epoch", "with early stopping"],
)
def test_nan_weights_after_a_finite_loss_restore_the_last_good_epoch(
    blobs, monkeypatch, poisoned_step, early_stopping, diverged_in
):
    # An update with a finite loss can still leave NaN weights (an infinite
    # gradient); the threshold then refuses them, and the guard takes over.
    X, y = blobs
    steps = {"n": 0}
    original = _net.PruningNet.train_step

    def poisoning(self, batch, **fit_params):
        step = original(self, batch, **fit_params)
        steps["n"] += 1
        if steps["n"] == poisoned_step:
            self.module_.weights.data[0] = float("nan")
        return step

    monkeypatch.setattr(_net.PruningNet, "train_step", poisoning)
    clf = AdaptivePrunedMLPClassifier(
        batch_size=50, max_iter=10, early_stopping=early_stopping, random_state=0
    )
    with pytest.warns(
        ConvergenceWarning,
        match=f"diverged in epoch {diverged_in}.*epoch 2 were restored",
    ):
        clf.fit(X, y)  # 3 batches an epoch, with and without the held-out tenth
    assert clf.n_iter_ == 2
    assert all_finite(clf)
    assert np.isfinite(clf.predict_proba(X)).all()


def scripted_scores(monkeypatch, scores):
    """Make the held-out score of epoch i ``scores[i]`` (blobs: multiclass);
    return the biases each epoch ended with."""
    biases = []
    record = callbacks.PruningMonitor.on_epoch_end

    def recording(self, net, **kwargs):
        record(self, net, **kwargs)
        biases.append(np.concatenate([b.detach().numpy() for b in net.module_.biases]))

    monkeypatch.setattr(callbacks.PruningMonitor, "on_epoch_end", recording)
    monkeypatch.setattr(
        _classifier, "argmax_accuracy", lambda outputs, y: scores[len(biases) - 1]
    )
    return biases


def intercepts(estimator):
    return np.concatenate(estimator.intercepts_)


def test_early_stopping_restores_the_best_epochs_state(blobs, monkeypatch):
    X, y = blobs
    biases = scripted_scores(monkeypatch, [0.5, 0.9, 0.6, 0.7, 0.8, 0.8])
    clf = AdaptivePrunedMLPClassifier(
        early_stopping=True,
        n_iter_no_change=3,
        tol=0.0,
        max_iter=50,
        finetune_fraction=0,
        random_state=0,
    ).fit(X, y)
    assert clf.n_iter_ == 6  # four epochs after the best without a gain
    assert clf.best_validation_score_ == 0.9
    np.testing.assert_array_equal(intercepts(clf), biases[1])
    assert not np.array_equal(intercepts(clf), biases[-1])


def test_early_stopping_never_restores_a_state_the_guard_rejected(blobs, monkeypatch):
    # Epoch 3 scores best, but the first batch after it diverges: its state
    # is not good (the guard keeps epoch 2), so neither may the rule load it.
    X, y = blobs
    biases = scripted_scores(monkeypatch, [0.5, 0.6, 0.9, 0.9])
    poison_training_losses_after(monkeypatch, 9)  # batch 10: epoch 4's first
    clf = AdaptivePrunedMLPClassifier(
        early_stopping=True,
        batch_size=50,
        max_iter=10,
        finetune_fraction=0,
        random_state=0,
    )
    with pytest.warns(
        ConvergenceWarning, match="diverged in epoch 4.*epoch 2 were restored"
    ):
        clf.fit(X, y)
    assert clf.n_iter_ == 2 and clf.validation_scores_ == [0.5, 0.6]
    assert clf.best_validation_score_ == 0.6
    np.testing.assert_array_equal(intercepts(clf), biases[1])
    assert all_finite(clf)


def interrupt_in_epoch(monkeypatch, epoch):
    """A KeyboardInterrupt at the second batch of epoch ``epoch``."""
    original = _net.BatchIterator.__iter__
    epochs = {"n": 0}

    def interrupted(self):
        epochs["n"] += 1
        for i, batch in enumerate(original(self)):
            if epochs["n"] == epoch and i == 1:
                raise KeyboardInterrupt
            yield batch

    monkeypatch.setattr(_net.BatchIterator, "__iter__", interrupted)


FAILURES = {
    "invalid r_ramp": (dict(r_ramp=(0.9, 0.1)), ValueError, "r_ramp must be"),
    "divergence": (dict(learning_rate_init=1e3), ValueError, "non-finite"),
    "validation set": (
        dict(early_stopping=True, validation_fraction=0.005),
        ValueError,
        "test_size|validation set is too small",
    ),
    "first-epoch interrupt": (dict(), KeyboardInterrupt, None),
}


@pytest.mark.parametrize("failure", FAILURES)
def test_a_failed_refit_leaves_the_fitted_model_as_it_was(blobs, failure, monkeypatch):
    X, y = blobs
    clf = AdaptivePrunedMLPClassifier(batch_size=50, max_iter=5, random_state=0)
    clf.fit(X, y)  # three classes; the refit gets two
    params, error, match = FAILURES[failure]
    clf.set_params(**params)
    proba, before = clf.predict_proba(X), dict(vars(clf))
    if failure == "first-epoch interrupt":
        interrupt_in_epoch(monkeypatch, 1)
    with pytest.raises(error, match=match):
        clf.fit(X, y % 2)
    assert vars(clf).keys() == before.keys()
    assert all(vars(clf)[name] is value for name, value in before.items())
    np.testing.assert_array_equal(clf.predict_proba(X), proba)
    assert list(clf.classes_) == [0, 1, 2]


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_an_interrupt_in_the_first_epoch_leaves_an_unfitted_estimator(
    blobs, monkeypatch, method
):
    X, y = blobs
    clf = AdaptivePrunedMLPClassifier(batch_size=50, random_state=0)
    interrupt_in_epoch(monkeypatch, 1)
    kwargs = {"classes": [0, 1, 2]} if method == "partial_fit" else {}
    with pytest.raises(KeyboardInterrupt):
        getattr(clf, method)(X, y, **kwargs)
    fitted = [name for name in vars(clf) if name.endswith("_") and name != "lambda_"]
    assert fitted == []
    assert (
        vars(clf) == AdaptivePrunedMLPClassifier(batch_size=50, random_state=0).__dict__
    )


def test_a_failed_partial_fit_keeps_the_last_calls_model(blobs, monkeypatch):
    X, y = blobs
    clf = AdaptivePrunedMLPClassifier(batch_size=50, random_state=0)
    clf.partial_fit(X, y, classes=[0, 1, 2])
    proba, coefs = clf.predict_proba(X), clf.coefs_
    interrupt_in_epoch(monkeypatch, 1)  # the second call's epoch
    with pytest.raises(KeyboardInterrupt):
        clf.partial_fit(X, y)
    assert clf.coefs_ is coefs and len(clf.loss_curve_) == 1
    np.testing.assert_array_equal(clf.predict_proba(X), proba)
    # The next call goes on from the fitted attributes.
    monkeypatch.undo()
    assert len(clf.partial_fit(X, y).loss_curve_) == 2
