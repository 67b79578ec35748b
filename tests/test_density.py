import numpy as np
import pytest
import torch
from scipy.stats import norm

from sk_adaprune._density import (
    bin_magnitudes,
    binned_bandwidth,
    magnitude_density,
    scott_bandwidth,
)
from sk_adaprune._reference import exact_reflected_kde

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
