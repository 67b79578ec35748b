"""Density of weight magnitudes: a reflected Gaussian KDE computed with the FFT.

The threshold's derivative ``dt/dr = 1 / f(t)`` needs the density ``f`` of the
pool of weight magnitudes at the threshold. Samples are counted in equal bins
and the counts are convolved with the kernel through the FFT, O(n + m log m)
for ``n`` samples and ``m`` bins. The bin counts are also what the exact
threshold selection starts from (``_selection``). On the CPU a small compiled
kernel (``_kernels.c``) counts in one pass on torch's threads; without it, and
on other devices, a few numpy or torch passes count the same. The work on the
``m`` counts is a few dozen small operations, done in numpy on the host, where
each costs a microsecond rather than a torch dispatch.
"""

import functools
import math
from typing import NamedTuple

import numpy as np
import torch

from .workspace import Scratch

try:  # compiled where the package was built with a C compiler and OpenMP
    from ._kernels import count_bins
except ImportError:  # numpy and torch count instead
    count_bins = None

__all__ = [
    "BinnedMagnitudes",
    "bin_magnitudes",
    "bandwidth_of_moments",
    "binned_bandwidth",
    "grid_density",
    "interpolate",
    "reflected_kde_at",
    "scott_bandwidth",
]


class BinnedMagnitudes(NamedTuple):
    """Samples counted in the bins ``[j * spacing, (j + 1) * spacing)``."""

    counts: np.ndarray  # (m,) int64 on the host: samples in each bin
    grid_index: torch.Tensor  # (n,) int16/32 on the samples' device: their bins
    spacing: float


def bin_magnitudes(
    samples: torch.Tensor,
    grid_size: int,
    upper: float,
    scratch: Scratch | None = None,
) -> BinnedMagnitudes:
    """Count magnitudes ``|x|`` in ``grid_size`` equal bins on ``[0, upper]``.

    ``upper`` must be at least the largest magnitude. A sample's bin is its
    magnitude times ``1 / spacing``, truncated: each step is monotone in the
    magnitude, so bins keep the magnitudes' order, and the magnitudes in bin
    ``j`` are exactly those of ranks ``cumsum(counts)[j-1] + 1`` to
    ``cumsum(counts)[j]``. Signed samples need no pass of their own to take
    magnitudes: ``trunc(-x / spacing) = -trunc(x / spacing)`` exactly, so the
    bin is the absolute value of the signed sample's truncated position.
    Contiguous float32 samples on the CPU are binned and counted in one pass
    by the compiled kernel, on torch's threads, with the same results.
    ``scratch`` holds the per-sample temporaries.
    """
    if grid_size < 2:
        raise ValueError(f"grid_size must be at least 2, got {grid_size}.")
    scratch = Scratch() if scratch is None else scratch
    # upper / spacing = grid_size - 1/2 keeps round-off at upper in the last bin;
    # a pool of (near) zeros gets bins of ulp size, so that 1 / spacing is finite.
    spacing = max(upper, torch.finfo(samples.dtype).eps) / (grid_size - 0.5)
    # 16-bit bin numbers where they fit: half the bytes to write and read back.
    index_dtype = (
        torch.int16 if grid_size <= torch.iinfo(torch.int16).max else torch.int32
    )
    grid_index = scratch.get("grid_index", samples.shape, samples, index_dtype)
    if _compiled(samples, index_dtype):
        counts = np.empty(grid_size, dtype=np.int64)
        threads = torch.get_num_threads()
        count_bins(samples.numpy(), 1.0 / spacing, grid_index.numpy(), counts, threads)
        return BinnedMagnitudes(counts, grid_index, spacing)
    if samples.device.type == "cpu":
        _bin_numbers_on_host(
            samples.numpy(), 1.0 / spacing, grid_index.numpy(), grid_size
        )
    else:
        _bin_numbers_torch(samples, 1.0 / spacing, grid_index, grid_size, scratch)
    counts = torch.bincount(grid_index, minlength=grid_size).cpu().numpy()
    return BinnedMagnitudes(counts, grid_index, spacing)


def _compiled(samples, index_dtype) -> bool:
    """Whether the compiled kernel counts these samples: float32 on the CPU,
    contiguous, 16-bit bin numbers, fewer than 2^32 samples."""
    return (
        count_bins is not None
        and samples.device.type == "cpu"
        and samples.dtype == torch.float32
        and samples.is_contiguous()
        and index_dtype == torch.int16
        and samples.numel() < 2**32
    )


def _bin_numbers_on_host(samples, inverse_spacing, index, grid_size):
    """Two passes: numpy multiplies and truncates into the integer buffer in
    one (no float temporary), then drops the signs. As in the compiled
    kernel, NaN and infinity count in the last bin (a third pass)."""
    with np.errstate(invalid="ignore"):
        np.multiply(samples, inverse_spacing, out=index, casting="unsafe")
    np.abs(index, out=index)
    index[~np.isfinite(samples)] = grid_size - 1


def _bin_numbers_torch(samples, inverse_spacing, grid_index, grid_size, scratch):
    position = scratch.get("position", samples.shape, samples)
    torch.mul(samples, inverse_spacing, out=position)
    # NaN and infinity in the last bin, as the compiled kernel puts them.
    last = float(grid_size - 1)
    position.abs_().nan_to_num_(nan=last, posinf=last)
    grid_index.copy_(position)  # truncation


def binned_bandwidth(binned: BinnedMagnitudes) -> float:
    """Scott's rule, ``h = std * n ** (-1/5)``, from the bin counts alone.

    The samples are taken at their bin centres, each moved by at most
    ``spacing / 2``, so the standard deviation, and with it ``h / n^(-1/5)``,
    is off by at most ``spacing / 2`` (the standard deviation is 1-Lipschitz
    in the samples' root-mean-square movement). It saves two passes over the
    samples.
    """
    counts = binned.counts
    centres = (np.arange(counts.size) + 0.5) * binned.spacing
    n = counts.sum()
    mean = counts @ centres / n
    variance = counts @ (centres - mean) ** 2 / max(n - 1, 1)
    # A pool with no spread within one bin gets a kernel half a bin wide: a
    # finite spike, and dt/dr close to 0.
    return max(math.sqrt(variance) * n ** (-0.2), 0.5 * binned.spacing)


def grid_density(
    counts: np.ndarray, spacing: float, bandwidth: float, n_samples: int
) -> np.ndarray:
    """Gaussian KDE at the bin centres, from the samples counted in the bins.

    Parameters
    ----------
    counts : ndarray of shape (m,)
        ``counts[j]`` samples sit at the bin centre ``(j + 1/2) * spacing``.
    spacing, bandwidth : float
        Bin width and kernel bandwidth.
    n_samples : int
        Number of samples, ``counts.sum()``.

    Returns
    -------
    density : float64 ndarray of shape (m,)
        The density at the bin centres.

    Notes
    -----
    ``f(x_i) = 1/(n h) sum_j c_j [phi((x_i - x_j)/h) + phi((x_i + x_j)/h)]``,
    the samples and their mirror images at 0, with ``x_j = (j + 1/2) spacing``.
    Buffer index ``j`` holds the counts of bin ``j`` and index ``-(j + 1)``
    (stored circularly) their mirror images, so that ``x_i + x_j`` is the
    index distance ``i + j + 1``; the buffer is long enough (``>= 3 m``)
    that the circular convolution through the FFT equals the linear one.
    """
    grid_size = counts.size
    fft_size = 1 << math.ceil(math.log2(4 * grid_size))
    placed = np.zeros(fft_size)
    placed[:grid_size] = counts
    placed[fft_size - grid_size :] = counts[::-1]

    kernel = np.exp(_squared_offsets(fft_size) * (-0.5 * (spacing / bandwidth) ** 2))
    kernel /= math.sqrt(2.0 * math.pi) * bandwidth * n_samples

    spectrum = np.fft.rfft(placed) * np.fft.rfft(kernel)
    density = np.fft.irfft(spectrum, n=fft_size)[:grid_size]
    return np.maximum(density, 0.0)  # FFT round-off dips below 0 in empty gaps


@functools.lru_cache(maxsize=4)
def _squared_offsets(fft_size: int) -> np.ndarray:
    """``d^2`` for the circular index distances ``d`` in ``[-size/2, size/2)``."""
    offsets = np.arange(fft_size, dtype=float)
    offsets[fft_size // 2 :] -= fft_size
    offsets **= 2
    offsets.flags.writeable = False
    return offsets


def interpolate(density: np.ndarray, spacing: float, points: np.ndarray) -> np.ndarray:
    """Linear interpolation at ``points`` of values at the bin centres."""
    centres = (np.arange(density.size) + 0.5) * spacing
    return np.interp(points, centres, density)


def scott_bandwidth(samples: np.ndarray, floor: float) -> float:
    """Scott's rule, ``h = std * n ** (-1/5)`` (``std`` with ``n - 1``), of
    float64 samples, at least ``floor``."""
    n = samples.size
    # Two reductions and no temporary; float64 keeps the difference exact
    # enough for magnitudes, whose mean is of the order of their spread. By
    # torch, as the KDE: numpy's dot would wake the BLAS's own threads, which
    # then spin on the cores torch's next parallel kernel waits for.
    values = torch.from_numpy(samples)
    return float(
        bandwidth_of_moments(n, values.sum().item(), values.dot(values).item(), floor)
    )


def bandwidth_of_moments(n: int, total, squares, floor):
    """Scott's rule from the sum and the sum of squares of ``n`` samples
    (floats, or arrays of several pools'), at least ``floor``; NaN where the
    moments left the float range."""
    mean = total / n
    if isinstance(total, float) and isinstance(squares, float):
        # One pool's, in host floats: the same operations, without numpy's
        # scalar dispatch and error state (a few microseconds a step).
        variance = max(squares - n * mean * mean, 0.0) / max(n - 1, 1)
        return max(math.sqrt(variance) * n ** (-0.2), floor)
    with np.errstate(invalid="ignore", over="ignore"):
        variance = np.maximum(squares - n * mean * mean, 0.0) / max(n - 1, 1)
        return np.maximum(np.sqrt(variance) * n ** (-0.2), floor)


_LOWEST_EXPONENT = -700.0
# An exponent bound this far above the floor leaves round-off room.
_FLOOR_NOT_REACHED = 0.9 * _LOWEST_EXPONENT


def reflected_kde_at(
    samples: np.ndarray, point: float, bandwidth: float, largest: float | None = None
) -> float:
    """``f(x) = 1/(n h) sum_i [phi((x - s_i)/h) + phi((x + s_i)/h)]`` at one
    point ``x``, summed sample by sample (float64 samples, no binning).

    The reflected Gaussian KDE that :func:`grid_density` computes on a grid;
    ``2 n`` exponentials in one ``(2, n)`` buffer, by torch, whose vectorised
    ``exp`` takes a third of numpy's time here. ``largest``, the largest
    sample if known (samples are magnitudes: at least 0), bounds every
    exponent and may spare their floor's pass.
    """
    mirrors = torch.tensor([[-point], [point]], dtype=torch.float64)
    # x - s_i = -(s_i - x), squared alike
    shifted = torch.add(torch.from_numpy(samples), mirrors)
    scale = -0.5 / (bandwidth * bandwidth)
    shifted.square_().mul_(scale)
    # Below -708 exp's results are subnormal and it leaves its fast path;
    # from -700 up they are under
    # 1e-304 each, far below one rounding step of any sum they could change.
    # No |x -+ s_i| exceeds |x| + largest: if even that stays well above
    # the floor, flooring changes nothing and its pass is left out.
    if largest is None or (abs(point) + largest) ** 2 * scale < _FLOOR_NOT_REACHED:
        shifted.clamp_(min=_LOWEST_EXPONENT)
    total = shifted.exp_().sum().item()
    return total / (samples.size * bandwidth * math.sqrt(2.0 * math.pi))
