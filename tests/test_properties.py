"""Property-based tests of the threshold, the masks and the density."""

import math

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sk_adaprune._density import magnitude_density
from sk_adaprune._mask import soft_mask
from sk_adaprune._module import SoftMaskedMLP
from sk_adaprune._threshold import order_statistic_midpoint

# Few distinct values make ties; zeros and negative values are in the pool.
values = st.one_of(
    st.sampled_from([0.0, -0.5, 0.5, 1.0, -1.0, 2.0]),
    st.floats(-10, 10, allow_nan=False, width=32),
)
small_pools = arrays(np.float32, st.integers(1, 2000), elements=values)
ratios = st.floats(0.0, 1.0, exclude_max=True)


def numpy_midpoint(magnitudes, ratio):
    ordered = np.sort(magnitudes)
    k = math.floor(ratio * ordered.size)
    return 0.0 if k == 0 else 0.5 * (float(ordered[k - 1]) + float(ordered[k]))


@settings(max_examples=200, deadline=None)
@given(small_pools, ratios)
def test_threshold_is_the_exact_order_statistic_midpoint(pool, ratio):
    magnitudes = np.abs(pool)
    threshold = order_statistic_midpoint(torch.from_numpy(magnitudes), ratio).item()
    expected = np.float32(numpy_midpoint(magnitudes, ratio))
    assert threshold == expected


@settings(max_examples=10, deadline=None)
@given(st.integers(1, 100_000), ratios, st.integers(0, 2**31 - 1))
def test_threshold_on_large_pools(size, ratio, seed):
    magnitudes = np.abs(np.random.default_rng(seed).standard_normal(size))
    threshold = order_statistic_midpoint(torch.from_numpy(magnitudes), ratio).item()
    assert threshold == numpy_midpoint(magnitudes, ratio)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.0, 0.9999))
def test_hard_mask_sparsity_is_the_fraction_below_threshold(seed, ratio):
    module = SoftMaskedMLP(7, [5, 4], 3, ratio_init=ratio, seed=seed)
    pool = module.weights.detach().abs()
    threshold = module.harden()
    below = (pool < threshold).double().mean().item()
    zeros = (module.weights.detach().abs() == 0).double().mean().item()
    assert zeros == below
    if threshold > 0:  # distinct magnitudes: exactly floor(r n) are pruned
        assert round(below * pool.numel()) == math.floor(ratio * pool.numel())


@settings(max_examples=100, deadline=None)
@given(
    arrays(np.float32, st.integers(1, 500), elements=values),
    st.floats(0.0, 10.0),
    st.floats(1e-6, 10.0),  # down to the default tau_min
)
def test_soft_mask_stays_in_unit_interval_and_finite(weight, threshold, temperature):
    t, tau = (torch.tensor(v, dtype=torch.float32) for v in (threshold, temperature))
    mask = soft_mask(torch.from_numpy(weight), t, tau)
    assert torch.isfinite(mask).all()
    assert ((mask >= 0) & (mask <= 1)).all()


@settings(max_examples=25, deadline=None)
@given(st.integers(50, 20_000), st.floats(0.01, 5.0), st.integers(0, 2**31 - 1))
def test_density_is_positive_and_integrates_to_one(size, scale, seed):
    samples = torch.tensor(np.random.default_rng(seed).gamma(1.5, scale, size))
    top = samples.max().item()
    points = torch.linspace(0, 2 * top + 1, 40_001, dtype=torch.float64)
    density = magnitude_density(samples, points)
    # Positive wherever there is data; in wide empty gaps the true density
    # underflows and the estimate is exactly 0, never negative.
    assert (density >= 0).all()
    assert (magnitude_density(samples, samples) > 0).all()
    assert abs(np.trapezoid(density.numpy(), points.numpy()) - 1) < 0.01
