"""load() as a trust boundary: crafted archives are refused with an
ArchiveError that names the defect, never crash, never allocate what the
archive's own header does not justify, and never load a model that then
fails or predicts garbage; save() replaces files atomically."""

import io
import json
import os
import subprocess
import sys
import tracemalloc
import zipfile

import numpy as np
import pandas as pd
import pytest

from archive_fuzz import _npy_header, _zipped, fuzz, mutate
from sk_adaprune import (
    AdaptivePrunedMLPClassifier,
    AdaptivePrunedMLPRegressor,
    ArchiveError,
    _persistence,
    load,
)

# Mutations per CI run; a run at length sets SK_ADAPRUNE_FUZZ_CASES.
FUZZ_CASES = int(os.environ.get("SK_ADAPRUNE_FUZZ_CASES", 1500))
BASES = ["strings", "binary", "multilabel", "neurons", "regression"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory, digits_split):
    """Small fitted models of every target type, saved: name -> path."""
    X, _, y, _ = digits_split
    X, y = X[:300], y[:300]
    quick = dict(hidden_layer_sizes=(12, 8), max_iter=3, random_state=0)
    frame = pd.DataFrame(X, columns=[f"pixel{i}" for i in range(64)])
    words = np.array(["zero", "one", "two", "three", "four"] * 2)
    multilabel = np.column_stack([y % 2, y > 4, y == 3]).astype(int)
    models = {
        "strings": AdaptivePrunedMLPClassifier(**quick).fit(frame, words[y]),
        "binary": AdaptivePrunedMLPClassifier(**quick).fit(X, y > 4),
        "multilabel": AdaptivePrunedMLPClassifier(**quick).fit(X, multilabel),
        "neurons": AdaptivePrunedMLPClassifier(prune="neurons", **quick).fit(X, y),
        "regression": AdaptivePrunedMLPRegressor(**quick).fit(
            X.astype(np.float32), np.column_stack([y, y**2]) / 10
        ),
    }
    folder = tmp_path_factory.mktemp("saved")
    return {name: model.save(folder / f"{name}.npz") for name, model in models.items()}


def members(path) -> dict:
    """The archive's members by name (without .npy), as arrays."""
    with np.load(path) as archive:
        return dict(archive)


def rewrite(path, arrays) -> None:
    np.savez_compressed(path, **arrays)


def texts(arrays, name):
    return json.loads(arrays[name].tobytes().decode())


def with_text(arrays, name, value):
    arrays[name] = np.frombuffer(json.dumps(value).encode(), dtype=np.uint8)


def edited(path, tmp_path, edit):
    """A copy of the archive at ``path`` after ``edit(arrays)``."""
    arrays = members(path)
    edit(arrays)
    copy = tmp_path / "edited.npz"
    rewrite(copy, arrays)
    return copy


def refused(path, match, **kwargs):
    with pytest.raises(ArchiveError, match=match) as caught:
        load(path, **kwargs)
    assert str(path) in str(caught.value)
    return caught.value


def first_layer_shifted(shift):
    def edit(arrays):
        arrays["coef0_indices"] = arrays["coef0_indices"] + shift

    return edit


def test_column_indices_past_the_width_are_refused(saved, tmp_path):
    # scipy builds such a matrix without a check, and toarray() writes out of
    # bounds: the interpreter aborted. Loaded in a child, which may crash.
    paths = []
    for shift in (16, 1000, 5000):
        arrays = members(saved["binary"])
        first_layer_shifted(shift)(arrays)
        paths.append(tmp_path / f"shifted{shift}.npz")
        rewrite(paths[-1], arrays)
    script = (
        "import sys\nfrom sk_adaprune import ArchiveError, load\n"
        "for path in sys.argv[1:]:\n"
        "    try:\n        load(path)\n"
        "    except ArchiveError as error:\n        print(error)\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", script, *map(str, paths)],
        capture_output=True,
        text=True,
    )
    assert child.returncode == 0, child.stderr[-2000:]
    refusals = child.stdout.splitlines()
    assert len(refusals) == 3
    for refusal in refusals:
        assert "coef0_indices are not increasing column indices below 12" in refusal


def test_row_pointers_and_unsorted_columns_are_refused(saved, tmp_path):
    def backwards(arrays):
        arrays["coef1_indptr"] = arrays["coef1_indptr"][::-1].copy()

    refused(edited(saved["binary"], tmp_path, backwards), "coef1_indptr is not")

    def unsorted(arrays):
        indices = arrays["coef0_indices"].copy()
        indptr = arrays["coef0_indptr"]
        row = np.flatnonzero(np.diff(indptr) >= 2)[0]
        start = indptr[row]
        indices[start], indices[start + 1] = indices[start + 1], indices[start]
        arrays["coef0_indices"] = indices

    refused(edited(saved["binary"], tmp_path, unsorted), "increasing column indices")


def test_an_unknown_member_is_never_decompressed(saved, tmp_path):
    # 256 MiB of zeros in a member of about a quarter of a megabyte.
    data = saved["binary"].read_bytes()
    bomb = _npy_header("|u1", (256 << 20,)) + bytes(256 << 20)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        contents = [(i.filename, archive.read(i)) for i in archive.infolist()]
    path = tmp_path / "bomb.npz"
    path.write_bytes(_zipped([*contents, ("padding.npy", bomb)]))
    del bomb
    tracemalloc.start()
    try:
        refused(path, r"entries save\(\) does not write: \['padding'\]")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20


def test_a_header_declaring_more_than_the_member_holds_is_refused(saved, tmp_path):
    data = saved["binary"].read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        contents = {i.filename: archive.read(i) for i in archive.infolist()}
    contents["history_loss.npy"] = _npy_header("<f8", (10**12,)) + bytes(24)
    path = tmp_path / "huge.npz"
    path.write_bytes(_zipped(contents))
    refused(path, "history_loss declares 8000000000000 bytes of data but holds 24")


def test_a_network_larger_than_max_weights_is_refused_before_allocation(
    saved, tmp_path
):
    # A few kilobytes that declare a 20000 x 20000 first layer (no weights).
    def huge(arrays):
        values = texts(arrays, "values")
        values["n_features_in_"] = 20000
        with_text(arrays, "values", values)
        params = texts(arrays, "params")
        params["hidden_layer_sizes"] = [20000, 8]
        with_text(arrays, "params", params)
        arrays["coef0_shape"] = np.array([20000, 20000])
        arrays["coef0_indptr"] = np.zeros(20001, dtype=np.uint16)
        arrays["coef0_indices"] = np.zeros(0, dtype=np.uint16)
        arrays["coef0_data"] = np.zeros((4, 0), dtype=np.uint8)
        arrays["coef1_shape"] = np.array([20000, 8])
        arrays["intercept0"] = np.zeros((4, 20000), dtype=np.uint8)

    path = edited(saved["binary"], tmp_path, huge)
    assert path.stat().st_size < 20_000
    tracemalloc.start()
    try:
        refused(path, "more than 100,000,000 weights.*larger max_weights")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20
    refused(path, "more than 1,000 weights", max_weights=1000)


def test_files_that_are_no_archive_get_one_clear_error(saved, tmp_path):
    data = saved["binary"].read_bytes()
    cases = {
        "truncated.npz": (data[: len(data) // 2], "not a zip file"),
        "empty.npz": (b"", "it is empty"),
        "text.npz": (b"weights: 1, 2, 3\n", "not a zip file"),
        "random.npz": (np.random.default_rng(0).bytes(5000), "not a zip file"),
        "pickle.npz": (b"\x80\x04\x95" + bytes(20), "pickled Python objects"),
    }
    for name, (content, match) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        refused(path, match)
    with pytest.raises(IsADirectoryError):
        load(tmp_path)
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.npz")


def test_garbled_headers_and_compressed_streams_are_refused(saved, tmp_path):
    with zipfile.ZipFile(io.BytesIO(saved["binary"].read_bytes())) as archive:
        contents = {i.filename: archive.read(i) for i in archive.infolist()}
    # numpy's header parser raises tokenize's error on an unclosed bracket.
    garbled = dict(contents)
    text = b"{'descr': '<f8', 'fortran_order': False, 'shape': (3,\n"
    garbled["layer_sparsity.npy"] = (
        b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text
    )
    path = tmp_path / "garbled.npz"
    path.write_bytes(_zipped(garbled))
    refused(path, "layer_sparsity|TokenError")
    # bz2 raises an OSError without an errno on data it cannot decompress.
    stream = io.BytesIO()
    with zipfile.ZipFile(stream, "w", zipfile.ZIP_BZIP2) as archive:
        for name, content in contents.items():
            archive.writestr(name, content)
    data = bytearray(stream.getvalue())
    offset = data.index(b"BZh") + 10  # inside the first member's stream
    data[offset : offset + 8] = bytes(8)
    path.write_bytes(bytes(data))
    refused(path, "Invalid data stream|Error")


@pytest.mark.parametrize(
    "model, text, key, value, match",
    [
        ("binary", "values", "out_activation_", "evil", "out_activation_ is 'evil'"),
        ("binary", "values", "weights_dtype", "int8", "weights_dtype is 'int8'"),
        ("binary", "values", "label_type", "multilabel-indicator", "2 classes of a"),
        ("multilabel", "values", "label_type", "binary", "3 classes of a binary"),
        ("binary", "values", "n_layers_", "3", "n_layers_ is '3'"),
        ("binary", "values", "loss_curve_", {}, "loss_curve_ is not a list"),
        ("binary", "values", "learned_sparsity_", 1.5, r"learned_sparsity_ is 1.5"),
        ("binary", "values", "extra", 1, r"does not write: \['extra'\]"),
        ("binary", "params", "hidden_layer_sizes", [-3], "hidden_layer_sizes"),
        ("binary", "params", "hidden_layer_sizes", [12], "n_layers_ is 4 but"),
        ("binary", "params", "activation", "evil", "activation"),
        ("binary", "params", "r_ramp", [0.9, 0.1], "r_ramp must be"),
        ("binary", "params", "evil", 1, r"parameters the estimator lacks: \['evil'\]"),
        ("regression", "values", "out_activation_", "softmax", "out_activation_ is"),
        ("regression", "values", "n_outputs_", 3, r"does not fit"),
    ],
)
def test_values_save_cannot_write_are_refused(
    saved, tmp_path, model, text, key, value, match
):
    def edit(arrays):
        contents = texts(arrays, text)
        contents[key] = value
        with_text(arrays, text, contents)

    refused(edited(saved[model], tmp_path, edit), match)


def test_a_kind_that_is_no_estimator_is_refused(saved, tmp_path):
    path = edited(saved["binary"], tmp_path, lambda a: with_text(a, "kind", "os"))
    refused(path, "unknown kind of estimator: 'os'")


@pytest.mark.parametrize(
    "name, array, match",
    [
        (
            "coef0_data",
            np.zeros(5, dtype=np.complex128),
            "coef0_data has dtype complex128",
        ),
        ("intercept0", np.zeros(12, dtype=np.int8), "intercept0 is int8"),
        ("classes", np.array([1, 0]), "not sorted and unique"),
        ("classes", np.array([0, 1, 2]), "3 classes of a binary target"),
        ("classes", np.array([{"a": 1}], dtype=object), "pickled Python objects"),
        ("layer_sparsity", np.array([0.5, 2.0, 0.1]), "shares outside"),
        ("history_loss", np.ones(2), r"history_loss is float64 of shape \(2,\)"),
    ],
)
def test_arrays_save_cannot_write_are_refused(saved, tmp_path, name, array, match):
    def edit(arrays):
        arrays[name] = array

    path = tmp_path / "edited.npz"
    arrays = members(saved["binary"])
    edit(arrays)
    if array.dtype == object:
        np.savez(path, **arrays)  # numpy writes object arrays by pickle
    else:
        values = texts(arrays, "values")
        values["_byte_planes"].pop(name, None)  # stored as it is
        with_text(arrays, "values", values)
        rewrite(path, arrays)
    refused(path, match)


def test_weights_that_are_not_finite_are_refused(saved, tmp_path):
    def edit(arrays):
        values = texts(arrays, "values")
        del values["_byte_planes"]["coef1_data"]
        with_text(arrays, "values", values)
        data = np.ones(len(arrays["coef1_indices"]), dtype=np.float32)
        data[0] = np.nan
        arrays["coef1_data"] = data

    refused(edited(saved["binary"], tmp_path, edit), "coef1_data holds values that")


@pytest.mark.parametrize("name", BASES)
def test_mutations_load_and_predict_or_are_refused(saved, name):
    """FUZZ_CASES mutations in all, split over the base archives; a run at
    length: SK_ADAPRUNE_FUZZ_CASES=100000 python -m pytest tests/test_load.py
    -k mutations."""
    cases = FUZZ_CASES // len(BASES)
    seed = BASES.index(name)
    outcomes = fuzz([saved[name]], seed=seed, count=cases)
    failures = {
        i: (mutate(saved[name].read_bytes(), seed, i)[0], outcome)
        for i, outcome in outcomes.items()
        if outcome not in ("loaded", "refused")
    }
    assert len(outcomes) == cases
    assert not failures, failures
    assert list(outcomes.values()).count("refused") > cases // 2


def test_the_fuzzer_reports_a_crash_and_goes_on(saved):
    outcomes = fuzz([saved["binary"]], seed=0, count=3, abort_at=1)
    assert outcomes[1].startswith("crash")
    assert outcomes[0] in ("loaded", "refused") and outcomes[2] in ("loaded", "refused")


def test_the_fuzzer_reports_running_out_of_memory(tmp_path, blobs):
    X, y = blobs
    wide = AdaptivePrunedMLPClassifier(hidden_layer_sizes=(20_000,), max_iter=1)
    path = wide.fit(X, y).save(tmp_path / "wide.npz")
    # The archive as it is loads with room, and fails under a cap below what
    # the imports took.
    assert fuzz([path], seed=0, count=1, mutated=False) == {0: "loaded"}
    capped = fuzz([path], seed=0, count=1, memory_headroom=-(64 << 20), mutated=False)
    assert capped[0].startswith(("MemoryError", "crash")), capped


def test_save_is_atomic(saved, tmp_path, monkeypatch):
    model = load(saved["binary"])
    path = model.save(tmp_path / "model.npz")
    good = path.read_bytes()

    def disk_full(stream, **arrays):
        stream.write(b"PK\x03\x04 half an archive")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_persistence.np, "savez_compressed", disk_full)
    with pytest.raises(OSError, match="No space left"):
        model.save(path)
    assert path.read_bytes() == good
    assert os.listdir(tmp_path) == ["model.npz"]  # no temporary file left
    np.testing.assert_array_equal(load(path).coefs_[0], model.coefs_[0])


def test_save_writes_numpy_scalar_parameters_as_numbers(saved, tmp_path):
    model = load(saved["binary"])
    model.set_params(
        max_iter=np.int64(3), random_state=np.int64(5), alpha=np.float32(0.5)
    )
    restored = load(model.save(tmp_path / "model.npz"))
    assert restored.max_iter == 3 and type(restored.max_iter) is int
    assert restored.random_state == 5
    assert restored.alpha == 0.5


def test_a_loaded_model_refits_and_goes_on(saved, digits_split):
    X, _, y, _ = digits_split
    model = load(saved["neurons"])
    assert model.set_params(max_iter=2).fit(X[:100], y[:100]).n_iter_ == 2
    model = load(saved["binary"]).set_params(warm_start=True, max_iter=2)
    assert len(model.fit(X[:100], y[:100] > 4).loss_curve_) == 5
