import sys
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import sparse
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.neural_network import MLPClassifier

from oracles import inputs_that_move
from sk_adaprune import AdaptivePrunedMLPClassifier

FAST = dict(max_iter=30, random_state=0)


@pytest.mark.end_to_end
def test_digits_lambda_prunes_most_weights_at_mlp_accuracy(digits_split):
    X_train, X_test, y_train, y_test = digits_split
    dense = MLPClassifier(random_state=0).fit(X_train, y_train)
    ours = AdaptivePrunedMLPClassifier(random_state=0).fit(X_train, y_train)
    ratios = ours.pruning_history_["ratio"]
    # A dense start, r held at 0 by the ramp for 50% of the 1,400 steps
    # (100 epochs), then climbing to where lambda_ puts it.
    assert np.all(ratios[:100] == 0.0) and ratios[100] > 0.0
    assert ours.learned_sparsity_ > 0.45
    # From the same initial network as MLPClassifier's (the comparison over
    # seeds and folds: benchmarks/demo_seeds.py, benchmarks/short_fits.py).
    assert ours.score(X_test, y_test) >= dense.score(X_test, y_test) - 0.012


@pytest.mark.end_to_end
@pytest.mark.parametrize("r_init", [0.3, 0.9])
def test_digits_without_lambda_ratio_wanders_with_the_task_loss(digits_split, r_init):
    # Without the regulariser only the task loss moves r: nothing pulls it
    # to 1, nor to 0. While the loss is high it pushes r down a few points;
    # once the training loss is small, pruning the smallest weights costs
    # little, and r creeps up (README, lambda_=0).
    X_train, _, y_train, _ = digits_split
    ours = AdaptivePrunedMLPClassifier(
        lambda_=0.0,
        r_init=r_init,
        r_ramp=None,  # r free from the first step
        tol=0.0,
        finetune_fraction=0,
        random_state=0,
    ).fit(X_train, y_train)
    ratios = ours.pruning_history_["ratio"]
    assert ours.n_iter_ == 200
    lowest = ratios.min()
    assert ratios[-1] > lowest + 0.01  # it comes back up
    if r_init == 0.9:  # from a high start: down, and below the start for good
        assert lowest < r_init - 0.05 and ratios.argmin() < 40
        assert ratios.max() < r_init + 0.01 and ratios[-1] < r_init - 0.02
    else:  # from a low one: hardly down, then well above the start
        assert lowest > r_init - 0.05 and ratios[-1] > r_init + 0.15


@pytest.fixture
def fitted(blobs):
    X, y = blobs
    return AdaptivePrunedMLPClassifier(
        hidden_layer_sizes=(16, 8), max_iter=200, random_state=0
    ).fit(X, y)


def test_pruned_weights_are_exact_zeros_and_attributes_agree(fitted):
    coefs = fitted.coefs_
    zeros = sum(np.count_nonzero(c == 0) for c in coefs)
    total = sum(c.size for c in coefs)
    assert fitted.learned_sparsity_ == zeros / total
    # Per layer, against the hard mask the torch module kept, layer by layer.
    module = fitted.net_.module_
    kept = module.weight_matrices(module.hard_mask.float())
    np.testing.assert_allclose(
        fitted.layer_sparsity_, [1 - k.mean().item() for k in kept], rtol=1e-6
    )
    assert len(set(fitted.layer_sparsity_)) == 3  # the layers do differ
    kept = np.concatenate([np.abs(c[c != 0]) for c in coefs])
    assert kept.min() >= fitted.threshold_
    assert abs(fitted.learned_sparsity_ - fitted.learned_ratio_) < 2 / total
    assert [c.shape for c in coefs] == [(5, 16), (16, 8), (8, 3)]
    assert [b.shape for b in fitted.intercepts_] == [(16,), (8,), (3,)]
    assert fitted.n_layers_ == 4 and fitted.n_outputs_ == 3
    assert fitted.out_activation_ == "softmax"
    assert fitted.temperature_ >= 1e-6


def test_used_features_are_the_inputs_the_trained_network_depends_on(digits_split):
    X_train, _, y_train, _ = digits_split
    clf = AdaptivePrunedMLPClassifier(
        lambda_=100.0, lr_r=1e-2, max_iter=60, random_state=0
    ).fit(X_train, y_train)
    module = clf.net_.module_.eval()  # the hardened network, not compact_

    def outputs(X):
        with torch.no_grad():
            return module(torch.from_numpy(X)).numpy()

    X = np.random.default_rng(0).normal(size=(200, 64))  # float64, as trained
    used = inputs_that_move(outputs, X)
    assert 0 < len(used) < 64
    np.testing.assert_array_equal(clf.used_features_, used)


def test_history_has_one_entry_per_epoch(fitted):
    history = fitted.pruning_history_
    assert set(history) == {
        "loss",
        "task_loss",
        "pruning_loss",
        "finetuning",
        "ratio",
        "temperature",
        "threshold",
        "sparsity",
    }
    for values in history.values():
        assert values.shape == (fitted.n_iter_,)
    assert fitted.best_loss_ == min(fitted.loss_curve_)
    # The total includes lambda_ (1 - r)^2 on top of the task loss;
    # loss_curve_ (MLPClassifier's) does not.
    assert np.all(np.asarray(fitted.loss_curve_) < history["loss"])
    penalty = 10.0 * (1 - history["ratio"]) ** 2
    assert np.all(history["loss"] > history["task_loss"] + 0.5 * penalty)
    assert fitted.validation_scores_ is None and fitted.best_validation_score_ is None


def test_predictions_equal_the_hardened_torch_module(fitted, blobs):
    X, _ = blobs
    module = fitted.net_.module_
    with torch.no_grad():
        logits = module(torch.tensor(X))  # float64 X: a float64 module
    np.testing.assert_allclose(
        fitted.predict_proba(X), torch.softmax(logits, 1).numpy(), atol=1e-5
    )
    assert module.hardened


def test_predict_proba_and_log_proba_are_consistent(fitted, blobs):
    X, y = blobs
    proba = fitted.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(np.exp(fitted.predict_log_proba(X)), proba)
    np.testing.assert_array_equal(fitted.predict(X), fitted.classes_[proba.argmax(1)])
    assert fitted.score(X, y) > 0.9


def test_binary_string_labels(blobs):
    X, y = blobs
    labels = np.where(y == 0, "cat", "dog")
    clf = AdaptivePrunedMLPClassifier(**FAST).fit(X, labels)
    assert list(clf.classes_) == ["cat", "dog"]
    assert clf.n_outputs_ == 1 and clf.out_activation_ == "logistic"
    assert clf.predict_proba(X).shape == (150, 2)
    assert set(clf.predict(X)) <= {"cat", "dog"}
    assert clf.score(X, labels) > 0.9


def test_multilabel_indicator_targets(blobs):
    X, y = blobs
    Y = np.column_stack([y == 0, y == 1, y != 1]).astype(int)
    clf = AdaptivePrunedMLPClassifier(**FAST).fit(X, Y)
    assert clf.n_outputs_ == 3 and clf.out_activation_ == "logistic"
    assert clf.predict(X).shape == (150, 3)
    assert set(np.unique(clf.predict(X))) <= {0, 1}
    # Subset accuracy, as MLPClassifier's from the same initial network.
    assert clf.score(X, Y) >= MLPClassifier(**FAST).fit(X, Y).score(X, Y) - 0.02


def test_dataframe_sparse_float32_inputs_train_identically(blobs):
    X, y = blobs
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)])
    X32 = X.astype(np.float32)
    models = [
        AdaptivePrunedMLPClassifier(**FAST).fit(data, y)
        for data in (X32, frame.astype(np.float32), sparse.csr_matrix(X32))
    ]
    assert list(models[1].feature_names_in_) == list(frame.columns)
    for other in models[1:]:
        for a, b in zip(models[0].coefs_, other.coefs_):
            np.testing.assert_array_equal(a, b)


def test_same_seed_is_bitwise_reproducible_and_other_seeds_differ(blobs):
    X, y = blobs
    first, second, other = (
        AdaptivePrunedMLPClassifier(max_iter=10, random_state=seed).fit(X, y)
        for seed in (3, 3, 4)
    )
    for a, b in zip(first.coefs_, second.coefs_):
        np.testing.assert_array_equal(a, b)
    for key in first.pruning_history_:
        np.testing.assert_array_equal(
            first.pruning_history_[key], second.pruning_history_[key]
        )
    np.testing.assert_array_equal(first.predict_proba(X), second.predict_proba(X))
    assert not np.array_equal(first.coefs_[0], other.coefs_[0])


def test_fit_leaves_global_random_states_alone(blobs):
    X, y = blobs
    torch_state = torch.get_rng_state()
    numpy_state = np.random.get_state()[1].copy()
    AdaptivePrunedMLPClassifier(max_iter=3, random_state=0).fit(X, y)
    assert torch.equal(torch.get_rng_state(), torch_state)
    np.testing.assert_array_equal(np.random.get_state()[1], numpy_state)


def test_frozen_ratio_keeps_r_init(blobs):
    X, y = blobs
    clf = AdaptivePrunedMLPClassifier(r_init=0.8, lr_r=0.0, **FAST).fit(X, y)
    assert clf.learned_ratio_ == pytest.approx(0.8)
    assert clf.learned_sparsity_ == pytest.approx(0.8, abs=0.01)


def test_early_stopping_scores_a_held_out_split(blobs):
    X, y = blobs
    clf = AdaptivePrunedMLPClassifier(
        early_stopping=True,
        n_iter_no_change=3,
        tol=0.5,
        max_iter=50,
        finetune_fraction=0,
        random_state=0,
    ).fit(X, y)
    # As MLPClassifier: epoch 1 sets the best, and training stops once more
    # than n_iter_no_change epochs followed without a gain of tol (with a
    # fine-tuning phase, that starts the phase: tests/test_finetune.py).
    assert clf.n_iter_ == 5
    assert len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert clf.best_loss_ is None
    np.testing.assert_array_equal(
        clf.pruning_history_["validation_score"], clf.validation_scores_
    )


def test_stopping_rule_on_training_loss_stops_before_max_iter(blobs):
    X, y = blobs
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = AdaptivePrunedMLPClassifier(
            tol=10.0,
            n_iter_no_change=2,
            max_iter=50,
            finetune_fraction=0,
            random_state=0,
        ).fit(X, y)
    assert clf.n_iter_ == 4


def test_convergence_warning_when_max_iter_is_reached(blobs):
    X, y = blobs
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(2\) reached"):
        AdaptivePrunedMLPClassifier(max_iter=2, random_state=0).fit(X, y)


def test_predict_before_fit_raises_not_fitted(blobs):
    X, _ = blobs
    with pytest.raises(NotFittedError):
        AdaptivePrunedMLPClassifier().predict(X)


def test_cuda_without_cuda_is_a_clear_error(blobs, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    X, y = blobs
    with pytest.raises(ValueError, match="CUDA is not available"):
        AdaptivePrunedMLPClassifier(device="cuda").fit(X, y)


def test_unknown_device_is_a_clear_error(blobs):
    X, y = blobs
    with pytest.raises(ValueError, match="'tpu9' is not a torch device"):
        AdaptivePrunedMLPClassifier(device="tpu9").fit(X, y)


@pytest.mark.parametrize("sizes", [(), (10, 0), (-3,)])
def test_bad_hidden_layer_sizes_are_refused(blobs, sizes):
    X, y = blobs
    with pytest.raises(ValueError, match="hidden_layer_sizes must"):
        AdaptivePrunedMLPClassifier(hidden_layer_sizes=sizes).fit(X, y)


@pytest.mark.parametrize("early_stopping", [False, True])
def test_a_single_class_is_fitted_and_predicted_as_mlpclassifier(blobs, early_stopping):
    # A cross-validation fold may hold one class: MLPClassifier fits it.
    X, _ = blobs
    y = np.full(len(X), "only")
    params = dict(max_iter=10, early_stopping=early_stopping, random_state=0)
    ours = AdaptivePrunedMLPClassifier(**params).fit(X, y)
    theirs = MLPClassifier(**params).fit(X, y)
    np.testing.assert_array_equal(ours.classes_, theirs.classes_)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    assert ours.predict_proba(X).shape == theirs.predict_proba(X).shape == (150, 2)
    assert (ours.n_outputs_, ours.out_activation_) == (1, "logistic")
    if early_stopping:
        assert ours.best_validation_score_ == theirs.best_validation_score_ == 1.0


def test_verbose_prints_a_line_per_epoch(blobs, capsys):
    X, y = blobs
    AdaptivePrunedMLPClassifier(max_iter=3, verbose=1, random_state=0).fit(X, y)
    out = capsys.readouterr().out
    for column in ("train_loss", "ratio", "temperature", "sparsity"):
        assert column in out
    assert len([line for line in out.splitlines() if line.strip()[:1].isdigit()]) == 3


@pytest.mark.parametrize(
    "terminal, no_color, coloured",
    [(False, "", False), (True, "", True), (True, "1", False)],
)
def test_verbose_colours_only_a_terminal_without_no_color(
    blobs, capsys, monkeypatch, terminal, no_color, coloured
):
    X, y = blobs
    monkeypatch.setattr(sys.stdout, "isatty", lambda: terminal)
    monkeypatch.setenv("NO_COLOR", no_color)
    AdaptivePrunedMLPClassifier(max_iter=3, verbose=1, random_state=0).fit(X, y)
    out = capsys.readouterr().out
    assert ("\x1b[" in out) == coloured
    assert "train_loss" in out and "sparsity" in out


@pytest.mark.parametrize("target", ["binary", "multilabel"])
def test_early_stopping_with_logistic_outputs(blobs, target):
    X, y = blobs
    Y = (y == 0) if target == "binary" else np.column_stack([y == 0, y == 1])
    clf = AdaptivePrunedMLPClassifier(
        early_stopping=True, n_iter_no_change=2, max_iter=40, random_state=0
    ).fit(X, Y.astype(int))
    assert 0.5 < clf.best_validation_score_ <= 1.0
    assert len(clf.validation_scores_) == clf.n_iter_


def test_verbose_two_adds_a_progress_bar_and_zero_is_silent(blobs, capsys):
    X, y = blobs
    AdaptivePrunedMLPClassifier(max_iter=2, batch_size=50, verbose=2).fit(X, y)
    captured = capsys.readouterr()
    assert "/3 [" in captured.err  # tqdm's bar over an epoch's 3 batches
    assert "sparsity" in captured.out
    AdaptivePrunedMLPClassifier(max_iter=2, verbose=0).fit(X, y)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


@pytest.mark.parametrize(
    "target, stratified",
    [("multiclass", True), ("binary", True), ("multilabel", False)],
)
def test_early_stopping_split_is_stratified_except_for_multilabel_targets(
    blobs, early_stopping_split, target, stratified
):
    # MLPClassifier's documented rule ("stratified, except in a multilabel
    # setting"); its code stratifies binary targets only.
    X, y = blobs
    y = y[:100]  # 100 rows: a 10-row split of classes in proportion
    Y = {
        "multiclass": y,
        "binary": (y == 0).astype(int),
        "multilabel": np.column_stack([y == 0, y == 1]).astype(int),
    }[target]
    split = early_stopping_split
    AdaptivePrunedMLPClassifier(early_stopping=True, max_iter=2).fit(X[:100], Y)
    assert (split["stratify"] is not None) == stratified
    if target == "multiclass":  # each class in the split as in the data, +-1
        expected = np.bincount(y) * split["valid"].size / y.size
        assert np.all(np.abs(np.bincount(y[split["valid"]]) - expected) < 1)


def test_partial_fit_learns_multilabel_targets_as_mlpclassifier(blobs):
    X, y = blobs
    Y = np.column_stack([y == 0, y == 1, y > 0]).astype(int)
    clf = AdaptivePrunedMLPClassifier(random_state=0)
    for _ in range(20):
        clf.partial_fit(X, Y, classes=[0, 1, 2])
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.predict(X).shape == (150, 3) and clf.score(X, Y) > 0.3
    with pytest.raises(ValueError, match="indicator matrix of 2 labels; `classes`"):
        clf.partial_fit(X, Y[:, :2])


def test_early_stopping_names_a_class_too_small_as_the_user_does(blobs):
    X, _ = blobs
    y = np.array(["common"] * 149 + ["rare"])
    with pytest.raises(ValueError, match=r"too few members are: \['rare'\]"):
        AdaptivePrunedMLPClassifier(early_stopping=True).fit(X, y)
