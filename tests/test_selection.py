"""The band selector is exact: it always equals a full sort."""

import math

import numpy as np
import pytest
import torch

from sk_adaprune._selection import BandSelector, full_pair


def sorted_pair(values, k):
    ordered = np.sort(values)
    return ordered[k - 1], ordered[k]


def pools(rng):
    yield rng.normal(0, 0.05, 20_000).astype(np.float32)
    yield rng.integers(0, 7, 5_000).astype(np.float32)  # heavy ties
    yield np.where(rng.random(8_000) < 0.5, 0.0, rng.random(8_000)).astype(np.float32)
    yield rng.normal(0, 1, 3).astype(np.float32)


@pytest.mark.parametrize("seed", range(4))
def test_full_pair_equals_sorting(seed):
    rng = np.random.default_rng(seed)
    for pool in pools(rng):
        values = np.abs(pool)
        for k in {1, 2, values.size // 2, values.size - 1}:
            if 1 <= k < values.size:
                got = [v.item() for v in full_pair(torch.from_numpy(values), k)]
                assert got == list(sorted_pair(values, k))


@pytest.mark.parametrize("device_path", ["numpy", "torch"])
@pytest.mark.parametrize("seed", range(6))
def test_band_selector_tracks_a_moving_pool_exactly(seed, device_path, monkeypatch):
    rng = np.random.default_rng(seed)
    selector = BandSelector()
    if device_path == "torch":
        # The path other devices take, exercised on the CPU.
        monkeypatch.setattr(selector, "_in_band_numpy", selector._in_band_torch)
    weights = rng.normal(0, 0.05, 30_000).astype(np.float32)
    ratio = rng.uniform(0.05, 0.95)
    for step in range(60):
        weights += rng.normal(0, 3e-4, weights.size).astype(np.float32)
        if step % 17 == 0:
            weights[rng.integers(0, weights.size, 500)] = 0.0  # ties at zero
        if step % 23 == 0:
            weights[:2000] = np.round(weights[:2000], 3)  # ties elsewhere
        ratio = float(np.clip(ratio + rng.normal(0, 0.01), 1e-4, 0.9999))
        values = np.abs(weights)
        k = math.floor(ratio * values.size)
        if k == 0:
            continue
        got = [v.item() for v in selector.pair(torch.from_numpy(values), k)]
        assert got == list(sorted_pair(values, k)), (step, k)
    assert selector.full_selections < selector.calls / 2


@pytest.mark.parametrize("ratio", [1e-5, 1e-3, 0.5, 0.999, 0.99999])
def test_band_selector_at_extreme_ratios(ratio):
    rng = np.random.default_rng(7)
    selector = BandSelector()
    weights = rng.normal(0, 0.05, 100_000).astype(np.float32)
    for _ in range(10):
        weights += rng.normal(0, 1e-4, weights.size).astype(np.float32)
        values = np.abs(weights)
        k = math.floor(ratio * values.size)
        got = [v.item() for v in selector.pair(torch.from_numpy(values), k)]
        assert got == list(sorted_pair(values, k))


def test_band_selector_after_a_jump_falls_back_to_full_selection():
    rng = np.random.default_rng(8)
    selector = BandSelector()
    values = np.abs(rng.normal(0, 0.05, 10_000)).astype(np.float32)
    selector.pair(torch.from_numpy(values), 5_000)
    jumped = values * 10  # every value moved far out of the band
    got = [v.item() for v in selector.pair(torch.from_numpy(jumped), 5_000)]
    assert got == list(sorted_pair(jumped, 5_000))
    assert selector.full_selections == 2
