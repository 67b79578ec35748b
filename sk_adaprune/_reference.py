"""The thesis's closed-form gradients, in numpy, to verify autograd against.

Training never calls this module: autograd differentiates the soft mask and
the threshold's custom backward. It exists so tests and benchmarks can prove
that autograd's gradients are eq. 2.3, 2.10 and 2.11 of the thesis.
"""

import numpy as np

__all__ = ["closed_form_gradients"]


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
