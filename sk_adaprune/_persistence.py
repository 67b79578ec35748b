"""Numpy archives of fitted estimators: no pickle, no code.

This module only writes and reads archives and checks their format; what an
estimator's state holds is :mod:`._fitted`'s business, and which class to
rebuild is :func:`sk_adaprune.load`'s.
"""

import json
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["FORMAT", "read_archive", "write_archive"]

# 2: one schema with pickles (values as JSON); 3: loss_curve_ is MLPClassifier's
# loss, loss_ and the weights' dtype are recorded; 4: float arrays are stored
# as byte planes (_planes). Archives of format 3 are read as well.
FORMAT = "sk_adaprune/4"
READABLE = ("sk_adaprune/3", FORMAT)
# The values' key naming the arrays stored as byte planes, with their dtypes.
_PLANES = "_byte_planes"


def _text(value) -> np.ndarray:
    return np.frombuffer(json.dumps(value).encode(), dtype=np.uint8)


def _json_params(params: dict) -> dict:
    params = dict(params)
    hidden = params["hidden_layer_sizes"]
    params["hidden_layer_sizes"] = (
        [int(s) for s in hidden] if hasattr(hidden, "__iter__") else int(hidden)
    )
    if not isinstance(params["random_state"], (int, type(None))):
        params["random_state"] = None  # a RandomState instance has no JSON form
    return params


def _plain_array(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values)
    if values.dtype == object:  # e.g. strings held as objects: no pickle
        values = values.astype(str)
    return values


def _planes(values: np.ndarray) -> np.ndarray:
    """The bytes of a float array by significance: ``planes[b]`` holds byte
    ``b`` of every value, shape ``(itemsize, *values.shape)``.

    Lossless, and what deflate compresses better: the bytes that hold the
    sign and exponent of trained weights take few distinct values, and
    together they compress to a fraction; interleaved with the mantissa's
    they barely compress (the file of a pruned Fashion-MNIST network,
    benchmarks/inference.py, 7% smaller).
    """
    values = np.ascontiguousarray(values)
    itemsize = values.dtype.itemsize
    as_bytes = values.reshape(-1).view(np.uint8).reshape(values.size, itemsize)
    return np.ascontiguousarray(as_bytes.T).reshape(itemsize, *values.shape)


def _from_planes(planes: np.ndarray, dtype: str) -> np.ndarray:
    """The float array of ``dtype`` whose byte planes ``planes`` are."""
    try:
        dtype = np.dtype(dtype)
    except TypeError as error:
        raise ValueError(f"{dtype!r} is not a dtype.") from error
    if dtype.kind != "f" or planes.dtype != np.uint8 or planes.ndim < 1:
        raise ValueError("Byte planes must be uint8 planes of a float dtype.")
    if planes.shape[0] != dtype.itemsize:
        raise ValueError(
            f"{planes.shape[0]} byte planes cannot hold {dtype.name} values."
        )
    shape = planes.shape[1:]
    size = planes[0].size
    as_bytes = np.ascontiguousarray(planes.reshape(dtype.itemsize, size).T)
    return as_bytes.view(dtype).reshape(shape)


def write_archive(path, kind: str, params: dict, state: dict) -> Path:
    """Write a compressed ``.npz`` archive: the class name ``kind``, the
    parameters, and ``state``'s arrays (object arrays as strings, float
    arrays as their byte planes, :func:`_planes`) and other values (as
    JSON). Returns the path written."""
    path = Path(path)
    arrays = {
        "format": _text(FORMAT),
        "kind": _text(kind),
        "params": _text(_json_params(params)),
    }
    values, planes = {}, {}
    for name, value in state.items():
        if isinstance(value, np.ndarray):
            value = _plain_array(value)
            if value.dtype.kind == "f" and value.ndim:
                planes[name] = value.dtype.str
                value = _planes(value)
            arrays[name] = value
        else:
            values[name] = value
    values[_PLANES] = planes
    arrays["values"] = _text(values)
    with path.open("wb") as stream:
        np.savez_compressed(stream, **arrays)
    return path


def read_archive(path) -> tuple[str, dict, dict]:
    """``(kind, params, state)`` from an archive :func:`write_archive` wrote.

    The archive is opened with ``numpy.load(allow_pickle=False)``: a file
    that carries pickled Python objects is refused with a ``ValueError``, as
    is any file that is not such an archive.
    """
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
        return json.loads(arrays.pop(name).tobytes().decode())

    if "format" not in arrays:
        raise ValueError(f"{path} is not an archive written by save() ({FORMAT}).")
    written = text("format")
    if written not in READABLE:
        raise ValueError(
            f"{path} was written in format {written!r}; this version of sk_adaprune "
            f"reads {FORMAT!r} (and {READABLE[0]!r}). Load it with the version "
            "that saved it, or refit."
        )
    kind, params, values = text("kind"), text("params"), text("values")
    for name, dtype in values.pop(_PLANES, {}).items():
        if name not in arrays:
            raise ValueError(f"{path} is not an archive written by save().")
        arrays[name] = _from_planes(arrays[name], dtype)
    for name, value in params.items():
        if isinstance(value, list):  # JSON has no tuples: the parameters' type
            params[name] = tuple(value)
    return kind, params, {**arrays, **values}


def _refused(path) -> ValueError:
    return ValueError(
        f"{path} holds pickled Python objects; load() refuses to run code from a "
        "file. Only archives written by save() can be loaded."
    )
