"""Density of weight magnitudes: a reflected Gaussian KDE computed with the FFT.

The threshold's derivative ``dt/dr = 1 / f(t)`` needs the density ``f`` of the
pool of weight magnitudes at the threshold. Samples are counted on a uniform
grid and the counts are convolved with the kernel through the FFT, O(n + m log m)
for ``n`` samples and an ``m``-point grid, on any torch device. The grid counts
are also what the exact threshold selection starts from (``_selection``).
"""

import math
from typing import NamedTuple

import torch

from ._scratch import Scratch

__all__ = [
    "BinnedMagnitudes",
    "bin_magnitudes",
    "binned_bandwidth",
    "grid_density",
    "interpolate",
    "magnitude_density",
    "scott_bandwidth",
]


class BinnedMagnitudes(NamedTuple):
    """Samples counted in the bins ``[j * spacing, (j + 1) * spacing)``."""

    counts: torch.Tensor  # (m,) int64: samples in each bin
    grid_index: torch.Tensor  # (n,) int32: each sample's bin
    spacing: float


def scott_bandwidth(samples: torch.Tensor) -> torch.Tensor:
    """Scott's rule of thumb, ``h = std * n ** (-1/5)``, for non-negative samples.

    The standard deviation comes from the sum and the sum of squares, two
    cheap reductions. A degenerate sample (zero spread) gets a bandwidth of a
    few ulps of its scale, so the density stays finite and huge (``dt/dr``
    close to 0).
    """
    n = samples.numel()
    mean = samples.sum().double() / n
    mean_square = torch.dot(samples, samples).double() / n
    variance = (mean_square - mean * mean).clamp_min(0.0) * n / max(n - 1, 1)
    spread = variance.sqrt().to(samples.dtype)
    scale = mean_square.sqrt().to(samples.dtype).clamp_min(1.0)
    return torch.maximum(spread * n ** (-0.2), torch.finfo(samples.dtype).eps * scale)


def grid_density(
    counts: torch.Tensor,
    spacing: float,
    bandwidth: float,
    n_samples: int,
) -> torch.Tensor:
    """Gaussian KDE at the points of a grid, from the samples counted on it.

    Parameters
    ----------
    counts : floating Tensor of shape (m,)
        ``counts[j]`` samples sit at the bin centre ``(j + 1/2) * spacing``.
    spacing, bandwidth : float
        Grid spacing and kernel bandwidth.
    n_samples : int
        Number of samples, ``counts.sum()``.

    Returns
    -------
    density : Tensor of shape (m,)
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
    grid_size = counts.numel()
    fft_size = 1 << math.ceil(math.log2(4 * grid_size))
    placed = counts.new_zeros(fft_size)
    placed[:grid_size] = counts
    placed[fft_size - grid_size :] = counts.flip(0)

    offsets = torch.arange(fft_size, device=counts.device, dtype=counts.dtype)
    offsets = torch.where(offsets < fft_size // 2, offsets, offsets - fft_size)
    kernel = torch.exp(-0.5 * (offsets * (spacing / bandwidth)) ** 2)
    kernel /= math.sqrt(2.0 * math.pi) * bandwidth * n_samples

    density = torch.fft.irfft(
        torch.fft.rfft(placed) * torch.fft.rfft(kernel), n=fft_size
    )[:grid_size]
    return density.clamp_min_(0.0)  # FFT round-off dips below 0 in empty gaps


def interpolate(
    density: torch.Tensor, spacing: float, points: torch.Tensor
) -> torch.Tensor:
    """Linear interpolation at ``points`` of values at the bin centres."""
    grid_size = density.numel()
    position = (points / spacing - 0.5).clamp(0, grid_size - 1)
    left = position.floor().clamp(max=grid_size - 2)
    weight = position - left
    left = left.long()
    return density[left] * (1.0 - weight) + density[left + 1] * weight


def magnitude_density(
    magnitudes: torch.Tensor,
    points: torch.Tensor,
    grid_size: int = 1024,
    bandwidth: torch.Tensor | None = None,
) -> torch.Tensor:
    """Density of non-negative samples at ``points``, reflected at 0.

    Parameters
    ----------
    magnitudes : Tensor of shape (n,)
        Non-negative samples (weight magnitudes).
    points : Tensor
        Where to evaluate the density; values must be non-negative.
    grid_size : int, default=1024
        Number of grid points the samples are binned onto.
    bandwidth : Tensor, default=None
        Kernel bandwidth; Scott's rule when None.

    Returns
    -------
    density : Tensor shaped like ``points``

    Notes
    -----
    The estimate is

    ``f(x) = 1/(n h) sum_i [phi((x - s_i)/h) + phi((x + s_i)/h)]``,  x >= 0,

    a Gaussian KDE of the samples and of their mirror images ``-s_i``. The
    mirror term puts back the mass a plain KDE would leak below 0, so ``f``
    integrates to 1 on ``[0, inf)`` and is not halved near 0. Samples are
    counted in ``grid_size`` equal bins on ``[0, max(s) + 4h]``, far enough
    past the largest sample that the kernel has died out (a single
    ``bincount``; moving samples to their bin centre acts like extra
    smoothing of width ``spacing``, an O(spacing^2) bias), the bins are
    convolved with the kernel (:func:`grid_density`) and ``f`` at ``points``
    is linearly interpolated between bin centres.
    """
    samples = magnitudes.detach().reshape(-1)
    if bandwidth is None:
        bandwidth = scott_bandwidth(samples)
    bandwidth = float(bandwidth)
    upper = samples.max().item() + 4.0 * bandwidth
    binned = bin_magnitudes(samples, grid_size, upper)
    counts = binned.counts.to(samples.dtype)
    density = grid_density(counts, binned.spacing, bandwidth, samples.numel())
    return interpolate(density, binned.spacing, points)


def bin_magnitudes(
    samples: torch.Tensor,
    grid_size: int,
    upper: float,
    scratch: Scratch | None = None,
) -> BinnedMagnitudes:
    """Count non-negative samples in ``grid_size`` equal bins on ``[0, upper]``.

    ``upper`` must be at least the largest sample. A sample's bin is its
    value times ``1 / spacing``, truncated: each step is monotone in the
    sample, so bins keep the samples' order, and the samples of bin ``j``
    are exactly those of ranks ``cumsum(counts)[j-1] + 1`` to
    ``cumsum(counts)[j]``. ``scratch`` holds the per-sample temporaries.
    """
    if grid_size < 2:
        raise ValueError(f"grid_size must be at least 2, got {grid_size}.")
    scratch = Scratch() if scratch is None else scratch
    # upper / spacing = grid_size - 1/2 keeps round-off at upper in the last bin.
    spacing = max(upper, torch.finfo(samples.dtype).tiny) / (grid_size - 0.5)
    position = scratch.get("position", samples.shape, samples)
    torch.mul(samples, 1.0 / spacing, out=position)
    grid_index = scratch.get("grid_index", samples.shape, samples, torch.int32)
    grid_index.copy_(position)  # truncation
    counts = torch.bincount(grid_index, minlength=grid_size)
    return BinnedMagnitudes(counts, grid_index, spacing)


def binned_bandwidth(binned: BinnedMagnitudes) -> float:
    """Scott's rule, :func:`scott_bandwidth`, from the bin counts alone.

    The samples are taken at their bin centres, each moved by at most
    ``spacing / 2``, so the standard deviation, and with it ``h / n^(-1/5)``,
    is off by at most ``spacing / 2`` (the standard deviation is 1-Lipschitz
    in the samples' root-mean-square movement). It saves two passes over the
    samples.
    """
    counts = binned.counts.double()
    centres = torch.arange(counts.numel(), dtype=torch.float64, device=counts.device)
    centres = (centres + 0.5) * binned.spacing
    n = counts.sum()
    mean = torch.dot(counts, centres) / n
    variance = torch.dot(counts, (centres - mean) ** 2) / (n - 1).clamp_min(1)
    # A pool with no spread within one bin gets a kernel half a bin wide: a
    # finite spike, and dt/dr close to 0.
    return max(float(variance.sqrt()) * float(n) ** (-0.2), 0.5 * binned.spacing)
