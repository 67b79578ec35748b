"""The soft-masked MLP: plain PyTorch, no scikit-learn."""

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ._mask import masked_weight
from ._scratch import Scratch
from ._selection import BandSelector
from ._threshold import order_statistic_midpoint, quantile_threshold

__all__ = ["ACTIVATIONS", "SoftMaskedMLP"]

ACTIVATIONS = {
    "identity": lambda x: x,
    "logistic": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": F.relu,
}

RATIO_CEILING = 0.9999


class SoftMaskedMLP(nn.Module):
    """Multi-layer perceptron whose weights prune themselves.

    Every ``Linear`` weight is multiplied by the soft mask
    ``sigmoid((w^2 - t^2) / tau)`` (:func:`masked_weight`) with one global
    threshold ``t``, the ``ratio``-quantile of all weight magnitudes. The
    pruning ratio ``r`` and the temperature ``tau`` are trainable parameters
    named ``ratio`` and ``temperature``; biases are never pruned.

    In training mode the mask is soft; in eval mode it is the hard mask
    ``|w| >= t``. After :meth:`harden` pruned weights are exact zeros and the
    forward pass uses the weights as they are.

    Parameters
    ----------
    n_features, n_outputs : int
        Sizes of the input and output layers.
    hidden_layer_sizes : sequence of int
        Sizes of the hidden layers.
    activation : {'relu', 'tanh', 'logistic', 'identity'}
        Hidden-layer activation; the output layer is linear (logits).
    ratio_init : float
        Initial pruning ratio ``r``.
    temperature_scale : float
        The initial temperature is ``temperature_scale * std(all weights)``.
    grid_size : int
        Grid points of the density estimate behind ``dt/dr``.
    seed : int
        Seed of the weight initialisation; the global torch RNG is untouched.
    """

    def __init__(
        self,
        n_features: int,
        hidden_layer_sizes: Sequence[int],
        n_outputs: int,
        activation: str = "relu",
        ratio_init: float = 0.5,
        temperature_scale: float = 1e-2,
        grid_size: int = 1024,
        seed: int = 0,
    ):
        super().__init__()
        sizes = [n_features, *hidden_layer_sizes, n_outputs]
        generator = torch.Generator().manual_seed(seed)
        # Glorot uniform, as MLPClassifier initialises (factor 2 for logistic).
        factor = 2.0 if activation == "logistic" else 6.0
        layers = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            layer = nn.utils.skip_init(nn.Linear, fan_in, fan_out)
            bound = math.sqrt(factor / (fan_in + fan_out))
            with torch.no_grad():
                for param in (layer.weight, layer.bias):
                    param.copy_(torch.rand(param.shape, generator=generator))
                    param.mul_(2 * bound).sub_(bound)
            layers.append(layer)
        self.layers = nn.ModuleList(layers)
        self.activation = activation
        self.grid_size = grid_size
        weight_std = self.magnitude_pool(signed=True).std().item()
        self.ratio = nn.Parameter(torch.tensor(float(ratio_init)))
        self.temperature = nn.Parameter(torch.tensor(temperature_scale * weight_std))
        self.hardened = False
        self.hardened_threshold = None
        # Finds each step's threshold from where the last one was.
        self.selector = BandSelector()
        self.scratch = Scratch()

    def magnitude_pool(self, signed: bool = False) -> torch.Tensor:
        """All prunable weights (their magnitudes unless ``signed``), detached."""
        pool = torch.cat([layer.weight.detach().reshape(-1) for layer in self.layers])
        return pool if signed else pool.abs_()

    def _scratch_pool(self) -> torch.Tensor:
        """:meth:`magnitude_pool` in a buffer that the next call overwrites."""
        if self.scratch is None:
            return self.magnitude_pool()
        weights = [layer.weight.detach().reshape(-1) for layer in self.layers]
        size = sum(weight.numel() for weight in weights)
        pool = self.scratch.get("pool", torch.Size([size]), weights[0])
        return torch.cat(weights, out=pool).abs_()

    def threshold(self) -> torch.Tensor:
        """Current threshold ``t``, differentiable with respect to ``ratio``."""
        return quantile_threshold(
            self._scratch_pool(),
            self.ratio,
            self.grid_size,
            self.selector,
            self.scratch,
        )

    def masked_weights(self) -> list[torch.Tensor]:
        """The weights each layer computes with in the current mode."""
        weights = [layer.weight for layer in self.layers]
        if self.hardened:
            return weights
        if self.training:
            threshold = self.threshold()
            return [
                masked_weight(w, threshold, self.temperature, self.scratch, f"mask{i}")
                for i, w in enumerate(weights)
            ]
        threshold = self.hard_threshold()
        return [w * (w.abs() >= threshold) for w in weights]

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        activation = ACTIVATIONS[self.activation]
        weights = self.masked_weights()
        last = len(self.layers) - 1
        for i, (layer, weight) in enumerate(zip(self.layers, weights)):
            X = F.linear(X, weight, layer.bias)
            if i < last:
                X = activation(X)
        return X

    @torch.no_grad()
    def clamp_(self, temperature_min: float) -> None:
        """Keep ``r`` in ``[0, 0.9999]`` and ``tau >= temperature_min``."""
        self.ratio.clamp_(0.0, RATIO_CEILING)
        self.temperature.clamp_(min=temperature_min)

    @torch.no_grad()
    def hard_threshold(self) -> float:
        """Threshold of the hard mask at the current ``r``."""
        pool = self._scratch_pool()
        return order_statistic_midpoint(pool, self.ratio.item(), self.selector).item()

    @torch.no_grad()
    def harden(self) -> float:
        """Zero every weight below the threshold for good; returns ``t``.

        The soft mask becomes the hard mask ``1[m >= 0.5]``, i.e. ``|w| >= t``.
        """
        if self.hardened:
            return self.hardened_threshold
        threshold = self.hard_threshold()
        for layer in self.layers:
            layer.weight.mul_(layer.weight.abs() >= threshold)
        self.hardened = True
        self.hardened_threshold = threshold
        self.selector = self.scratch = None
        return threshold
