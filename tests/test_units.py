import math
import pickle

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from reference import exact_reflected_kde, scott_bandwidth
from sk_adaprune import (
    AdaptivePrunedMLPClassifier,
    AdaptivePrunedMLPRegressor,
    load,
)
from sk_adaprune._method.units import unit_pool
from sk_adaprune._module import SoftMaskedMLP

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def neuron_module(weight_gradient="masked", hidden=(7, 6), ratio=0.4, seed=0):
    return SoftMaskedMLP(
        5,
        list(hidden),
        3,
        r_init=ratio,
        tau_init=0.5,
        weight_gradient=weight_gradient,
        seed=seed,
        dtype=torch.float64,
        prune="neurons",
    )


def pooled_scores(matrices):
    """Each hidden unit's incoming L2 norm, without each layer's strongest."""
    scores = []
    for matrix in matrices:
        norms = np.linalg.norm(matrix, axis=1)
        scores.extend(np.delete(norms, norms.argmax()))
    return np.array(scores)


def midpoint(values, ratio):
    ordered = np.sort(values)
    k = math.floor(ratio * ordered.size)
    return 0.0 if k == 0 else 0.5 * (ordered[k - 1] + ordered[k])


@pytest.mark.parametrize("weight_gradient", ["masked", "full"])
def test_unit_mask_gradients_match_autograd_of_the_plain_expression(weight_gradient):
    module = neuron_module(weight_gradient).train()
    rng = np.random.default_rng(0)
    X = torch.tensor(rng.normal(size=(11, 5)))
    upstream = torch.tensor(rng.normal(size=(11, 3)))
    (module(X) * upstream).sum().backward()

    # The plain expression, t a leaf: dL/dr is dL/dt / f(t), f the reflected
    # KDE of the pooled scores with Scott's bandwidth.
    matrices = [m.detach().clone().requires_grad_() for m in module.weight_matrices()]
    biases = [b.detach() for b in module.biases]
    ratio = module.ratio.item()
    pool = pooled_scores([m.detach().numpy() for m in matrices[:-1]])
    threshold = torch.tensor(midpoint(pool, ratio), requires_grad=True)
    temperature = module.temperature.detach().clone().requires_grad_()
    activations = X
    for i, (weight, bias) in enumerate(zip(matrices, biases)):
        activations = activations @ weight.T + bias
        if i == len(matrices) - 1:
            break
        activations = torch.relu(activations)
        squared = (weight * weight).sum(dim=1)
        if weight_gradient == "masked":
            squared = squared.detach()
        mask = torch.sigmoid((squared - threshold**2) / temperature)
        strongest = int(squared.detach().argmax())
        mask = torch.cat([mask[:strongest], torch.ones(1), mask[strongest + 1 :]])
        activations = activations * mask
    (activations * upstream).sum().backward()
    bandwidth = scott_bandwidth(torch.tensor(pool)).item()
    density = exact_reflected_kde(pool, np.array([threshold.item()]), bandwidth)[0]

    assert module.ratio.grad.item() == pytest.approx(
        threshold.grad.item() / density, rel=1e-8
    )
    assert module.temperature.grad.item() == pytest.approx(
        temperature.grad.item(), rel=1e-8
    )
    expected = torch.cat([m.grad.reshape(-1) for m in matrices])
    torch.testing.assert_close(module.weights.grad, expected, rtol=1e-8, atol=1e-12)
    assert threshold.grad.item() != 0 and temperature.grad.item() != 0


@pytest.mark.parametrize("ratio", [0.0, 0.3, 0.55, 0.9999])
def test_hard_threshold_is_the_midpoint_of_the_pooled_unit_scores(ratio):
    module = neuron_module(ratio=ratio, hidden=(40, 30, 20))
    matrices = [m.detach().numpy() for m in module.weight_matrices()[:-1]]
    # Equal up to the round-off of the scores themselves (numpy's sums here).
    expected = midpoint(pooled_scores(matrices), ratio)
    assert module.hard_threshold() == pytest.approx(expected, rel=1e-15, abs=0)


def test_no_layer_loses_all_its_units_even_at_the_largest_ratio():
    module = neuron_module(hidden=(3, 2, 4), ratio=0.9999).eval()
    kept = module.kept_units(module.hard_threshold())
    # k = floor(0.9999 * 6) = 5 of the 6 pooled units go: each layer keeps
    # its strongest, one layer one more.
    counts = [int(units.sum()) for units in kept]
    assert min(counts) == 1 and sum(counts) == 3 + 1
    for units, matrix in zip(kept, module.weight_matrices()[:-1]):
        assert units[matrix.detach().norm(dim=1).argmax()]  # the strongest
    module.harden()
    X = torch.randn(4, 5, dtype=torch.float64)
    assert torch.isfinite(module(X)).all()


def test_hardening_removes_exactly_the_hard_masks_units():
    module = neuron_module(hidden=(9, 8), ratio=0.5).eval()
    X = torch.randn(13, 5, dtype=torch.float64)
    with torch.no_grad():
        hard = module(X)  # eval: the units' outputs times the hard mask
        kept = module.kept_units(module.hard_threshold())
        module.harden()
        assert torch.equal(torch.cat(module.kept_units()), torch.cat(kept))
        torch.testing.assert_close(module(X), hard, rtol=1e-12, atol=1e-12)
    for units, incoming, outgoing in zip(
        kept, module.weight_matrices()[:-1], module.weight_matrices()[1:]
    ):
        assert (incoming[~units] == 0).all() and (outgoing[:, ~units] == 0).all()
        assert (incoming[units] != 0).any(dim=1).all()


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:600] / 16, y[:600]


@pytest.fixture(scope="module")
def neuron_fit(digits):
    X, y = digits
    return AdaptivePrunedMLPClassifier(
        hidden_layer_sizes=(40, 30), prune="neurons", max_iter=60, random_state=0
    ).fit(X, y)


def test_fitted_coefs_lose_the_pruned_units(neuron_fit, digits):
    X, _ = digits
    model = neuron_fit
    widths = [c.shape[1] for c in model.coefs_[:-1]]
    assert [c.shape[0] for c in model.coefs_[1:]] == widths
    assert [i.shape[0] for i in model.intercepts_[:-1]] == widths
    assert all(1 <= w for w in widths) and sum(widths) < 70
    assert model.unit_sparsity_ == pytest.approx(
        1 - np.array(widths) / np.array([40, 30])
    )
    full = 64 * 40 + 40 * 30 + 30 * 10
    assert model.learned_sparsity_ == pytest.approx(
        1 - sum(np.count_nonzero(c) for c in model.coefs_) / full
    )
    # The hardened module and the removed-unit coefs_ predict the same.
    module = model.net_.module_.eval()
    with torch.no_grad():
        logits = module(torch.tensor(X))
    np.testing.assert_allclose(
        model.predict_proba(X), torch.softmax(logits, 1).numpy(), rtol=1e-10, atol=1e-12
    )
    exported = model.to_torch()  # ends in the output activation
    assert exported[0].weight.shape == (widths[0], 64)
    with torch.no_grad():
        np.testing.assert_allclose(
            exported(torch.tensor(X)).numpy(),
            model.predict_proba(X),
            rtol=1e-10,
            atol=1e-12,
        )


def test_weights_mode_counts_no_unit_pruned_but_dead_ones(digits):
    X, y = digits
    model = AdaptivePrunedMLPClassifier(max_iter=5, random_state=0).fit(X, y)
    assert model.coefs_[0].shape == (64, 100)
    dead = 1 - model.compact_.layer_sizes[1] / 100
    assert model.unit_sparsity_ == pytest.approx([dead])


def test_a_neuron_pruned_model_round_trips(neuron_fit, digits, tmp_path):
    X, _ = digits
    for twin in (
        pickle.loads(pickle.dumps(neuron_fit)),
        load(neuron_fit.save(tmp_path / "model.skadp")),
    ):
        assert [c.shape for c in twin.coefs_] == [c.shape for c in neuron_fit.coefs_]
        np.testing.assert_array_equal(twin.unit_sparsity_, neuron_fit.unit_sparsity_)
        np.testing.assert_array_equal(
            twin.predict_proba(X), neuron_fit.predict_proba(X)
        )


def test_warm_start_and_partial_fit_go_on_with_the_units_kept(neuron_fit, digits):
    X, y = digits
    widths = [c.shape[1] for c in neuron_fit.coefs_[:-1]]
    for go_on in ("warm_start", "partial_fit"):
        model = pickle.loads(pickle.dumps(neuron_fit))
        if go_on == "warm_start":
            model.set_params(warm_start=True, max_iter=5).fit(X, y)
        else:
            model.partial_fit(X, y)
        now = [c.shape[1] for c in model.coefs_[:-1]]
        assert all(1 <= a <= b for a, b in zip(now, widths))
        assert len(model.loss_curve_) == len(neuron_fit.loss_curve_) + (
            5 if go_on == "warm_start" else 1
        )
        full = 64 * 40 + 40 * 30 + 30 * 10  # shares stay those of (40, 30)
        assert model.learned_sparsity_ == pytest.approx(
            1 - sum(np.count_nonzero(c) for c in model.coefs_) / full
        )
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        model.set_params(hidden_layer_sizes=(40,), warm_start=True).fit(X, y)


def test_partial_fit_calls_go_on_with_each_other(digits):
    X, y = digits
    model = AdaptivePrunedMLPRegressor(
        hidden_layer_sizes=(20,), prune="neurons", random_state=0
    )
    for _ in range(3):
        model.partial_fit(X, y.astype(float))
    assert len(model.loss_curve_) == 3
    assert model.coefs_[0].shape[1] == model.coefs_[1].shape[0] <= 20


def test_unit_pool_of_a_network_sees_every_hidden_unit():
    module = neuron_module(hidden=(4, 3))
    pool = unit_pool(module.weight_matrices())
    assert pool.sizes == [4, 3]
    assert int(pool.in_pool.sum()) == 5


def test_prune_must_be_weights_or_neurons(digits):
    X, y = digits
    with pytest.raises(ValueError, match="prune"):
        AdaptivePrunedMLPClassifier(prune="units").fit(X, y)


def test_layers_of_one_unit_leave_nothing_to_prune(digits):
    X, y = digits
    model = AdaptivePrunedMLPClassifier(
        hidden_layer_sizes=(1, 1), prune="neurons", max_iter=3, random_state=0
    ).fit(X, y)
    assert [c.shape for c in model.coefs_] == [(64, 1), (1, 1), (1, 10)]
    np.testing.assert_array_equal(model.unit_sparsity_, [0.0, 0.0])


def test_early_stopping_restores_a_hardened_neuron_pruned_state(digits):
    X, y = digits
    model = AdaptivePrunedMLPClassifier(
        hidden_layer_sizes=(30,),
        prune="neurons",
        early_stopping=True,
        max_iter=40,
        random_state=0,
    ).fit(X, y)
    module = model.net_.module_.eval()
    assert module.hardened
    assert len(model.validation_scores_) == model.n_iter_
    assert 0.5 < model.best_validation_score_ <= max(model.validation_scores_)
    with torch.no_grad():
        probabilities = torch.softmax(module(torch.tensor(X)), 1).numpy()
    np.testing.assert_allclose(model.predict_proba(X), probabilities, atol=1e-12)
    assert model.coefs_[0].shape[1] == 30 * (1 - model.unit_sparsity_[0])


@pytest.mark.parametrize(
    "score", ["incoming", "incoming_outgoing", "incoming_per_layer"]
)
def test_each_unit_score_is_its_formula(score):
    module = neuron_module(hidden=(4, 3))
    matrices = [m.detach().numpy() for m in module.weight_matrices()]
    incoming = [(m**2).sum(axis=1) for m in matrices[:-1]]
    expected = {
        "incoming": incoming,
        "incoming_outgoing": [
            s * (following**2).sum(axis=0)
            for s, following in zip(incoming, matrices[1:])
        ],
        "incoming_per_layer": [
            s * np.concatenate(incoming).mean() / s.mean() for s in incoming
        ],
    }[score]
    pool = unit_pool(module.weight_matrices(), score)
    np.testing.assert_allclose(
        pool.squared_scores.detach().numpy(), np.concatenate(expected), rtol=1e-12
    )


def test_per_layer_scores_are_incomings_with_one_hidden_layer():
    module = neuron_module(hidden=(6,))
    scores = [
        unit_pool(module.weight_matrices(), score).squared_scores
        for score in ("incoming", "incoming_per_layer")
    ]
    assert torch.equal(*scores)


def test_unknown_unit_score_is_refused():
    with pytest.raises(ValueError, match="unit_score"):
        SoftMaskedMLP(5, [4], 3, prune="neurons", unit_score="outgoing")


def test_multiclass_predict_is_the_binarizers_decoding(digits):
    X, y = digits
    model = AdaptivePrunedMLPClassifier(max_iter=3, random_state=0).fit(X, y)
    expected = model._label_binarizer.inverse_transform(model.predict_proba(X))
    np.testing.assert_array_equal(model.predict(X), expected)
