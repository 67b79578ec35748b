"""A fitted estimator's state in one schema: plain arrays and JSON values.

:func:`fitted_state` and :func:`restore_fitted_state` are the one pair that
pickles (``__getstate__`` / ``__setstate__``), :meth:`save` and :func:`load`
go through. The weights travel as CSR in the dtype they were trained in (X's
at fit), the intercepts likewise (archives of earlier versions, float32 CSR
of weights recorded as float64, come back as they were); the training state
(``net_``) and the derived prediction network (``compact_``) do not travel:
the network is rebuilt from the weights.
"""

import numpy as np
from scipy import sparse
from sklearn.preprocessing import LabelBinarizer

__all__ = ["FITTED_VALUES", "fitted_state", "restore_fitted_state"]

# Fitted attributes held as they are (numbers, strings, lists or None).
FITTED_VALUES = (
    "n_features_in_",
    "n_iter_",
    "n_layers_",
    "n_outputs_",
    "out_activation_",
    "loss_",
    "best_loss_",
    "best_validation_score_",
    "learned_sparsity_",
    "learned_ratio_",
    "initial_ratio_",
    "temperature_",
    "threshold_",
    "loss_curve_",
    "validation_scores_",
)


def _narrowest_index(size: int):
    return np.uint16 if size <= np.iinfo(np.uint16).max else np.uint32


def fitted_state(estimator) -> dict:
    """The fitted attributes of ``estimator`` as a flat dict of arrays and
    plain values (the schema of pickles and archives)."""
    state = {name: getattr(estimator, name) for name in FITTED_VALUES}
    state["weights_dtype"] = estimator.coefs_[0].dtype.name
    for i, (coef, intercept) in enumerate(zip(estimator.coefs_, estimator.intercepts_)):
        csr = sparse.csr_matrix(coef)
        state[f"coef{i}_data"] = csr.data
        state[f"coef{i}_indices"] = csr.indices.astype(_narrowest_index(coef.shape[1]))
        state[f"coef{i}_indptr"] = csr.indptr.astype(_narrowest_index(csr.nnz))
        state[f"coef{i}_shape"] = np.array(coef.shape, dtype=np.int64)
        state[f"intercept{i}"] = intercept
    for key, values in estimator.pruning_history_.items():
        state[f"history_{key}"] = values
    state["layer_sparsity"] = estimator.layer_sparsity_
    state["unit_sparsity"] = estimator.unit_sparsity_
    if hasattr(estimator, "feature_names_in_"):
        state["feature_names"] = estimator.feature_names_in_
    if hasattr(estimator, "classes_"):
        state["classes"] = estimator.classes_
        state["label_type"] = estimator._label_binarizer.y_type_
    return state


def restore_fitted_state(estimator, state: dict):
    """Set the fitted attributes of an unfitted ``estimator`` from
    :func:`fitted_state`'s dict; returns the estimator, ready to predict
    (``net_`` is None)."""
    missing = [name for name in (*FITTED_VALUES, "weights_dtype") if name not in state]
    if missing:
        raise ValueError(
            f"The saved state lacks {missing}: it was written by another version "
            "of sk_adaprune. Load it with that version, or refit."
        )
    for name in FITTED_VALUES:
        setattr(estimator, name, state[name])
    n_layers = estimator.n_layers_ - 1
    dtype = np.dtype(state["weights_dtype"])
    estimator.coefs_ = [
        sparse.csr_matrix(
            (
                state[f"coef{i}_data"],
                state[f"coef{i}_indices"],
                state[f"coef{i}_indptr"],
            ),
            shape=tuple(state[f"coef{i}_shape"]),
        )
        .toarray()
        .astype(dtype)
        for i in range(n_layers)
    ]
    estimator.intercepts_ = [
        np.asarray(state[f"intercept{i}"], dtype=dtype) for i in range(n_layers)
    ]
    estimator.pruning_history_ = {
        name[len("history_") :]: values
        for name, values in state.items()
        if name.startswith("history_")
    }
    estimator.layer_sparsity_ = state["layer_sparsity"]
    if "feature_names" in state:
        estimator.feature_names_in_ = np.asarray(state["feature_names"], dtype=object)
    if "classes" in state:
        estimator._label_binarizer = _label_binarizer(
            state["classes"], state["label_type"]
        )
        estimator.classes_ = estimator._label_binarizer.classes_
    estimator.net_ = None
    estimator._compact()
    if "unit_sparsity" in state:
        estimator.unit_sparsity_ = np.asarray(state["unit_sparsity"])
    else:  # earlier versions pruned weights only: coefs_ hold every unit
        hidden = np.array([coef.shape[1] for coef in estimator.coefs_[:-1]])
        kept = np.array(estimator.compact_.layer_sizes[1:-1])
        estimator.unit_sparsity_ = 1.0 - kept / hidden
    return estimator


def _label_binarizer(classes, label_type) -> LabelBinarizer:
    if label_type == "multilabel-indicator":
        # Any indicator matrix with every label fits the same binarizer.
        return LabelBinarizer().fit(np.eye(len(classes), dtype=int)[:, classes])
    return LabelBinarizer().fit(classes)
