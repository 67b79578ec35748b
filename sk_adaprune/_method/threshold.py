"""The differentiable pruning threshold: the r-quantile of the weight magnitudes."""

import math

import numpy as np
import torch

from .density import (
    bin_magnitudes,
    binned_bandwidth,
    grid_density,
    interpolate,
    reflected_kde_at,
    scott_bandwidth,
)
from .selection import binned_pair, partitioned_pair
from .workspace import Scratch, host_scalar

__all__ = [
    "SMALL_POOL",
    "NonFiniteWeightsError",
    "count_below",
    "exact_threshold",
    "exact_threshold_and_count_below",
    "quantile_threshold",
    "threshold_and_density",
    "threshold_and_slope",
]


class NonFiniteWeightsError(ValueError):
    """The pool of weights holds NaN or infinity: no threshold is defined."""


# Pools of at most this many weights on the CPU are thresholded by a
# selection on the host and their density summed at the threshold sample by
# sample; larger ones are binned (and the density convolved through the FFT).
SMALL_POOL = 20_000

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

    The magnitudes are counted in ``grid_size`` order-keeping bins and only
    the bin holding ``s_k`` and ``s_{k+1}`` is searched (:func:`binned_pair`):
    a few passes over the weights, no copy of the pool. The weights may be
    signed.
    """
    values, k = _pool_and_rank(weights, ratio)
    if _is_small(values):
        magnitudes, _ = _host_magnitudes(values)
        return values.new_tensor(_midpoint(magnitudes, k))
    return _binned_threshold(values, k, _binned(values, grid_size, scratch))


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
        threshold = _midpoint(magnitudes, k)
        return float(threshold), int(np.count_nonzero(magnitudes < threshold))
    threshold = _binned_threshold(values, k, _binned(values, grid_size, scratch))
    threshold = threshold.item()
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
    """``(s_k + s_{k+1}) / 2`` in the magnitudes' dtype, 0 for ``k = 0``;
    partitions ``magnitudes`` in place."""
    if k == 0:
        return magnitudes.dtype.type(0)
    kth, next_value = partitioned_pair(magnitudes, k)
    return 0.5 * (kth + next_value)


def _binned(values, grid_size, scratch):
    # t <= max |w|: the grid need not reach further.
    low, high = torch.aminmax(values)
    upper = torch.maximum(-low, high).item()
    if not math.isfinite(upper):  # the extremes carry any NaN, for free
        raise NonFiniteWeightsError(_NON_FINITE)
    return bin_magnitudes(values, grid_size, upper, scratch)


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
    binning error. Both routes floor the bandwidth at half a bin of the
    grid.
    """
    threshold, density = _threshold_and_host_density(weights, ratio, grid_size, scratch)
    return threshold, threshold.new_tensor(density)


def _threshold_and_host_density(weights, ratio, grid_size, scratch):
    """:func:`threshold_and_density` with ``f(t)`` as the float64 it is
    computed in, on the host (training reads it there)."""
    values, k = _pool_and_rank(weights, ratio)
    if _is_small(values):
        return _small_threshold_and_density(values, k, grid_size)
    binned = _binned(values, grid_size, scratch)
    threshold = _binned_threshold(values, k, binned)
    bandwidth = binned_bandwidth(binned)
    density = grid_density(binned.counts, binned.spacing, bandwidth, values.numel())
    return threshold, float(interpolate(density, binned.spacing, threshold.item()))


def _small_threshold_and_density(values, k, grid_size):
    magnitudes, upper = _host_magnitudes(values)
    threshold = _midpoint(magnitudes, k)
    samples = magnitudes.astype(np.float64, copy=False)
    # The binned route's floor: half a bin of the grid it would count on.
    spacing = max(upper, np.finfo(magnitudes.dtype).eps) / (grid_size - 0.5)
    bandwidth = scott_bandwidth(samples, floor=0.5 * spacing)
    density = reflected_kde_at(samples, float(threshold), bandwidth, upper)
    return values.new_tensor(threshold), density


def threshold_and_slope(
    weights: torch.Tensor,
    ratio: float,
    grid_size: int = 1024,
    scratch: Scratch | None = None,
) -> tuple[torch.Tensor, float]:
    """``t`` and ``dt/dr = 1 / f(t)`` (a float), what training steps with.

    :func:`threshold_and_density`'s ``t`` and ``f``, with ``1 / f`` taken on
    the host in the pool's dtype (workspace.host_scalar), rounded as that function's
    tensor would be; ``f`` is floored at the dtype's smallest normal number,
    since a vanishing density would make the step in ``r`` infinite.
    """
    threshold, density = _threshold_and_host_density(weights, ratio, grid_size, scratch)
    scalar = host_scalar(threshold.dtype)
    density = max(scalar(density), np.finfo(scalar).tiny)
    return threshold, float(scalar(1.0) / density)


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

    One pass bins the magnitudes onto the density's grid; the same counts
    locate the grid point that holds the k-th magnitude, so the exact
    threshold needs only the few magnitudes there (:func:`binned_pair`), and
    no sort of the whole pool.
    """
    if not ratio.requires_grad:
        threshold = exact_threshold(weights, float(ratio), grid_size, scratch)
        return threshold.to(ratio.dtype)
    return _QuantileThreshold.apply(ratio, weights, grid_size, scratch)
