"""The task losses (MLPClassifier's and MLPRegressor's, optionally weighted
by rows) and the held-out scores early stopping goes by.
"""

import math

import numpy as np
import torch
from sklearn.metrics import accuracy_score, r2_score
from torch import nn

__all__ = [
    "BinaryLogLoss",
    "HalfSquaredError",
    "SoftmaxLogLoss",
    "argmax_accuracy",
    "outputs_r2",
    "sign_accuracy",
]


def _weighted_mean(per_sample: torch.Tensor, sample_weight: torch.Tensor):
    """``sum_i w_i l_i / sum_i w_i``: scikit-learn's weighted losses
    (``np.average`` over the batch's rows)."""
    return torch.dot(per_sample, sample_weight) / sample_weight.sum()


class _RowLoss(nn.Module):
    """A loss that averages its rows' (``per_row``), which the stacked fits
    compute for ``K`` models' batches at once."""

    def per_row(self, outputs: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
        """Each row's loss, ``(K, rows)`` of ``(K, rows, ...)`` outputs."""
        raise NotImplementedError

    def stacked(
        self, outputs: torch.Tensor, y_true: torch.Tensor, weights=None
    ) -> torch.Tensor:
        """The ``(K,)`` training losses of ``K`` models' batches (``outputs``
        of shape ``(K, rows, ...)``), each :meth:`forward`'s on the model's
        batch to round-off (the sums reduce in another order). With
        ``weights`` (``(K, rows)``: sample weights, or ones; zeros on the
        rows that pad a shorter batch) the weighted mean of the rows';
        without, the batches are whole and unweighted."""
        per_row = self.per_row(outputs, y_true)
        if weights is None:
            return per_row.mean(dim=1)
        return torch.linalg.vecdot(per_row, weights) / weights.sum(dim=1)


class HalfSquaredError(_RowLoss):
    """``mean((y - y_pred)^2) / 2``, MLPRegressor's training loss; with
    ``sample_weight``, the weighted mean over rows of the mean over outputs."""

    def per_row(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
        return 0.5 * torch.mean((y_pred - y_true) ** 2, dim=-1)

    def forward(
        self, y_pred: torch.Tensor, y_true: torch.Tensor, sample_weight=None
    ) -> torch.Tensor:
        if sample_weight is None:
            return 0.5 * torch.mean((y_pred - y_true) ** 2)
        per_row = torch.mean((y_pred - y_true) ** 2, dim=1)
        return 0.5 * _weighted_mean(per_row, sample_weight)


class SoftmaxLogLoss(_RowLoss):
    """Cross-entropy of softmax logits, MLPClassifier's multiclass loss;
    with ``sample_weight``, the weighted mean over rows."""

    def per_row(self, logits: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
        # Over axis 1 of (K, classes, rows): torch's log_softmax over a few
        # classes in the last axis is several times slower (the stacked
        # network's outputs are this layout's transposed view).
        log_proba = torch.log_softmax(logits.transpose(1, 2), dim=1)
        return -log_proba.gather(1, y_true.unsqueeze(1)).squeeze(1)

    def forward(
        self, logits: torch.Tensor, y_true: torch.Tensor, sample_weight=None
    ) -> torch.Tensor:
        if sample_weight is None:
            return nn.functional.cross_entropy(logits, y_true)
        per_row = nn.functional.cross_entropy(logits, y_true, reduction="none")
        return _weighted_mean(per_row, sample_weight)


class BinaryLogLoss(_RowLoss):
    """Logistic log loss summed over outputs, averaged over samples (with
    ``sample_weight``: their weighted mean).

    MLPClassifier's loss for binary and multilabel targets, on logits.
    """

    def per_row(self, logits: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
        return nn.functional.binary_cross_entropy_with_logits(
            logits, y_true.to(logits.dtype), reduction="none"
        ).sum(dim=-1)

    def forward(
        self, logits: torch.Tensor, y_true: torch.Tensor, sample_weight=None
    ) -> torch.Tensor:
        # Held-out targets keep their integer indicators; training's are float.
        y_true = y_true.to(logits.dtype)
        if sample_weight is None:
            loss = nn.functional.binary_cross_entropy_with_logits(
                logits, y_true, reduction="sum"
            )
            return loss / logits.shape[0]
        per_entry = nn.functional.binary_cross_entropy_with_logits(
            logits, y_true, reduction="none"
        )
        return _weighted_mean(per_entry.sum(dim=1), sample_weight)


def _as_finite_numpy(outputs: torch.Tensor):
    """The outputs as float64 numpy, or None if any is NaN or infinite."""
    values = outputs.detach().cpu().double().numpy()
    return values if np.isfinite(values).all() else None


def argmax_accuracy(outputs: torch.Tensor, y_true: np.ndarray, sample_weight=None):
    """Accuracy of the largest logit's class (softmax outputs); NaN for
    outputs that are not finite."""
    values = _as_finite_numpy(outputs)
    if values is None:
        return math.nan
    return accuracy_score(y_true, values.argmax(1), sample_weight=sample_weight)


def sign_accuracy(outputs: torch.Tensor, y_true: np.ndarray, sample_weight=None):
    """Accuracy of the logits thresholded at 0 (logistic outputs: binary or
    multilabel indicators); NaN for outputs that are not finite."""
    values = _as_finite_numpy(outputs)
    if values is None:
        return math.nan
    predicted = (values > 0).astype(y_true.dtype)
    return accuracy_score(y_true, predicted, sample_weight=sample_weight)


def outputs_r2(outputs: torch.Tensor, y_true: np.ndarray, sample_weight=None):
    """R^2 of regression outputs; NaN for outputs that are not finite."""
    values = _as_finite_numpy(outputs)
    if values is None:
        return math.nan
    return r2_score(y_true, values, sample_weight=sample_weight)
