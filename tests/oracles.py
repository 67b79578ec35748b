"""Oracles that judge a fitted attribute by behaviour, not by its formula."""

import numpy as np


def inputs_that_move(forward, X, step=1.0):
    """Indices of the inputs whose change changes ``forward(X)`` at all.

    An input without a path to the outputs leaves them bit for bit the same
    (its weights add exact zeros); any other input moves them.
    """
    baseline = forward(X)
    moved = []
    for feature in range(X.shape[1]):
        shifted = X.copy()
        shifted[:, feature] += step
        if not np.array_equal(forward(shifted), baseline):
            moved.append(feature)
    return moved
