"""Slow, plain references to verify the fast code against.

Training never calls this module. It exists so tests and benchmarks can prove
that autograd's gradients are eq. 2.3, 2.10 and 2.11 of the thesis, that the
binned threshold is the sorted pool's order-statistic midpoint, and that the
binned FFT density matches the kernel density estimate it approximates.
"""

import math

import numpy as np
import torch

from sk_adaprune._method.density import bin_magnitudes, grid_density, interpolate
from sk_adaprune._method.threshold import _pool_and_rank

__all__ = [
    "closed_form_gradients",
    "exact_reflected_kde",
    "full_pair",
    "magnitude_density",
    "order_statistic_midpoint",
    "scott_bandwidth",
]


def closed_form_gradients(
    weight: np.ndarray,
    upstream: np.ndarray,
    threshold: float,
    temperature: float,
    threshold_per_ratio: float,
    weight_gradient: str = "full",
) -> tuple[np.ndarray, float, float]:
    """Gradients of a loss with respect to ``w``, ``tau`` and ``r``.

    Parameters
    ----------
    weight : ndarray
        The pool of prunable weights ``w``.
    upstream : ndarray
        ``g = dL/d(w * m)`` for each weight.
    threshold, temperature : float
        ``t`` and ``tau``.
    threshold_per_ratio : float
        ``dt/dr``.
    weight_gradient : {'full', 'masked'}
        'full': eq. 2.3 below; 'masked': ``dL/dw = m g``, the mask held
        constant in ``w``.

    Returns
    -------
    grad_weight, grad_temperature, grad_ratio

    Notes
    -----
    With ``m = sigmoid((w^2 - t^2)/tau)``:

    - eq. 2.3: ``dL/dw = m g + (2 w^2 / tau) m (1 - m) g``
    - eq. 2.10: ``dL/dtau = -sum w (w^2 - t^2) / tau^2 m (1 - m) g``
    - eq. 2.11: ``dL/dr = dt/dr * sum w (-2 t / tau) m (1 - m) g``
    """
    w, g, t, tau = weight, upstream, threshold, temperature
    m = 0.5 * (1.0 + np.tanh(0.5 * (w**2 - t**2) / tau))
    slope = m * (1.0 - m)
    grad_weight = m * g
    if weight_gradient == "full":
        grad_weight = grad_weight + (2.0 * w**2 / tau) * slope * g
    grad_temperature = -np.sum(w * (w**2 - t**2) / tau**2 * slope * g)
    grad_ratio = threshold_per_ratio * np.sum(w * (-2.0 * t / tau) * slope * g)
    return grad_weight, float(grad_temperature), float(grad_ratio)


def exact_reflected_kde(
    samples: np.ndarray, points: np.ndarray, bandwidth: float
) -> np.ndarray:
    """``1/(n h) sum_i [phi((x - s_i)/h) + phi((x + s_i)/h)]`` at ``points``.

    The reflected Gaussian KDE summed sample by sample, without binning, in
    chunks of about 2000 samples so memory stays small for large pools.
    """
    total = np.zeros_like(points, dtype=float)
    for chunk in np.array_split(samples, max(1, samples.size // 2000)):
        below = (points[:, None] - chunk) / bandwidth
        mirrored = (points[:, None] + chunk) / bandwidth
        total += (np.exp(-0.5 * below**2) + np.exp(-0.5 * mirrored**2)).sum(axis=1)
    return total / (samples.size * bandwidth * math.sqrt(2 * math.pi))


def order_statistic_midpoint(magnitudes: torch.Tensor, ratio: float) -> torch.Tensor:
    """Threshold ``t`` that prunes the fraction ``ratio`` of ``magnitudes``.

    With the magnitudes sorted ascending ``s_1 <= ... <= s_n`` and
    ``k = floor(ratio * n)``, ``t = (s_k + s_{k+1}) / 2``, and ``t = 0`` when
    ``k = 0``. Exactly ``k`` magnitudes lie below ``t`` unless ``s_k`` is tied
    with ``s_{k+1}``.
    """
    values, k = _pool_and_rank(magnitudes, ratio)
    if k == 0:
        return values.new_zeros(())
    kth, next_value = full_pair(values, k)
    return 0.5 * (kth + next_value)


def full_pair(values: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(s_k, s_{k+1})``, the k-th and (k+1)-th smallest values (1-based)."""
    kth = torch.kthvalue(values, k).values
    # s_{k+1} is s_k itself when more than k values are <= s_k (a tie),
    # otherwise the smallest value above s_k.
    above = torch.where(values > kth, values, values.new_tensor(math.inf))
    tied = (values.numel() - torch.isfinite(above).sum()) > k
    return kth, torch.where(tied, kth, above.min())


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
        Number of bins the samples are counted in.
    bandwidth : Tensor, default=None
        Kernel bandwidth; Scott's rule when None.

    Returns
    -------
    density : Tensor shaped like ``points``, in the samples' dtype

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
    density = grid_density(binned.counts, binned.spacing, bandwidth, samples.numel())
    at_points = interpolate(density, binned.spacing, points.detach().cpu().numpy())
    return torch.as_tensor(at_points, dtype=samples.dtype, device=points.device)
