"""The soft-masked MLP: plain PyTorch, no scikit-learn."""

import copy
import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import NamedTuple

import numpy as np
import torch
from scipy.special import expit
from torch import nn
from torch.nn import functional as F

from ._method.mask import pruned_weight, pruned_weights
from ._method.threshold import (
    NonFiniteWeightsError,
    count_below,
    exact_threshold,
    exact_threshold_and_count_below,
    pool_squares,
    quantile_threshold,
)
from ._method.units import UNIT_SCORES, unit_masks, unit_pool
from ._method.workspace import Scratch

__all__ = [
    "ACTIVATIONS",
    "HIDDEN_ACTIVATIONS",
    "PRUNE_TARGETS",
    "Activation",
    "SoftMaskedMLP",
    "StackedSoftMaskedMLP",
]


class Activation(NamedTuple):
    """An activation by MLPClassifier's name, in every backend: ``module()``
    builds torch's (training and ``to_torch``), ``function(x)`` applies
    numpy's, in place where it can (predictions), ``onnx_operator`` names
    ONNX's (the export)."""

    module: Callable[[], nn.Module]
    function: Callable[[np.ndarray], np.ndarray]
    onnx_operator: str


def _identity(x):
    return x


def _relu(x):
    return np.maximum(x, 0, out=x)


def _softmax(x):
    """Row-wise softmax in place, the steps of scikit-learn's ``softmax``
    without its array-API dispatch (which costs a single row more than the
    arithmetic)."""
    x -= x.max(axis=1, keepdims=True)
    np.exp(x, out=x)
    x /= x.sum(axis=1, keepdims=True)
    return x


ACTIVATIONS = {
    "identity": Activation(nn.Identity, _identity, "Identity"),
    "logistic": Activation(nn.Sigmoid, expit, "Sigmoid"),
    "tanh": Activation(nn.Tanh, np.tanh, "Tanh"),
    "relu": Activation(nn.ReLU, _relu, "Relu"),
    "softmax": Activation(partial(nn.Softmax, dim=1), _softmax, "Softmax"),
}
# The choices of the hidden layers' ``activation``; softmax ends a network.
HIDDEN_ACTIVATIONS = ("identity", "logistic", "tanh", "relu")

RATIO_CEILING = 0.9999
# What the pool of the learned ratio holds: single weights, or whole hidden
# units (_method/units.py).
PRUNE_TARGETS = ("weights", "neurons")


class SoftMaskedMLP(nn.Module):
    """Multi-layer perceptron whose weights prune themselves.

    Every layer's weight matrix is multiplied by the soft mask
    ``sigmoid((w^2 - t^2) / tau)`` (:func:`masked_weight`) with one global
    threshold ``t``, the ``ratio``-quantile of all weight magnitudes. The
    pruning ratio ``r`` and the temperature ``tau`` are trainable parameters
    named ``ratio`` and ``temperature``; biases are never pruned.

    All weight matrices live in one flat parameter, ``weights``, so that the
    threshold, the mask and the optimizer each make one pass over the pool;
    :meth:`weight_matrices` gives the per-layer ``(fan_out, fan_in)`` views.

    With ``prune='neurons'`` the pool is the hidden units instead
    (:mod:`._units`): ``t`` is the ``ratio``-quantile of their scores (the
    L2 norms of their incoming weights), and the soft mask multiplies each
    unit's output; hardening zeroes the pruned units' incoming and outgoing
    weights.

    In training mode the mask is soft; in eval mode it is the hard mask
    ``|w| >= t`` (of units: ``s_j >= t``). While ``mask_off`` is set (the
    steps where the ramp holds ``r`` at 0) the layers use the weights as
    they are: at ``r = 0`` the soft mask would still scale the smallest
    weights by about a half. After :meth:`harden` pruned
    weights are exact zeros and the forward pass uses the weights as they
    are; training may go on (the fine-tuning phase), with
    :meth:`zero_pruned_` after every step keeping the pruned weights at
    zero. Whether the module is hardened, and which weights
    it kept, is part of its ``state_dict``, so loading a saved state restores
    the phase with the weights.

    Parameters
    ----------
    n_features, n_outputs : int
        Sizes of the input and output layers.
    hidden_layer_sizes : sequence of int
        Sizes of the hidden layers.
    activation : {'relu', 'tanh', 'logistic', 'identity'}
        Hidden-layer activation; the output layer is linear (logits).
    r_init : float
        Initial pruning ratio ``r``.
    tau_init : float
        The initial temperature is ``tau_init * std(all weights)``.
    kde_grid_size : int
        Grid points of the density estimate behind ``dt/dr``.
    weight_gradient : {'masked', 'full'}
        The weights' gradient through the soft mask: ``m g`` (the mask held
        constant in ``w``) or the thesis's eq. 2.3 (:func:`masked_weight`).
    seed : int or numpy.random.RandomState
        Where the initial weights come from: numpy's ``RandomState(seed)``,
        or a copy of the given ``RandomState`` (it is not advanced). They
        are drawn as MLPClassifier draws them, layer by layer the weights
        (``(fan_in, fan_out)``) and then the biases, in float64: from
        ``check_random_state(random_state)`` as it is when ``fit`` starts,
        the two start from the same network. No global RNG is touched.
    dtype : torch.dtype
        Dtype of all parameters, the one training computes in (the initial
        float64 draws are rounded to it, as MLPClassifier does).
    prune : {'weights', 'neurons'}
        What ``ratio`` prunes: single weights, or whole hidden units.
    unit_score : str, default='incoming'
        With ``prune='neurons'``, the key of ``units.UNIT_SCORES`` the
        units are ranked by.
    """

    def __init__(
        self,
        n_features: int,
        hidden_layer_sizes: Sequence[int],
        n_outputs: int,
        activation: str = "relu",
        r_init: float = 0.5,
        tau_init: float = 1e-2,
        kde_grid_size: int = 1024,
        weight_gradient: str = "masked",
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
        prune: str = "weights",
        unit_score: str = "incoming",
    ):
        super().__init__()
        if prune not in PRUNE_TARGETS:
            raise ValueError(f"prune must be one of {PRUNE_TARGETS}, got {prune!r}.")
        if unit_score not in UNIT_SCORES:
            raise ValueError(
                f"unit_score must be one of {tuple(UNIT_SCORES)}, got {unit_score!r}."
            )
        self.prune = prune
        self.unit_score = unit_score
        sizes = [n_features, *hidden_layer_sizes, n_outputs]
        self.shapes = [(fan_out, fan_in) for fan_in, fan_out in zip(sizes, sizes[1:])]
        if isinstance(seed, np.random.RandomState):
            rng = copy.deepcopy(seed)
        else:
            rng = np.random.RandomState(seed)
        # Glorot uniform, as MLPClassifier initialises (factor 2 for logistic).
        factor = 2.0 if activation == "logistic" else 6.0
        # Each layer's weights go straight into their part of the one flat
        # parameter, transposed to torch's (fan_out, fan_in) layout.
        size = sum(rows * cols for rows, cols in self.shapes)
        weights = torch.empty(size, dtype=dtype)
        biases, start = [], 0
        for fan_out, fan_in in self.shapes:
            bound = math.sqrt(factor / (fan_in + fan_out))
            coef = rng.uniform(-bound, bound, (fan_in, fan_out))
            part = weights[start : start + fan_out * fan_in].view(fan_out, fan_in)
            part.copy_(torch.from_numpy(coef.T))
            start += coef.size
            bias = rng.uniform(-bound, bound, fan_out)
            biases.append(torch.from_numpy(bias).to(dtype))
        self.weights = nn.Parameter(weights)
        self.biases = nn.ParameterList(biases)
        self.activation = activation
        self.hidden_activation = ACTIVATIONS[activation].module()
        self.kde_grid_size = kde_grid_size
        self.weight_gradient = weight_gradient
        weight_std = self.weights.detach().std().item()
        self.ratio = nn.Parameter(torch.tensor(float(r_init), dtype=dtype))
        self.temperature = nn.Parameter(
            torch.tensor(tau_init * weight_std, dtype=dtype)
        )
        self.hardened_threshold = None
        self.hard_mask = None
        self.mask_off = False
        self.scratch = Scratch()

    @property
    def hardened(self) -> bool:
        """Whether :meth:`harden` has run: ``hard_mask`` holds the mask."""
        return self.hard_mask is not None

    @property
    def unmasked(self) -> bool:
        """Whether the layers use the weights as they are: hardened (pruned
        weights are zeros), or with the mask off."""
        return self.hardened or self.mask_off

    def get_extra_state(self) -> dict:
        return {
            "hardened_threshold": self.hardened_threshold,
            "hard_mask": self.hard_mask,
        }

    def set_extra_state(self, state: dict) -> None:
        self.hardened_threshold = state["hardened_threshold"]
        self.hard_mask = state["hard_mask"]
        if not self.hardened and self.scratch is None:
            self.scratch = Scratch()

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """The parameters by role, each a group of the optimizer: ``ratio``
        (``r``), ``temperature`` (``tau``), ``weights`` (the prunable pool)
        and ``biases``."""
        return {
            "ratio": [self.ratio],
            "temperature": [self.temperature],
            "weights": [self.weights],
            "biases": list(self.biases),
        }

    def weight_matrices(self, weights: torch.Tensor | None = None) -> list:
        """``weights`` (default: the parameter) as one matrix view per layer."""
        weights = self.weights if weights is None else weights
        sizes = [fan_out * fan_in for fan_out, fan_in in self.shapes]
        return [
            part.view(shape)
            for part, shape in zip(torch.split(weights, sizes), self.shapes)
        ]

    def threshold(self) -> torch.Tensor:
        """Current threshold ``t``, differentiable with respect to ``ratio``."""
        return quantile_threshold(
            self._pool_values(), self.ratio, self.kde_grid_size, self.scratch
        )

    def _pool_values(self) -> torch.Tensor:
        """What ``t`` is a quantile of: the weights, or the units' scores."""
        if self.prune == "neurons":
            return unit_pool(self.weight_matrices(), self.unit_score).scores()
        return self.weights.detach()

    def masked_weights(self, sizes: list[int] | None = None):
        """The flat weights the layers compute with in the current mode; with
        ``sizes``, a soft mask in training gives them as parts of those sizes
        (``pruned_weight``: their gradients need no concatenation)."""
        weights, scratch = self.weights, self.scratch
        # (In the scratch's notes, not an attribute: nn.Module's cost a
        # microsecond each to set. A hardened module has no scratch.)
        if scratch is not None:
            scratch.notes["loss_squares"] = None
        if self.unmasked or self.prune == "neurons":
            return weights
        if self.training:
            masked = pruned_weight(
                weights,
                self.ratio,
                self.temperature,
                self.kde_grid_size,
                self.scratch,
                weight_gradient=self.weight_gradient,
                sizes=sizes,
            )
            # ||w||^2 of these weights, if the threshold's pass summed it.
            if scratch is not None:
                scratch.notes["loss_squares"] = pool_squares(weights.detach(), scratch)
            return masked
        return self.hard_masked(self.hard_threshold())

    @torch.no_grad()
    def squared_norm(self) -> float:
        """``||w||^2`` of the weights, for the loss of the forward pass in
        training just made: the sum of squares that pass's threshold took of
        them where it took one (saving a pass over the weights), else a dot
        product of its own."""
        scratch = self.scratch
        squares = None if scratch is None else scratch.notes.pop("loss_squares", None)
        if squares is not None:
            return squares
        weights = self.weights.detach()
        return torch.dot(weights, weights).item()

    def hard_masked(self, threshold: float) -> torch.Tensor:
        """The flat weights with those the hard mask at ``threshold`` prunes
        zeroed (a new tensor; the parameter is left as it is)."""
        return self.weights * self.weight_mask(threshold)

    def _masked_matrices(self) -> list[torch.Tensor]:
        """:meth:`masked_weights` as one matrix per layer."""
        masked = self.masked_weights(sizes=[rows * cols for rows, cols in self.shapes])
        if isinstance(masked, torch.Tensor):
            return self.weight_matrices(masked)
        return [part.view(shape) for part, shape in zip(masked, self.shapes)]

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        activation = self.hidden_activation
        matrices = self._masked_matrices()
        masks = self._unit_masks(matrices)
        last = len(matrices) - 1
        for i, (weight, bias) in enumerate(zip(matrices, self.biases)):
            X = F.linear(X, weight, bias)
            if i < last:
                X = activation(X)
                if masks is not None:
                    X = X * masks[i]
        return X

    def _unit_masks(self, matrices, ratio=None, temperature=None) -> list | None:
        """Per hidden layer the mask of its units' outputs in the current
        mode; None when weights are pruned or the module is unmasked. ``ratio``
        and ``temperature``: the tensors to differentiate (default: the
        module's own; a stack's rows for its members)."""
        if self.prune != "neurons" or self.unmasked:
            return None
        pool = unit_pool(matrices, self.unit_score)
        if not pool.in_pool.any():  # one unit per layer: nothing to prune
            return None
        if not self.training:
            kept = pool.kept(self._quantile(pool.scores()))
            return [units.to(matrices[0].dtype) for units in kept]
        ratio = self.ratio if ratio is None else ratio
        temperature = self.temperature if temperature is None else temperature
        threshold = quantile_threshold(pool.scores(), ratio, self.kde_grid_size)
        full = self.weight_gradient == "full"
        return unit_masks(pool, threshold, temperature, full_gradient=full)

    @torch.no_grad()
    def kept_units(self, threshold: float | None = None) -> list[torch.Tensor]:
        """Per hidden layer, the units the hard mask keeps: at ``threshold``,
        or, once hardened, those :meth:`harden` kept (hardening lowers the
        scores of kept units, whose weights from pruned ones it zeroes).
        With weights pruned, every unit."""
        matrices = self.weight_matrices()
        if self.prune != "neurons":
            return [torch.ones(m.shape[0], dtype=torch.bool) for m in matrices[:-1]]
        if self.hardened:
            return [
                rows.any(dim=1) for rows in self.weight_matrices(self.hard_mask)[:-1]
            ]
        return unit_pool(matrices, self.unit_score).kept(threshold)

    @torch.no_grad()
    def weight_mask(self, threshold: float) -> torch.Tensor:
        """The flat boolean mask of the weights the hard mask at ``threshold``
        keeps: ``|w| >= t``, or the weights between kept units."""
        weights = self.weights.detach()
        if self.prune != "neurons":
            return self._at_least(weights, threshold)
        units = self.kept_units(threshold)
        inputs = [torch.ones(self.shapes[0][1], dtype=torch.bool), *units]
        outputs = [*units, torch.ones(self.shapes[-1][0], dtype=torch.bool)]
        return torch.cat(
            [
                (rows[:, None] & columns[None, :]).reshape(-1)
                for rows, columns in zip(outputs, inputs)
            ]
        ).to(weights.device)

    @torch.no_grad()
    def clamp_(self, temperature_min: float, ratio_max: float = RATIO_CEILING) -> None:
        """Keep ``r`` in ``[0, min(ratio_max, 0.9999)]`` and ``tau >=
        temperature_min``."""
        self.ratio.clamp_(0.0, min(ratio_max, RATIO_CEILING))
        self.temperature.clamp_(min=temperature_min)

    @torch.no_grad()
    def hard_threshold(self) -> float:
        """Threshold of the hard mask at the current ``r``."""
        return self._quantile(self._pool_values())

    @torch.no_grad()
    def _quantile(self, pool: torch.Tensor) -> float:
        """The ``r``-quantile of ``pool`` (the weights or the units' scores)."""
        if pool.numel() == 0:  # one unit per hidden layer: none can go
            return 0.0
        ratio = self.ratio.item()
        return exact_threshold(pool, ratio, self.kde_grid_size, self.scratch).item()

    @staticmethod
    def _at_least(weights: torch.Tensor, threshold: float) -> torch.Tensor:
        """``|w| >= threshold`` without a copy of ``|w|``."""
        return (weights >= threshold).logical_or_(weights <= -threshold)

    @torch.no_grad()
    def fraction_below(self, threshold: float) -> float:
        """Fraction of the weights the hard mask at ``threshold`` prunes:
        those with ``|w| < threshold``, or those of pruned units."""
        if self.prune == "neurons":
            kept = self.weight_mask(threshold)
            return 1.0 - kept.sum().item() / kept.numel()
        weights = self.weights.detach()
        return count_below(weights, threshold) / weights.numel()

    @torch.no_grad()
    def hard_threshold_and_sparsity(self) -> tuple[float, float]:
        """:meth:`hard_threshold` and :meth:`fraction_below` at it, what
        every epoch records; with weights pruned both come from one
        selection on a small pool (``exact_threshold_and_count_below``)."""
        if self.prune == "neurons":
            threshold = self.hard_threshold()
            return threshold, self.fraction_below(threshold)
        weights = self.weights.detach()
        threshold, below = exact_threshold_and_count_below(
            weights, self.ratio.item(), self.kde_grid_size, self.scratch
        )
        return threshold, below / weights.numel()

    @torch.no_grad()
    def harden(self) -> float:
        """Zero every weight below the threshold for good; returns ``t``.

        The soft mask becomes the hard mask ``1[m >= 0.5]``, i.e. ``|w| >= t``;
        ``r`` and ``tau`` no longer enter the forward pass.
        """
        if self.hardened:
            return self.hardened_threshold
        threshold = self.hard_threshold()
        self.hard_mask = self.weight_mask(threshold)
        self.weights.mul_(self.hard_mask)
        self.hardened_threshold = threshold
        self.scratch = None
        return threshold

    @torch.no_grad()
    def zero_pruned_(self) -> None:
        """Set the weights :meth:`harden` pruned back to exactly zero.

        An optimizer step moves them (their gradients and Adam's moments are
        not zero); this keeps the hardened mask fixed while training goes on.
        """
        self.weights.mul_(self.hard_mask)


# Per hidden activation: applied in place, and dL/d(input) from dL/d(output)
# and the output written to a given buffer (the formulas autograd uses).
_IN_PLACE_ACTIVATIONS = {
    "identity": (None, None),
    "logistic": (torch.sigmoid_, torch.ops.aten.sigmoid_backward.grad_input),
    "tanh": (torch.tanh_, torch.ops.aten.tanh_backward.grad_input),
    "relu": (
        torch.relu_,
        partial(torch.ops.aten.threshold_backward.grad_input, threshold=0),
    ),
}


class _StackedLayer(torch.autograd.Function):
    """One hidden layer of a stack, ``activation(X W^T + b)`` per model,
    with its output and its backward pass's tensors written to buffers of
    the stack's ``workspace`` that live from step to step: a fresh tensor
    of ``K x batch x units`` per layer and pass costs page faults at every
    step."""

    @staticmethod
    def forward(ctx, X, weight, bias, activation, workspace, name):
        shape = (X.shape[0], X.shape[1], weight.shape[1])
        out = workspace.get(name, shape, X)
        torch.baddbmm(bias.unsqueeze(1), X, weight.transpose(1, 2), out=out)
        forward, ctx.activation_backward = _IN_PLACE_ACTIVATIONS[activation]
        if forward is not None:
            forward(out)
        ctx.workspace, ctx.name = workspace, name
        ctx.save_for_backward(X, weight)
        ctx.out = out
        # A view carries the graph, the buffer stays plain; autograd refuses
        # a backward pass through a view whose buffer a later forward wrote.
        return out.view(shape)

    @staticmethod
    def backward(ctx, grad):
        workspace, name = ctx.workspace, ctx.name
        X, weight = ctx.saved_tensors
        if ctx.activation_backward is not None:
            grad = ctx.activation_backward(
                grad,
                ctx.out,
                grad_input=workspace.get(name + ".grad", grad.shape, grad),
            )
        grad_X = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_X = workspace.get(name + ".grad_input", X.shape, X)
            torch.bmm(grad, weight, out=grad_X)
        if ctx.needs_input_grad[1]:
            grad_weight = workspace.get(name + ".grad_weight", weight.shape, weight)
            torch.bmm(grad.transpose(1, 2), X, out=grad_weight)
        if ctx.needs_input_grad[2]:
            grad_bias = grad.sum(1)
        return grad_X, grad_weight, grad_bias, None, None, None


class _StackedOutput(torch.autograd.Function):
    """The output layer of a stack, ``X W^T + b`` per model, computed as
    ``(K, outputs, B)`` and returned as its transposed view: few outputs
    make a poor last axis, for the product and for the loss's reductions
    over them (the losses' ``per_row`` reduce over axis 1 of this layout).
    The gradient of ``X`` comes out contiguous, as the layer below reads
    it."""

    @staticmethod
    def forward(ctx, X, weight, bias):
        ctx.save_for_backward(X, weight)
        transposed = torch.baddbmm(bias.unsqueeze(2), weight, X.transpose(1, 2))
        return transposed.transpose(1, 2)

    @staticmethod
    def backward(ctx, grad):
        X, weight = ctx.saved_tensors
        grad_X = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_X = torch.bmm(grad, weight)
        if ctx.needs_input_grad[1]:
            grad_weight = torch.bmm(grad.transpose(1, 2), X)
        if ctx.needs_input_grad[2]:
            grad_bias = grad.sum(1)
        return grad_X, grad_weight, grad_bias


class StackedSoftMaskedMLP(nn.Module):
    """``K`` :class:`SoftMaskedMLP` of one shape trained as one network.

    The members' parameters are stacked along a leading model axis
    (``weights`` of shape ``(K, n)``, each layer's biases ``(K, fan_out)``,
    ``ratio`` and ``temperature`` of shape ``(K,)``), and each member's own
    parameters become views of its row: what a member does to itself (its
    threshold, :meth:`~SoftMaskedMLP.harden`, ``clamp_``, ``zero_pruned_``,
    loading a state) it does to the stack, and the stack's optimizer step
    moves the members. The forward pass takes one batch per member
    (``X`` of shape ``(K, B, n_features)``) and multiplies each layer's
    weights with ``torch.baddbmm``; each member's pool is thresholded and
    masked as its own (:func:`~._method.mask.pruned_weights`). A member
    whose ``resting`` flag is set (it does not train at this step), a
    hardened member and one whose ``mask_off`` is set pass their weights
    through unmasked.

    Parameters
    ----------
    members : list of SoftMaskedMLP
        Models of the same shapes, activation, dtype and weight gradient,
        pruning weights (not neurons), not hardened.
    """

    def __init__(self, members: Sequence[SoftMaskedMLP]):
        super().__init__()
        first = members[0]
        for member in members:
            if (
                member.shapes != first.shapes
                or member.activation != first.activation
                or member.weights.dtype != first.weights.dtype
                or member.weight_gradient != first.weight_gradient
                or member.kde_grid_size != first.kde_grid_size
                or (member.prune, member.unit_score) != (first.prune, first.unit_score)
                or member.hardened
            ):
                raise ValueError(
                    "Stacked models must share shapes, activation, dtype, weight "
                    "gradient, grid size and what they prune, and be soft."
                )
        self.shapes = first.shapes
        self.prune = first.prune
        self.kde_grid_size = first.kde_grid_size
        self.weight_gradient = first.weight_gradient
        self.activation = first.activation
        self.weights = nn.Parameter(torch.stack([m.weights.detach() for m in members]))
        self.biases = nn.ParameterList(
            torch.stack([m.biases[i].detach() for m in members])
            for i in range(len(first.biases))
        )
        self.ratio = nn.Parameter(torch.stack([m.ratio.detach() for m in members]))
        self.temperature = nn.Parameter(
            torch.stack([m.temperature.detach() for m in members])
        )
        # Not submodules: the stack's parameters are the only ones to train.
        self.members = list(members)
        self.resting = [False] * len(members)
        # The members whose pool held NaN or infinity at the last forward pass.
        self.failed = []
        self.workspace = Scratch()
        for k, member in enumerate(self.members):
            member.weights = nn.Parameter(self.weights.data[k])
            for i in range(len(member.biases)):
                member.biases[i] = nn.Parameter(self.biases[i].data[k])
            member.ratio = nn.Parameter(self.ratio.data[k])
            member.temperature = nn.Parameter(self.temperature.data[k])

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """As :meth:`SoftMaskedMLP.parameter_groups`, stacked."""
        return {
            "ratio": [self.ratio],
            "temperature": [self.temperature],
            "weights": [self.weights],
            "biases": list(self.biases),
        }

    def masked_weights(self) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """The ``(K, n)`` weights the layers compute with: each member's
        soft-masked pool in training (as one ``(K, size)`` part per layer),
        its hard mask in eval mode. A member
        whose weights are not finite is listed in ``failed`` (training: its
        weights pass through; eval: its row is NaN)."""
        self.failed = []
        sizes = [rows * cols for rows, cols in self.shapes]
        soft = [
            not (member.unmasked or resting)
            for member, resting in zip(self.members, self.resting)
        ]
        # The units' masks act on the outputs; no member masked, no mask.
        if self.prune == "neurons" or (self.training and not any(soft)):
            return self.weights.split(sizes, dim=1)
        if self.training:
            return pruned_weights(
                self.weights,
                self.ratio,
                self.temperature,
                self.kde_grid_size,
                [member.scratch for member in self.members],
                self.weight_gradient,
                soft,
                sizes,
                self.failed,
                self.workspace,
            )
        return torch.stack([self._hard_masked(k) for k in range(len(self.members))])

    @torch.no_grad()
    def clamp_(self, temperature_min: list[float], ratio_max: list[float]) -> None:
        """Each member's :meth:`SoftMaskedMLP.clamp_` in one pass: ``r_k`` in
        ``[0, min(ratio_max[k], 0.9999)]``, ``tau_k >= temperature_min[k]``;
        a member given ``inf`` and ``-inf`` is left as it is."""
        device, dtype = self.ratio.device, self.ratio.dtype
        upper = torch.tensor(ratio_max, dtype=dtype, device=device)
        upper.clamp_(max=RATIO_CEILING)
        self.ratio.clamp_(torch.zeros_like(upper), upper)
        lower = torch.tensor(temperature_min, dtype=dtype, device=device)
        self.temperature.clamp_(min=lower)

    def _hard_masked(self, k: int) -> torch.Tensor:
        member = self.members[k]
        if member.unmasked or self.resting[k]:
            return member.weights.detach()
        try:
            return member.hard_masked(member.hard_threshold())
        except NonFiniteWeightsError:
            self.failed.append(k)
            return torch.full_like(member.weights.detach(), math.nan)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        masked = self.masked_weights()
        if isinstance(masked, torch.Tensor):
            masked = masked.split([rows * cols for rows, cols in self.shapes], dim=1)
        units = self._unit_masks(masked)
        last = len(self.shapes) - 1
        for i, (part, (fan_out, fan_in), bias) in enumerate(
            zip(masked, self.shapes, self.biases)
        ):
            weight = part.view(-1, fan_out, fan_in)
            if i == last:  # the output, fresh: the loss and callbacks keep it
                return _StackedOutput.apply(X, weight, bias)
            X = _StackedLayer.apply(
                X, weight, bias, self.activation, self.workspace, f"layer{i}"
            )
            if units is not None:
                X = X * units[i]

    def _unit_masks(self, parts) -> list | None:
        """With ``prune='neurons'``, per hidden layer the ``(K, 1, units)``
        masks of the members' units (each member's own, differentiated with
        respect to the stack's rows); ones for a hardened or resting member,
        one whose mask is off,
        and for one whose scores are not finite (listed in ``failed``)."""
        if self.prune != "neurons":
            return None
        ones = [part.new_ones(rows) for (rows, _), part in zip(self.shapes[:-1], parts)]
        masks = []
        for k, member in enumerate(self.members):
            found = None
            if not (member.unmasked or self.resting[k]):
                member.train(self.training)
                matrices = [
                    part[k].view(shape) for part, shape in zip(parts, self.shapes)
                ]
                try:
                    found = member._unit_masks(
                        matrices, self.ratio[k], self.temperature[k]
                    )
                except NonFiniteWeightsError:
                    self.failed.append(k)
            masks.append(ones if found is None else found)
        return [torch.stack(layer).unsqueeze(1) for layer in zip(*masks)]
