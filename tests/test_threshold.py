import math

import numpy as np
import pytest
import torch

from reference import (
    exact_reflected_kde,
    order_statistic_midpoint,
    scott_bandwidth,
)
from sk_adaprune._method import threshold as _threshold
from sk_adaprune._method.threshold import (
    NonFiniteWeightsError,
    exact_threshold,
    quantile_threshold,
    threshold_and_density,
)


def numpy_midpoint(magnitudes, ratio):
    ordered = np.sort(magnitudes)
    k = int(np.floor(ratio * ordered.size))
    return 0.0 if k == 0 else 0.5 * (ordered[k - 1] + ordered[k])


@pytest.fixture(params=["small", "binned"])
def route(request, monkeypatch):
    """Both routes of the threshold: pools of at most SMALL_POOL weights are
    selected on the host, larger ones binned (here: every pool)."""
    if request.param == "binned":
        monkeypatch.setattr(_threshold, "SMALL_POOL", 0)
    return request.param


def pools():
    rng = np.random.default_rng(0)
    yield "normal", np.abs(rng.standard_normal(1000))
    yield "ties", rng.integers(0, 5, 997).astype(float)
    yield "zeros", np.where(rng.random(500) < 0.6, 0.0, rng.random(500))
    yield "single", np.array([0.7])
    yield "float32", np.abs(rng.standard_normal(4096)).astype(np.float32)


@pytest.mark.parametrize("name,pool", list(pools()))
@pytest.mark.parametrize("ratio", [0.0, 1e-4, 0.01, 0.3, 0.5, 0.77, 0.99, 0.9999])
def test_threshold_is_numpy_order_statistic_midpoint(name, pool, ratio):
    threshold = order_statistic_midpoint(torch.from_numpy(pool), ratio)
    assert threshold.item() == numpy_midpoint(pool, ratio)


@pytest.mark.parametrize("name,pool", list(pools()))
@pytest.mark.parametrize("ratio", [0.0, 1e-4, 0.01, 0.3, 0.5, 0.77, 0.99, 0.9999])
@pytest.mark.parametrize("dtype", [None, np.float32])  # float32: the compiled kernel
def test_exact_threshold_of_signed_weights_is_the_midpoint(
    name, pool, ratio, dtype, route
):
    pool = pool if dtype is None else pool.astype(dtype)
    signs = np.where(np.random.default_rng(1).random(pool.size) < 0.5, -1, 1)
    weights = torch.from_numpy(pool * signs.astype(pool.dtype))
    for grid_size in (16, 1024):
        threshold = exact_threshold(weights, ratio, grid_size)
        assert threshold.item() == numpy_midpoint(pool, ratio)


def test_threshold_prunes_exactly_k_distinct_magnitudes():
    pool = torch.rand(10_000, dtype=torch.float64)
    threshold = order_statistic_midpoint(pool, 0.731)
    assert (pool < threshold).sum().item() == 7310


@pytest.mark.parametrize("ratio", [-0.1, 1.0, 1.5])
def test_ratio_outside_unit_interval_is_refused(ratio):
    with pytest.raises(ValueError, match=r"ratio must be in \[0, 1\)"):
        order_statistic_midpoint(torch.rand(10), ratio)


def test_empty_pool_is_refused():
    with pytest.raises(ValueError, match="empty pool"):
        order_statistic_midpoint(torch.empty(0), 0.5)


@pytest.mark.parametrize("ratio", [0.05, 0.6, 0.97])
@pytest.mark.parametrize("signed", [False, True])
def test_backward_multiplies_by_inverse_density(ratio, signed, route):
    samples = np.abs(np.random.default_rng(4).standard_normal(5000))
    signs = np.where(np.random.default_rng(5).random(5000) < 0.5, -1.0, 1.0)
    weights = torch.tensor(samples * signs if signed else samples)
    ratio_tensor = torch.tensor(ratio, dtype=torch.float64, requires_grad=True)
    threshold = quantile_threshold(weights, ratio_tensor)
    (3.0 * threshold).backward()
    assert threshold.item() == numpy_midpoint(samples, ratio)
    bandwidth = scott_bandwidth(torch.tensor(samples)).item()
    exact = exact_reflected_kde(samples, np.array([threshold.item()]), bandwidth)
    # The small pool's density is the exact KDE (Scott's bandwidth) summed at
    # t; the binned one agrees with it up to the binning error.
    tolerance = 1e-10 if route == "small" else 2e-3
    assert ratio_tensor.grad.item() == pytest.approx(3.0 / exact[0], rel=tolerance)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_small_pool_route_agrees_with_the_binned_one(dtype, monkeypatch):
    weights = torch.randn(8000, generator=torch.Generator().manual_seed(2), dtype=dtype)
    small = threshold_and_density(weights, 0.83)
    monkeypatch.setattr(_threshold, "SMALL_POOL", 0)
    binned = threshold_and_density(weights, 0.83)
    assert small[0].dtype == small[1].dtype == dtype
    assert small[0].item() == binned[0].item()  # both exact order statistics
    assert small[1].item() == pytest.approx(binned[1].item(), rel=2e-3)


def test_pools_above_the_small_size_are_binned(monkeypatch):
    calls = []
    monkeypatch.setattr(
        "sk_adaprune._method.threshold.grid_density",
        lambda *a: calls.append(a) or np.ones(a[0].size),
    )
    threshold_and_density(torch.rand(_threshold.SMALL_POOL), 0.5)
    assert calls == []
    threshold_and_density(torch.rand(_threshold.SMALL_POOL + 1), 0.5)
    assert len(calls) == 1


def test_no_density_is_computed_without_a_gradient(monkeypatch, route):
    calls = []
    record = lambda *a: calls.append(a)  # noqa: E731
    monkeypatch.setattr("sk_adaprune._method.threshold.grid_density", record)
    monkeypatch.setattr("sk_adaprune._method.threshold.reflected_kde_at", record)
    quantile_threshold(torch.rand(100), torch.tensor(0.5))
    assert calls == []


@pytest.mark.parametrize("scale", [0.0, 1e-30, 1e30])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_threshold_and_density_of_extreme_pools_stay_finite(scale, dtype, route):
    magnitudes = scale * torch.rand(1000, generator=torch.Generator().manual_seed(0))
    magnitudes = magnitudes.to(dtype)
    ratio = torch.tensor(0.5, dtype=dtype, requires_grad=True)
    threshold = quantile_threshold(magnitudes, ratio)
    threshold.backward()
    assert threshold.item() == numpy_midpoint(magnitudes.numpy(), 0.5)
    assert math.isfinite(ratio.grad.item()) and ratio.grad.item() >= 0


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_weights_are_refused_not_thresholded(bad, route):
    weights = torch.tensor([0.3, -0.1, bad, 0.7], dtype=torch.float32)
    for threshold in (
        lambda: exact_threshold(weights, 0.5),
        lambda: threshold_and_density(weights, 0.5),
        lambda: quantile_threshold(weights, torch.tensor(0.5, requires_grad=True)),
    ):
        with pytest.raises(NonFiniteWeightsError, match="NaN or infinity"):
            threshold()


@pytest.mark.parametrize("ratio", [0.5, 0.7, 0.9])
def test_dt_dr_of_a_few_hundred_unit_scores_is_near_the_true_one(ratio):
    # A neuron pool: 300 norms of 64 inputs (chi with 64 degrees of freedom);
    # dt/dr = 1 / f(F^-1(r)) from scipy. benchmarks/unit_density.py measures
    # a median error of 8% for Scott's bandwidth at this size.
    from scipy import stats

    scores = stats.chi(df=64, scale=1 / 16)
    truth = 1.0 / scores.pdf(scores.ppf(ratio))
    rng = np.random.default_rng(0)
    errors = []
    for _ in range(40):
        pool = torch.tensor(scores.rvs(size=300, random_state=rng))
        r = torch.tensor(ratio, dtype=torch.float64, requires_grad=True)
        quantile_threshold(pool, r).backward()
        errors.append(r.grad.item() / truth - 1.0)
    assert np.median(np.abs(errors)) <= 0.12
    assert abs(np.mean(errors)) <= 0.1


@pytest.mark.parametrize("size", [3000, 30_000])  # the host route and the binned one
@pytest.mark.parametrize("ratio", [0.0, 0.35, 0.9])
def test_exact_threshold_and_count_below_are_exact_thresholds_and_counts(size, ratio):
    from sk_adaprune._method.threshold import exact_threshold_and_count_below

    weights = torch.randn(size, generator=torch.Generator().manual_seed(size))
    weights[::5] = weights[1::5].neg()  # ties in magnitude
    threshold, below = exact_threshold_and_count_below(weights, ratio)
    assert threshold == exact_threshold(weights, ratio).item()
    assert below == int((weights.abs() < threshold).sum())
    assert (size > _threshold.SMALL_POOL) == (size == 30_000)


WINDOWED = _threshold.window is not None
needs_kernels = pytest.mark.skipif(
    not WINDOWED, reason="the package was built without its C kernels"
)


@pytest.fixture
def windowed_calls(monkeypatch):
    """How often the windowed route found the threshold, and how often the
    binned route had to."""
    calls = {"windowed": 0, "binned": 0}
    windowed, binned = _threshold._windowed, _threshold._binned_route

    def spy_windowed(*args):
        found = windowed(*args)
        calls["windowed"] += found is not None
        return found

    def spy_binned(*args):
        calls["binned"] += 1
        return binned(*args)

    monkeypatch.setattr(_threshold, "_windowed", spy_windowed)
    monkeypatch.setattr(_threshold, "_binned_route", spy_binned)
    return calls


@needs_kernels
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_windowed_route_follows_a_moving_pool_exactly(dtype, windowed_calls):
    from sk_adaprune._method.threshold import exact_threshold_and_count_below
    from sk_adaprune._method.workspace import Scratch

    generator = torch.Generator().manual_seed(0)
    weights = (0.05 * torch.randn(59_997, generator=generator)).to(dtype)
    weights[::7] = weights[3::7].neg()  # ties in magnitude
    scratch = Scratch()
    # Steps as training takes them (small moves of r and of every weight),
    # then a jump of r the window cannot have followed, then steady again.
    ratios = [0.5 + 0.001 * i for i in range(8)] + [0.9, 0.9, 0.901, 0.0, 0.0, 0.3]
    for ratio in ratios:
        weights += (1e-4 * torch.randn(weights.shape, generator=generator)).to(dtype)
        expected = numpy_midpoint(weights.abs().numpy(), ratio)
        assert exact_threshold(weights, ratio, 1024, scratch).item() == expected
        threshold, below = exact_threshold_and_count_below(
            weights, ratio, 1024, scratch
        )
        assert threshold == expected
        assert below == int((weights.abs() < threshold).sum())
    # The first call and the jumps fall back; most calls are windowed.
    assert windowed_calls["binned"] <= 6
    assert windowed_calls["windowed"] >= 2 * len(ratios) - 6


@needs_kernels
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("ratio", [0.001, 0.4, 0.97])
def test_windowed_density_is_the_exact_kde_at_the_threshold(
    dtype, ratio, windowed_calls
):
    from sk_adaprune._method.workspace import Scratch

    weights = torch.randn(50_000, generator=torch.Generator().manual_seed(3))
    weights = weights.to(dtype)
    scratch = Scratch()
    threshold_and_density(weights, ratio, 1024, scratch)  # remembers the window
    threshold, density = threshold_and_density(weights, ratio, 1024, scratch)
    assert windowed_calls["windowed"] == 1
    samples = weights.abs().double().numpy()
    assert threshold.item() == numpy_midpoint(weights.abs().numpy(), ratio)
    bandwidth = scott_bandwidth(torch.from_numpy(samples)).item()
    # At r = 0.001 the threshold is within a few bandwidths of 0: the mirror
    # images count there.
    exact = exact_reflected_kde(samples, np.array([threshold.item()]), bandwidth)
    tolerance = 1e-5 if dtype == torch.float32 else 1e-10
    assert density.item() == pytest.approx(exact[0], rel=tolerance)
    assert density.dtype == dtype


@needs_kernels
def test_pruned_weight_sums_the_density_in_the_masks_pass(monkeypatch, windowed_calls):
    from sk_adaprune._method import mask as mask_module
    from sk_adaprune._method.mask import pruned_weight
    from sk_adaprune._method.workspace import Scratch

    weights = 0.1 * torch.randn(40_000, generator=torch.Generator().manual_seed(1))
    weights.requires_grad_()

    def second_step_ratio_gradient():
        scratch = Scratch()
        for _ in range(2):  # the second step is windowed
            ratio = torch.tensor(0.6, requires_grad=True)
            out = pruned_weight(weights, ratio, torch.tensor(1e-3), 1024, scratch)
            out.sum().backward()
        return ratio.grad.item()

    kernel_sums = []
    summed_alone = _threshold.kde_sum
    monkeypatch.setattr(
        _threshold, "kde_sum", lambda *a: kernel_sums.append(a) or summed_alone(*a)
    )
    fused = second_step_ratio_gradient()
    assert windowed_calls["windowed"] == 1 and kernel_sums == []  # no pass of its own
    # The torch route of the mask sums the same density in a pass of its own.
    monkeypatch.setattr(mask_module, "_compiled_forward", None)
    alone = second_step_ratio_gradient()
    assert len(kernel_sums) == 1
    # (dL/dt differs by the routes' float32 round-off)
    assert fused == pytest.approx(alone, rel=3e-5) and fused != 0


@needs_kernels
def test_windowed_route_refuses_non_finite_weights():
    from sk_adaprune._method.workspace import Scratch

    weights = torch.randn(30_000, generator=torch.Generator().manual_seed(2))
    scratch = Scratch()
    exact_threshold(weights, 0.5, 1024, scratch)
    for bad in (math.nan, math.inf):
        weights[123] = bad
        with pytest.raises(NonFiniteWeightsError, match="NaN or infinity"):
            exact_threshold(weights, 0.5, 1024, scratch)


@needs_kernels
@pytest.mark.parametrize("scale", [1e-30, 1e30])
def test_windowed_route_of_extreme_float32_pools_stays_finite(scale, windowed_calls):
    from sk_adaprune._method.workspace import Scratch

    weights = scale * torch.rand(30_000, generator=torch.Generator().manual_seed(0))
    scratch = Scratch()
    for _ in range(2):
        threshold, density = threshold_and_density(weights, 0.5, 1024, scratch)
    assert threshold.item() == numpy_midpoint(weights.numpy(), 0.5)
    assert math.isfinite(density.item()) and density.item() > 0


@needs_kernels
@pytest.mark.parametrize("ratio, reflect", [(0.001, True), (0.4, True), (0.97, False)])
def test_mirror_terms_are_left_out_only_where_they_cannot_count(ratio, reflect):
    from sk_adaprune._method.threshold import DeferredDensity, threshold_and_slope
    from sk_adaprune._method.workspace import Scratch

    weights = torch.randn(50_000, generator=torch.Generator().manual_seed(3))
    scratch = Scratch()
    threshold_and_slope(weights, ratio, 1024, scratch, defer=True)
    threshold, deferred = threshold_and_slope(weights, ratio, 1024, scratch, defer=True)
    assert isinstance(deferred, DeferredDensity)
    # About 0.01, 7.6 and 31 bandwidths above 0: the mirror terms of the
    # first two reach the sum's last bits, the third's (each below e^-480)
    # are left out of the mask's pass.
    assert deferred.reflect is reflect
    samples = weights.abs().double().numpy()
    point = np.array([threshold.item()])
    exact = exact_reflected_kde(samples, point, deferred.bandwidth)[0]
    assert deferred.density(weights) == pytest.approx(exact, rel=1e-5)


def test_mirror_terms_count_while_the_sum_near_the_threshold_is_as_small():
    from sk_adaprune._method.threshold import _mirror_counts

    n = 10**6  # 2 ln n + 120 ln 2 = 110.8
    assert not _mirror_counts(11.0, 1.0, 0.0, n)  # 121 past it
    assert _mirror_counts(10.0, 1.0, 0.0, n)
    # t in a gap: its nearest terms are e^-(reach/h)^2/2, as small as the
    # mirror terms' bound e^-(t/h)^2/2 scaled by n; then they count.
    assert _mirror_counts(11.0, 1.0, 5.0, n)
    points, bandwidths = np.array([0.0, 30.0]), np.array([1.0, 1.0])
    assert _mirror_counts(points, bandwidths, 0.0, n).tolist() == [True, False]


@needs_kernels
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 7, 127, 128, 1000, 8192 + 130, 10**6])
@pytest.mark.parametrize("threads", [1, 2])
def test_window_pass_counts_gathers_in_order_and_sums_the_pool(dtype, n, threads):
    samples = np.random.default_rng(n).standard_normal(n).astype(dtype)
    magnitudes = np.abs(samples)
    low, high = (0.5, 0.52) if n > 1000 else (0.0, 1.0)
    inside = (magnitudes >= low) & (magnitudes < high)
    out = np.full(n, -1.0, dtype=dtype)
    below, count, above, upper, total, squares = _threshold.window(
        samples, low, high, out, threads
    )
    assert (below, count, above) == (
        int((magnitudes < low).sum()),
        int(inside.sum()),
        int((magnitudes >= high).sum()),
    )
    # Gathered in the pool's order, each as it is.
    np.testing.assert_array_equal(out[:count], magnitudes[inside])
    assert upper == magnitudes.max()
    wide = magnitudes.astype(np.float64)
    rel = 1e-5 if dtype == np.float32 else 1e-12
    assert total == pytest.approx(wide.sum(), rel=rel)
    assert squares == pytest.approx(wide @ wide, rel=rel)
    # Past its capacity nothing is gathered, and the counts are the same.
    if count > 1:
        short = np.full(count - 1, -1.0, dtype=dtype)
        assert _threshold.window(samples, low, high, short, threads)[1] == count


@needs_kernels
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_small_pools_windowed_route_equals_their_own_bit_for_bit(dtype, windowed_calls):
    from sk_adaprune._method.threshold import threshold_and_slope
    from sk_adaprune._method.workspace import Scratch

    generator = torch.Generator().manual_seed(0)
    weights = (0.05 * torch.randn(7_399, generator=generator)).to(dtype)
    weights[::7] = weights[3::7].neg()  # ties in magnitude
    scratch = Scratch()
    # Small moves of r and of every weight, a jump of r, a pool of equal
    # weights and one below the window: the window must follow, or give way.
    ratios = [0.5 + 0.001 * i for i in range(6)] + [0.95, 0.95, 0.0, 0.3, 0.3]
    for step, ratio in enumerate(ratios):
        weights += (1e-4 * torch.randn(weights.shape, generator=generator)).to(dtype)
        if step == 9:
            weights[:] = 0.02
        if step == 10:
            weights *= 1e-3
        expected = threshold_and_slope(weights, ratio, 1024)  # no scratch: its own
        found = threshold_and_slope(weights, ratio, 1024, scratch)
        assert found[0].item() == expected[0].item()
        assert found[1] == expected[1]
        assert found[0].item() == numpy_midpoint(weights.abs().numpy(), ratio)
    assert windowed_calls["windowed"] >= 6
