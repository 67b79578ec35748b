"""Slow, plain numpy references to verify the fast code against.

Training never calls this module. It exists so tests and benchmarks can prove
that autograd's gradients are eq. 2.3, 2.10 and 2.11 of the thesis, and that
the binned FFT density matches the kernel density estimate it approximates.
"""

import math

import numpy as np

__all__ = ["closed_form_gradients", "exact_reflected_kde"]


def closed_form_gradients(
    weight: np.ndarray,
    upstream: np.ndarray,
    threshold: float,
    temperature: float,
    threshold_per_ratio: float,
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
    grad_weight = m * g + (2.0 * w**2 / tau) * slope * g
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
