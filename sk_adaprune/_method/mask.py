"""The soft mask ``sigmoid((w^2 - t^2)/tau)`` and the masked weight ``w * m``."""

import contextlib
from typing import NamedTuple

import numpy as np
import torch

from .threshold import (
    SMALL_POOL,
    DeferredDensity,
    NonFiniteWeightsError,
    compiled_pool,
    kde_density,
    quantile_threshold,
    slope_of,
    slopes_of,
    stacked_small_thresholds,
    threshold_and_slope,
)
from .workspace import Scratch, host_scalar

try:  # compiled where the package was built with a C compiler and OpenMP
    from ._kernels import mask_backward as _compiled_backward
    from ._kernels import mask_forward as _compiled_forward
    from ._kernels import stacked_mask_backward, stacked_mask_forward
except ImportError:  # torch computes the same in several passes
    _compiled_forward = _compiled_backward = None
    stacked_mask_forward = stacked_mask_backward = None

__all__ = [
    "WEIGHT_GRADIENTS",
    "masked_weight",
    "pruned_weight",
    "pruned_weights",
    "soft_mask",
]

# What the weights' gradient holds: "full", the thesis's eq. 2.3 (the mask's
# own slope included), or "masked", ``m g`` alone (the mask acts on the
# weights' gradient as a constant, as a magnitude-pruning mask does).
WEIGHT_GRADIENTS = ("masked", "full")


def soft_mask(
    weight: torch.Tensor, threshold: torch.Tensor, temperature: torch.Tensor
) -> torch.Tensor:
    """``sigmoid((w^2 - t^2) / tau)``: close to 1 above the threshold, 0 below.

    The definition, as an ordinary autograd expression. Training uses
    :func:`masked_weight`, which computes ``w * soft_mask(w, t, tau)`` and its
    gradients in fewer passes; tests hold the two to each other.
    """
    return torch.sigmoid((weight * weight - threshold * threshold) / temperature)


def _mask_forward(
    ctx,
    weight,
    threshold,
    temperature,
    scratch,
    name,
    weight_gradient,
    density=None,
    out=None,
):
    """``w * m`` with ``m`` at the threshold ``t`` (a float), written to
    ``out`` if given; keeps on ``ctx`` what :func:`_mask_backward` needs. A
    :class:`DeferredDensity` ``density`` is summed in the same pass where the
    kernels run; ``ctx.density`` is ``f(t)`` then (else None)."""
    ctx.full = weight_gradient == "full"
    offset, inverse_temperature, ctx.threshold_slope = _mask_scalars(
        threshold, temperature.item(), temperature.dtype
    )
    ctx.scale = float(inverse_temperature)
    ctx.save_for_backward(weight)
    ctx.compiled = _is_compiled(weight, offset, inverse_temperature)
    ctx.density = None
    if ctx.compiled:
        # One pass, reading w and writing w m; the backward pass reads m
        # back from w m (which the layers keep for their own backward
        # passes), so nothing else the size of the pool is kept.
        ctx.offset = float(offset)
        masked = torch.empty_like(weight) if out is None else out
        ctx.masked = masked  # the backward pass reads m from w m
        values = weight.detach()
        kde = ()
        if density is not None:
            kde = (density.point, 1.0 / density.bandwidth, density.reflect)
        kernel_sum = _compiled_forward(
            values.numpy(),
            ctx.offset,
            ctx.scale,
            masked.numpy(),
            torch.get_num_threads(),
            *kde,
        )
        if density is not None:
            ctx.density = density.density(values, kernel_sum)
        return masked
    if scratch is None:
        logits, mask = torch.empty_like(weight), torch.empty_like(weight)
    else:
        logits = scratch.get(name + ".logits", weight.shape, weight)
        mask = scratch.get(name + ".mask", weight.shape, weight)
        # A second forward before this backward would overwrite them.
        ctx.generation = scratch.bump(name)
    ctx.scratch, ctx.name = scratch, name
    torch.addcmul(
        weight.new_tensor(offset), weight, weight, value=ctx.scale, out=logits
    )
    torch.sigmoid(logits, out=mask)
    ctx.logits, ctx.mask = logits, mask
    return torch.mul(weight, mask) if out is None else torch.mul(weight, mask, out=out)


def _mask_scalars(threshold: float, temperature: float, dtype: torch.dtype):
    """``-t^2 / tau``, ``1 / tau`` and ``-2 t / tau`` (host scalars of
    ``dtype``, rounded as 0-d tensors would be: workspace.host_scalar; of
    arrays of models' ``t`` and ``tau``, arrays), what the mask's passes
    take: ``(w^2 - t^2) / tau = -t^2/tau + (1/tau) w w``."""
    scalar = host_scalar(dtype)
    t = scalar(threshold)
    inverse_temperature = scalar(1.0) / scalar(temperature)
    return (
        -t * t * inverse_temperature,
        inverse_temperature,
        scalar(-2.0) * t * inverse_temperature,
    )


def _host_gradients(slopes, weighted, threshold_slope, scale, dtype):
    """``dL/dt`` and ``dL/dtau`` (host scalars of ``dtype``; arrays of
    models' from arrays) from the compiled backward pass's sums of ``s`` and
    of ``s`` times the logit."""
    scalar = host_scalar(dtype)
    return scalar(slopes) * scalar(threshold_slope), scalar(weighted) * scalar(-scale)


def _is_compiled(weight, offset, inverse_temperature) -> bool:
    """Whether the compiled kernels compute this mask: contiguous float32 or
    float64 weights on the CPU and finite scalars (torch propagates the
    others' infinities and NaN the way it does)."""
    return (
        _compiled_forward is not None
        and compiled_pool(weight)
        and bool(np.isfinite(offset) and np.isfinite(inverse_temperature))
    )


def _mask_backward(ctx, grad, out=None):
    """The gradients of ``w``, ``t`` and ``tau`` (:func:`masked_weight`) from
    the tuple of the output's gradients (one, or one per part); ``w``'s
    written to ``out`` if given."""
    (weight,) = ctx.saved_tensors
    if ctx.compiled:
        return _compiled_mask_backward(ctx, weight, grad, out)
    grad = _gradients(ctx, grad)
    scratch = ctx.scratch
    if scratch is not None and scratch.generation(ctx.name) != ctx.generation:
        raise RuntimeError(
            "The soft mask's buffers were overwritten by another forward or "
            "backward pass before this backward pass; call backward once "
            "after each forward."
        )
    logits, mask = ctx.logits, ctx.mask
    grad_weight = torch.mul(grad, mask, out=out) if out is not None else grad * mask
    if scratch is None:
        slope = torch.empty_like(weight)
    else:
        # The mask is not needed past this point: its buffer takes the slope.
        slope = mask
        scratch.bump(ctx.name)
    # slope = w g m (1 - m), shared by all three gradients.
    torch.ops.aten.sigmoid_backward.grad_input(grad, mask, grad_input=slope)
    slope.mul_(weight)
    grad_threshold = slope.sum().mul_(ctx.threshold_slope)
    # -(s . logits) / tau, the sign taken with the scale (exactly).
    grad_temperature = torch.dot(slope.view(-1), logits.view(-1)).mul_(-ctx.scale)
    if ctx.full:
        grad_weight.addcmul_(slope, weight, value=2.0 * ctx.scale)
    return grad_weight, grad_threshold, grad_temperature


def _compiled_mask_backward(ctx, weight, grads, out=None):
    """:func:`_mask_backward` in one pass over ``g``, ``w`` and ``w m``: the kernel
    writes ``dL/dw`` and returns the sums of the slope ``s = w g m (1 - m)``
    and of ``s`` times the logit (in float64); segment by segment where the
    forward pass gave the masked weights in parts."""
    # The kernel reads m from the forward pass's w m as (w m) / w: one
    # division, where recomputing the sigmoid takes an exponential and one.
    masked = ctx.masked
    grad_weight = out
    if grad_weight is None and ctx.parts:
        # The layers are done with the masked weights (given as parts, whose
        # only readers are the layers' own backward passes): their buffer
        # takes dL/dw, which saves a pool-sized buffer at the step's peak.
        # The version bump makes autograd refuse a later use of the parts (a
        # second backward pass) instead of reading gradients as weights.
        grad_weight = masked
        del ctx.masked
        torch.autograd.graph.increment_version(grad_weight)
    elif grad_weight is None:
        grad_weight = torch.empty_like(weight)
    # numpy views, sliced part by part (a numpy slice costs a tenth of a
    # torch slice and its conversion).
    values, written, read = weight.detach().numpy(), grad_weight.numpy(), masked.numpy()
    threads = torch.get_num_threads()
    slopes = weighted = 0.0
    start = 0
    for grad in grads:
        stop = start + grad.numel()
        parts = _compiled_backward(
            grad.contiguous().view(-1).numpy(),
            values[start:stop],
            ctx.offset,
            ctx.scale,
            ctx.full,
            written[start:stop],
            threads,
            read[start:stop],
        )
        slopes, weighted = slopes + parts[0], weighted + parts[1]
        start = stop
    grad_threshold, grad_temperature = _host_gradients(
        slopes, weighted, ctx.threshold_slope, ctx.scale, weight.dtype
    )
    return (
        grad_weight,
        weight.new_tensor(grad_threshold),
        weight.new_tensor(grad_temperature),
    )


def _parts(ctx, masked, sizes):
    """The masked weights as the forward pass returns them: whole, or as
    views of its parts (``sizes``), whose gradients the compiled backward
    pass reads part by part instead of from one concatenated copy. The
    compiled backward pass reads them again (``ctx.masked``): the whole is
    handed out as a view of that buffer too, which torch keeps from being
    changed in place as it does the parts (and the context holds the
    buffer, not an output of its own, so no reference cycle)."""
    ctx.parts = sizes is not None
    if sizes is not None:
        return masked.split(sizes)
    return masked.view_as(masked) if ctx.compiled else masked


def _gradients(ctx, grads):
    """``grads`` as :func:`_mask_backward` reads them: the parts' gradients
    on the compiled route, the whole one's on the torch route."""
    if ctx.compiled:
        return grads
    return torch.cat([grad.reshape(-1) for grad in grads]) if ctx.parts else grads[0]


class _MaskedWeight(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx, weight, threshold, temperature, scratch, name, weight_gradient, sizes
    ):
        masked = _mask_forward(
            ctx, weight, threshold.item(), temperature, scratch, name, weight_gradient
        )
        return _parts(ctx, masked, sizes)

    @staticmethod
    def backward(ctx, *grads):
        return *_mask_backward(ctx, grads), None, None, None, None


def _pruned_forward(
    ctx, weight, ratio, temperature, grid_size, scratch, weight_gradient, out=None
):
    """:func:`_mask_forward` at ``t(r)`` (``ratio`` a float), keeping
    ``dt/dr`` on ``ctx``; the masked weights (in ``out`` if given)."""
    threshold, slope = threshold_and_slope(
        weight, ratio, grid_size, scratch, defer=True
    )
    deferred = slope if isinstance(slope, DeferredDensity) else None
    masked = _mask_forward(
        ctx,
        weight,
        threshold.item(),
        temperature,
        scratch,
        "mask",
        weight_gradient,
        deferred,
        out,
    )
    if deferred is None:
        ctx.threshold_per_ratio = slope
    else:  # summed in the mask's pass, or on its own on the torch route
        density = ctx.density
        if density is None:
            density = deferred.density(weight.detach())
        ctx.threshold_per_ratio = slope_of(density, threshold.dtype)
    return masked


def _pruned_backward(ctx, grads, out=None):
    """The gradients of ``w``, ``r`` and ``tau`` of :func:`_pruned_forward`."""
    grad_weight, grad_threshold, grad_temperature = _mask_backward(ctx, grads, out)
    # dt/dr = 1 / f(t), as quantile_threshold's backward applies it.
    return grad_weight, grad_threshold * ctx.threshold_per_ratio, grad_temperature


class _PrunedWeight(torch.autograd.Function):
    """:func:`masked_weight` at :func:`quantile_threshold`'s ``t(r)``, one node."""

    @staticmethod
    def forward(
        ctx, weight, ratio, temperature, grid_size, scratch, weight_gradient, sizes
    ):
        masked = _pruned_forward(
            ctx, weight, float(ratio), temperature, grid_size, scratch, weight_gradient
        )
        return _parts(ctx, masked, sizes)

    @staticmethod
    def backward(ctx, *grads):
        return *_pruned_backward(ctx, grads), None, None, None, None


# Pools of fewer weights than this are computed on one thread in a stacked
# step: each kernel call is then shorter than the threads' start and join.
# (The kernels' sums do not depend on the thread count.)
_ONE_THREAD_POOL = 2**16


@contextlib.contextmanager
def _threads_for_pools(size: int):
    threads = torch.get_num_threads()
    if size >= _ONE_THREAD_POOL or threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class _Stack(NamedTuple):
    """The inputs of :class:`_StackedPrunedWeights` (see :func:`pruned_weights`)."""

    weights: torch.Tensor
    ratios: torch.Tensor
    temperatures: torch.Tensor
    grid_size: int
    scratches: list
    weight_gradient: str
    soft: list
    failed: list | None
    workspace: Scratch


class _PoolContext:
    """What ``ctx`` holds for one model's pool of :class:`_StackedPrunedWeights`."""

    parts = False

    def save_for_backward(self, *tensors):
        self.saved_tensors = tensors


class _StackedPrunedWeights(torch.autograd.Function):
    """:func:`pruned_weight` of every row of a ``(K, n)`` stack of pools
    (one model's weights each), one node; rows not ``soft`` pass through."""

    @staticmethod
    def forward(
        ctx,
        weights,
        ratios,
        temperatures,
        grid_size,
        scratches,
        weight_gradient,
        soft,
        sizes,
        failed,
        workspace,
    ):
        masked = torch.empty_like(weights)
        ctx.pools, ctx.sizes, ctx.fast = {}, sizes, {}
        stack = _Stack(
            weights,
            ratios,
            temperatures,
            grid_size,
            scratches,
            weight_gradient,
            soft,
            failed,
            workspace,
        )
        with _threads_for_pools(weights.shape[1]):
            if _stacked_route(weights):
                _stacked_small_forward(ctx, stack, masked)
            _stacked_forward(ctx, stack, masked)
        # As parts (a model's layers), whose gradients the backward pass
        # reads where they are: no split's concatenation.
        return masked if sizes is None else masked.split(sizes, dim=1)

    @staticmethod
    def backward(ctx, *grads):
        K = grads[0].shape[0]
        n = sum(grad.shape[1] for grad in grads)
        like = grads[0]
        grad_weights = like.new_empty((K, n))
        grad_ratios = like.new_zeros(K)
        grad_temperatures = like.new_zeros(K)
        grads = [grad.contiguous() for grad in grads]
        with _threads_for_pools(n):
            if ctx.fast:
                _stacked_small_backward(
                    ctx, grads, grad_weights, grad_ratios, grad_temperatures
                )
            _stacked_backward(ctx, grads, grad_weights, grad_ratios, grad_temperatures)
        ctx.pools = ctx.fast = ctx.fast_rows = ctx.weights = ctx.masked = None
        return grad_weights, grad_ratios, grad_temperatures, *[None] * 7


def _stacked_forward(ctx, stack, masked):
    """Each soft row's :func:`_pruned_forward` into its row of ``masked``
    (its context kept in ``ctx.pools``); the others copied as they are. Rows
    the small pools' route took (``ctx.fast``) are done."""
    for k, (weight, scratch) in enumerate(zip(stack.weights, stack.scratches)):
        if k in ctx.fast:
            continue
        if stack.soft[k]:
            pool = _PoolContext()
            pool.parts = ctx.sizes is not None
            try:
                _pruned_forward(
                    pool,
                    weight,
                    float(stack.ratios[k]),
                    stack.temperatures[k],
                    stack.grid_size,
                    scratch,
                    stack.weight_gradient,
                    out=masked[k],
                )
            except NonFiniteWeightsError:
                if stack.failed is None:
                    raise
                stack.failed.append(k)
            else:
                ctx.pools[k] = pool
                continue
        masked[k] = weight


def _stacked_route(weights) -> bool:
    """Whether the small pools' compiled route serves a stack of pools."""
    return (
        stacked_mask_forward is not None
        and compiled_pool(weights)
        and weights.shape[1] <= SMALL_POOL
    )


class _FastRows(NamedTuple):
    """The rows the small pools' route masked (``rows``), and what their
    backward pass needs: per model (length ``K``, float64) the mask's
    ``offset`` and ``scale`` the kernels take; per row of ``rows`` (the
    pools' dtype) ``dL/dt`` per unit of the sum of ``s`` and ``dt/dr``."""

    rows: np.ndarray
    offsets: np.ndarray
    scales: np.ndarray
    threshold_slopes: np.ndarray
    thresholds_per_ratio: np.ndarray


def _stacked_small_forward(ctx, stack, masked):
    """The soft rows of a stack of small pools thresholded and masked in
    one compiled call each (``stacked_small_thresholds``,
    ``stacked_mask_forward``): the single pool's route, row by row, the
    same values (its host arithmetic on arrays of the rows). Rows it cannot
    take (NaN or infinity, a ratio out of range, scalars out of the
    dtype's range) are left to the row-by-row path; ``ctx.fast`` holds the
    rows done, ``ctx.fast_rows`` what their backward pass needs."""
    weights, workspace = stack.weights, stack.workspace
    ratio_values = stack.ratios.tolist()
    rows = [
        k
        for k, is_soft in enumerate(stack.soft)
        if is_soft and 0.0 <= ratio_values[k] < 1.0
    ]
    if not rows:
        return
    magnitudes = workspace.get("magnitudes", weights.shape, weights).numpy()
    windows = workspace.notes.get("windows")
    if windows is None or windows.shape[0] != weights.shape[0]:
        windows = workspace.notes["windows"] = np.zeros((weights.shape[0], 3))
    found = stacked_small_thresholds(
        weights, ratio_values, rows, stack.grid_size, magnitudes, windows
    )
    offsets, inverse, threshold_slopes = _mask_scalars(
        found.thresholds, stack.temperatures.detach().numpy()[found.rows], weights.dtype
    )
    finite = np.isfinite(offsets) & np.isfinite(inverse)  # else the torch route
    chosen = found.rows[finite]
    if not chosen.size:
        return
    K, n = weights.shape
    by_model = {
        name: np.zeros(K) for name in ("offsets", "scales", "points", "inverse")
    }
    by_model["offsets"][chosen] = offsets[finite]
    by_model["scales"][chosen] = inverse[finite]
    by_model["points"][chosen] = found.points[finite]
    bandwidths = found.bandwidths[finite]
    by_model["inverse"][chosen] = 1.0 / bandwidths
    reflects = np.zeros(K, dtype=np.int64)
    reflects[chosen] = found.reflects[finite]
    kde = np.zeros(K)
    values = weights.detach()
    stacked_mask_forward(
        values.numpy(),
        masked.numpy(),
        n,
        chosen,
        by_model["offsets"],
        by_model["scales"],
        by_model["points"],
        by_model["inverse"],
        reflects,
        kde,
        torch.get_num_threads(),
    )
    densities = kde_density(kde[chosen], n, bandwidths)
    ctx.fast = set(chosen.tolist())
    ctx.fast_rows = _FastRows(
        chosen,
        by_model["offsets"],
        by_model["scales"],
        threshold_slopes[finite],
        slopes_of(densities, weights.dtype),
    )
    ctx.weights, ctx.masked = values, masked
    ctx.full = stack.weight_gradient == "full"


def _stacked_small_backward(ctx, grads, grad_weights, grad_ratios, grad_temperatures):
    """The backward pass of the rows :func:`_stacked_small_forward` masked,
    in one compiled call: each row's gradients as its own pool's (part by
    part, as a model's layers)."""
    K, n = grad_weights.shape
    fast = ctx.fast_rows
    sums = np.zeros((K, 2))
    stacked_mask_backward(
        [grad.numpy() for grad in grads],
        ctx.weights.numpy(),
        ctx.masked.numpy(),
        grad_weights.numpy(),
        n,
        fast.rows,
        fast.offsets,
        fast.scales,
        ctx.full,
        sums,
        torch.get_num_threads(),
    )
    rows = fast.rows
    grad_threshold, grad_temperature = _host_gradients(
        sums[rows, 0],
        sums[rows, 1],
        fast.threshold_slopes,
        fast.scales[rows],
        grad_weights.dtype,
    )
    # dt/dr = 1 / f(t), as the row's own backward pass applies it.
    grad_ratios.numpy()[rows] = grad_threshold * fast.thresholds_per_ratio
    grad_temperatures.numpy()[rows] = grad_temperature


def _stacked_backward(ctx, grads, grad_weights, grad_ratios, grad_temperatures):
    """Each masked row's :func:`_pruned_backward` (the small pools' route
    done); the others' gradients passed through. ``grads``: the parts'."""
    for k in range(grad_weights.shape[0]):
        if k in ctx.fast:
            continue
        parts = tuple(grad[k] for grad in grads)
        pool = ctx.pools.get(k)
        if pool is None:
            torch.cat(parts, out=grad_weights[k])
            continue
        _, grad_ratio, grad_temperature = _pruned_backward(
            pool, parts, out=grad_weights[k]
        )
        grad_ratios[k] = grad_ratio
        grad_temperatures[k] = grad_temperature


def masked_weight(
    weight: torch.Tensor,
    threshold: torch.Tensor,
    temperature: torch.Tensor,
    scratch: Scratch | None = None,
    name: str = "mask",
    weight_gradient: str = "full",
    sizes: list[int] | None = None,
) -> torch.Tensor | tuple[torch.Tensor, ...]:
    """``w * soft_mask(w, t, tau)`` with its gradients in one fused pass each.

    Notes
    -----
    With ``m = sigmoid((w^2 - t^2)/tau)`` and ``g = dL/d(w m)``, the backward
    pass returns the thesis's closed forms, computed from one shared
    ``w g m (1 - m)``:

    - eq. 2.3: ``dL/dw = m g + (2 w^2 / tau) m (1 - m) g``; with
      ``weight_gradient="masked"`` only ``m g``, the gradient of ``w * m``
      with the mask held constant in ``w`` (``t`` and ``tau`` keep theirs)
    - eq. 2.10: ``dL/dtau = -sum w (w^2 - t^2) / tau^2 m (1 - m) g``
    - ``dL/dt = sum w (-2 t / tau) m (1 - m) g``, which the threshold's own
      backward turns into eq. 2.11 for ``r``.

    They are the gradients autograd derives from :func:`soft_mask` (tested to
    float64 round-off and with ``gradcheck``); writing them out saves the
    temporaries autograd would keep, about a third of the mask's cost. With a
    ``scratch``, the mask and its logits live in buffers named after ``name``
    that the next forward pass with that name reuses, and the backward pass
    writes over the mask; a backward pass through an overwritten buffer (a
    second forward, or a second backward) raises instead of returning wrong
    gradients. With ``sizes``, the result comes as the parts
    ``torch.split(result, sizes)`` would give (a layer's weights each), and
    the backward pass reads their gradients where they are, without the
    copy into one tensor that a split's backward pass makes.
    """
    _check_weight_gradient(weight_gradient)
    return _MaskedWeight.apply(
        weight, threshold, temperature, scratch, name, weight_gradient, sizes
    )


def pruned_weight(
    weight: torch.Tensor,
    ratio: torch.Tensor,
    temperature: torch.Tensor,
    grid_size: int = 1024,
    scratch: Scratch | None = None,
    weight_gradient: str = "full",
    sizes: list[int] | None = None,
) -> torch.Tensor | tuple[torch.Tensor, ...]:
    """``masked_weight(weight, quantile_threshold(weight, ratio), temperature)``
    as one autograd node, the soft-masked weights of a training step.

    The same values and gradients, bit for bit (tests hold the two to each
    other): ``t`` is the ``ratio``-quantile of ``|weight|`` and ``r``'s
    gradient is ``dL/dt / f(t)`` (:func:`~.threshold.threshold_and_slope`).
    One node instead of two saves the second node's bookkeeping and the
    threshold's trip through a tensor, a few percent of a small network's
    step. The mask's buffers in ``scratch`` are named ``"mask"``. A ``ratio``
    that needs no gradient takes the two functions in turn. ``sizes`` as for
    :func:`masked_weight`.
    """
    _check_weight_gradient(weight_gradient)
    if not ratio.requires_grad:
        threshold = quantile_threshold(weight, ratio, grid_size, scratch)
        return masked_weight(
            weight,
            threshold,
            temperature,
            scratch,
            weight_gradient=weight_gradient,
            sizes=sizes,
        )
    return _PrunedWeight.apply(
        weight, ratio, temperature, grid_size, scratch, weight_gradient, sizes
    )


def _check_weight_gradient(weight_gradient):
    if weight_gradient not in WEIGHT_GRADIENTS:
        raise ValueError(
            f"weight_gradient must be one of {WEIGHT_GRADIENTS}, "
            f"got {weight_gradient!r}."
        )


def pruned_weights(
    weights: torch.Tensor,
    ratios: torch.Tensor,
    temperatures: torch.Tensor,
    grid_size: int,
    scratches: list,
    weight_gradient: str,
    soft: list[bool],
    sizes: list[int] | None = None,
    failed: list[int] | None = None,
    workspace: Scratch | None = None,
) -> torch.Tensor | tuple[torch.Tensor, ...]:
    """:func:`pruned_weight` of each row of ``weights`` (shape ``(K, n)``,
    one model's pool of weights a row) at its own ``ratios[k]`` and
    ``temperatures[k]`` (shape ``(K,)``), with its own ``scratches[k]``; a
    row whose ``soft[k]`` is False passes through unmasked (a hardened or a
    resting model), its ``r`` and ``tau`` getting no gradient. ``sizes``:
    the parts of a row (a model's layers) whose gradients the compiled
    backward pass sums in turn, as :func:`pruned_weight` with ``sizes``: the
    result is then those parts (``(K, size)`` views), whose gradients are
    read where they are.
    A row holding NaN or infinity raises :class:`NonFiniteWeightsError`; with
    a list ``failed``, its index is appended there instead and it passes
    through (its model's step is void; the others' go on). ``workspace``
    holds the stack's temporaries between calls.

    Each row is thresholded, masked and differentiated by the same code as
    one model's pool, in one autograd node for all (the stacked models'
    training step pays its fixed costs once).
    """
    _check_weight_gradient(weight_gradient)
    if weights.dim() != 2 or ratios.shape != weights.shape[:1]:
        raise ValueError(
            "pruned_weights takes weights of shape (K, n) and ratios and "
            f"temperatures of shape (K,), got {tuple(weights.shape)} and "
            f"{tuple(ratios.shape)}."
        )
    return _StackedPrunedWeights.apply(
        weights,
        ratios,
        temperatures,
        grid_size,
        scratches,
        weight_gradient,
        soft,
        sizes,
        failed,
        Scratch() if workspace is None else workspace,
    )
