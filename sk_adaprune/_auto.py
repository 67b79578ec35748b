"""The ``'auto'`` settings, and when ``r`` counts as settled, resolved in one
place for every fit.

Every fit starts dense: no random initial weight is masked, and while the
ceiling holds ``r`` at 0 the mask is off (the steps train the network
MLPClassifier would). The ceiling on ``r`` then rises along gradual
magnitude pruning's cubic ramp over a span of the fit's own steps. A fit
with the steps for ``r`` to climb from 0 to 1 several times over ramps over
10-75% of them, with the mask held constant in ``w``
(``weight_gradient='masked'``), as gradual magnitude pruning does. A shorter
fit is still far from converged when its pruning would start: its ramp spans
50-95% of the steps (the first half trains the network MLPClassifier would),
and the thesis's full weight gradient lets weights near the threshold grow
back (benchmarks/short_fits.py). A fit whose length is
not known in advance has no ramp and ``r`` climbs by at most about ``lr_r``
a step: a short fit with early stopping (a ramp sized to ``max_iter`` would
hold ``r`` at 0 past the epoch where such fits end) and a ``partial_fit``
stream, both pruned with the full weight gradient. A fit that continues a
fitted network (``warm_start``, later ``partial_fit`` calls) goes on from
its ``r``.
"""

import math
from typing import NamedTuple

__all__ = ["SETTLE_STEPS", "Schedule", "schedule", "settle_tolerance", "steps_of"]

# r_init='auto': every fit starts dense, no random initial weight masked.
_DENSE_START = 0.0
# How many climbs of r from 0 to 1 at lr_r make a fit long.
_CLIMBS = 3.0
# r_ramp='auto': gradual magnitude pruning's span of the steps on long fits,
# a later one on short fits.
_RAMP = (0.1, 0.75)
_SHORT_RAMP = (0.5, 0.95)
# r counts as settled (the scheduled fine-tuning phase may start) once it
# moved on average by less than this share of lr_r a step (Adam moves it by
# up to about lr_r) over at least SETTLE_STEPS steps, whole epochs: its
# steps are noisy, and a few hundred average them out.
_SETTLED_SHARE_OF_LR_R = 0.05
SETTLE_STEPS = 500


class Schedule(NamedTuple):
    """How a fit prunes: its initial ``r``, the ramp on ``r`` in training
    steps (or None), and the weight gradient of the mask."""

    initial_ratio: float
    ratio_ramp: tuple[int, int] | None
    weight_gradient: str


def schedule(estimator, steps: int | None, continued_ratio=None) -> Schedule:
    """The schedule of a fit of ``steps`` training steps (None: a
    ``partial_fit`` stream), ``continued_ratio`` the fitted ``r`` it goes on
    from, or None."""
    long_fit = steps is not None and steps * estimator.lr_r >= _CLIMBS
    weight_gradient = estimator.weight_gradient
    if weight_gradient == "auto":
        weight_gradient = "masked" if long_fit else "full"
    if continued_ratio is not None:
        return Schedule(continued_ratio, None, weight_gradient)
    if estimator.r_init != "auto":
        initial_ratio = float(estimator.r_init)
    else:
        initial_ratio = _DENSE_START
    ramp = estimator._ratio_ramp() if steps is not None else None
    if ramp == "auto":
        if long_fit:
            ramp = _RAMP
        else:
            ramp = None if estimator.early_stopping else _SHORT_RAMP
    if ramp is not None:
        ramp = round(ramp[0] * steps), round(ramp[1] * steps)
    return Schedule(initial_ratio, ramp, weight_gradient)


def settle_tolerance(lr_r: float) -> float:
    """The mean change of ``r`` per step at most which ``r`` has settled."""
    return _SETTLED_SHARE_OF_LR_R * lr_r


def steps_of(max_iter: int, n_samples: int, batch_size: int) -> int:
    """Training steps of a fit that runs all ``max_iter`` epochs."""
    return max_iter * math.ceil(n_samples / batch_size)
