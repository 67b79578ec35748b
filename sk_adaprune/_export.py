"""The pruned network as a plain ``torch.nn.Sequential``, free of this package."""

import torch

from ._module import ACTIVATIONS

__all__ = ["OUTPUT_ACTIVATIONS", "torch_sequential"]

# The output layer's activation, by ``out_activation_``.
OUTPUT_ACTIVATIONS = {
    "softmax": lambda: torch.nn.Softmax(dim=1),
    "logistic": torch.nn.Sigmoid,
    "identity": torch.nn.Identity,
}


def torch_sequential(coefs, intercepts, activation, out_activation):
    """A ``torch.nn.Sequential`` in the weights' dtype computing ``X @ coef +
    intercept`` layer by layer, ``activation`` between layers,
    ``out_activation`` last."""
    layers = []
    for i, (coef, intercept) in enumerate(zip(coefs, intercepts)):
        linear = torch.nn.Linear(*coef.shape, dtype=torch.from_numpy(coef).dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(coef.T))
            linear.bias.copy_(torch.from_numpy(intercept))
        layers.append(linear)
        if i < len(coefs) - 1:
            layers.append(ACTIVATIONS[activation]())
    layers.append(OUTPUT_ACTIVATIONS[out_activation]())
    return torch.nn.Sequential(*layers)
