"""A fitted estimator's state: the snapshot a warm start continues from,
and one schema of plain arrays and JSON values for pickles and archives.

``warm_start=True`` continues the fitted network as MLPClassifier's does: the
weights and biases go on from the fitted ones (and here ``r`` and ``tau``
too), ``loss_curve_`` and ``validation_scores_`` go on growing, ``n_iter_``
counts the epochs of the call, and Adam starts afresh. The fitted values
come from the fitted attributes, not from the skorch net, so a loaded model
continues as well as the one that was fitted.

:func:`fitted_state` and :func:`restore_fitted_state` are the one pair that
pickles (``__getstate__`` / ``__setstate__``), :meth:`save` and :func:`load`
go through. The weights travel as CSR in the dtype they were trained in (X's
at fit), the intercepts likewise (archives of earlier versions, float32 CSR
of weights recorded as float64, come back as they were); the training state
(``net_``) and the derived prediction network (``compact_``) do not travel:
the network is rebuilt from the weights.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import torch
from scipy import sparse
from sklearn.base import is_classifier
from sklearn.preprocessing import LabelBinarizer

__all__ = [
    "FITTED_VALUES",
    "FittedNetwork",
    "continue_records",
    "fitted_state",
    "load_into",
    "restore_fitted_state",
    "trained_attributes",
]

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


_WEIGHT_DTYPES = ("float32", "float64")
_CLASSIFIER_OUTPUTS = ("softmax", "logistic")
_LABEL_TYPES = ("binary", "multiclass", "multilabel-indicator")
_HISTORY = "history_"
_KIND_NAMES = {
    "iu": "integers",
    "f": "floats",
    "UO": "strings",
    "biufUO": "labels",
}


def _narrowest_index(size: int):
    return np.uint16 if size <= np.iinfo(np.uint16).max else np.uint32


# pruning_history_'s keys and the net's history records they come from.
_HISTORY_KEYS = {
    "loss": "train_loss",
    "task_loss": "task_loss",
    "pruning_loss": "pruning_loss",
    "ratio": "ratio",
    "temperature": "temperature",
    "threshold": "threshold",
    "sparsity": "sparsity",
    "finetuning": "finetuning",
}


def trained_attributes(net, early_stopping: bool, harden: bool) -> dict:
    """The fitted attributes read off the trained ``net``: the records
    (``n_iter_``, ``loss_curve_``, ``loss_``, ``best_loss_``,
    ``validation_scores_``, ``best_validation_score_``, ``pruning_history_``),
    the hard-masked network (``coefs_``, ``intercepts_``, ``n_layers_``,
    ``threshold_``) and ``learned_ratio_``, ``temperature_``.

    ``harden``: the module's mask is hardened for good first; otherwise the
    network is the hard mask at the current ``r``, and the module stays soft.
    """
    module = net.module_
    if harden:
        threshold = float(module.harden())
        weights = module.weights
    else:
        threshold = float(module.hard_threshold())
        weights = module.hard_masked(threshold).detach()
    history = net.history
    if history and "sparsity" not in history[-1]:
        # An interrupt inside an epoch leaves its record unfinished.
        history.pop()
    # MLPClassifier's loss (task and alpha's terms); the total, which Adam
    # minimises, and the pruning term are in pruning_history_.
    loss_curve = [float(loss) for loss in history[:, "mlp_loss"]]
    records = {
        name: np.asarray(history[:, key], dtype=float)
        for name, key in _HISTORY_KEYS.items()
    }
    if early_stopping:
        validation_scores = [float(s) for s in history[:, "valid_score"]]
        # The restored state's score: with a fine-tuning phase, the best of
        # the hardened epochs (the phase's start included).
        restored = dict(net.callbacks_)["stopping"].restored_score_
        best_validation_score = math.nan if restored is None else float(restored)
        best_loss = None
        records["validation_score"] = np.asarray(validation_scores)
    else:
        validation_scores = best_validation_score = None
        best_loss = min(loss_curve)
    # In the dtype training computed in (X's), as MLPClassifier's; copies,
    # never views of the module's weights (a (n, 1) matrix's transpose is
    # already contiguous, so ascontiguousarray would not copy it).
    coefs = [
        weight.detach().numpy(force=True).T.copy(order="C")
        for weight in module.weight_matrices(weights)
    ]
    intercepts = [bias.detach().numpy(force=True).copy() for bias in module.biases]
    if module.prune == "neurons":  # the pruned units leave the matrices
        kept = [units.numpy(force=True) for units in module.kept_units(threshold)]
        coefs, intercepts = _without_units(coefs, intercepts, kept)
    return {
        "threshold_": threshold,
        "n_iter_": len(history),
        "loss_curve_": loss_curve,
        "loss_": loss_curve[-1],
        "pruning_history_": records,
        "validation_scores_": validation_scores,
        "best_validation_score_": best_validation_score,
        "best_loss_": best_loss,
        "coefs_": coefs,
        "intercepts_": intercepts,
        "n_layers_": len(coefs) + 1,
        "learned_ratio_": float(module.ratio.item()),
        "temperature_": float(module.temperature.item()),
    }


def _without_units(coefs, intercepts, kept):
    """The layers without the hidden units ``kept`` (one boolean array per
    hidden layer) leaves out: their columns, biases and outgoing rows."""
    coefs, intercepts = list(coefs), list(intercepts)
    for layer, units in enumerate(kept):
        coefs[layer] = coefs[layer][:, units].copy()
        intercepts[layer] = intercepts[layer][units].copy()
        coefs[layer + 1] = coefs[layer + 1][units].copy()
    return coefs, intercepts


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


def restore_fitted_state(estimator, state: Mapping, *, max_weights=None):
    """Set the fitted attributes of an unfitted ``estimator`` from
    :func:`fitted_state`'s mapping; returns the estimator, ready to predict
    (``net_`` is None).

    ``state`` is checked against what :func:`fitted_state` can produce
    before anything is set or allocated: every value's type and range, every
    array's declared dtype and shape (read from ``state.declared(name)``
    where ``state`` has it, before ``state[name]`` reads the array), the CSR
    structure of the weights, and the agreement of layers, labels and
    activations. At most ``max_weights`` weights (the dense matrices'
    entries) are accepted, None for no limit. Raises ``ValueError`` naming
    the first defect.
    """
    checked = _checked_state(estimator, state, max_weights)
    for name in FITTED_VALUES:
        setattr(estimator, name, checked[name])
    n_layers = estimator.n_layers_ - 1
    dtype = np.dtype(checked["weights_dtype"])
    estimator.coefs_ = [
        sparse.csr_matrix(checked[f"coef{i}"], shape=checked[f"coef{i}_shape"])
        .toarray()
        .astype(dtype)
        for i in range(n_layers)
    ]
    estimator.intercepts_ = [
        checked[f"intercept{i}"].astype(dtype) for i in range(n_layers)
    ]
    estimator.pruning_history_ = checked["history"]
    estimator.layer_sparsity_ = checked["layer_sparsity"]
    if "feature_names" in checked:
        estimator.feature_names_in_ = checked["feature_names"]
    if is_classifier(estimator):
        estimator._label_binarizer = _label_binarizer(
            checked["classes"], checked["label_type"]
        )
        estimator.classes_ = estimator._label_binarizer.classes_
    estimator.net_ = None
    estimator._compact()
    if "unit_sparsity" in checked:
        estimator.unit_sparsity_ = checked["unit_sparsity"]
    else:  # earlier versions pruned weights only: coefs_ hold every unit
        hidden = np.array([coef.shape[1] for coef in estimator.coefs_[:-1]])
        kept = np.array(estimator.compact_.layer_sizes[1:-1])
        estimator.unit_sparsity_ = 1.0 - kept / hidden
    return estimator


def _checked_state(estimator, state: Mapping, max_weights) -> dict:
    """``state``'s contents, checked (see :func:`restore_fitted_state`)."""
    classifier = is_classifier(estimator)
    required = {*FITTED_VALUES, "weights_dtype", "layer_sparsity"}
    if classifier:
        required |= {"classes", "label_type"}
    missing = sorted(required - set(state))
    if missing:
        raise ValueError(
            f"The saved state lacks {missing}: it was written by another version "
            "of sk_adaprune. Load it with that version, or refit."
        )
    read = _Reader(state)
    checked = dict(
        weights_dtype=read.choice("weights_dtype", _WEIGHT_DTYPES),
        n_features_in_=read.integer("n_features_in_", low=1),
        n_iter_=read.integer("n_iter_", low=0),
        n_layers_=read.integer("n_layers_", low=3),
        n_outputs_=read.integer("n_outputs_", low=1),
        out_activation_=read.choice(
            "out_activation_", _CLASSIFIER_OUTPUTS if classifier else ("identity",)
        ),
        loss_curve_=read.reals("loss_curve_"),
        validation_scores_=read.reals("validation_scores_", optional=True),
        learned_sparsity_=read.real("learned_sparsity_", low=0.0, high=1.0),
    )
    for name in ("learned_ratio_", "initial_ratio_", "temperature_", "threshold_"):
        checked[name] = read.real(name)
    # The losses of a fit that diverged and was restored need not be finite.
    checked["loss_"] = read.real("loss_", finite=False)
    for name in ("best_loss_", "best_validation_score_"):
        checked[name] = read.real(name, optional=True, finite=False)

    n_layers = checked["n_layers_"]
    hidden = estimator._hidden_sizes()
    if len(hidden) != n_layers - 2:
        raise ValueError(
            f"n_layers_ is {n_layers} but hidden_layer_sizes={hidden} has "
            f"{len(hidden)} hidden layers."
        )
    rows, weights = checked["n_features_in_"], 0
    for i in range(n_layers - 1):
        last = i == n_layers - 2
        shape = read.array(f"coef{i}_shape", "iu", (2,))
        if shape[0] != rows:
            raise ValueError(f"coef{i}_shape {shape.tolist()} should have {rows} rows.")
        columns = int(shape[1])
        if not (
            columns == checked["n_outputs_"] if last else 1 <= columns <= hidden[i]
        ):
            raise ValueError(
                f"coef{i}_shape {shape.tolist()} does not fit hidden_layer_sizes="
                f"{hidden} and n_outputs_={checked['n_outputs_']}."
            )
        weights += rows * columns
        if max_weights is not None and weights > max_weights:
            raise ValueError(
                f"its layers hold more than {max_weights:,} weights (max_weights); "
                "pass a larger max_weights to load a network this large."
            )
        checked[f"coef{i}_shape"] = (rows, columns)
        checked[f"coef{i}"] = read.csr(f"coef{i}", rows, columns)
        checked[f"intercept{i}"] = read.array(
            f"intercept{i}", "f", (columns,), finite=True
        )
        rows = columns

    epochs = len(checked["loss_curve_"])
    history_names = [name for name in state if name.startswith(_HISTORY)]
    checked["history"] = {
        name[len(_HISTORY) :]: read.array(name, "f", (epochs,), dtype=float)
        for name in history_names
    }
    sparsity = {"layer_sparsity": n_layers - 1, "unit_sparsity": n_layers - 2}
    for name, length in sparsity.items():
        if name in state:
            checked[name] = read.array(name, "f", (length,), dtype=float, unit=True)
    if "feature_names" in state:
        names = read.array("feature_names", "UO", (checked["n_features_in_"],))
        checked["feature_names"] = names.astype(object)
    if classifier:
        checked["label_type"] = read.choice("label_type", _LABEL_TYPES)
        checked["classes"] = _checked_classes(read, checked)
    unknown = set(state) - set(checked) - set(history_names) - _csr_parts(n_layers)
    if unknown:
        raise ValueError(f"it holds entries save() does not write: {sorted(unknown)}.")
    return checked


def _csr_parts(n_layers) -> set:
    return {
        f"coef{i}_{part}"
        for i in range(n_layers - 1)
        for part in ("data", "indices", "indptr")
    }


def _checked_classes(read, checked) -> np.ndarray:
    """The classes, sorted and unique as a fitted LabelBinarizer holds them,
    in the number the label type and the output layer imply."""
    label_type, n_outputs = checked["label_type"], checked["n_outputs_"]
    classes = read.array("classes", "biufUO", (None,))
    if label_type == "multiclass":
        agree = len(classes) == n_outputs >= 3
    elif label_type == "binary":
        agree = n_outputs == 1 and len(classes) in (1, 2)
    else:
        # The binarizer of an indicator matrix: its column numbers.
        agree = (
            n_outputs == len(classes)
            and classes.dtype.kind in "iu"
            and np.array_equal(classes, np.arange(len(classes)))
        )
    softmax = checked["out_activation_"] == "softmax"
    if not agree or softmax != (label_type == "multiclass"):
        raise ValueError(
            f"{len(classes)} classes of a {label_type} target do not fit "
            f"{n_outputs} outputs with out_activation_="
            f"{checked['out_activation_']!r}."
        )
    try:
        in_order = np.array_equal(np.unique(classes), classes)
    except TypeError:  # labels of types that do not compare
        in_order = False
    if not in_order:
        raise ValueError("its classes are not sorted and unique, as fit sets them.")
    return classes


class _Reader:
    """Reads and checks the entries of a saved state: JSON values by type and
    range, arrays by declared dtype and shape before their data."""

    def __init__(self, state: Mapping):
        self.state = state

    def value(self, name):
        if getattr(self.state, "is_array", lambda name: False)(name):
            raise ValueError(f"{name} should be a value, not an array.")
        return self.state[name]

    def _invalid(self, name, value, expected) -> ValueError:
        return ValueError(f"{name} is {value!r:.80}, not {expected}.")

    def integer(self, name, low):
        value = self.value(name)
        if not isinstance(value, Integral) or isinstance(value, bool) or value < low:
            raise self._invalid(name, value, f"an integer >= {low}")
        return int(value)

    def real(self, name, low=-np.inf, high=np.inf, optional=False, finite=True):
        value = self.value(name)
        if optional and value is None:
            return None
        if (
            not isinstance(value, Real)
            or isinstance(value, bool)
            or (finite and not math.isfinite(value))
            or not low <= value <= high
        ):
            raise self._invalid(name, value, f"a number in [{low}, {high}]")
        return float(value)

    def reals(self, name, optional=False):
        values = self.value(name)
        if optional and values is None:
            return None
        if not isinstance(values, list) or not all(
            isinstance(v, Real) and not isinstance(v, bool) for v in values
        ):
            raise ValueError(f"{name} is not a list of numbers.")
        return [float(v) for v in values]

    def choice(self, name, options):
        value = self.value(name)
        if not isinstance(value, str) or value not in options:
            raise self._invalid(name, value, f"one of {sorted(options)}")
        return value

    def array(self, name, kinds, shape, dtype=None, finite=False, unit=False):
        """Array ``name`` of a dtype of ``kinds`` and ``shape`` (None: any
        length), its data read only after both are checked."""
        if name not in self.state:
            raise ValueError(f"it lacks the array {name}.")
        if hasattr(self.state, "declared"):
            declared_dtype, declared_shape = self.state.declared(name)
        else:
            value = np.asarray(self.state[name])
            declared_dtype, declared_shape = value.dtype, value.shape
        if declared_dtype.kind not in kinds or not (
            len(declared_shape) == len(shape)
            and all(s is None or s == d for s, d in zip(shape, declared_shape))
        ):
            expected = "x".join("n" if s is None else str(s) for s in shape)
            raise ValueError(
                f"{name} is {declared_dtype} of shape {declared_shape}; save() "
                f"writes it as {_KIND_NAMES[kinds]} of shape ({expected},)."
            )
        values = np.asarray(self.state[name], dtype=dtype)
        if finite and not np.isfinite(values).all():
            raise ValueError(f"{name} holds values that are not finite.")
        if unit and not ((values >= 0) & (values <= 1)).all():
            raise ValueError(f"{name} holds shares outside [0, 1].")
        return values

    def csr(self, name, rows, columns):
        """``(data, indices, indptr)`` of a canonical CSR matrix of shape
        ``(rows, columns)``: row pointers from 0 that never decrease,
        column indices within the width and increasing along each row,
        finite values."""
        indptr = self.array(f"{name}_indptr", "iu", (rows + 1,)).astype(np.int64)
        steps = np.diff(indptr)
        nnz = int(indptr[-1])
        if indptr[0] != 0 or (steps < 0).any() or nnz > rows * columns:
            raise ValueError(f"{name}_indptr is not the row pointer of a CSR matrix.")
        indices = self.array(f"{name}_indices", "iu", (nnz,)).astype(np.int64)
        starts = np.zeros(nnz, dtype=bool)
        starts[indptr[:-1][steps > 0]] = True
        if nnz and (
            indices.min() < 0
            or indices.max() >= columns
            or (np.diff(indices)[~starts[1:]] <= 0).any()
        ):
            raise ValueError(
                f"{name}_indices are not increasing column indices below {columns} "
                "in each row."
            )
        data = self.array(f"{name}_data", "f", (nnz,), finite=True)
        return data, indices, indptr


def _label_binarizer(classes, label_type) -> LabelBinarizer:
    if label_type == "multilabel-indicator":
        # Any indicator matrix with every label fits the same binarizer.
        return LabelBinarizer().fit(np.eye(len(classes), dtype=int)[:, classes])
    return LabelBinarizer().fit(classes)


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

    def check(self, hidden_sizes, at_most=False) -> None:
        """Raise if the new fit's layers differ from the fitted ones;
        ``at_most`` (neurons pruned): the fitted layers may have fewer units
        than ``hidden_sizes``."""
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
