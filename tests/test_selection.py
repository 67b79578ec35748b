"""The selection from grid counts is exact: it always equals a full sort."""

import math

import numpy as np
import pytest
import torch

from reference import full_pair
from sk_adaprune._method import density as _density
from sk_adaprune._method import selection as _selection
from sk_adaprune._method.density import bin_magnitudes
from sk_adaprune._method.selection import binned_pair
from sk_adaprune._method.workspace import Scratch


def sorted_pair(values, k):
    ordered = np.sort(values)
    return ordered[k - 1], ordered[k]


def pools(rng):
    yield rng.normal(0, 0.05, 20_000).astype(np.float32)
    yield rng.integers(0, 7, 5_000).astype(np.float32)  # heavy ties
    yield np.where(rng.random(8_000) < 0.5, 0.0, rng.random(8_000)).astype(np.float32)
    yield rng.normal(0, 1, 3).astype(np.float32)
    yield rng.standard_cauchy(10_000)  # float64, a few huge values
    yield np.round(rng.normal(0, 0.05, 10_000), 3).astype(np.float32)  # ties
    yield np.full(1_000, 0.25, dtype=np.float32)  # all tied


def ranks(n, rng):
    extreme = {1, 2, n // 2, n - 2, n - 1}
    return sorted(k for k in extreme | set(rng.integers(1, n, 5)) if 1 <= k < n)


def binned(values, grid_size=1024):
    tensor = torch.from_numpy(values)
    return tensor, bin_magnitudes(tensor, grid_size, float(np.abs(values).max()))


def host_bins_by_torch(samples, inverse_spacing, index, grid_size):
    """The binning other devices run, on the CPU: torch ops instead of numpy."""
    samples, grid_index = torch.from_numpy(samples), torch.from_numpy(index)
    _density._bin_numbers_torch(
        samples, inverse_spacing, grid_index, grid_size, Scratch()
    )


PATHS = ["compiled", "numpy", "torch"]


def use_path(path, monkeypatch):
    if path != "compiled":  # the counting without the compiled kernel
        monkeypatch.setattr(_density, "count_bins", None)
    if path == "torch":  # the path other devices take, exercised on the CPU
        monkeypatch.setattr(_density, "_bin_numbers_on_host", host_bins_by_torch)
        monkeypatch.setattr(
            _selection, "_pair_at_points_numpy", _selection._pair_at_points_torch
        )


@pytest.mark.parametrize("seed", range(4))
def test_full_pair_equals_sorting(seed):
    rng = np.random.default_rng(seed)
    for pool in pools(rng):
        values = np.abs(pool)
        for k in ranks(values.size, rng):
            got = [v.item() for v in full_pair(torch.from_numpy(values), k)]
            assert got == list(sorted_pair(values, k))


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("grid_size", [2, 16, 1024, 40_000])  # 40k: 32-bit bins
@pytest.mark.parametrize("seed", range(6))
def test_binned_pair_equals_sorting(seed, grid_size, path, monkeypatch):
    use_path(path, monkeypatch)
    rng = np.random.default_rng(seed)
    for pool in pools(rng):
        values = np.abs(pool)
        # Signed pools: the selection ranks their magnitudes.
        tensor, grid = binned(pool, grid_size)
        for k in ranks(values.size, rng):
            got = binned_pair(tensor, grid.counts, grid.grid_index, k)
            assert [v.item() for v in got] == list(sorted_pair(values, k)), k


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("ratio", [1e-6, 1e-3, 0.5, 0.999, 0.999999])
def test_binned_pair_on_a_moving_pool_at_extreme_ratios(ratio, path, monkeypatch):
    use_path(path, monkeypatch)
    rng = np.random.default_rng(7)
    weights = rng.normal(0, 0.05, 200_000).astype(np.float32)
    for step in range(8):
        weights += rng.normal(0, 3e-4, weights.size).astype(np.float32)
        if step % 3 == 0:
            weights[rng.integers(0, weights.size, 500)] = 0.0  # ties at zero
        values = np.abs(weights)
        k = max(1, math.floor(ratio * values.size))
        tensor, grid = binned(weights)
        got = binned_pair(tensor, grid.counts, grid.grid_index, k)
        assert [v.item() for v in got] == list(sorted_pair(values, k))


def test_grid_points_keep_the_values_order():
    # Values one ulp apart straddle the bin edges.
    rng = np.random.default_rng(3)
    base = rng.uniform(0, 1, 2_000).astype(np.float32)
    values = np.concatenate([base, np.nextafter(base, np.float32(2))])
    tensor, grid = binned(values, 64)
    order = np.argsort(values, kind="stable")
    assert np.all(np.diff(grid.grid_index.numpy()[order]) >= 0)


@pytest.mark.parametrize("path", PATHS)
def test_signed_samples_get_the_bins_of_their_magnitudes(path, monkeypatch):
    use_path(path, monkeypatch)
    rng = np.random.default_rng(4)
    for pool in pools(rng):
        signed, signed_grid = binned(pool, 1024)
        _, grid = binned(np.abs(pool), 1024)
        assert np.array_equal(signed_grid.counts, grid.counts)
        assert signed_grid.counts.sum() == pool.size
        assert torch.equal(signed_grid.grid_index, grid.grid_index)
