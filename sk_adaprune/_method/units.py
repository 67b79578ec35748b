"""Whole hidden units as the pruning pool: their scores, the pool, the mask.

With ``prune='neurons'`` the method of the weights is applied to hidden
units: unit ``j`` scores ``s_j = ||w_j||``, the L2 norm of its incoming
weights, ``t`` is the ``r``-quantile of the scores of the hidden units of all
layers, and the unit's output is multiplied by ``sigmoid((s_j^2 - t^2) /
tau)``. The strongest unit of every hidden layer stays out of the pool: it is
never masked, so no layer is ever emptied, whatever ``r``.

``UNIT_SCORES`` holds the scores a module can rank its units by (squared,
per hidden layer, from all weight matrices); ``'incoming'`` is the
default.
"""

from typing import NamedTuple

import torch

__all__ = ["UNIT_SCORES", "UnitPool", "unit_masks", "unit_pool"]


class UnitPool(NamedTuple):
    """The hidden units of a network, layer after layer."""

    squared_scores: torch.Tensor  # (units,) ``s_j^2``, with the weights' gradient
    in_pool: torch.Tensor  # (units,) bool: False for each layer's strongest unit
    sizes: list  # units per hidden layer

    def scores(self) -> torch.Tensor:
        """The pool's scores ``s_j`` (the units that may be pruned), detached:
        what the threshold is the quantile of."""
        return self.squared_scores.detach()[self.in_pool].sqrt()

    def kept(self, threshold: float) -> list:
        """Per hidden layer, the units the hard mask keeps: ``s_j >= t``, and
        each layer's strongest unit."""
        squared = self.squared_scores.detach()
        kept = (squared >= threshold * threshold).logical_or_(~self.in_pool)
        return list(torch.split(kept, self.sizes))


def incoming(matrices: list) -> list:
    """``||w_in_j||^2``: the squared L2 norm of each hidden unit's incoming
    weights (row ``j`` of its layer's matrix)."""
    return [matrix.square().sum(dim=1) for matrix in matrices[:-1]]


def incoming_outgoing(matrices: list) -> list:
    """``||w_in_j||^2 ||w_out_j||^2``: the product with the unit's outgoing
    weights (column ``j`` of the next matrix), which a ReLU unit's rescaling
    of its incoming by ``c`` and outgoing by ``1/c`` leaves unchanged."""
    return [
        matrix.square().sum(dim=1) * following.square().sum(dim=0)
        for matrix, following in zip(matrices, matrices[1:])
    ]


def incoming_per_layer(matrices: list) -> list:
    """``||w_in_j||^2`` over its layer's mean, times the mean over all hidden
    units: layers of different fan-in compete on an equal footing in the
    global pool, and the scores keep the scale of ``incoming`` (which the
    temperature, a fraction of the weights' spread, is set against). With one
    hidden layer the factor is 1: the scores are ``incoming``'s."""
    squared = incoming(matrices)
    overall = torch.cat(squared).mean()
    return [layer * (overall / layer.mean()) for layer in squared]


UNIT_SCORES = {
    "incoming": incoming,
    "incoming_outgoing": incoming_outgoing,
    "incoming_per_layer": incoming_per_layer,
}


def unit_pool(matrices: list, score: str = "incoming") -> UnitPool:
    """The hidden units of the network whose ``(fan_out, fan_in)`` weight
    matrices, the output layer's last, are ``matrices``, scored by
    ``UNIT_SCORES[score]``."""
    squared = UNIT_SCORES[score](matrices)
    in_pool = torch.ones(sum(s.numel() for s in squared), dtype=torch.bool)
    in_pool = in_pool.to(squared[0].device)
    start = 0
    for layer in squared:
        in_pool[start + int(layer.detach().argmax())] = False
        start += layer.numel()
    return UnitPool(torch.cat(squared), in_pool, [s.numel() for s in squared])


def unit_masks(
    pool: UnitPool,
    threshold: torch.Tensor,
    temperature: torch.Tensor,
    full_gradient: bool = False,
) -> list:
    """Per hidden layer, the soft mask ``sigmoid((s_j^2 - t^2) / tau)`` of its
    units (1 for the layer's strongest unit).

    ``t`` and ``tau`` get their gradients through the expression, ``t`` on
    to ``r`` by the threshold's ``dt/dr = 1 / f(t)``. The scores get theirs
    only with ``full_gradient`` (the weights' gradient then holds the mask's
    slope in ``s_j``, as the thesis's eq. 2.3 does for a weight); otherwise
    the mask is a constant in the weights, as a magnitude-pruning mask.
    """
    squared = pool.squared_scores
    if not full_gradient:
        squared = squared.detach()
    mask = torch.sigmoid((squared - threshold * threshold) / temperature)
    mask = torch.where(pool.in_pool, mask, torch.ones_like(mask))
    return list(torch.split(mask, pool.sizes))
