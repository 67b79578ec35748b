"""The differentiable pruning threshold: the r-quantile of the weight magnitudes."""

import math

import torch

from ._density import magnitude_density
from ._scratch import Scratch
from ._selection import BandSelector, full_pair

__all__ = ["order_statistic_midpoint", "quantile_threshold"]


def order_statistic_midpoint(
    magnitudes: torch.Tensor, ratio: float, selector: BandSelector | None = None
) -> torch.Tensor:
    """Threshold ``t`` that prunes the fraction ``ratio`` of ``magnitudes``.

    With the magnitudes sorted ascending ``s_1 <= ... <= s_n`` and
    ``k = floor(ratio * n)``, ``t = (s_k + s_{k+1}) / 2``, and ``t = 0`` when
    ``k = 0``. Exactly ``k`` magnitudes lie below ``t`` unless ``s_k`` is tied
    with ``s_{k+1}``. A :class:`BandSelector` finds the same order statistics
    faster when the pool has moved little since its last call.
    """
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"ratio must be in [0, 1), got {ratio!r}.")
    values = magnitudes.detach().reshape(-1)
    n = values.numel()
    if n == 0:
        raise ValueError("Cannot take a quantile of an empty pool of weights.")
    k = math.floor(ratio * n)
    if k == 0:
        return values.new_zeros(())
    kth, next_value = (selector.pair if selector else full_pair)(values, k)
    return 0.5 * (kth + next_value)


class _QuantileThreshold(torch.autograd.Function):
    """``t(r)`` with ``dt/dr = 1 / f(t)``, ``f`` the density of the magnitudes."""

    @staticmethod
    def forward(ctx, ratio, magnitudes, grid_size, selector, scratch):
        threshold = order_statistic_midpoint(magnitudes, float(ratio), selector)
        if ctx.needs_input_grad[0]:
            density = magnitude_density(
                magnitudes, threshold, grid_size, scratch=scratch
            )
            # A vanishing density would make the step in r infinite.
            tiny = torch.finfo(density.dtype).tiny
            ctx.save_for_backward(1.0 / density.clamp_min(tiny))
        return threshold.to(ratio.dtype)

    @staticmethod
    def backward(ctx, grad_threshold):
        (threshold_per_ratio,) = ctx.saved_tensors
        grad_ratio = grad_threshold * threshold_per_ratio.to(grad_threshold.dtype)
        return grad_ratio, None, None, None, None


def quantile_threshold(
    magnitudes: torch.Tensor,
    ratio: torch.Tensor,
    grid_size: int = 1024,
    selector: BandSelector | None = None,
    scratch: Scratch | None = None,
) -> torch.Tensor:
    """Differentiable threshold ``t = quantile_ratio(magnitudes)``.

    Parameters
    ----------
    magnitudes : Tensor of shape (n,)
        Absolute values of all prunable weights; treated as constants.
    ratio : Tensor of shape ()
        The pruning ratio ``r`` in [0, 1); gradients flow back to it.
    grid_size : int, default=1024
        Grid points of the density estimate used in the backward pass.
    selector : BandSelector, default=None
        Reuses the previous call's work; the threshold is the same.
    scratch : Scratch, default=None
        Buffers for the density's temporaries, reused across calls.

    Returns
    -------
    threshold : Tensor of shape ()

    Notes
    -----
    The quantile function's derivative is the reciprocal density at the
    quantile, ``dt/dr = 1 / f_|W|(t)`` (thesis eq. 2.16), with ``f`` a
    reflected Gaussian KDE (:func:`magnitude_density`). The threshold is not
    differentiated with respect to the weights, as in the thesis.
    """
    return _QuantileThreshold.apply(ratio, magnitudes, grid_size, selector, scratch)
