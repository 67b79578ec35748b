"""Saving and loading fitted estimators as numpy archives: no pickle, no code."""

import json
import zipfile
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.validation import check_is_fitted

__all__ = ["load", "save"]

FORMAT = "sk_adaprune/1"
_SCALARS = (
    "n_features_in_",
    "n_iter_",
    "n_layers_",
    "n_outputs_",
    "out_activation_",
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


def _text(value) -> np.ndarray:
    return np.frombuffer(json.dumps(value).encode(), dtype=np.uint8)


def _json_params(estimator) -> dict:
    params = estimator.get_params()
    hidden = params["hidden_layer_sizes"]
    params["hidden_layer_sizes"] = (
        [int(s) for s in hidden] if hasattr(hidden, "__iter__") else int(hidden)
    )
    if not isinstance(params["random_state"], (int, type(None))):
        params["random_state"] = None  # a RandomState instance has no JSON form
    return params


def _index_dtype(size: int):
    return np.uint16 if size <= np.iinfo(np.uint16).max else np.uint32


def save(estimator, path) -> Path:
    """Write a fitted estimator to ``path`` (a compressed ``.npz`` archive).

    Only the non-zero weights are stored: each layer as CSR with float32
    values and the narrowest unsigned index type, plus the intercepts, the
    parameters and the fitted attributes. The training state (``net_``) is
    not saved. Returns the path written.
    """
    check_is_fitted(estimator)
    path = Path(path)
    arrays = {
        "format": _text(FORMAT),
        "kind": _text(type(estimator).__name__),
        "params": _text(_json_params(estimator)),
        "scalars": _text({name: getattr(estimator, name) for name in _SCALARS}),
    }
    for i, coef in enumerate(estimator.coefs_):
        csr = sparse.csr_matrix(coef.astype(np.float32))
        arrays[f"coef{i}_data"] = csr.data
        arrays[f"coef{i}_indices"] = csr.indices.astype(_index_dtype(coef.shape[1]))
        arrays[f"coef{i}_indptr"] = csr.indptr.astype(_index_dtype(csr.nnz))
        arrays[f"coef{i}_shape"] = np.array(coef.shape, dtype=np.int64)
        arrays[f"intercept{i}"] = estimator.intercepts_[i].astype(np.float32)
    for key, values in estimator.pruning_history_.items():
        arrays[f"history_{key}"] = values
    arrays["layer_sparsity"] = estimator.layer_sparsity_
    if hasattr(estimator, "feature_names_in_"):
        arrays["feature_names"] = estimator.feature_names_in_.astype(str)
    if hasattr(estimator, "classes_"):
        arrays["classes"] = _plain_array(estimator.classes_)
        arrays["label_type"] = _text(estimator._label_binarizer.y_type_)
    with path.open("wb") as stream:
        np.savez_compressed(stream, **arrays)
    return path


def _plain_array(classes) -> np.ndarray:
    classes = np.asarray(classes)
    if classes.dtype == object:  # e.g. strings held as objects
        classes = classes.astype(str)
    return classes


def load(path):
    """Read an estimator written by :func:`save`; never runs code from the file.

    The archive is opened with ``numpy.load(allow_pickle=False)``, so a file
    that carries pickled Python objects is refused with a ``ValueError``.
    The loaded estimator predicts, scores and exports like the saved one;
    its ``net_`` is None.
    """
    from ._classifier import AdaptivePrunedMLPClassifier
    from ._regressor import AdaptivePrunedMLPRegressor

    kinds = {
        "AdaptivePrunedMLPClassifier": AdaptivePrunedMLPClassifier,
        "AdaptivePrunedMLPRegressor": AdaptivePrunedMLPRegressor,
    }
    path = Path(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except ValueError as error:
        raise _refused(path) from error
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{path} is not an archive written by save().")
    with archive:
        try:
            arrays = {name: archive[name] for name in archive.files}
        except ValueError as error:  # an object array inside the archive
            raise _refused(path) from error
        except zipfile.BadZipFile as error:
            raise ValueError(f"{path} is not an archive written by save().") from error

    def text(name):
        return json.loads(arrays[name].tobytes().decode())

    if "format" not in arrays or text("format") != FORMAT:
        raise ValueError(f"{path} is not an archive written by save() ({FORMAT}).")
    params = text("params")
    if isinstance(params["hidden_layer_sizes"], list):
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    estimator = kinds[text("kind")](**params)
    for name, value in text("scalars").items():
        setattr(estimator, name, value)
    n_layers = estimator.n_layers_ - 1
    estimator.coefs_ = [
        sparse.csr_matrix(
            (
                arrays[f"coef{i}_data"],
                arrays[f"coef{i}_indices"],
                arrays[f"coef{i}_indptr"],
            ),
            shape=tuple(arrays[f"coef{i}_shape"]),
        )
        .toarray()
        .astype(np.float64)
        for i in range(n_layers)
    ]
    estimator.intercepts_ = [
        arrays[f"intercept{i}"].astype(np.float64) for i in range(n_layers)
    ]
    estimator.pruning_history_ = {
        name[len("history_") :]: values
        for name, values in arrays.items()
        if name.startswith("history_")
    }
    estimator.layer_sparsity_ = arrays["layer_sparsity"]
    if "feature_names" in arrays:
        estimator.feature_names_in_ = arrays["feature_names"].astype(object)
    if "classes" in arrays:
        estimator._label_binarizer = _label_binarizer(
            arrays["classes"], text("label_type")
        )
        estimator.classes_ = estimator._label_binarizer.classes_
    estimator.net_ = None
    estimator._compact()
    return estimator


def _refused(path) -> ValueError:
    return ValueError(
        f"{path} holds pickled Python objects; load() refuses to run code from a "
        "file. Only archives written by save() can be loaded."
    )


def _label_binarizer(classes, label_type) -> LabelBinarizer:
    if label_type == "multilabel-indicator":
        # Any indicator matrix with every label fits the same binarizer.
        return LabelBinarizer().fit(np.eye(len(classes), dtype=int)[:, classes])
    return LabelBinarizer().fit(classes)
