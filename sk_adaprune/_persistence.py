"""Numpy archives of fitted estimators: no pickle, no code.

This module only writes and reads archives and checks their container: the
zip, each member's ``.npy`` header, and the JSON texts. What an estimator's
state holds, and which declared shapes it allows, is :mod:`._fitted`'s
business; which class to rebuild is :func:`sk_adaprune.load`'s.

An archive is read as a file from someone else: a member is decompressed
only once the state's schema has checked its declared dtype and shape
(:meth:`ArchiveState.declared`), and its bytes must be exactly what that
header declares, so no member can make :func:`read_archive` allocate more
than the schema allows.
"""

import errno
import json
import lzma
import math
import os
import secrets
import struct
import tokenize
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np

__all__ = [
    "FORMAT",
    "ArchiveError",
    "ArchiveState",
    "plain_value",
    "read_archive",
    "write_archive",
]

# The format save() writes, and those load() reads (3 stores float arrays as
# they are, 4 as byte planes).
FORMAT = "sk_adaprune/4"
READABLE = ("sk_adaprune/3", FORMAT)
# The values' key naming the arrays stored as byte planes, with their dtypes.
_PLANES = "_byte_planes"
# The members every archive has, as JSON text, and the most bytes each may
# declare: a name, the parameters, and the fitted values (loss_curve_ grows
# by about 20 bytes an epoch).
_TEXTS = {"format": 1 << 10, "kind": 1 << 10, "params": 1 << 16, "values": 1 << 26}
# The dtypes an array member may have: what save() writes (float weights and
# records, integer indices and shapes, labels and feature names).
_ARRAY_KINDS = "biufU"
# The most characters a label or feature name may have.
_MAX_STRING = 4096
_MAX_NPY_HEADER = 10_000
# What zipfile and zlib raise on a file that is not a well-formed zip.
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    struct.error,
    EOFError,
    ValueError,
    NotImplementedError,  # an unknown compression method
    RuntimeError,  # an encrypted member
    OverflowError,
    UnicodeDecodeError,
    lzma.LZMAError,
    tokenize.TokenError,  # numpy's parser of a garbled .npy header
    SyntaxError,
)


class ArchiveError(ValueError):
    """A file that is not a valid archive written by ``save``.

    Raised by :func:`sk_adaprune.load` for every defect of the file's
    contents (errors of the path itself, such as a missing file, stay
    ``OSError``); the message says what is wrong.
    """


def plain_value(value):
    """``value`` with numpy scalars as Python numbers, recursively through
    lists, tuples and dicts (what JSON and ``get_params`` users expect)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return type(value)(plain_value(v) for v in value)
    if isinstance(value, dict):
        return {k: plain_value(v) for k, v in value.items()}
    return value


def _text(value) -> np.ndarray:
    return np.frombuffer(json.dumps(value).encode(), dtype=np.uint8)


def _json_params(params: dict) -> dict:
    params = plain_value(dict(params))
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
    they barely compress.
    """
    values = np.ascontiguousarray(values)
    itemsize = values.dtype.itemsize
    as_bytes = values.reshape(-1).view(np.uint8).reshape(values.size, itemsize)
    return np.ascontiguousarray(as_bytes.T).reshape(itemsize, *values.shape)


def _planes_dtype(dtype) -> np.dtype:
    """The float dtype a member's byte planes are declared to hold."""
    try:
        dtype = np.dtype(dtype)
    except (TypeError, ValueError) as error:
        raise ArchiveError(f"{dtype!r} is not a dtype.") from error
    if dtype.kind != "f" or dtype.itemsize not in (4, 8):
        raise ArchiveError(
            f"byte planes must hold float32 or float64 values, not {dtype}."
        )
    return dtype


def _from_planes(planes: np.ndarray, dtype) -> np.ndarray:
    """The float array of ``dtype`` whose byte planes ``planes`` are (as
    :meth:`ArchiveState.declared` checked them)."""
    dtype = np.dtype(dtype)
    shape = planes.shape[1:]
    as_bytes = np.ascontiguousarray(planes.reshape(dtype.itemsize, -1).T)
    return as_bytes.view(dtype).reshape(shape)


def write_archive(path, kind: str, params: dict, state: dict) -> Path:
    """Write a compressed ``.npz`` archive: the class name ``kind``, the
    parameters, and ``state``'s arrays (object arrays as strings, float
    arrays as their byte planes, :func:`_planes`) and other values (as
    JSON). Returns the path written.

    Atomic: the archive is written to a new file beside ``path``, flushed to
    the disk, and then renamed over ``path``, so a write that fails midway
    leaves whatever ``path`` held before.
    """
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
            values[name] = plain_value(value)
    values[_PLANES] = planes
    arrays["values"] = _text(values)
    with _replaced_atomically(path) as stream:
        np.savez_compressed(stream, **arrays)
    return path


@contextmanager
def _replaced_atomically(path: Path) -> Iterator:
    """A binary stream whose contents replace ``path`` once the block ends
    without an error; the file is new, with the permissions ``open`` gives."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with open(descriptor, "wb") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _sync_directory(path.parent)


def _sync_directory(directory: Path) -> None:
    """Make the rename durable where the system allows it (POSIX)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. Windows, which cannot open directories
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


class ArchiveState(Mapping):
    """The fitted state in an open archive: the JSON values as they are, the
    arrays read only when asked for.

    :meth:`declared` gives an array's dtype and shape from its header (for
    byte planes, the float array they hold) without reading its data; the
    schema checks them first, then ``state[name]`` decompresses exactly the
    declared bytes.
    """

    def __init__(self, archive: "_Archive", values: dict, planes: dict):
        self._archive = archive
        self._values = values
        self._planes = planes
        self._arrays = {name for name in archive.members if name not in _TEXTS}
        both = sorted(self._arrays & set(values))
        if both:
            raise ArchiveError(f"it holds {both} both as values and as arrays.")

    def __iter__(self):
        yield from self._values
        yield from sorted(self._arrays)

    def __len__(self):
        return len(self._values) + len(self._arrays)

    def __contains__(self, name):
        return name in self._values or name in self._arrays

    def is_array(self, name: str) -> bool:
        return name in self._arrays

    def declared(self, name: str) -> tuple[np.dtype, tuple[int, ...]]:
        """The dtype and shape array ``name`` declares."""
        if name not in self._arrays:
            raise ArchiveError(f"{name} should be an array.")
        dtype, shape = self._archive.headers[name]
        if name in self._planes:
            planes_dtype = _planes_dtype(self._planes[name])
            if dtype != np.uint8 or len(shape) < 1:
                raise ArchiveError(f"{name} must be uint8 byte planes.")
            if shape[0] != planes_dtype.itemsize:
                raise ArchiveError(
                    f"{shape[0]} byte planes cannot hold {planes_dtype.name} values."
                )
            return planes_dtype, shape[1:]
        return dtype, shape

    def __getitem__(self, name):
        if name in self._values:
            return self._values[name]
        if name not in self._arrays:
            raise KeyError(name)
        values = self._archive.array(name)
        if name in self._planes:
            return _from_planes(values, self._planes[name])
        return values


class _Archive:
    """An open zip of ``.npy`` members, each read only on request."""

    def __init__(self, zip_file: zipfile.ZipFile):
        self._zip = zip_file
        self.members = {}
        for info in zip_file.infolist():
            name = info.filename
            if not name.endswith(".npy") or "/" in name or name[:-4] in self.members:
                raise ArchiveError(
                    f"it holds a member {name!r} that save() does not write."
                )
            self.members[name[:-4]] = info
        # Every header read (and checked) up front: a few bytes of each member.
        self.headers = {}
        for name in self.members:
            stream, dtype, shape = self._open(name)
            stream.close()
            self.headers[name] = dtype, shape

    def _open(self, name):
        """The member's stream after its header, with its dtype and shape."""
        with _zip_errors():
            return self._open_unchecked(name)

    def _open_unchecked(self, name):
        stream = self._zip.open(self.members[name])
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            header = np.lib.format.read_array_header_1_0
        elif version == (2, 0):
            header = np.lib.format.read_array_header_2_0
        else:
            raise ArchiveError(f"{name} has .npy version {version}.")
        shape, fortran_order, dtype = header(stream, max_header_size=_MAX_NPY_HEADER)
        if dtype.hasobject:
            raise ArchiveError(
                f"{name} holds pickled Python objects; load() refuses to run code "
                "from a file."
            )
        if dtype.kind not in _ARRAY_KINDS or dtype.subdtype is not None:
            raise ArchiveError(f"{name} has dtype {dtype}, which save() never writes.")
        if fortran_order:
            raise ArchiveError(
                f"{name} is in Fortran order, which save() never writes."
            )
        if dtype.kind == "U" and dtype.itemsize > 4 * _MAX_STRING:
            raise ArchiveError(
                f"{name} holds strings of up to {dtype.itemsize // 4} characters; "
                f"labels and feature names may have {_MAX_STRING}."
            )
        data_bytes = dtype.itemsize * math.prod(shape)
        if self.members[name].file_size != stream.tell() + data_bytes:
            raise ArchiveError(
                f"{name} declares {data_bytes} bytes of data but holds "
                f"{self.members[name].file_size - stream.tell()}."
            )
        return stream, dtype, shape

    def array(self, name) -> np.ndarray:
        stream, dtype, shape = self._open(name)
        with stream, _zip_errors():
            data = stream.read(dtype.itemsize * math.prod(shape))
            stream.read(1)  # to the end: zipfile checks the member's CRC there
        return np.frombuffer(data, dtype=dtype).reshape(shape).copy()

    def text(self, name):
        """The JSON value of text member ``name``, at most ``_TEXTS[name]``
        bytes long."""
        if name not in self.members:
            raise ArchiveError(f"it has no {name!r} member.")
        if self.members[name].file_size > _TEXTS[name] + _MAX_NPY_HEADER:
            raise ArchiveError(
                f"its {name!r} member declares {self.members[name].file_size} "
                f"bytes; save() writes at most {_TEXTS[name]}."
            )
        dtype, shape = self.headers[name]
        if dtype != np.uint8 or len(shape) != 1:
            raise ArchiveError(f"its {name!r} member is not text.")
        try:
            return json.loads(self.array(name).tobytes().decode())
        except (ValueError, RecursionError) as error:
            raise ArchiveError(f"its {name!r} member is not valid JSON.") from error


def _unexpected_type(name, value, expected) -> ArchiveError:
    return ArchiveError(
        f"its {name!r} member is {type(value).__name__} {value!r:.80}, not {expected}."
    )


@contextmanager
def _zip_errors() -> Iterator[None]:
    """What zipfile, zlib and numpy's header parser raise on a malformed
    file, as :class:`ArchiveError`."""
    try:
        yield
    except ArchiveError:
        raise
    except _ZIP_ERRORS as error:
        raise ArchiveError(f"{type(error).__name__}: {error}") from error
    except OSError as error:
        # A seek to a crafted offset (EINVAL), or bz2's verdict on its data
        # (no errno); a failing disk keeps its OSError.
        if error.errno not in (None, errno.EINVAL):
            raise
        raise ArchiveError(f"{error}") from error


@contextmanager
def read_archive(path) -> Iterator[tuple[str, dict, ArchiveState]]:
    """``(kind, params, state)`` of the archive at ``path``, open while the
    block runs: ``state`` (an :class:`ArchiveState`) reads arrays on request.

    The texts are parsed with :mod:`json` and the arrays from their ``.npy``
    headers, never with pickle. Every defect of the file, inside the block
    too, raises :class:`ArchiveError` naming ``path``; an error of the path
    itself (missing, a directory, not readable) stays an ``OSError``.
    """
    path = Path(path)
    with open(path, "rb") as stream:
        try:
            with _zip_errors():
                try:
                    zip_file = zipfile.ZipFile(stream)
                except zipfile.BadZipFile as error:
                    raise ArchiveError(_not_a_zip(stream)) from error
            with zip_file:
                yield _opened(_Archive(zip_file))
        except ValueError as error:  # ArchiveError, or the schema's verdict
            raise ArchiveError(_invalid(path, error)) from error


def _opened(archive: _Archive) -> tuple[str, dict, ArchiveState]:
    written = archive.text("format")
    if written not in READABLE:
        raise ArchiveError(
            f"it was written in format {written!r:.80}; this version of sk_adaprune "
            f"reads {FORMAT!r} (and {READABLE[0]!r}). Load it with the version "
            "that saved it, or refit"
        )
    kind, params, values = (
        archive.text("kind"),
        archive.text("params"),
        archive.text("values"),
    )
    if not isinstance(kind, str):
        raise _unexpected_type("kind", kind, "a class name")
    for name, value in (("params", params), ("values", values)):
        if not isinstance(value, dict):
            raise _unexpected_type(name, value, "a JSON object")
    planes = values.pop(_PLANES, {}) if written == FORMAT else {}
    if not isinstance(planes, dict) or not set(planes) <= set(archive.members):
        raise ArchiveError(f"its {_PLANES!r} names arrays it does not hold.")
    for name, value in params.items():
        if isinstance(value, list):  # JSON has no tuples: the parameters' type
            params[name] = tuple(value)
    return kind, params, ArchiveState(archive, values, planes)


def _not_a_zip(stream) -> str:
    stream.seek(0)
    start = stream.read(2)
    if start[:1] == b"\x80" or start == b"(d":  # pickle's protocol opcode or dict
        return (
            "it holds pickled Python objects; load() refuses to run code from a "
            "file (unpickle it yourself only if you trust it)"
        )
    if not start:
        return "it is empty"
    return "it is not a zip file (truncated, or not written by save())"


def _invalid(path, reason) -> str:
    reason = f"{reason}".rstrip(".")
    return f"{path} is not a valid archive written by sk_adaprune's save(): {reason}."
