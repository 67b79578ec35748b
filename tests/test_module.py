import numpy as np
import pytest
import torch
from torch.nn import functional as F

from reference import closed_form_gradients
from sk_adaprune._method import threshold as threshold_module
from sk_adaprune._method.mask import soft_mask
from sk_adaprune._method.threshold import quantile_threshold, threshold_and_density
from sk_adaprune._module import ACTIVATIONS, HIDDEN_ACTIVATIONS, SoftMaskedMLP


def test_autograd_matches_closed_form_gradients_on_a_pool():
    rng = np.random.default_rng(0)
    weight = torch.tensor(rng.normal(0, 0.1, 5000), requires_grad=True)
    upstream = rng.normal(size=5000)
    ratio = torch.tensor(0.6, dtype=torch.float64, requires_grad=True)
    temperature = torch.tensor(2e-3, dtype=torch.float64, requires_grad=True)

    threshold = quantile_threshold(weight.detach().abs(), ratio)
    masked = weight * soft_mask(weight, threshold, temperature)
    (masked * torch.from_numpy(upstream)).sum().backward()

    t = threshold.item()
    dt_dr = 1 / threshold_and_density(weight.detach().abs(), 0.6)[1].item()
    grad_w, grad_tau, grad_r = closed_form_gradients(
        weight.detach().numpy(), upstream, t, temperature.item(), dt_dr
    )
    np.testing.assert_allclose(weight.grad.numpy(), grad_w, rtol=0, atol=1e-8)
    assert abs(temperature.grad.item() - grad_tau) <= 1e-8 * max(1, abs(grad_tau))
    assert abs(ratio.grad.item() - grad_r) <= 1e-8 * max(1, abs(grad_r))


@pytest.mark.parametrize("weight_gradient", ["masked", "full"])
@pytest.mark.parametrize("activation", sorted(HIDDEN_ACTIVATIONS))
def test_module_gradients_match_closed_forms_through_the_network(
    activation, weight_gradient
):
    torch.manual_seed(0)
    module = SoftMaskedMLP(
        6, [9, 7], 3, activation=activation, weight_gradient=weight_gradient, seed=3
    ).double()
    module.train()
    X = torch.randn(11, 6, dtype=torch.float64)
    upstream = torch.randn(11, 3, dtype=torch.float64)
    (module(X) * upstream).sum().backward()

    # Upstream gradients g = dL/d(w*m), through the same network with the
    # masked weights as leaves.
    threshold = module.threshold().detach()
    effective = [
        (weight * soft_mask(weight, threshold, module.temperature))
        .detach()
        .requires_grad_()
        for weight in module.weight_matrices()
    ]
    hidden = X
    for i, (bias, weight) in enumerate(zip(module.biases, effective)):
        hidden = F.linear(hidden, weight, bias.detach())
        if i < len(effective) - 1:
            hidden = ACTIVATIONS[activation].module()(hidden)
    (hidden * upstream).sum().backward()

    pool = module.weights.detach().abs()
    dt_dr = 1 / threshold_and_density(pool, module.ratio.item())[1].item()
    flat_w = module.weights.detach().numpy()
    flat_g = np.concatenate([w.grad.numpy().ravel() for w in effective])
    grad_w, grad_tau, grad_r = closed_form_gradients(
        flat_w,
        flat_g,
        threshold.item(),
        module.temperature.item(),
        dt_dr,
        weight_gradient,
    )
    autograd_w = module.weights.grad.numpy()
    np.testing.assert_allclose(autograd_w, grad_w, rtol=0, atol=1e-8)
    assert module.temperature.grad.item() == pytest.approx(grad_tau, rel=1e-8, abs=1e-8)
    assert module.ratio.grad.item() == pytest.approx(grad_r, rel=1e-8, abs=1e-8)


def test_initialisation_is_seeded_glorot_and_leaves_global_rng_alone():
    state = torch.get_rng_state()
    first = SoftMaskedMLP(30, [20], 4, seed=7)
    assert torch.equal(torch.get_rng_state(), state)
    second = SoftMaskedMLP(30, [20], 4, seed=7)
    other = SoftMaskedMLP(30, [20], 4, seed=8)
    assert torch.equal(first.weights, second.weights)
    assert not torch.equal(first.weights, other.weights)
    bound = np.sqrt(6 / 50)
    assert first.weight_matrices()[0].abs().max() <= bound
    assert first.weight_matrices()[0].abs().max() > 0.9 * bound


def test_temperature_starts_as_scale_times_weight_std():
    module = SoftMaskedMLP(30, [20], 4, tau_init=0.05, seed=0)
    expected = 0.05 * module.weights.detach().std().item()
    assert module.temperature.item() == pytest.approx(expected, rel=1e-6)
    assert module.ratio.item() == 0.5


def test_clamp_keeps_ratio_and_temperature_in_range():
    module = SoftMaskedMLP(3, [4], 2)
    with torch.no_grad():
        module.ratio.fill_(1.7)
        module.temperature.fill_(-1.0)
    module.clamp_(1e-6)
    assert module.ratio.item() == pytest.approx(0.9999)
    assert module.temperature.item() == pytest.approx(1e-6)
    with torch.no_grad():
        module.ratio.fill_(-0.2)
    module.clamp_(1e-6)
    assert module.ratio.item() == 0.0


def test_harden_zeroes_exactly_the_weights_below_threshold():
    module = SoftMaskedMLP(40, [30, 20], 5, r_init=0.8, seed=2)
    pool = module.weights.detach().abs()
    X = torch.randn(8, 40)
    module.eval()
    hard_output = module(X)
    threshold = module.harden()
    assert threshold == pytest.approx(
        np.sort(pool.numpy())[int(0.8 * pool.numel()) - 1 :][:2].mean()
    )
    zeros = (module.weights.detach().abs() == 0).double().mean().item()
    assert zeros == pytest.approx((pool < threshold).double().mean().item())
    assert zeros == pytest.approx(0.8, abs=1 / pool.numel())
    torch.testing.assert_close(module(X), hard_output)
    # Hardening twice changes nothing.
    assert module.harden() == threshold


def test_hard_threshold_and_fraction_below_match_the_sorted_pool():
    module = SoftMaskedMLP(30, [20], 4, r_init=0.37, seed=5)
    with torch.no_grad():  # ties and zeros in the pool
        module.weights[::7] = 0.0
        module.weights[1::7] = module.weights[2::7].neg()
    pool = np.sort(module.weights.detach().abs().numpy())
    k = int(np.floor(module.ratio.item() * pool.size))
    threshold = module.hard_threshold()
    assert threshold == pytest.approx(0.5 * (pool[k - 1] + pool[k]), abs=0, rel=1e-7)
    below = (pool < threshold).mean()
    assert module.fraction_below(threshold) == below
    module.eval()
    kept = module.masked_weights() != 0
    assert kept.double().mean().item() == pytest.approx(1 - below, abs=1e-12)
    assert module.hard_threshold_and_sparsity() == (threshold, below)


@pytest.mark.parametrize("prune, hidden", [("weights", [900]), ("neurons", [20, 10])])
def test_the_epochs_threshold_and_sparsity_come_from_either_route_alike(prune, hidden):
    from sk_adaprune._method.threshold import SMALL_POOL

    # 30 x 900 + 900 x 4 weights: a pool above SMALL_POOL, thresholded binned
    module = SoftMaskedMLP(30, hidden, 4, r_init=0.6, seed=6, prune=prune)
    assert (module.weights.numel() > SMALL_POOL) == (prune == "weights")
    threshold, sparsity = module.hard_threshold_and_sparsity()
    assert threshold == module.hard_threshold()
    assert sparsity == module.fraction_below(threshold) > 0.0


def test_a_fit_flushes_subnormal_numbers_and_puts_the_mode_back(
    three_classes, monkeypatch
):
    # Adam's first moment of a weight with a zero gradient decays through the
    # subnormal range, where x86 arithmetic is many times slower.
    from sk_adaprune import AdaptivePrunedMLPClassifier
    from sk_adaprune._training import cpu
    from sk_adaprune._training.net import PruningNet

    seen, train_step = [], PruningNet.train_step

    def recording(net, batch, **fit_params):
        seen.append(cpu._flushing())
        return train_step(net, batch, **fit_params)

    monkeypatch.setattr(PruningNet, "train_step", recording)
    X, y = three_classes(60)
    assert not cpu._flushing()
    AdaptivePrunedMLPClassifier(max_iter=2, random_state=0).fit(X, y)
    assert seen and all(seen)
    assert not cpu._flushing()
    torch.set_flush_denormal(True)  # a user's own setting stays as it was
    try:
        AdaptivePrunedMLPClassifier(max_iter=2, random_state=0).fit(X, y)
        assert cpu._flushing()
    finally:
        torch.set_flush_denormal(False)


@pytest.mark.skipif(
    threshold_module.window is None, reason="the compiled kernels are not built"
)
@pytest.mark.parametrize("n_features", [300, 30])  # 31,000 and 2,000 weights
def test_squared_norm_is_the_thresholds_sum_for_the_loss_of_its_forward_pass(
    n_features,
):
    module = SoftMaskedMLP(n_features, [100], 10, r_init=0.5).train()
    X = torch.randn(4, n_features, generator=torch.Generator().manual_seed(0))
    weights = module.weights.detach()

    def exact():
        return weights.double().square().sum().item()

    large = weights.numel() > threshold_module.SMALL_POOL
    if large:
        module(X)  # the first threshold is binned: ||w||^2 by a dot product
        assert module.squared_norm() == pytest.approx(exact(), rel=1e-6)
    module(X)  # windowed, or the small pool's route: its pass summed the squares
    before = exact()
    with torch.no_grad():
        weights.mul_(2.0)
    # The forward pass's sum, for the loss of that pass's weights, once.
    assert module.squared_norm() == pytest.approx(before, rel=1e-6)
    assert module.squared_norm() == pytest.approx(exact(), rel=1e-6)
    module.eval()(X)  # no soft mask, no pass of the threshold's
    assert module.squared_norm() == pytest.approx(exact(), rel=1e-6)
    module.harden()  # no scratch left
    module.train()(X)
    assert module.squared_norm() == pytest.approx(exact(), rel=1e-6)
