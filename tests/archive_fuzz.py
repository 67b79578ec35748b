"""Mutated archives loaded in child processes: what ``load`` does with a file
from someone else.

:func:`mutate` turns a valid archive into a defective one, case ``i`` of
seed ``seed`` always the same: raw bit flips, truncations and splices,
members dropped, doubled, renamed or added (a large one too), ``.npy``
headers that declare other dtypes and shapes, arrays whose values are edited
(indices shifted past the width, row pointers out of order, NaN weights),
and JSON texts with values of the wrong type or range.

:func:`fuzz` loads the cases in a child process under a memory cap, each
load timed out by an alarm, and restarts the child after a crash; it returns
the outcome of every case: ``"loaded"`` (``load`` returned and the model
predicted), ``"refused"`` (an ``ArchiveError``), anything else is a failure
(another exception, a crash, a timeout). Run as a script, this module is the
child.
"""

import io
import json
import os
import resource
import signal
import subprocess
import sys
import zipfile

import numpy as np

_JUNK_VALUES = [
    None,
    True,
    -3,
    0,
    1,
    2,
    7,
    10**30,
    1e308,
    -1e308,
    float("nan"),
    float("inf"),
    0.5,
    "evil",
    "",
    [],
    [-3],
    [1, 2, 3],
    [[1, 2]],
    {},
    {"a": 1},
    "float16",
    "int8",
    "complex128",
    "<f8",
    "|O",
    "multilabel-indicator",
    "binary",
    "multiclass",
    "softmax",
    "logistic",
    "identity",
    "AdaptivePrunedMLPRegressor",
    "AdaptivePrunedMLPClassifier",
]
_DTYPES = ["|O", "<i1", "<i8", "<u2", "<f2", "<f4", "<f8", ">f8", "<c16", "|b1"]
_DTYPES += ["<U100000", "<U3", "|V8", "<M8[s]", "|S4"]


def _members(data: bytes) -> dict:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _zipped(members) -> bytes:
    """``members`` (a dict, or a list of pairs to allow doubles) as a zip."""
    stream = io.BytesIO()
    pairs = members.items() if isinstance(members, dict) else members
    with zipfile.ZipFile(stream, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in pairs:
            archive.writestr(name, content)
    return stream.getvalue()


def _npy(array) -> bytes:
    stream = io.BytesIO()
    np.save(stream, array, allow_pickle=False)
    return stream.getvalue()


def _npy_header(dtype, shape, fortran=False) -> bytes:
    header = {"descr": dtype, "fortran_order": fortran, "shape": tuple(shape)}
    text = repr(header).encode("latin1")
    text += b" " * (-(len(text) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text


def _split_npy(content: bytes):
    stream = io.BytesIO(content)
    np.lib.format.read_magic(stream)
    shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
    return shape, fortran, dtype, content[stream.tell() :]


def _junk(rng):
    return _JUNK_VALUES[rng.integers(len(_JUNK_VALUES))]


def _edit_json(value, rng):
    """``value`` (the JSON of a text member) with one entry edited."""
    if isinstance(value, dict) and value and rng.random() < 0.9:
        key = list(value)[rng.integers(len(value))]
        choice = rng.integers(4)
        if choice == 0:
            del value[key]
        elif choice == 1 and isinstance(value[key], (dict, list)) and value[key]:
            value[key] = _edit_json(value[key], rng)
        else:
            value[key] = _junk(rng)
        if rng.random() < 0.1:
            value[f"extra{rng.integers(3)}"] = _junk(rng)
        return value
    if isinstance(value, list) and value:
        value[rng.integers(len(value))] = _junk(rng)
        return value
    return _junk(rng)


def _edit_array(array, rng):
    """``array`` with its values, length or dtype edited."""
    array = np.array(array)
    flat = array.reshape(-1)
    choice = rng.integers(7)
    if array.dtype.kind in "bU" and choice in (0, 1, 2, 5):  # labels, names
        if flat.size:
            flat[rng.integers(flat.size)] = flat[rng.integers(flat.size)]
        target = rng.choice([array.dtype.str, "<U1", "<i8", "|b1"])
        try:
            return array.astype(target)
        except (TypeError, ValueError):  # names that are no numbers
            return array.astype("<U1")
    if choice == 0 and flat.size:  # one value shifted, e.g. past the width
        flat[rng.integers(flat.size)] += rng.choice([1, 16, 1000, 5000, -1])
    elif choice == 1 and flat.size:  # all shifted
        flat += np.asarray(rng.choice([1, 16, 4096]), dtype=flat.dtype)
    elif choice == 2 and flat.size:  # a value set to an extreme
        extremes = [0, 1, -1, np.iinfo(np.int32).max, np.nan, np.inf, 1e30]
        try:
            flat[rng.integers(flat.size)] = rng.choice(extremes)
        except (ValueError, OverflowError):
            flat[rng.integers(flat.size)] = 0
    elif choice == 3:  # reordered
        array = array[::-1].copy()
    elif choice == 4:  # shorter or longer
        array = (
            array[: rng.integers(max(len(array), 1))]
            if array.ndim and rng.random() < 0.5
            else np.concatenate([array.reshape(-1), array.reshape(-1)[:3]])
        )
    elif choice == 5:  # cast
        target = rng.choice(["<i1", "<f2", "<f4", "<f8", "<c16", "<i8", "<u4"])
        try:
            array = array.astype(target)
        except (TypeError, ValueError):
            array = array.astype("<f8") if array.dtype.kind != "U" else array
    else:  # reshaped
        array = array.reshape(-1, 1) if array.ndim == 1 else array.reshape(-1)
    return array


def mutate(data: bytes, seed: int, i: int) -> tuple[str, bytes]:
    """Case ``i`` of ``seed``: a description and the bytes of a mutation of
    the valid archive ``data``."""
    rng = np.random.default_rng([seed, i])
    kind = rng.integers(10)
    if kind == 0:  # bit flips anywhere
        raw = bytearray(data)
        for _ in range(rng.integers(1, 9)):
            raw[rng.integers(len(raw))] ^= 1 << rng.integers(8)
        return "bit flips", bytes(raw)
    if kind == 1:  # truncated, or a span overwritten
        if rng.random() < 0.5:
            return "truncated", data[: rng.integers(len(data))]
        raw = bytearray(data)
        start = rng.integers(len(raw))
        span = rng.integers(1, 64)
        raw[start : start + span] = rng.bytes(span)[: len(raw) - start]
        return "splice", bytes(raw)
    members = _members(data)
    names = list(members)
    name = names[rng.integers(len(names))]
    if kind == 2:  # a member dropped, doubled or renamed
        choice = rng.integers(3)
        if choice == 0:
            del members[name]
            return f"drop {name}", _zipped(members)
        if choice == 1:
            return f"double {name}", _zipped([*members.items(), (name, members[name])])
        other = rng.choice([*names, "junk.npy", "dir/x.npy", "x.txt"])
        content = members.pop(name)
        members[str(other)] = content
        return f"rename {name} {other}", _zipped(members)
    if kind == 3:  # an extra member, small or large
        if rng.random() < 0.2:
            content = _npy_header("|u1", (8 << 20,)) + bytes(8 << 20)
        else:
            content = _npy(rng.normal(size=rng.integers(1, 50)))
        members[f"extra{rng.integers(3)}.npy"] = content
        return "extra member", _zipped(members)
    if kind == 4:  # the header declares another dtype or shape
        shape, fortran, dtype, body = _split_npy(members[name])
        choice = rng.integers(3)
        if choice == 0:
            dtype = str(rng.choice(_DTYPES))
        elif choice == 1:
            shape = tuple(
                int(rng.choice([0, 1, 3, 16, 10**6, 10**12, s])) for s in shape
            ) or (int(rng.choice([0, 10**12])),)
        else:
            fortran = True
        try:
            header = _npy_header(
                dtype if isinstance(dtype, str) else dtype.str, shape, fortran
            )
        except (TypeError, ValueError):
            header = members[name][:64]
        members[name] = header + body
        return f"header {name}", _zipped(members)
    if kind in (5, 6, 7):  # JSON texts
        text = str(rng.choice(["values", "values", "params", "kind", "format"]))
        value = json.loads(np.load(io.BytesIO(members[f"{text}.npy"])).tobytes())
        if rng.random() < 0.05:
            encoded = rng.choice([b"[" * 5000, b"{not json", b"\xff\xfe", b'"x"'])
        else:
            encoded = json.dumps(_edit_json(value, rng)).encode()
        members[f"{text}.npy"] = _npy(np.frombuffer(encoded, dtype=np.uint8))
        return f"json {text}", _zipped(members)
    # Array values edited: the weights' structure most often.
    arrays = [
        n
        for n in names
        if n.split(".")[0] not in ("values", "params", "kind", "format")
    ]
    structure = [n for n in arrays if "indices" in n or "indptr" in n or "shape" in n]
    name = str(rng.choice(structure if structure and rng.random() < 0.6 else arrays))
    array = np.load(io.BytesIO(members[name]), allow_pickle=False)
    members[name] = _npy(_edit_array(array, rng))
    return f"values {name}", _zipped(members)


def _child(base_paths, seed, start, stop, max_weights, memory_cap, abort_at, mutated):
    """Load cases ``start`` to ``stop`` of every base archive; print
    ``start i`` before and ``done i outcome`` after each."""
    import tempfile
    import warnings

    from sk_adaprune import ArchiveError, load

    warnings.simplefilter("ignore")
    bases = [open(path, "rb").read() for path in base_paths]
    _, unlimited = resource.getrlimit(resource.RLIMIT_AS)
    path = os.path.join(tempfile.mkdtemp(), "case.npz")
    for i in range(start, stop):
        base = bases[i % len(bases)]
        data = mutate(base, seed, i)[1] if mutated else base
        with open(path, "wb") as stream:
            stream.write(data)
        print(f"start {i}", flush=True)
        if i == abort_at:  # the check that a crash is caught
            os.abort()
        signal.alarm(20)
        # The cap holds while the case loads and predicts, not while the
        # fuzzer makes the next one.
        resource.setrlimit(resource.RLIMIT_AS, (memory_cap, unlimited))
        try:
            model = load(path, max_weights=max_weights)
            X = np.random.default_rng(i).normal(size=(7, model.n_features_in_))
            predicted = model.predict(X)
            assert len(predicted) == 7, predicted.shape
            if hasattr(model, "predict_proba"):
                assert model.predict_proba(X).shape[0] == 7
            outcome = "loaded"
        except ArchiveError:
            outcome = "refused"
        except BaseException as error:  # noqa: BLE001 (every other outcome fails)
            outcome = f"{type(error).__name__}: {error}"[:300].replace("\n", " ")
        resource.setrlimit(resource.RLIMIT_AS, (unlimited, unlimited))
        signal.alarm(0)
        print(f"done {i} {outcome}", flush=True)


def fuzz(
    base_paths,
    seed,
    count,
    max_weights=1_000_000,
    memory_headroom=1 << 30,
    abort_at=None,
    mutated=True,
):
    """Outcomes of cases ``0 .. count - 1`` (a dict), loaded in a child
    process whose address space may grow by ``memory_headroom`` past what
    the imports take; a crashed child is restarted at the next case (case
    ``abort_at`` aborts the child, and ``mutated=False`` loads the base
    archives as they are, to show what the harness catches)."""
    outcomes, start = {}, 0
    while start < count:
        arguments = [[str(p) for p in base_paths], seed, start, count]
        arguments += [max_weights, memory_headroom, abort_at, mutated]
        child = subprocess.Popen(
            [sys.executable, __file__, json.dumps(arguments)],
            stdout=subprocess.PIPE,
            text=True,
        )
        current = None
        for line in child.stdout:
            word, i, *rest = line.rstrip("\n").split(" ", 2)
            current = int(i)
            if word == "done":
                outcomes[current] = rest[0] if rest else ""
        child.wait()
        if current is None:
            raise RuntimeError(
                f"the child process failed to start ({child.returncode})"
            )
        if current not in outcomes:
            outcomes[current] = f"crash (exit {child.returncode})"
        start = current + 1
    return outcomes


def _vm_size() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


if __name__ == "__main__":
    paths, seed, start, stop, max_weights, headroom, abort_at, mutated = json.loads(
        sys.argv[1]
    )
    import sk_adaprune  # noqa: F401 (the imports' address space before the cap)

    cap = _vm_size() + headroom
    _child(paths, seed, start, stop, max_weights, cap, abort_at, mutated)
