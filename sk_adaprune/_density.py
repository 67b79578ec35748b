"""Density of weight magnitudes: a reflected Gaussian KDE computed with the FFT.

The threshold's derivative ``dt/dr = 1 / f(t)`` needs the density ``f`` of the
pool of weight magnitudes at the threshold. This module estimates it in
O(n + m log m) for ``n`` samples and an ``m``-point grid, on any torch device.
"""

import math

import torch

from ._scratch import Scratch

__all__ = ["scott_bandwidth", "magnitude_density"]


def scott_bandwidth(
    samples: torch.Tensor, largest: torch.Tensor | None = None
) -> torch.Tensor:
    """Scott's rule of thumb, ``h = std * n ** (-1/5)``, for non-negative samples.

    The standard deviation comes from the sum and the sum of squares, two
    cheap reductions. A degenerate sample (zero spread) gets a bandwidth of a
    few ulps of its scale, so the density stays finite and huge (``dt/dr``
    close to 0). ``largest`` is ``samples.max()`` if the caller has it.
    """
    n = samples.numel()
    mean = samples.sum().double() / n
    mean_square = torch.dot(samples, samples).double() / n
    variance = (mean_square - mean * mean).clamp_min(0.0) * n / max(n - 1, 1)
    spread = variance.sqrt().to(samples.dtype)
    largest = samples.max() if largest is None else largest
    floor = torch.finfo(samples.dtype).eps * largest.clamp_min(1.0)
    return torch.maximum(spread * n ** (-0.2), floor)


def magnitude_density(
    magnitudes: torch.Tensor,
    points: torch.Tensor,
    grid_size: int = 1024,
    bandwidth: torch.Tensor | None = None,
    scratch: Scratch | None = None,
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
    scratch : Scratch, default=None
        Buffers for the per-sample temporaries, reused across calls.

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
    counted at their nearest point of a uniform grid on ``[0, max(s) + 4h]``
    (a single ``bincount``; the rounding acts like extra smoothing of width
    ``spacing``, an O(spacing^2) bias), the mirrored counts are appended, and
    the grid is convolved with the kernel through a real FFT; ``f`` at
    ``points`` is then linearly interpolated on the grid.
    """
    if grid_size < 2:
        raise ValueError(f"grid_size must be at least 2, got {grid_size}.")
    samples = magnitudes.detach().reshape(-1)
    n = samples.numel()
    largest = samples.max()
    if bandwidth is None:
        bandwidth = scott_bandwidth(samples, largest)
    upper = largest + 4.0 * bandwidth
    spacing = upper / (grid_size - 1)

    scratch = Scratch() if scratch is None else scratch
    position = scratch.get("position", samples.shape, samples)
    torch.mul(samples, 1.0 / spacing, out=position).add_(0.5)
    grid_index = scratch.get("grid_index", samples.shape, samples, torch.int32)
    grid_index.copy_(position)  # truncation: the nearest grid point
    counts = torch.bincount(grid_index, minlength=grid_size).to(samples.dtype)

    # Index m in [-(grid_size-1), grid_size-1] holds the counts at +m*spacing
    # and the mirrored counts at -m*spacing, stored circularly in a buffer
    # long enough (>= 4 grid_size - 3) that the circular convolution equals
    # the linear one on the non-negative half of the grid.
    fft_size = 1 << math.ceil(math.log2(4 * grid_size))
    mirrored = samples.new_zeros(fft_size)
    mirrored[:grid_size] = counts
    mirrored[0] = 2.0 * counts[0]
    mirrored[fft_size - grid_size + 1 :] = counts[1:].flip(0)

    offsets = torch.arange(fft_size, device=samples.device, dtype=samples.dtype)
    offsets = torch.where(offsets < fft_size // 2, offsets, offsets - fft_size)
    kernel = torch.exp(-0.5 * (offsets * spacing / bandwidth) ** 2)
    kernel /= math.sqrt(2.0 * math.pi) * bandwidth * n

    grid_density = torch.fft.irfft(
        torch.fft.rfft(mirrored) * torch.fft.rfft(kernel), n=fft_size
    )[:grid_size].clamp_min_(0.0)  # FFT round-off dips below 0 in empty gaps

    position = (points / spacing).clamp(0, grid_size - 1)
    left = position.floor().clamp(max=grid_size - 2)
    weight = position - left
    left = left.long()
    return grid_density[left] * (1.0 - weight) + grid_density[left + 1] * weight
