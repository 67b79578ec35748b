"""Inference speed and file size of pruned models against dense ones.

Trains 784-512-512-10 on Fashion-MNIST (or the synthetic stand-in): ours at
the default lambda_ and at a larger lambda_ (>= 95% sparsity), and
MLPClassifier of the same architecture; then measures single-row latency,
10,000-row throughput and the size on disk of each, next to the dense float32
torch model. Writes ``results/inference.md`` and ``.json``.
Run: ``python benchmarks/inference.py [--epochs 10]``.
"""

import argparse
import io
import pickle
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from _common import HIDDEN, write_results
from _data import load_fashion_mnist_or_stand_in
from sk_adaprune import AdaptivePrunedMLPClassifier
from sk_adaprune._base import torch_sequential


def median_seconds(function, repeats: int) -> float:
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def dense_torch(model) -> torch.nn.Sequential:
    """The same architecture as a dense float32 torch model (zeros kept)."""
    return torch_sequential(
        model.coefs_, model.intercepts_, model.activation, model.out_activation_
    )


def measure(name, predict, X, size_bytes, extra) -> dict:
    latency = (
        median_seconds(lambda: [predict(X[i : i + 1]) for i in range(100)], 5) / 100
    )
    throughput = median_seconds(lambda: predict(X[:10_000]), 5)
    return {
        "model": name,
        "latency_batch1_ms": 1e3 * latency,
        "predict_10k_rows_ms": 1e3 * throughput,
        "size_kB": size_bytes / 1024,
        **extra,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    X_train, y_train, X_test, y_test, data_name = load_fashion_mnist_or_stand_in()
    X_test = X_test.astype(np.float64)
    common = dict(hidden_layer_sizes=HIDDEN, max_iter=args.epochs, random_state=0)
    models = {
        "ours, default lambda_=10": AdaptivePrunedMLPClassifier(**common),
        "ours, lambda_=100, lr_r=1e-2": AdaptivePrunedMLPClassifier(
            lambda_=100.0, lr_r=1e-2, **common
        ),
        "MLPClassifier": MLPClassifier(**common),
    }
    for name, model in models.items():
        start = time.perf_counter()
        model.fit(X_train, y_train)
        print(f"{name}: fitted in {time.perf_counter() - start:.0f} s", flush=True)
    rows = []
    n_weights = sum(c.size for c in models["MLPClassifier"].coefs_)
    dense_bytes = 4 * (
        n_weights + sum(b.size for b in models["MLPClassifier"].intercepts_)
    )
    with tempfile.TemporaryDirectory() as folder:
        for name, model in models.items():
            accuracy = model.score(X_test, y_test)
            if isinstance(model, AdaptivePrunedMLPClassifier):
                size = model.save(Path(folder) / "model.npz").stat().st_size
                extra = {
                    "accuracy": accuracy,
                    "sparsity": model.learned_sparsity_,
                    "file": "save() .npz",
                    "layer_sizes_after_compaction": "-".join(
                        map(str, model.compact_.layer_sizes)
                    ),
                    "size_vs_dense_float32": dense_bytes / size,
                }
            else:
                size = len(pickle.dumps(model))
                extra = {
                    "accuracy": accuracy,
                    "sparsity": 0.0,
                    "file": "pickle",
                    "layer_sizes_after_compaction": "-".join(
                        map(str, [784, *HIDDEN, 10])
                    ),
                    "size_vs_dense_float32": dense_bytes / size,
                }
            rows.append(measure(name, model.predict, X_test, size, extra))
            print(rows[-1], flush=True)
    torch_model = dense_torch(models["ours, default lambda_=10"]).eval()
    buffer = io.BytesIO()
    torch.save(torch_model.state_dict(), buffer)
    X32 = torch.from_numpy(X_test.astype(np.float32))

    def torch_predict(X):
        with torch.no_grad():
            return torch_model(X).argmax(1)

    rows.append(
        measure(
            "dense torch (float32)",
            torch_predict,
            X32,
            buffer.tell(),
            {
                "accuracy": float((torch_predict(X32).numpy() == y_test).mean()),
                "sparsity": 0.0,
                "file": "torch.save state_dict",
                "layer_sizes_after_compaction": "-".join(map(str, [784, *HIDDEN, 10])),
                "size_vs_dense_float32": dense_bytes / buffer.tell(),
            },
        )
    )
    mlp = next(r for r in rows if r["model"] == "MLPClassifier")
    for row in rows:
        row["throughput_vs_MLPClassifier"] = (
            mlp["predict_10k_rows_ms"] / row["predict_10k_rows_ms"]
        )
        row["latency_vs_MLPClassifier"] = (
            mlp["latency_batch1_ms"] / row["latency_batch1_ms"]
        )
    write_results(
        "inference",
        "Inference speed and size on disk",
        rows,
        notes=(
            f"Data: {data_name}; 784-512-512-10, {args.epochs} epochs of training. "
            "Latency: median over 5 runs of 100 single-row predict calls; "
            "throughput: median of 5 predict calls on 10,000 test rows (float64 "
            "input; the torch model gets float32). 'dense torch' is our default "
            "model's weights (zeros included) as a float32 nn.Sequential. Sizes: "
            f"dense float32 weights and biases take {dense_bytes / 1024:.0f} kB; "
            "size_vs_dense_float32 is that divided by the file size."
        ),
    )


if __name__ == "__main__":
    main()
