"""The fine-tuning phase: the end of a fit trains the hardened mask it returns."""

import copy
import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning

from sk_adaprune import AdaptivePrunedMLPClassifier, AdaptivePrunedMLPRegressor
from sk_adaprune._module import SoftMaskedMLP

# 20 epochs, the last 4 of them (floor(0.2 * 20)) on the hardened mask: with
# 43 steps an epoch at lr_r=1e-2, r has settled by epoch 16 (without the ramp,
# which would hold r back until epoch 15; with the thesis's weight gradient,
# which the scenario was found with).
PHASE = dict(
    max_iter=20,
    batch_size=32,
    lr_r=1e-2,
    r_init=0.1,
    r_ramp=None,
    weight_gradient="full",
    finetune_fraction=0.2,
    random_state=0,
)


def _fit(estimator, X, y):
    return estimator.fit(X, y)


def _zero_set(estimator):
    return [coef == 0 for coef in estimator.coefs_]


@pytest.fixture(scope="module")
def digits(digits_split):
    X_train, _, y_train, _ = digits_split
    return X_train, y_train


@pytest.fixture(scope="module")
def phased(digits):
    return _fit(AdaptivePrunedMLPClassifier(**PHASE), *digits)


def test_the_phase_takes_the_last_epochs_with_r_and_tau_frozen(phased):
    history = phased.pruning_history_
    np.testing.assert_array_equal(history["finetuning"], [0] * 16 + [1] * 4)
    assert phased.n_iter_ == 20
    # r, tau and t of the last pruning epoch are the ones returned.
    for key, attribute in (
        ("ratio", "learned_ratio_"),
        ("temperature", "temperature_"),
        ("threshold", "threshold_"),
    ):
        assert np.all(history[key][15:] == history[key][15])
        assert getattr(phased, attribute) == pytest.approx(history[key][15])
        assert history[key][15] != history[key][14]  # it moved until then
    assert np.all(history["sparsity"][15:] == phased.learned_sparsity_)


def test_the_phase_trains_without_the_pruning_term(phased):
    history = phased.pruning_history_
    alpha_term = history["loss"] - history["task_loss"]
    pruning_term = phased.lambda_ * (1 - history["ratio"]) ** 2
    # Before the phase the loss holds lambda_ (1 - r)^2, in the phase only
    # the (small) L2 term.
    # (The loss is an epoch's mean, r the epoch's last value.)
    assert np.all(alpha_term[:16] > 0.5 * pruning_term[:16])
    assert np.all(alpha_term[16:] < 0.01 * pruning_term[16:])
    assert np.all(alpha_term[16:] > 0)
    # Training goes on: the task loss keeps falling on the hardened mask.
    assert history["task_loss"][-1] < history["task_loss"][16]


def test_the_zero_set_is_the_one_hardened_when_the_phase_began(digits, phased):
    # The first 16 epochs of the phased fit are a 16-epoch fit without phase,
    # so that fit's hardened zero set is the one the phase started from.
    start = _fit(
        AdaptivePrunedMLPClassifier(
            **{**PHASE, "max_iter": 16, "finetune_fraction": 0}
        ),
        *digits,
    )
    np.testing.assert_array_equal(phased.loss_curve_[:16], start.loss_curve_)
    for before, after in zip(_zero_set(start), _zero_set(phased)):
        np.testing.assert_array_equal(after, before)
    # ... while the surviving weights kept training.
    changed = [np.abs(a - b).max() for a, b in zip(start.coefs_, phased.coefs_)]
    assert min(changed) > 1e-3


def test_the_phase_keeps_fits_bitwise_reproducible(digits, phased):
    again = _fit(AdaptivePrunedMLPClassifier(**PHASE), *digits)
    assert again.loss_curve_ == phased.loss_curve_
    for a, b in zip(
        again.coefs_ + again.intercepts_, phased.coefs_ + phased.intercepts_
    ):
        np.testing.assert_array_equal(a, b)


def test_without_the_phase_no_epoch_is_hardened_before_fit_ends(digits):
    for fraction in (0.0, 0.04):  # floor(0.04 * 20) = 0 epochs
        clf = _fit(
            AdaptivePrunedMLPClassifier(**{**PHASE, "finetune_fraction": fraction}),
            *digits,
        )
        assert not clf.pruning_history_["finetuning"].any()
        history = clf.pruning_history_
        assert np.all(history["loss"] - history["task_loss"] > 0.1)


def test_an_r_still_climbing_keeps_its_epochs(digits):
    # 22 steps an epoch: r climbs all 20 epochs (by more than 0.05 * lr_r per
    # step), so the phase due after epoch 16 never starts.
    clf = _fit(AdaptivePrunedMLPClassifier(**{**PHASE, "batch_size": 64}), *digits)
    history = clf.pruning_history_
    assert not history["finetuning"].any()
    # Over the settle rule's window (all 20 epochs here: 500 steps are 23) r
    # rose by more than 0.05 * lr_r a step, and it still rises at the end
    # (over 4 epochs; on one thread it dips within them on the way).
    climb = history["ratio"][-1] - clf.initial_ratio_
    assert climb > 0.05 * PHASE["lr_r"] * 22 * 20
    assert history["ratio"][-1] > history["ratio"][-5]
    assert history["loss"][-1] - history["task_loss"][-1] > 0.1


@pytest.mark.parametrize("max_iter,expected", [(30, 0.0), (29, 0.0)])
def test_auto_r_init_starts_dense_at_every_fit_length(max_iter, expected):
    # 10 batches an epoch at lr_r=1e-2: 30 epochs let r climb 3.0 (a long
    # fit), 29 only 2.9 (a short one); both start dense.
    rng = np.random.RandomState(0)
    X, y = rng.normal(size=(100, 3)), np.arange(100) % 2
    clf = _fit(
        AdaptivePrunedMLPClassifier(
            hidden_layer_sizes=(4,),
            batch_size=10,
            lr_r=1e-2,
            max_iter=max_iter,
            finetune_fraction=0,
            tol=0,
            random_state=0,
        ),
        X,
        y,
    )
    assert clf.initial_ratio_ == expected
    # The first epoch started there: r moved by at most about lr_r a step.
    assert abs(clf.pruning_history_["ratio"][0] - expected) <= 10 * 1e-2 * 1.01


def test_a_converged_pruning_phase_starts_the_phase_early(digits):
    # A huge tol: after its first epoch the loss never "improves", so the
    # rule starts the phase after 1 + n_iter_no_change + 1 epochs, and stops
    # the phase as soon, before its 10 epochs are up: a stop by the rule,
    # without a ConvergenceWarning.
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = AdaptivePrunedMLPClassifier(
            max_iter=100,
            finetune_fraction=0.1,
            tol=10.0,
            n_iter_no_change=2,
            random_state=0,
        ).fit(*digits)
    np.testing.assert_array_equal(clf.pruning_history_["finetuning"], [0] * 4 + [1] * 4)
    assert clf.n_iter_ == 8


def test_early_stopping_restores_a_hardened_state_and_reports_its_score(digits):
    clf = _fit(
        AdaptivePrunedMLPClassifier(
            max_iter=40,
            finetune_fraction=0.5,
            early_stopping=True,
            n_iter_no_change=3,
            random_state=0,
        ),
        *digits,
    )
    finetuning = clf.pruning_history_["finetuning"]
    start = int(np.argmax(finetuning))  # index of the first phase epoch
    assert 0 < start < clf.n_iter_
    scores = np.asarray(clf.validation_scores_)
    # Chosen among the hardened epochs: the phase's and the one it began at.
    assert clf.best_validation_score_ == scores[start - 1 :].max()
    # The returned network has the zero set hardened when the phase began.
    sparsity_at_start = clf.pruning_history_["sparsity"][start - 1]
    assert clf.learned_sparsity_ == pytest.approx(sparsity_at_start, abs=1e-12)
    assert clf.net_.module_.hardened


def test_early_stopping_never_returns_a_state_from_before_the_phase(digits):
    # Here validation accuracy peaks before the phase, which the rule starts
    # once the score stalls. Restoring that best state would return the zero
    # set hardened at its epoch's r, not the phase's.
    clf = _fit(
        AdaptivePrunedMLPClassifier(
            max_iter=60,
            finetune_fraction=0.5,
            early_stopping=True,
            n_iter_no_change=2,
            lr_r=1e-2,
            r_init=0.5,
            r_ramp=None,  # the scenario was found without it
            weight_gradient="full",  # and with the thesis's weight gradient
            random_state=1,
        ),
        *digits,
    )
    history = clf.pruning_history_
    start = int(np.argmax(history["finetuning"]))
    scores = np.asarray(clf.validation_scores_)
    best_before = int(np.argmax(scores[: start - 1]))
    assert scores[best_before] > scores[start - 1 :].max()
    assert history["sparsity"][best_before] != history["sparsity"][start - 1]
    assert clf.best_validation_score_ == scores[start - 1 :].max()
    assert clf.learned_sparsity_ == pytest.approx(
        history["sparsity"][start - 1], abs=1e-12
    )


# A huge tol and n_iter_no_change=1: the rule finds no improvement after
# epoch 3 and starts the phase, then stops it after epoch 6.
CONVERGING = dict(tol=10.0, n_iter_no_change=1, random_state=0)


def test_verbose_announces_the_phase(digits, capsys):
    _fit(
        AdaptivePrunedMLPClassifier(
            max_iter=6, finetune_fraction=0.5, verbose=1, **CONVERGING
        ),
        *digits,
    )
    out = capsys.readouterr().out
    assert "Fine-tuning from epoch 4: r frozen at" in out
    assert out.index("\n      3 ") < out.index("Fine-tuning") < out.index("\n      4 ")


def test_the_regressor_fine_tunes_too():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 5))
    y = X @ rng.normal(size=5)
    reg = _fit(
        AdaptivePrunedMLPRegressor(max_iter=10, finetune_fraction=0.3, **CONVERGING),
        X,
        y,
    )
    history = reg.pruning_history_
    np.testing.assert_array_equal(history["finetuning"], [0] * 3 + [1] * 3)
    assert np.all(history["ratio"][2:] == reg.learned_ratio_)


def test_zero_pruned_keeps_hardened_zeros_through_optimizer_steps():
    module = SoftMaskedMLP(10, [8], 3, r_init=0.6, seed=0)
    module.harden()
    pruned = module.weights.detach() == 0
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-2, weight_decay=1e-3)
    for _ in range(3):
        optimizer.zero_grad()
        module(torch.randn(16, 10)).square().sum().backward()
        optimizer.step()
        assert (module.weights.detach()[pruned] != 0).any()  # the step moved them
        module.zero_pruned_()
        assert torch.equal(module.weights.detach() == 0, pruned)


def test_the_hardened_phase_travels_with_the_state_dict():
    module = SoftMaskedMLP(10, [8], 3, r_init=0.6, seed=0)
    soft = copy.deepcopy(module.state_dict())
    threshold = module.harden()
    hard = copy.deepcopy(module.state_dict())
    module.load_state_dict(soft)
    assert not module.hardened and module.scratch is not None
    assert (module.weights.detach() != 0).all()
    module.load_state_dict(hard)
    assert module.hardened and module.hardened_threshold == threshold
    assert torch.equal(module.hard_mask, module.weights.detach() != 0)
