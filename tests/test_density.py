import sys

import numpy as np
import pytest
import torch
from scipy.stats import norm

from reference import (
    exact_reflected_kde,
    magnitude_density,
    scott_bandwidth,
)
from sk_adaprune._method import density as _density
from sk_adaprune._method.density import (
    bin_magnitudes,
    binned_bandwidth,
    reflected_kde_at,
)
from sk_adaprune._method.density import scott_bandwidth as sample_bandwidth
from sk_adaprune._method.workspace import Scratch

SAMPLERS = {
    "half-normal": lambda rng, n: np.abs(rng.standard_normal(n)),
    "uniform": lambda rng, n: rng.uniform(0, 0.3, n),
    "exponential": lambda rng, n: rng.exponential(0.05, n),
    "with-zeros": lambda rng, n: np.where(rng.random(n) < 0.3, 0.0, rng.random(n)),
}


@pytest.mark.parametrize("name", SAMPLERS)
@pytest.mark.parametrize("n", [50, 5000])
def test_fft_kde_matches_exact_reflected_kde(name, n):
    rng = np.random.default_rng(n)
    samples = SAMPLERS[name](rng, n)
    tensor = torch.tensor(samples)
    bandwidth = scott_bandwidth(tensor).item()
    points = np.linspace(0, samples.max(), 301)
    exact = exact_reflected_kde(samples, points, bandwidth)
    fast = magnitude_density(tensor, torch.tensor(points)).numpy()
    assert np.abs(fast - exact).max() <= 0.01 * exact.max()


@pytest.mark.parametrize("name", SAMPLERS)
def test_kde_at_a_point_is_the_exact_reflected_kde(name):
    samples = SAMPLERS[name](np.random.default_rng(3), 3000)
    bandwidth = sample_bandwidth(samples, floor=0.0)
    for point in (0.0, float(np.median(samples)), float(samples.max())):
        exact = exact_reflected_kde(samples, np.array([point]), bandwidth)[0]
        got = reflected_kde_at(samples, point, bandwidth)
        assert got == pytest.approx(exact, rel=1e-12)


@pytest.mark.parametrize("bandwidth, floored", [(0.05, False), (0.001, True)])
def test_kde_at_a_point_floors_exponents_only_where_they_could_reach_the_floor(
    monkeypatch, bandwidth, floored
):
    samples = np.abs(np.random.default_rng(4).normal(0.0, 0.1, 2000))
    point = float(np.quantile(samples, 0.7))
    expected = reflected_kde_at(samples, point, bandwidth)  # always floored
    floors = []
    clamp = torch.Tensor.clamp_

    def counted(tensor, *args, **kwargs):
        floors.append(kwargs.get("min"))
        return clamp(tensor, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "clamp_", counted)
    got = reflected_kde_at(samples, point, bandwidth, largest=float(samples.max()))
    assert got == expected  # bit for bit, floored or not
    assert len(floors) == int(floored)


def test_bandwidth_of_the_samples_is_scotts_and_floored():
    samples = np.random.default_rng(0).random(1000)
    expected = samples.std(ddof=1) * 1000 ** (-0.2)
    assert sample_bandwidth(samples, floor=0.0) == pytest.approx(expected, rel=1e-12)
    assert sample_bandwidth(np.full(10, 0.5), floor=1e-3) == 1e-3
    assert sample_bandwidth(np.array([0.5]), floor=1e-3) == 1e-3  # n = 1


def test_scott_bandwidth_is_std_times_n_to_minus_one_fifth():
    samples = torch.tensor(np.random.default_rng(0).random(1000))
    expected = samples.numpy().std(ddof=1) * 1000 ** (-0.2)
    assert scott_bandwidth(samples).item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("ratio", [0.2, 0.35, 0.5, 0.65, 0.8, 0.9, 0.95])
def test_inverse_density_matches_exact_quantile_derivative(ratio):
    # For |Z|, Z standard normal, t(r) = Phi^-1((1 + r)/2) and
    # dt/dr = 1 / (2 phi(t)).
    samples = torch.tensor(np.abs(np.random.default_rng(1).standard_normal(200_000)))
    quantile = norm.ppf((1 + ratio) / 2)
    exact = 1 / (2 * norm.pdf(quantile))
    estimate = 1 / magnitude_density(samples, torch.tensor(quantile)).item()
    assert estimate == pytest.approx(exact, rel=0.05)


def test_reflection_keeps_density_near_zero_unhalved():
    samples = torch.tensor(np.abs(np.random.default_rng(2).standard_normal(100_000)))
    at_zero = magnitude_density(samples, torch.tensor(0.0)).item()
    assert at_zero == pytest.approx(2 * norm.pdf(0), rel=0.05)


def test_density_is_positive_and_integrates_to_one():
    samples = torch.tensor(np.random.default_rng(3).exponential(0.1, 10_000))
    points = torch.linspace(0, samples.max().item() * 1.5, 20_001, dtype=torch.float64)
    density = magnitude_density(samples, points)
    assert (density[points <= samples.max()] > 0).all()
    assert np.trapezoid(density.numpy(), points.numpy()) == pytest.approx(1, abs=0.01)


def test_identical_samples_give_a_finite_spike():
    density = magnitude_density(torch.full((100,), 0.5), torch.tensor(0.5))
    assert torch.isfinite(density) and density > 1e3


def test_grid_size_below_two_is_refused():
    with pytest.raises(ValueError, match="grid_size must be at least 2"):
        magnitude_density(torch.rand(10), torch.tensor(0.1), grid_size=1)


@pytest.mark.parametrize("name", SAMPLERS)
def test_bandwidth_from_bins_is_within_half_a_bin_of_scotts(name):
    samples = torch.tensor(SAMPLERS[name](np.random.default_rng(5), 20_000))
    binned = bin_magnitudes(samples, 1024, samples.max().item())
    scale = samples.numel() ** (-0.2)
    error = abs(binned_bandwidth(binned) - scott_bandwidth(samples).item())
    assert error <= 0.5 * binned.spacing * scale
    assert error > 0  # the bins do move the samples


def test_bins_hold_the_samples_in_order_and_all_of_them():
    samples = torch.tensor(np.random.default_rng(6).exponential(0.1, 5_000))
    binned = bin_magnitudes(samples, 64, samples.max().item())
    assert binned.counts.sum() == 5_000 and binned.counts.size == 64
    edges = binned.grid_index.double() * binned.spacing
    assert (samples >= edges).all() and (samples < edges + binned.spacing).all()


def test_compiled_kernels_are_built_on_linux():
    # Elsewhere the build may lack a compiler or OpenMP and install the torch
    # and numpy fallback only (tested by test_mask's fit without the kernels).
    if not sys.platform.startswith("linux"):
        pytest.skip("the compiled kernels are only required where Linux builds them")
    from sk_adaprune._method import mask, threshold

    assert _density.count_bins is not None and threshold.window is not None
    assert mask._compiled_forward is not None


def counting_pools(rng):
    yield rng.normal(0, 0.05, 100_003).astype(np.float32)
    yield rng.integers(-6, 7, 5_001).astype(np.float32)  # heavy ties, signs
    yield np.where(rng.random(8_000) < 0.5, -0.0, rng.random(8_000)).astype(np.float32)
    yield np.full(10, 0.25, dtype=np.float32)  # all tied: the top bin
    yield np.array([-3.0], dtype=np.float32)
    yield np.zeros(0, dtype=np.float32)
    yield np.array([np.nan, 0.5, np.inf, -0.25, -np.inf], dtype=np.float32)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("grid_size", [2, 64, 1024])
def test_compiled_counts_equal_numpy_and_bincount(threads, grid_size):
    count_bins = pytest.importorskip("sk_adaprune._method._kernels").count_bins
    for pool in counting_pools(np.random.default_rng(threads)):
        finite = np.abs(pool[np.isfinite(pool)])
        upper = float(finite.max()) if finite.size else 1.0
        inverse_spacing = (grid_size - 0.5) / max(upper, np.finfo(np.float32).eps)
        index = np.full(pool.size, -1, dtype=np.int16)
        counts = np.full(grid_size, -1, dtype=np.int64)
        count_bins(pool, inverse_spacing, index, counts, threads)
        expected = np.empty(pool.size, dtype=np.int16)
        _density._bin_numbers_on_host(pool, inverse_spacing, expected, grid_size)
        assert np.array_equal(index, expected)
        assert np.array_equal(counts, np.bincount(expected, minlength=grid_size))


def test_compiled_counts_put_non_finite_samples_in_the_last_bin():
    count_bins = pytest.importorskip("sk_adaprune._method._kernels").count_bins
    samples = np.array([np.nan, np.inf, -np.inf, 0.5], dtype=np.float32)
    index, counts = np.empty(4, dtype=np.int16), np.empty(8, dtype=np.int64)
    count_bins(samples, 1.0, index, counts, 2)
    assert index.tolist() == [7, 7, 7, 0]
    assert counts.tolist() == [1, 0, 0, 0, 0, 0, 0, 3]


@pytest.mark.parametrize("path", ["numpy", "torch"])
def test_counting_without_the_kernel_puts_non_finite_samples_in_the_last_bin(
    path, monkeypatch
):
    # The "same results" promise of the fallbacks, NaN and infinity included.
    monkeypatch.setattr(_density, "count_bins", None)
    if path == "torch":

        def by_torch(samples, inverse_spacing, index, grid_size):
            _density._bin_numbers_torch(
                torch.from_numpy(samples),
                inverse_spacing,
                torch.from_numpy(index),
                grid_size,
                Scratch(),
            )

        monkeypatch.setattr(_density, "_bin_numbers_on_host", by_torch)
    samples = torch.tensor([np.nan, np.inf, -np.inf, 0.5, -1.0, np.nan])
    binned = bin_magnitudes(samples, 8, 1.0)
    assert binned.grid_index.tolist() == [7, 7, 7, 3, 7, 7]
    assert binned.counts.tolist() == [0, 0, 0, 1, 0, 0, 0, 5]


def test_compiled_counts_refuse_wrong_buffers():
    count_bins = pytest.importorskip("sk_adaprune._method._kernels").count_bins
    index, counts = np.empty(3, dtype=np.int16), np.empty(4, dtype=np.int64)
    with pytest.raises(TypeError, match="samples must hold float32"):
        count_bins(np.zeros(3), 1.0, index, counts, 1)
    with pytest.raises(TypeError, match="index must hold int16"):
        count_bins(np.zeros(3, np.float32), 1.0, index.astype(np.int32), counts, 1)
    with pytest.raises(ValueError, match="as long as the samples"):
        count_bins(np.zeros(5, np.float32), 1.0, index, counts, 1)
    with pytest.raises(ValueError, match="at least one thread"):
        count_bins(np.zeros(3, np.float32), 1.0, index, counts, 0)
