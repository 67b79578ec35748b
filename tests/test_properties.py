"""Property-based tests of what training computes: the threshold, the fused
soft mask and the density behind ``dt/dr``.

Each test calls the functions a training step calls, on the types it calls
them with: signed float32 weights and a float32 ``r`` (an ``nn.Parameter``).
The oracles are plain numpy and scipy.
"""

import math

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.stats import norm

from sk_adaprune._method.density import binned_bandwidth, grid_density, interpolate
from sk_adaprune._method.mask import masked_weight
from sk_adaprune._method.threshold import (
    _binned,
    exact_threshold,
    quantile_threshold,
    threshold_and_density,
)
from sk_adaprune._module import SoftMaskedMLP

# The estimators' default lower clamp of tau, as the float32 tau holds it.
TAU_MIN = float(np.float32(1e-6))

# Few distinct values make ties; zeros and negative values are in the pool.
values = st.one_of(
    st.sampled_from([0.0, -0.5, 0.5, 1.0, -1.0, 2.0, -2.0]),
    st.floats(-10, 10, allow_nan=False, width=32),
)
signed_pools = arrays(np.float32, st.integers(1, 2000), elements=values)
ratios = st.floats(0.0, 1.0, exclude_max=True).map(np.float32).filter(lambda r: r < 1)
grid_sizes = st.sampled_from([16, 1024])


def pruned_count(ratio, n):
    """``k = floor(r n)`` for the float32 ``r`` training holds."""
    return math.floor(float(np.float32(ratio)) * n)


def numpy_midpoint(weights, ratio):
    ordered = np.sort(np.abs(weights.astype(np.float64)))
    k = pruned_count(ratio, ordered.size)
    return 0.0 if k == 0 else 0.5 * (ordered[k - 1] + ordered[k])


def as_parameter(ratio):
    return torch.nn.Parameter(torch.tensor(ratio, dtype=torch.float32))


@settings(max_examples=200, deadline=None)
@given(signed_pools, ratios, grid_sizes)
def test_training_threshold_is_the_exact_order_statistic_midpoint(
    weights, ratio, grid_size
):
    expected = np.float32(numpy_midpoint(weights, ratio))
    tensor, r = torch.from_numpy(weights), as_parameter(ratio)
    # The forward pass of a training step (r trainable) and the hard mask's.
    trained = quantile_threshold(tensor, r, grid_size)
    assert trained.dtype == torch.float32 and trained.item() == expected
    assert exact_threshold(tensor, r.item(), grid_size).item() == expected


@settings(max_examples=10, deadline=None)
@given(st.integers(1, 100_000), ratios, st.integers(0, 2**31 - 1))
def test_training_threshold_on_large_pools(size, ratio, seed):
    weights = np.random.default_rng(seed).normal(0, 0.05, size).astype(np.float32)
    threshold = quantile_threshold(torch.from_numpy(weights), as_parameter(ratio))
    assert threshold.item() == np.float32(numpy_midpoint(weights, ratio))


def test_the_float32_ratio_decides_how_many_are_pruned():
    # 0.7 is 0.69999998... in float32: 10 weights lose 6, not 7; and the
    # double 0.029850746268656716 * 67 is 2.0 while its float32 gives 1.
    weights = torch.arange(1, 11, dtype=torch.float32)
    assert exact_threshold(weights, as_parameter(0.7).item()).item() == 6.5
    weights = torch.arange(1, 68, dtype=torch.float32)
    ratio = as_parameter(0.029850746268656716).item()
    assert exact_threshold(weights, ratio).item() == 1.5


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 10_000), ratios)
def test_hard_mask_prunes_the_fraction_below_the_threshold(seed, ratio):
    module = SoftMaskedMLP(7, [5, 4], 3, r_init=float(ratio), seed=seed)
    pool = module.weights.detach().abs().clone()
    threshold = module.harden()
    below = (pool < threshold).sum().item()
    assert (module.weights.detach() == 0).sum().item() == below
    assert (module.weights.detach().abs() >= threshold)[pool >= threshold].all()
    if threshold > 0:  # distinct magnitudes: exactly floor(r n) are pruned
        assert below == pruned_count(module.ratio.item(), pool.numel())


@settings(max_examples=100, deadline=None)
@given(
    arrays(np.float32, st.integers(1, 500), elements=values),
    st.floats(0.0, 10.0, width=32),
    st.one_of(st.just(TAU_MIN), st.floats(TAU_MIN, 10.0, width=32)),
    st.floats(-1e3, 1e3, width=32),
)
def test_fused_mask_is_finite_and_bounded_down_to_tau_min(
    weights, threshold, temperature, upstream
):
    w = torch.from_numpy(weights).requires_grad_()
    t = torch.tensor(threshold, requires_grad=True)
    tau = torch.tensor(temperature, requires_grad=True)
    masked = masked_weight(w, t, tau)
    # w * m with m in [0, 1]: never larger than w, never of the other sign.
    assert torch.isfinite(masked).all()
    assert (masked.abs() <= w.abs()).all() and (masked * w >= 0).all()
    masked.backward(torch.full_like(masked, upstream))
    for grad in (w.grad, t.grad, tau.grad):
        assert torch.isfinite(grad).all()


@settings(max_examples=25, deadline=None)
@given(
    st.integers(50, 20_000),
    st.floats(0.01, 5.0),
    ratios.filter(lambda r: r > 0.01),
    st.integers(0, 2**31 - 1),
)
def test_training_density_is_positive_and_integrates_to_one(size, scale, ratio, seed):
    rng = np.random.default_rng(seed)
    signs = np.where(rng.random(size) < 0.5, -1.0, 1.0)
    weights = torch.tensor(signs * rng.gamma(1.5, scale, size), dtype=torch.float32)
    threshold, at_threshold = threshold_and_density(weights, float(ratio))
    assert math.isfinite(at_threshold.item()) and at_threshold.item() > 0
    # The whole estimate training reads f(t) from: the grid ends at the
    # largest magnitude, so the kernels' mass past it is missing.
    binned = _binned(weights, 1024, None)
    bandwidth = binned_bandwidth(binned)
    density = grid_density(binned.counts, binned.spacing, bandwidth, size)
    assert (density >= 0).all()
    top = weights.abs().max().item()
    points = np.linspace(0, top, 40_001)
    mass = np.trapezoid(interpolate(density, binned.spacing, points), points)
    magnitudes = weights.abs().double().numpy()
    beyond = norm.sf((top - magnitudes) / bandwidth)
    mirrored_beyond = norm.sf((top + magnitudes) / bandwidth)
    past_top = np.mean(beyond + mirrored_beyond)
    assert abs(mass + past_top - 1) < 0.01
