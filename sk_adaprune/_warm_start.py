"""``warm_start=True``: a fit that continues the fitted network.

As MLPClassifier's: the weights and biases go on from the fitted ones (and
here ``r`` and ``tau`` too), ``loss_curve_`` and ``validation_scores_`` go
on growing, ``n_iter_`` counts the epochs of the call, and Adam starts
afresh. The fitted values come from the fitted attributes, not from the
skorch net, so a loaded model continues as well as the one that was fitted.
"""

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.utils.multiclass import unique_labels

__all__ = ["FittedNetwork", "continue_records", "load_into"]


@dataclass(frozen=True)
class FittedNetwork:
    """What a warm start continues from, taken before the fit overwrites it."""

    coefs: list
    intercepts: list
    ratio: float
    temperature: float
    classes: object
    n_outputs: int
    loss_curve: list
    validation_scores: list | None
    pruning_history: dict

    @classmethod
    def of(cls, estimator) -> "FittedNetwork":
        # References, not copies: a fit rebinds these attributes to new
        # objects and never changes them in place, and partial_fit takes
        # this at every call (a copy of loss_curve_ would grow with them).
        return cls(
            coefs=estimator.coefs_,
            intercepts=estimator.intercepts_,
            ratio=estimator.learned_ratio_,
            temperature=estimator.temperature_,
            classes=getattr(estimator, "classes_", None),
            n_outputs=estimator.n_outputs_,
            loss_curve=estimator.loss_curve_,
            validation_scores=estimator.validation_scores_,
            pruning_history=estimator.pruning_history_,
        )

    @property
    def hidden_sizes(self) -> list[int]:
        """Units per hidden layer of the fitted network."""
        return [coef.shape[1] for coef in self.coefs[:-1]]

    @property
    def dtype(self) -> np.dtype:
        """The dtype the network was trained in."""
        return self.coefs[0].dtype

    def check(
        self, hidden_sizes, y, classifier: bool, subset=False, at_most=False
    ) -> None:
        """Raise if the new fit's network or targets differ from the fitted
        ones (the classes with MLPClassifier's message); ``subset``
        (partial_fit): ``y`` may hold some of the classes; ``at_most``
        (neurons pruned): the fitted layers may have fewer units than
        ``hidden_sizes``."""
        fitted = self.hidden_sizes
        if at_most:
            fits = len(fitted) == len(hidden_sizes) and all(
                units <= size for units, size in zip(fitted, hidden_sizes)
            )
        else:
            fits = list(hidden_sizes) == fitted
        if not fits:
            raise ValueError(
                f"warm_start continues the fitted network, of hidden_layer_sizes "
                f"{tuple(fitted)}; got hidden_layer_sizes={tuple(hidden_sizes)}. "
                "Set warm_start=False to fit a new network."
            )
        if classifier:
            if subset:
                return  # checked against the classes when y is encoded
            classes = unique_labels(y)
            if set(classes) != set(self.classes):
                raise ValueError(
                    "warm_start can only be used where `y` has the same classes "
                    f"as in the previous call to fit. Previously got "
                    f"{self.classes}, `y` has {classes}"
                )
            return
        n_outputs = y.shape[1] if y.ndim == 2 else 1
        if n_outputs != self.n_outputs:
            raise ValueError(
                f"warm_start continues a network of {self.n_outputs} outputs; y "
                f"has {n_outputs}. Set warm_start=False to fit a new network."
            )


@torch.no_grad()
def load_into(module, fitted: FittedNetwork) -> None:
    """Put the fitted weights, biases, ``r`` and ``tau`` into a new module
    (soft again: the pruned weights are zeros, below any threshold > 0)."""
    for matrix, coef in zip(module.weight_matrices(), fitted.coefs):
        matrix.copy_(torch.as_tensor(coef.T))
    for bias, intercept in zip(module.biases, fitted.intercepts):
        bias.copy_(torch.as_tensor(intercept))
    module.ratio.fill_(fitted.ratio)
    module.temperature.fill_(fitted.temperature)


def continue_records(estimator, fitted: FittedNetwork) -> None:
    """Append this fit's records to the fitted ones, as MLPClassifier does."""
    estimator.loss_curve_ = fitted.loss_curve + estimator.loss_curve_
    if estimator.best_loss_ is not None:
        estimator.best_loss_ = min(estimator.loss_curve_)
    if estimator.validation_scores_ is not None:
        estimator.validation_scores_ = (
            list(fitted.validation_scores or []) + estimator.validation_scores_
        )
    history = estimator.pruning_history_
    before = len(fitted.loss_curve)
    estimator.pruning_history_ = {
        name: np.concatenate(
            [fitted.pruning_history.get(name, np.full(before, np.nan)), values]
        )
        for name, values in history.items()
    }
