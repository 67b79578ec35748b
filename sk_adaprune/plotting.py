"""Plots of a fitted estimator's pruning (needs ``pip install sk_adaprune[plot]``).

Each function draws on the matplotlib Axes it is given (or on a new figure)
and returns the Axes it drew on, as ``pandas.DataFrame.plot`` does. They are
plain functions, not scikit-learn ``Display`` objects: nothing is computed
from data, everything comes from a fitted estimator's attributes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_input_usage", "plot_layer_sparsity", "plot_pruning_history"]

_HISTORY_PANELS = (
    ("loss", "training loss"),
    ("ratio", "pruning ratio r"),
    ("temperature", "temperature tau"),
    ("sparsity", "hard-mask sparsity"),
)


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError(
            "Plotting needs matplotlib: pip install 'sk_adaprune[plot]'."
        ) from error
    return plt


def _pruned_estimator(estimator):
    """The fitted pruning estimator itself, or the last step of a pipeline."""
    if hasattr(estimator, "steps"):
        estimator = estimator.steps[-1][1]
    check_is_fitted(estimator)
    if not hasattr(estimator, "pruning_history_"):
        raise TypeError(
            f"{type(estimator).__name__} is not an AdaptivePrunedMLP estimator."
        )
    return estimator


def plot_pruning_history(estimator: BaseEstimator, axes=None) -> np.ndarray:
    """Plot the loss, ``r``, ``tau`` and sparsity per epoch, one panel each.

    The epochs of the fine-tuning phase, if any, are shaded.

    Parameters
    ----------
    estimator : estimator or Pipeline
        A fitted AdaptivePrunedMLPClassifier or AdaptivePrunedMLPRegressor,
        or a Pipeline ending in one.
    axes : array-like of 4 matplotlib Axes, default=None
        Where to draw; a new 2x2 figure when None.

    Returns
    -------
    ndarray of 4 matplotlib Axes
        The panels drawn on: loss (total and task), ``r``, ``tau``, sparsity.
    """
    estimator = _pruned_estimator(estimator)
    if axes is None:
        _, axes = _pyplot().subplots(2, 2, figsize=(9, 6), layout="constrained")
    axes = np.asarray(axes).ravel()
    history = estimator.pruning_history_
    epochs = np.arange(1, len(history["loss"]) + 1)
    finetuning = np.flatnonzero(history.get("finetuning", []))
    for ax, (key, label) in zip(axes, _HISTORY_PANELS):
        ax.plot(epochs, history[key], marker=".", label="total")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        if finetuning.size:
            ax.axvspan(
                finetuning[0] + 0.5,
                epochs[-1] + 0.5,
                color="tab:green",
                alpha=0.12,
                label="fine-tuning phase",
            )
    axes[0].plot(epochs, history["task_loss"], marker=".", label="task")
    axes[0].legend()
    return axes


def plot_layer_sparsity(estimator: BaseEstimator, ax: Axes | None = None) -> Axes:
    """Plot the fraction of pruned weights in each layer as bars.

    Parameters
    ----------
    estimator : estimator or Pipeline
        A fitted AdaptivePrunedMLPClassifier or AdaptivePrunedMLPRegressor,
        or a Pipeline ending in one.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib Axes
        The Axes drawn on, titled with the overall sparsity.
    """
    estimator = _pruned_estimator(estimator)
    if ax is None:
        _, ax = _pyplot().subplots(figsize=(5, 3.5), layout="constrained")
    # The layers as built: with neurons pruned, coefs_ have fewer units and
    # the shares count the removed units' weights.
    sizes = [estimator.n_features_in_, *estimator._hidden_sizes(), estimator.n_outputs_]
    names = [f"{fan_in}->{fan_out}" for fan_in, fan_out in zip(sizes, sizes[1:])]
    bars = ax.bar(names, estimator.layer_sparsity_)
    ax.bar_label(bars, fmt="{:.1%}")
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("layer (inputs->outputs)")
    ax.set_ylabel("fraction of weights pruned")
    ax.set_title(f"overall sparsity {estimator.learned_sparsity_:.1%}")
    return ax


def plot_input_usage(
    estimator: BaseEstimator,
    image_shape: tuple[int, ...] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Plot how many outgoing weights each input feature kept, as a heat map.

    The first layer's hard mask, summed over its outputs: inputs at 0 were
    dropped by the network altogether (the thesis's Figure 4.15). For image
    data pass ``image_shape`` (e.g. ``(8, 8)`` for ``load_digits``) to see it
    as an image.

    Parameters
    ----------
    estimator : estimator or Pipeline
        A fitted AdaptivePrunedMLPClassifier or AdaptivePrunedMLPRegressor,
        or a Pipeline ending in one.
    image_shape : tuple of int, default=None
        Shape to reshape the ``n_features_in_`` values to; a single row when
        None.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib Axes
        The Axes drawn on, with a colour bar, titled with the number of
        unused inputs.
    """
    estimator = _pruned_estimator(estimator)
    kept = (estimator.coefs_[0] != 0).sum(axis=1)
    shape = (1, kept.size) if image_shape is None else tuple(image_shape)
    if int(np.prod(shape)) != kept.size:
        raise ValueError(
            f"image_shape {shape} does not hold the {kept.size} input features."
        )
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4), layout="constrained")
    image = ax.imshow(kept.reshape(shape), cmap="viridis", aspect="auto")
    ax.figure.colorbar(image, ax=ax, label="weights kept")
    unused = int((kept == 0).sum())
    ax.set_title(f"input usage: {unused} of {kept.size} inputs unused")
    ax.set_xticks([])
    ax.set_yticks([])
    return ax
