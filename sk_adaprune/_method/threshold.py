"""The differentiable pruning threshold: the r-quantile of the weight magnitudes."""

import math
from typing import NamedTuple

import numpy as np
import torch

from .density import (
    bandwidth_of_moments,
    bin_magnitudes,
    binned_bandwidth,
    grid_density,
    interpolate,
    reflected_kde_at,
    scott_bandwidth,
)
from .selection import binned_pair, partitioned_pair
from .workspace import Scratch, host_scalar

try:  # compiled where the package was built with a C compiler and OpenMP
    from ._kernels import kde_sum, stacked_select, window
except ImportError:  # the binned route serves every large pool
    kde_sum = stacked_select = window = None

__all__ = [
    "SMALL_POOL",
    "DeferredDensity",
    "NonFiniteWeightsError",
    "compiled_pool",
    "count_below",
    "exact_threshold",
    "exact_threshold_and_count_below",
    "quantile_threshold",
    "kde_density",
    "slope_of",
    "slopes_of",
    "StackedThresholds",
    "stacked_small_thresholds",
    "threshold_and_density",
    "threshold_and_slope",
]


class NonFiniteWeightsError(ValueError):
    """The pool of weights holds NaN or infinity: no threshold is defined."""


# Pools of at most this many weights on the CPU are thresholded by a
# selection on the host and their density summed at the threshold sample by
# sample; larger ones are binned (and the density convolved through the FFT).
SMALL_POOL = 20_000

# The windowed route aims to gather about this share of a large pool (at
# least _WINDOW_LEAST magnitudes) around the last threshold, and holds up
# to _WINDOW_ROOM times as many.
_WINDOW_SHARE, _WINDOW_LEAST, _WINDOW_ROOM = 1 / 1024, 256, 32
# The reflected half of the KDE is left out where all its terms together are
# below 2^-60 of the sum (_mirror_counts): beyond its last bit in float64.
_MIRROR_MARGIN = 60 * 2 * math.log(2)

_NON_FINITE = (
    "The weights hold NaN or infinity, so the pruning threshold (a "
    "quantile of their magnitudes) is undefined."
)


def _pool_and_rank(values: torch.Tensor, ratio: float) -> tuple[torch.Tensor, int]:
    """The values flat and detached, and ``k = floor(ratio * n)``."""
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"ratio must be in [0, 1), got {ratio!r}.")
    values = values.detach().reshape(-1)
    if values.numel() == 0:
        raise ValueError("Cannot take a quantile of an empty pool of weights.")
    return values, math.floor(ratio * values.numel())


def exact_threshold(
    weights: torch.Tensor,
    ratio: float,
    grid_size: int = 1024,
    scratch: Scratch | None = None,
) -> torch.Tensor:
    """The order-statistic midpoint of ``|weights|`` (``(s_k + s_{k+1}) / 2``,
    ``k = floor(ratio * n)``, 0 when ``k = 0``), without a sort.

    A large pool is read once where the last call's threshold is known
    (:func:`_windowed`, the compiled kernels and a ``scratch``); otherwise
    the magnitudes are counted in ``grid_size`` order-keeping bins and only
    the bin holding ``s_k`` and ``s_{k+1}`` is searched (:func:`binned_pair`):
    a few passes over the weights, no copy of the pool. The weights may be
    signed.
    """
    values, k = _pool_and_rank(weights, ratio)
    if _is_small(values):
        magnitudes, _ = _host_magnitudes(values)
        return values.new_tensor(_midpoint(magnitudes, k)[0])
    windowed = _windowed(values, k, grid_size, scratch)
    if windowed is not None:
        return values.new_tensor(windowed.threshold)
    return _binned_route(values, k, grid_size, scratch)[0]


def exact_threshold_and_count_below(
    weights: torch.Tensor,
    ratio: float,
    grid_size: int = 1024,
    scratch: Scratch | None = None,
) -> tuple[float, int]:
    """:func:`exact_threshold` as a float, and how many magnitudes are below
    it (``|w| < t``, the weights the hard mask prunes).

    On a small pool on the CPU the count comes from the selection's own copy
    of the magnitudes (partitioned, the same values), without a pass over
    the weights of its own; otherwise it is :func:`count_below`'s.
    """
    values, k = _pool_and_rank(weights, ratio)
    if _is_small(values):
        magnitudes, _ = _host_magnitudes(values)
        threshold, _ = _midpoint(magnitudes, k)
        return float(threshold), int(np.count_nonzero(magnitudes < threshold))
    windowed = _windowed(values, k, grid_size, scratch)
    if windowed is not None:
        below = windowed.below + int(
            np.count_nonzero(windowed.gathered < windowed.threshold)
        )
        return float(windowed.threshold), below
    threshold = _binned_route(values, k, grid_size, scratch)[0].item()
    return threshold, count_below(values, threshold)


def count_below(values: torch.Tensor, threshold: float) -> int:
    """How many of ``|values|`` are below ``threshold``."""
    if values.device.type == "cpu":
        # One numpy pass over |w|: a third of torch's three passes and
        # reduction on a small network's pool.
        return int(np.count_nonzero(np.abs(values.numpy()) < threshold))
    # -t < w < t without a copy of |w|: byte-sized temporaries.
    return int((values > -threshold).logical_and_(values < threshold).sum())


def _is_small(values) -> bool:
    return values.device.type == "cpu" and values.numel() <= SMALL_POOL


def _host_magnitudes(values) -> tuple[np.ndarray, float]:
    """``|values|`` as a new numpy array in their dtype, and the largest;
    refuses NaN and infinity."""
    magnitudes = np.abs(values.numpy())
    upper = float(magnitudes.max())
    if not math.isfinite(upper):  # the maximum carries any NaN
        raise NonFiniteWeightsError(_NON_FINITE)
    return magnitudes, upper


def _midpoint(magnitudes, k):
    """``(s_k + s_{k+1}) / 2`` in the magnitudes' dtype, 0 for ``k = 0``, and
    its reach: the distance (a float) to the farther of ``s_k`` and
    ``s_{k+1}`` (0 for ``k = 0``); partitions ``magnitudes`` in place."""
    if k == 0:
        return magnitudes.dtype.type(0), 0.0
    kth, next_value = partitioned_pair(magnitudes, k)
    midpoint = 0.5 * (kth + next_value)
    centre = float(midpoint)
    return midpoint, max(centre - float(kth), float(next_value) - centre)


def _mirror_counts(point, bandwidth, reach, n):
    """Whether the reflected KDE's mirror terms can change its sum at the
    threshold ``point`` (floats, or arrays of several pools').

    Each mirror term ``exp(-((|w| + p) / h)^2 / 2)`` is at most
    ``exp(-(p / h)^2 / 2)``, the magnitudes being at least 0, while the sum
    holds the terms of the two order statistics ``p`` is the midpoint of,
    at least ``exp(-(reach / h)^2 / 2)``. The ``n`` mirror terms together
    stay below ``2^-60`` of the sum where ``(p / h)^2 - (reach / h)^2`` is at
    least ``2 ln n + 120 ln 2``: past the last bit of a float64 sum, so
    leaving them out changes nothing but the order of round-off.
    """
    # No overflow: the bandwidth is at least half a bin of a grid up to the
    # largest magnitude, the threshold and the reach at most that magnitude.
    margin = (point / bandwidth) ** 2 - (reach / bandwidth) ** 2
    return np.logical_not(margin >= 2 * math.log(n) + _MIRROR_MARGIN)


def _binned(values, grid_size, scratch):
    # t <= max |w|: the grid need not reach further.
    low, high = torch.aminmax(values)
    upper = torch.maximum(-low, high).item()
    if not math.isfinite(upper):  # the extremes carry any NaN, for free
        raise NonFiniteWeightsError(_NON_FINITE)
    return bin_magnitudes(values, grid_size, upper, scratch)


def _binned_route(values, k, grid_size, scratch):
    """The threshold from the bin counts, and the counts; remembers a window
    around the threshold for the next call (:func:`_windowed`)."""
    binned = _binned(values, grid_size, scratch)
    threshold = _binned_threshold(values, k, binned)
    if scratch is not None and window is not None:
        # Wide enough for about the share the windowed route aims at, from
        # the count of the threshold's bin.
        t = threshold.item()
        at = min(int(t / binned.spacing), binned.counts.size - 1)
        target = _window_target(values.numel())
        half = 0.5 * binned.spacing * target / max(int(binned.counts[at]), 1)
        if "window" in scratch.notes:  # and twice the last move
            half += 2 * abs(t - scratch.notes["window"][0])
        scratch.notes["window"] = (t, half)
    return threshold, binned


class Windowed(NamedTuple):
    """What the windowed route found: the threshold and the pool's moments."""

    threshold: np.floating  # the order-statistic midpoint, in the pool's dtype
    reach: float  # its distance to the farther of its two order statistics
    below: int  # magnitudes below the window
    gathered: np.ndarray  # the magnitudes in the window (partitioned)
    upper: float  # the largest magnitude
    total: float  # their sum
    squares: float  # the sum of their squares


def _window_target(n: int) -> int:
    return max(_WINDOW_LEAST, int(n * _WINDOW_SHARE))


def _windowed(values, k, grid_size, scratch) -> Windowed | None:
    """The threshold from one pass over a large pool, started from the last
    call's threshold; None where this route cannot serve (then the binned
    route does, and remembers where to start next time).

    The compiled kernel counts the magnitudes below a window around the last
    threshold, gathers those inside it, and sums the pool's moments; when
    ranks ``k`` and ``k + 1`` are among the gathered ones, a selection among
    those few gives the same midpoint as the whole pool's. The window follows
    the threshold: it is centred on the new one and wide enough for about
    ``n / 1024`` magnitudes and four times the last move; after a miss the
    next one is four times as wide (or narrow, if it overflowed).
    """
    if scratch is None:
        return None
    scratch.notes.pop("squares", None)  # a last pass's, of other values
    if "window" not in scratch.notes or not compiled_pool(values):
        return None
    centre, half = scratch.notes["window"]
    n = values.numel()
    target = _window_target(n)
    buffer = scratch.get("window", (_WINDOW_ROOM * target,), values)
    low, high = max(centre - half, 0.0), centre + half
    below, inside, above, upper, total, squares = window(
        values.numpy(), low, high, buffer.numpy(), torch.get_num_threads()
    )
    if below + inside + above != n or not math.isfinite(upper):
        raise NonFiniteWeightsError(_NON_FINITE)
    # The pool's sum of squares, for whoever wants ||w||^2 of these values
    # before they change (pool_squares).
    scratch.notes["squares"] = (values.data_ptr(), n, squares)
    overflow = inside > buffer.numel()
    if k > 0 and (overflow or not below < k < below + inside):
        scratch.notes["window"] = (centre, half / 4 if overflow else 4 * half)
        return None
    gathered = buffer.numpy()[:inside]
    if k == 0:  # t = 0, nothing below it; the window stays where it was
        zero = gathered.dtype.type(0)
        return Windowed(zero, 0.0, 0, gathered[:0], upper, total, squares)
    threshold, reach = _midpoint(gathered, k - below)
    moved = abs(float(threshold) - centre)
    per_unit = inside / (high - low)
    half = 0.5 * target / per_unit + 2 * moved
    scratch.notes["window"] = (float(threshold), half)
    return Windowed(threshold, reach, below, gathered, upper, total, squares)


def pool_squares(values: torch.Tensor, scratch: Scratch) -> float | None:
    """The sum of squares of ``values`` that the last threshold pass over
    them took (the compiled routes', in ``scratch``), or None where that
    pass read other values or took none; served once. The caller must know
    that ``values`` are as that pass read them (unchanged since)."""
    noted = scratch.notes.pop("squares", None)
    if noted is None or noted[:2] != (values.data_ptr(), values.numel()):
        return None
    return noted[2]


class DeferredDensity(NamedTuple):
    """The density at ``t`` of a large pool as the compiled kernels sum it:
    the reflected Gaussian KDE of the magnitudes at ``point`` with Scott's
    bandwidth from the pool's moments (the small pool's estimate,
    :func:`_small_threshold_and_density`). The sum over the pool is left to
    a pass that reads the weights anyway (the mask's forward pass), or to
    :meth:`density`."""

    point: float
    bandwidth: float
    reflect: bool  # whether the mirror term at -point can count
    samples: int

    def density(self, values: torch.Tensor, kernel_sum: float | None = None) -> float:
        """``f(t)`` from the kernels' sum over the pool (summed here if not
        given)."""
        if kernel_sum is None:
            kernel_sum = kde_sum(
                values.numpy(),
                self.point,
                1.0 / self.bandwidth,
                self.reflect,
                torch.get_num_threads(),
            )
        return kde_density(kernel_sum, self.samples, self.bandwidth)


def kde_density(kernel_sums, samples: int, bandwidths):
    """The Gaussian KDE from its kernels' sums over ``samples`` magnitudes at
    ``bandwidths`` (floats, or arrays of models' pools)."""
    return kernel_sums / (samples * bandwidths * math.sqrt(2.0 * math.pi))


def _deferred_density(values, windowed: Windowed, grid_size) -> DeferredDensity | None:
    """Scott's bandwidth from the moments (floored at half a bin of the grid,
    as on the other routes); None where the moments left the dtype's range."""
    n = values.numel()
    spacing = max(windowed.upper, torch.finfo(values.dtype).eps) / (grid_size - 0.5)
    bandwidth = float(
        bandwidth_of_moments(n, windowed.total, windowed.squares, 0.5 * spacing)
    )
    if not (math.isfinite(bandwidth) and math.isfinite(windowed.total)):
        return None
    point = float(windowed.threshold)
    reflect = bool(_mirror_counts(point, bandwidth, windowed.reach, n))
    return DeferredDensity(point, bandwidth, reflect, n)


def _binned_threshold(values, k, binned):
    if k == 0:
        return values.new_zeros(())
    kth, next_value = binned_pair(values, binned.counts, binned.grid_index, k)
    return 0.5 * (kth + next_value)


def threshold_and_density(
    weights: torch.Tensor,
    ratio: float,
    grid_size: int = 1024,
    scratch: Scratch | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``t`` and the density ``f(t)`` of the magnitudes ``|weights|``.

    What :func:`quantile_threshold` uses. One binning of the magnitudes onto
    the grid serves both (:func:`exact_threshold` for ``t``). ``f`` is the
    estimate of the reference ``tests/reference.magnitude_density`` (a reflected
    Gaussian KDE, binned and convolved through the FFT) with two differences
    that save passes over the pool: the grid ends at the largest magnitude (``t`` is
    never above it), and Scott's bandwidth comes from the bin counts
    (:func:`binned_bandwidth`, off by at most half a bin times n^(-1/5)).

    A pool of at most ``SMALL_POOL`` weights on the CPU is not binned: ``t``
    is the same midpoint, selected on the host, and ``f(t)`` the KDE summed
    over the samples at ``t`` with Scott's bandwidth from the samples
    (:func:`reflected_kde_at`), cheaper there than the grid and free of its
    binning error. A large pool whose last threshold is known (a
    ``scratch`` from an earlier call, the compiled kernels) takes the same
    exact estimate in one pass for ``t`` and one for ``f(t)``
    (:func:`_windowed`, :class:`DeferredDensity`). All routes floor the
    bandwidth at half a bin of the grid.
    """
    threshold, density = _threshold_and_host_density(weights, ratio, grid_size, scratch)
    return threshold, threshold.new_tensor(density)


def _threshold_and_host_density(weights, ratio, grid_size, scratch, defer=False):
    """:func:`threshold_and_density` with ``f(t)`` as the float64 it is
    computed in, on the host (training reads it there); with ``defer``, a
    :class:`DeferredDensity` instead where the windowed route served a large
    pool."""
    values, k = _pool_and_rank(weights, ratio)
    small = _is_small(values)
    # A small pool's too, once its route noted a window: the same midpoint,
    # moments and density as that route's, from a selection among a few
    # magnitudes instead of all (the small route's own pass sums its density,
    # as the stacked pools' do).
    windowed = _windowed(values, k, grid_size, scratch)
    deferred = (
        None if windowed is None else _deferred_density(values, windowed, grid_size)
    )
    if deferred is not None:
        threshold = values.new_tensor(windowed.threshold)
        return threshold, deferred if defer and not small else deferred.density(values)
    if small:
        return _small_threshold_and_density(values, k, grid_size, scratch)
    threshold, binned = _binned_route(values, k, grid_size, scratch)
    bandwidth = binned_bandwidth(binned)
    density = grid_density(binned.counts, binned.spacing, bandwidth, values.numel())
    return threshold, float(interpolate(density, binned.spacing, threshold.item()))


def _small_threshold_and_density(values, k, grid_size, scratch=None):
    if compiled_pool(values):
        return _small_threshold_and_density_compiled(values, k, grid_size, scratch)
    magnitudes, upper = _host_magnitudes(values)
    threshold, _ = _midpoint(magnitudes, k)
    samples = magnitudes.astype(np.float64, copy=False)
    # The binned route's floor: half a bin of the grid it would count on.
    spacing = max(upper, np.finfo(magnitudes.dtype).eps) / (grid_size - 0.5)
    bandwidth = scott_bandwidth(samples, floor=0.5 * spacing)
    density = reflected_kde_at(samples, float(threshold), bandwidth, upper)
    return values.new_tensor(threshold), density


def compiled_pool(values: torch.Tensor) -> bool:
    """Whether the compiled kernels read this pool: contiguous float32 or
    float64 on the CPU."""
    return (
        window is not None
        and values.device.type == "cpu"
        and values.dtype in (torch.float32, torch.float64)
        and values.is_contiguous()
    )


def _small_threshold_and_density_compiled(values, k, grid_size, scratch=None):
    """The small pool's route in two compiled calls: one gathers every
    magnitude (a window from 0 to infinity) with the moments, the other sums
    the KDE at ``t``; the same estimate, rounded as the kernels round. The
    sum of squares is noted in ``scratch`` as the windowed route notes it."""
    n = values.numel()
    magnitudes = np.empty(n, dtype=values.numpy().dtype)
    below, inside, above, upper, total, squares = window(
        values.numpy(), 0.0, math.inf, magnitudes, 1
    )
    if inside != n:  # NaN is in no count, infinity above the window
        raise NonFiniteWeightsError(_NON_FINITE)
    threshold, reach = _midpoint(magnitudes, k)
    if scratch is not None:
        scratch.notes["squares"] = (values.data_ptr(), n, squares)
        # Where the windowed route looks next time: about its target's share
        # of the pool at the pool's mean density, or as wide as the last
        # window (wider after a miss) and twice the last move.
        t = float(threshold)
        half = 0.5 * _window_target(n) * max(upper, 1e-300) / n
        if "window" in scratch.notes:
            centre, last = scratch.notes["window"]
            half = max(half, last) + 2 * abs(t - centre)
        scratch.notes["window"] = (t, half)
    found = Windowed(threshold, reach, 0, magnitudes, upper, total, squares)
    deferred = _deferred_density(values, found, grid_size)
    if deferred is None:  # moments beyond the dtype's range: in float64
        samples = magnitudes.astype(np.float64)
        spacing = max(upper, np.finfo(magnitudes.dtype).eps) / (grid_size - 0.5)
        bandwidth = scott_bandwidth(samples, floor=0.5 * spacing)
        density = reflected_kde_at(samples, float(threshold), bandwidth, upper)
    else:
        density = deferred.density(values)
    return values.new_tensor(threshold), density


class StackedThresholds(NamedTuple):
    """What :func:`stacked_small_thresholds` found for the rows ``rows`` of a
    stack of pools: per row (arrays in the order of ``rows``) the threshold
    (the pool's dtype) and the :class:`DeferredDensity` at it (``point``,
    ``bandwidth``, ``reflect``). Rows whose pool holds NaN or infinity, or
    whose moments left the dtype's range, are not among ``rows``."""

    rows: np.ndarray
    thresholds: np.ndarray
    points: np.ndarray
    bandwidths: np.ndarray
    reflects: np.ndarray


def stacked_small_thresholds(
    weights: torch.Tensor,
    ratios: list[float],
    rows: list[int],
    grid_size: int,
    magnitudes: np.ndarray,
    windows: np.ndarray,
) -> StackedThresholds:
    """The small pool's compiled route for rows of a ``(K, n)`` stack of
    pools (``compiled_pool``, ``n <= SMALL_POOL``), in one compiled call:
    per row ``k`` of ``rows``, the threshold and the density at it, equal to
    what :func:`threshold_and_slope` finds on the row alone (the same
    operations, on arrays of the rows). A row that holds NaN or infinity,
    or whose moments leave the dtype's range, is left out (the caller takes
    it alone). ``ratios[k]`` must be in ``[0, 1)``.

    ``magnitudes``, a ``(K, n)`` array of the pools' dtype, is overwritten.
    ``windows`` (``(K, 3)``, float64, zeros at first) holds where each row's
    threshold is looked for, among the magnitudes in ``[low, high)`` (as the
    windowed route of a large pool looks: the selection then sorts out a
    few instead of the whole pool, the same order statistics), and the
    last threshold; it is moved to the new thresholds here.
    """
    n = weights.shape[1]
    values = weights.detach()
    rows = np.asarray(rows, dtype=np.int64)
    ranks = np.zeros(len(ratios), dtype=np.int64)
    ranks[rows] = np.floor(np.asarray(ratios)[rows] * n)
    stats = np.empty((len(ratios), 7))
    stacked_select(
        values.numpy(),
        magnitudes,
        n,
        rows,
        ranks,
        np.ascontiguousarray(windows[:, :2]),
        stats,
        torch.get_num_threads(),
    )
    rows = rows[stats[rows, 0] == n]  # the others hold NaN or infinity
    inside, upper, total, squares, kth, next_value, in_window = stats[rows].T
    scalar = magnitudes.dtype.type
    # _midpoint's arithmetic, in the pool's dtype.
    thresholds = 0.5 * (kth.astype(scalar) + next_value.astype(scalar))
    thresholds[ranks[rows] == 0] = 0
    # The next window: about `target` magnitudes at this one's density
    # (the pool's mean density where it missed) and twice the last move.
    low, high, last = windows[rows].T
    with np.errstate(divide="ignore", invalid="ignore"):
        per_unit = np.where(
            in_window != 0,
            in_window / (high - low),
            n / np.maximum(upper, 1e-300),
        )
    t = thresholds.astype(np.float64)
    half = 0.5 * (2 * _WINDOW_LEAST) / per_unit + 2 * np.abs(t - last)
    moved = np.stack([np.maximum(t - half, 0.0), t + half, t], axis=1)
    windows[rows] = np.where((t > 0)[:, None], moved, 0.0)
    # _deferred_density's, on the rows' arrays.
    spacing = np.maximum(upper, torch.finfo(values.dtype).eps) / (grid_size - 0.5)
    bandwidths = bandwidth_of_moments(n, total, squares, 0.5 * spacing)
    kept = np.isfinite(bandwidths) & np.isfinite(total)
    reach = np.where(ranks[rows] == 0, 0.0, np.maximum(t - kth, next_value - t))
    return StackedThresholds(
        rows[kept],
        thresholds[kept],
        t[kept],
        bandwidths[kept],
        _mirror_counts(t[kept], bandwidths[kept], reach[kept], n),
    )


def threshold_and_slope(
    weights: torch.Tensor,
    ratio: float,
    grid_size: int = 1024,
    scratch: Scratch | None = None,
    defer: bool = False,
) -> tuple[torch.Tensor, float | DeferredDensity]:
    """``t`` and ``dt/dr = 1 / f(t)`` (a float), what training steps with.

    :func:`threshold_and_density`'s ``t`` and ``f``, with ``1 / f`` taken on
    the host in the pool's dtype (workspace.host_scalar), rounded as that function's
    tensor would be; ``f`` is floored at the dtype's smallest normal number,
    since a vanishing density would make the step in ``r`` infinite. With
    ``defer``, where the density is the compiled kernels' sum, a
    :class:`DeferredDensity` stands for ``f``: :func:`slope_of` its density
    gives ``dt/dr``.
    """
    threshold, density = _threshold_and_host_density(
        weights, ratio, grid_size, scratch, defer
    )
    if isinstance(density, DeferredDensity):
        return threshold, density
    return threshold, slope_of(density, threshold.dtype)


def slope_of(density: float, dtype: torch.dtype) -> float:
    """``dt/dr = 1 / f`` in ``dtype``'s host scalar, ``f`` floored at its
    smallest normal number."""
    return float(slopes_of(density, dtype))


def slopes_of(densities, dtype: torch.dtype):
    """:func:`slope_of` of a float or an array of models' densities, as
    ``dtype``'s host scalars."""
    scalar = host_scalar(dtype)
    return scalar(1.0) / np.maximum(scalar(densities), np.finfo(scalar).tiny)


class _QuantileThreshold(torch.autograd.Function):
    """``t(r)`` with ``dt/dr = 1 / f(t)``, ``f`` the density of the magnitudes."""

    @staticmethod
    def forward(ctx, ratio, weights, grid_size, scratch):
        threshold, ctx.threshold_per_ratio = threshold_and_slope(
            weights, float(ratio), grid_size, scratch
        )
        return threshold.to(ratio.dtype)

    @staticmethod
    def backward(ctx, grad_threshold):
        return grad_threshold * ctx.threshold_per_ratio, None, None, None


def quantile_threshold(
    weights: torch.Tensor,
    ratio: torch.Tensor,
    grid_size: int = 1024,
    scratch: Scratch | None = None,
) -> torch.Tensor:
    """Differentiable threshold ``t = quantile_ratio(magnitudes)``.

    Parameters
    ----------
    weights : Tensor of shape (n,)
        All prunable weights (or their absolute values); treated as
        constants. Their magnitudes are the pool.
    ratio : Tensor of shape ()
        The pruning ratio ``r`` in [0, 1); gradients flow back to it.
    grid_size : int, default=1024
        Grid points of the density estimate used in the backward pass.
    scratch : Scratch, default=None
        Buffers for the per-magnitude temporaries, reused across calls.

    Returns
    -------
    threshold : Tensor of shape ()

    Notes
    -----
    The quantile function's derivative is the reciprocal density at the
    quantile, ``dt/dr = 1 / f_|W|(t)`` (thesis eq. 2.16), with ``f`` a
    reflected Gaussian KDE (:func:`threshold_and_density`). The threshold is not
    differentiated with respect to the weights, as in the thesis.

    No sort of the whole pool: one pass gathers the magnitudes in a window
    around the last threshold (:func:`_windowed`), or bins them onto the
    density's grid, whose counts locate the grid point that holds the k-th
    magnitude (:func:`binned_pair`); the exact threshold needs only the few
    magnitudes found there.
    """
    if not ratio.requires_grad:
        threshold = exact_threshold(weights, float(ratio), grid_size, scratch)
        return threshold.to(ratio.dtype)
    return _QuantileThreshold.apply(ratio, weights, grid_size, scratch)
