"""Inference speed and file size of pruned models against dense ones.

Trains 784-512-512-10 on Fashion-MNIST (or the synthetic stand-in): ours at
the default lambda_ and at a larger lambda_ (>= 95% sparsity), ours pruning
neurons (``prune='neurons'``) at the default lambda_, and MLPClassifier of the
same architecture; then measures single-row latency,
10,000-row throughput and the size on disk of each at float32 and float64
input, next to our default model's weights stored dense in a float32 torch
model, and each of these (ours and MLPClassifier) exported to ONNX by
skl2onnx and run by onnxruntime.
Writes ``results/inference.md`` and ``.json``; and ``results/onnx_agreement.md``
and ``.json``: how far onnxruntime's outputs are from ``predict`` /
``predict_proba`` on Fashion-MNIST and on smaller sets of every target kind.
Run: ``python benchmarks/inference.py [--epochs 10]`` (needs the ``onnx``
extra).
"""

import argparse
import copy
import io
import pickle
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from skl2onnx import to_onnx
from sklearn.datasets import (
    load_breast_cancer,
    load_digits,
    make_multilabel_classification,
    make_regression,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import sk_adaprune.onnx  # noqa: F401  (registers the converters)
from _common import HIDDEN, write_results
from _data import load_fashion_mnist_or_stand_in
from sk_adaprune import AdaptivePrunedMLPClassifier, AdaptivePrunedMLPRegressor
from sk_adaprune._inference import torch_sequential

ROUNDS = 9


def dense_torch(model) -> torch.nn.Sequential:
    """The same architecture as a dense float32 torch model (zeros kept)."""
    return torch_sequential(
        model.coefs_, model.intercepts_, model.activation, model.out_activation_
    )


def candidate(name, predict, X, size_bytes, extra) -> dict:
    return {
        "model": name,
        "X": X.dtype.name,
        "predict": predict,
        "data": X,
        "size_kB": size_bytes / 1024,
        **extra,
    }


def time_in_rounds(candidates) -> None:
    """Single-row latency (100 calls) and 10,000-row throughput of every
    candidate, round after round, so that drift of the machine's speed falls
    on all of them alike; medians over the rounds."""
    for entry in candidates:  # warm up
        entry["predict"](entry["data"][:10])
        entry["latency"], entry["throughput"] = [], []
    for _ in range(ROUNDS):
        for entry in candidates:
            predict, X = entry["predict"], entry["data"]
            start = time.perf_counter()
            for i in range(100):
                predict(X[i : i + 1])
            entry["latency"].append((time.perf_counter() - start) / 100)
            start = time.perf_counter()
            predict(X[:10_000])
            entry["throughput"].append(time.perf_counter() - start)
    for entry in candidates:
        entry["latency_batch1_ms"] = 1e3 * statistics.median(entry.pop("latency"))
        entry["predict_10k_rows_ms"] = 1e3 * statistics.median(entry.pop("throughput"))
        del entry["predict"], entry["data"]


def onnx_row(name, model, X, y, dense_bytes) -> dict:
    """The model exported by skl2onnx, run by onnxruntime: its file size
    (and, for ours, the size with ``sparse_weights=True``) and accuracy."""
    session, size = onnx_session(model, X)
    extra = {
        "accuracy": float(np.mean(onnx_outputs(session, X)[0] == y)),
        "sparsity": getattr(model, "learned_sparsity_", 0.0),
        "file": ".onnx",
        "runtime": "onnxruntime",
        "size_vs_dense_float32": dense_bytes / size,
    }
    if isinstance(model, AdaptivePrunedMLPClassifier):
        extra["layer_sizes_after_compaction"] = "-".join(
            map(str, model.compact_.layer_sizes)
        )
        sparse_size = onnx_session(model, X, sparse_weights=True)[1]
        extra["size_kB_sparse_weights"] = sparse_size / 1024
    else:
        extra["layer_sizes_after_compaction"] = "-".join(map(str, [784, *HIDDEN, 10]))

    def predict(X):
        return onnx_outputs(session, X)[0]

    return candidate(name, predict, X, size, extra)


def measure_model(name, model, X, y, folder, dense_bytes) -> dict:
    """Latency, throughput, accuracy and file size of a fitted estimator."""
    if isinstance(model, AdaptivePrunedMLPClassifier):
        size = model.save(Path(folder) / "model.npz").stat().st_size
        sparsity, file = model.learned_sparsity_, "save() .npz"
        layers = model.compact_.layer_sizes
    else:
        size, sparsity, file = len(pickle.dumps(model)), 0.0, "pickle"
        layers = [784, *HIDDEN, 10]
    extra = {
        "accuracy": model.score(X, y),
        "sparsity": sparsity,
        "file": file,
        "runtime": "python",
        "layer_sizes_after_compaction": "-".join(map(str, layers)),
        "size_vs_dense_float32": dense_bytes / size,
    }
    return candidate(name, model.predict, X, size, extra)


def onnx_session(model, X, **options):
    """``(session, file size in bytes)`` of ``model`` exported for inputs of
    X's dtype, run by onnxruntime on as many threads as torch uses."""
    estimator = model[-1] if hasattr(model, "steps") else model
    if hasattr(estimator, "classes_"):
        options = {"zipmap": False, **options}
    onx = to_onnx(model, X[:1], options={id(estimator): options})
    settings = onnxruntime.SessionOptions()
    settings.intra_op_num_threads = torch.get_num_threads()
    settings.inter_op_num_threads = 1
    data = onx.SerializeToString()
    session = onnxruntime.InferenceSession(
        data, settings, providers=["CPUExecutionProvider"]
    )
    return session, len(data)


def onnx_outputs(session, X) -> list:
    return session.run(None, {session.get_inputs()[0].name: X})


def agreement(set_name, model, X) -> dict:
    """onnxruntime's outputs against the estimator's own on ``X``: labels
    equal, and the largest difference of probabilities (absolute) or of
    regression outputs (relative to 1 + |output|)."""
    session, _ = onnx_session(model, X)
    outputs = onnx_outputs(session, X)
    row = {"set": set_name, "X": X.dtype.name}
    if hasattr(model, "classes_"):
        row["labels_equal"] = bool(np.array_equal(outputs[0], model.predict(X)))
        row["max_abs_diff_proba"] = float(
            np.abs(outputs[1] - model.predict_proba(X)).max()
        )
    else:
        ours = model.predict(X).reshape(outputs[0].shape)
        row["max_rel_diff_outputs"] = float(
            np.max(np.abs(outputs[0] - ours) / (1 + np.abs(ours)))
        )
    return row


def small_sets(seed=0) -> list[tuple]:
    """``(name, fitted model, X_test)`` on a set of each target kind, float64
    data; the model at default parameters."""
    X_digits, y_digits = load_digits(return_X_y=True)
    X_cancer, y_cancer = load_breast_cancer(return_X_y=True)
    X_labels, Y_labels = make_multilabel_classification(
        1000, 20, n_classes=5, random_state=seed
    )
    X_outputs, Y_outputs = make_regression(
        1000, 20, n_targets=3, noise=5, random_state=seed
    )

    def scaled(estimator):
        return make_pipeline(StandardScaler(), estimator)

    cases = [
        (
            "load_digits (pipeline with a scaler)",
            scaled(AdaptivePrunedMLPClassifier(random_state=0)),
            X_digits,
            y_digits,
        ),
        (
            "load_digits, prune='neurons' (pipeline with a scaler)",
            scaled(AdaptivePrunedMLPClassifier(prune="neurons", random_state=0)),
            X_digits,
            y_digits,
        ),
        (
            "load_breast_cancer, string labels (pipeline with a scaler)",
            scaled(AdaptivePrunedMLPClassifier(random_state=0)),
            X_cancer,
            np.array(["benign", "malignant"])[y_cancer],
        ),
        (
            "make_multilabel_classification, 5 labels",
            AdaptivePrunedMLPClassifier(random_state=0),
            X_labels,
            Y_labels,
        ),
        (
            "make_regression, 3 outputs",
            AdaptivePrunedMLPRegressor(random_state=0),
            X_outputs,
            Y_outputs,
        ),
    ]
    fitted = []
    for name, model, X, y in cases:
        X_train, X_test, y_train, _ = train_test_split(X, y, random_state=seed)
        fitted.append((name, model.fit(X_train, y_train), X_test))
    return fitted


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    X_train, y_train, X_test, y_test, data_name = load_fashion_mnist_or_stand_in()
    common = dict(hidden_layer_sizes=HIDDEN, max_iter=args.epochs, random_state=0)
    models = {
        "ours, default lambda_=10": AdaptivePrunedMLPClassifier(**common),
        "ours, lambda_=100, lr_r=1e-2": AdaptivePrunedMLPClassifier(
            lambda_=100.0, lr_r=1e-2, **common
        ),
        "ours, prune='neurons', default lambda_=10": AdaptivePrunedMLPClassifier(
            prune="neurons", **common
        ),
        "MLPClassifier": MLPClassifier(**common),
    }
    for name, model in models.items():
        start = time.perf_counter()
        model.fit(X_train, y_train)
        print(f"{name}: fitted in {time.perf_counter() - start:.0f} s", flush=True)
    # MLPClassifier keeps the dtype it was fitted on: fitted on float32 here,
    # its float64 twin holds the same weights as float64, as a fit on float64
    # data would. Each input dtype is compared with the MLP of that dtype.
    mlp64 = copy.deepcopy(models["MLPClassifier"])
    mlp64.coefs_ = [c.astype(np.float64) for c in mlp64.coefs_]
    mlp64.intercepts_ = [b.astype(np.float64) for b in mlp64.intercepts_]
    mlps = {np.float32: models["MLPClassifier"], np.float64: mlp64}
    rows, agreements = [], []
    n_weights = sum(c.size for c in models["MLPClassifier"].coefs_)
    dense_bytes = 4 * (
        n_weights + sum(b.size for b in models["MLPClassifier"].intercepts_)
    )
    torch_model = dense_torch(models["ours, default lambda_=10"]).eval()
    buffer = io.BytesIO()
    torch.save(torch_model.state_dict(), buffer)

    def torch_predict(X):
        with torch.no_grad():
            return torch_model(torch.from_numpy(X)).argmax(1)

    with tempfile.TemporaryDirectory() as folder:
        for dtype in (np.float32, np.float64):
            X = X_test.astype(dtype)
            candidates = {**models, "MLPClassifier": mlps[dtype]}
            for name, model in candidates.items():
                rows.append(measure_model(name, model, X, y_test, folder, dense_bytes))
            for name, model in candidates.items():
                rows.append(onnx_row(name, model, X, y_test, dense_bytes))
                agreements.append(agreement(f"{data_name}: {name}", model, X))
            if dtype == np.float32:  # torch takes float32 only
                rows.append(
                    candidate(
                        "ours, default, its weights stored dense (torch float32)",
                        torch_predict,
                        X,
                        buffer.tell(),
                        {
                            "accuracy": float(
                                (torch_predict(X).numpy() == y_test).mean()
                            ),
                            "sparsity": models[
                                "ours, default lambda_=10"
                            ].learned_sparsity_,
                            "file": "torch.save state_dict",
                            "runtime": "torch",
                            "layer_sizes_after_compaction": "-".join(
                                map(str, [784, *HIDDEN, 10])
                            ),
                            "size_vs_dense_float32": dense_bytes / buffer.tell(),
                        },
                    )
                )
    time_in_rounds(rows)
    for row in rows:
        runtime = "onnxruntime" if row["runtime"] == "onnxruntime" else "python"
        mlp = next(
            r
            for r in rows
            if r["model"] == "MLPClassifier"
            and r["X"] == row["X"]
            and r["runtime"] == runtime
        )
        row["throughput_vs_MLPClassifier"] = (
            mlp["predict_10k_rows_ms"] / row["predict_10k_rows_ms"]
        )
        row["latency_vs_MLPClassifier"] = (
            mlp["latency_batch1_ms"] / row["latency_batch1_ms"]
        )
    for row in rows:
        print(row, flush=True)
    write_results(
        "inference",
        "Inference speed and size on disk",
        rows,
        notes=(
            f"Data: {data_name}; 784-512-512-10, {args.epochs} epochs of training. "
            f"Latency: 100 single-row predict calls; throughput: one predict call "
            f"on 10,000 test rows; medians over {ROUNDS} rounds, each round timing "
            "every model in turn. X: the "
            "input's dtype; the ratios compare with MLPClassifier at the same "
            "dtype (fitted on float32 data, it computes in float32; its float64 "
            "twin holds the same weights as float64 and computes in float64, as "
            "a fit on float64 data would; ours, fitted on float32 data too, "
            "computes in the input's dtype promoted with its weights', as "
            "MLPClassifier does). "
            "'its weights stored dense' is our default model's pruned weights, "
            "zeros included, as a float32 torch nn.Sequential. Sizes: "
            f"dense float32 weights and biases take {dense_bytes / 1024:.0f} kB; "
            "size_vs_dense_float32 is that divided by the file size. "
            "runtime 'onnxruntime': the model exported by skl2onnx (zipmap=False; "
            "ours after `import sk_adaprune.onnx`) for inputs of X's dtype, run by "
            f"onnxruntime on {torch.get_num_threads()} intra-op threads (as many "
            "as torch uses), compared with MLPClassifier's export in onnxruntime; "
            "size_kB_sparse_weights: ours exported with sparse_weights=True. "
            "Ratios: MLPClassifier's time divided by the row's, in the same "
            "runtime (the torch row against MLPClassifier in Python)."
        ),
    )
    for name, model, X in small_sets():
        for dtype in (np.float32, np.float64):
            agreements.append(agreement(name, model, X.astype(dtype)))
    write_results(
        "onnx_agreement",
        "onnxruntime's outputs against predict and predict_proba",
        agreements,
        notes=(
            "Each model exported by skl2onnx for inputs of X's dtype and run by "
            "onnxruntime on the test rows: labels_equal compares its labels with "
            "predict's; max_abs_diff_proba is the largest absolute difference of "
            "its probabilities from predict_proba's; max_rel_diff_outputs the "
            "largest |difference| / (1 + |output|) of a regressor's outputs. "
            f"{data_name}: the models of results/inference.md (MLPClassifier "
            "through skl2onnx's own converter, for comparison); the other sets: "
            "a quarter of the rows held out, ours at default parameters."
        ),
    )


if __name__ == "__main__":
    main()
