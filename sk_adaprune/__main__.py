"""Demo: ``python -m sk_adaprune [--seeds N]`` fits MLPClassifier and ours on
load_digits for N seeds each (default 10), prints their accuracies over the seeds,
then shows what the pruned model of seed 0 buys: weights kept, file size,
prediction time."""

import argparse
import pickle
import platform
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import sklearn
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

from . import AdaptivePrunedMLPClassifier, __version__

KINDS = {
    "MLPClassifier": MLPClassifier,
    "AdaptivePrunedMLPClassifier": AdaptivePrunedMLPClassifier,
}


def demo_split():
    """The demo's data: load_digits / 16, stratified 75/25, split seed 0, as
    ``X_train, X_test, y_train, y_test``."""
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.25, stratify=y, random_state=0)


def fits_over_seeds(seeds, split=None) -> list[dict]:
    """Both estimators at their defaults fitted on the demo's split for each
    seed (``random_state``; a seed gives both the same initial network): per
    seed and estimator, the fitted model, its test accuracy, sparsity, weights
    kept and fit seconds."""
    X_train, X_test, y_train, y_test = demo_split() if split is None else split
    rows = []
    for seed in seeds:
        for name, kind in KINDS.items():
            model = kind(random_state=seed)
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(X_train, y_train)
            rows.append(
                {
                    "seed": seed,
                    "model": name,
                    "estimator": model,
                    "accuracy": model.score(X_test, y_test),
                    "sparsity": getattr(model, "learned_sparsity_", 0.0),
                    "weights": sum(int((c != 0).sum()) for c in model.coefs_),
                    "fit_s": time.perf_counter() - start,
                }
            )
    return rows


def paired_difference(rows) -> tuple[float, float]:
    """Ours minus MLPClassifier's test accuracy, paired by seed: the mean and
    its standard error (0 for one seed)."""
    by_seed = {}
    for row in rows:
        by_seed.setdefault(row["seed"], {})[row["model"]] = row["accuracy"]
    ours, theirs = "AdaptivePrunedMLPClassifier", "MLPClassifier"
    differences = np.array([s[ours] - s[theirs] for s in by_seed.values()])
    if len(differences) < 2:
        return float(differences.mean()), 0.0
    return float(differences.mean()), float(
        differences.std(ddof=1) / np.sqrt(len(differences))
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sk_adaprune", description=__doc__)
    parser.add_argument(
        "--seeds",
        type=int,
        default=10,
        help="fit each estimator with random_state 0 .. N-1 (default 10)",
    )
    seeds = range(parser.parse_args(argv).seeds)
    if len(seeds) < 1:
        parser.error("--seeds must be at least 1")
    split = demo_split()
    X_train, X_test = split[0], split[1]
    print(
        f"sk_adaprune {__version__}: load_digits, {len(X_train)} train / "
        f"{len(X_test)} test samples, {X_train.shape[1]} features, hidden layer (100,)"
    )
    print(
        f"python {platform.python_version()}, torch {torch.__version__}, "
        f"scikit-learn {sklearn.__version__}, {torch.get_num_threads()} torch threads\n"
    )
    print(
        f"Both at their defaults, random_state {_span(seeds)}, on one split "
        f"(a test row is {100 / len(X_test):.2f} points); means over the seeds:"
    )
    rows = fits_over_seeds(seeds, split)
    print(f"{'model':<30}{'accuracy':>18}{'sparsity':>10}{'weights':>10}{'fit s':>8}")
    for name in KINDS:
        mine = [row for row in rows if row["model"] == name]
        accuracy = [row["accuracy"] for row in mine]
        spread = statistics.stdev(accuracy) if len(accuracy) > 1 else 0.0
        shown = f"{statistics.mean(accuracy):.4f} ± {spread:.4f}"
        sparsity = statistics.mean(row["sparsity"] for row in mine)
        weights = round(statistics.mean(row["weights"] for row in mine))
        seconds = statistics.median(row["fit_s"] for row in mine)
        print(f"{name:<30}{shown:>18}{sparsity:>10.1%}{weights:>10d}{seconds:>8.2f}")
    mean, error = paired_difference(rows)
    print(
        f"ours - MLPClassifier: {100 * mean:+.2f} ± {100 * error:.2f} points "
        "(paired by seed, ± its standard error)"
    )
    first = {row["model"]: row["estimator"] for row in rows if row["seed"] == 0}
    mlp, ours = first["MLPClassifier"], first["AdaptivePrunedMLPClassifier"]
    print(
        f"\nSeed 0: learned ratio r = {ours.learned_ratio_:.4f} "
        f"(from r_init={ours.initial_ratio_}), "
        f"per-layer sparsity {[round(float(s), 3) for s in ours.layer_sparsity_]}"
    )
    print("\nWhat the pruned model buys (seed 0):")
    print(f"{'model':<30}{'file kB':>10}{'predict ms':>12}")
    with tempfile.TemporaryDirectory() as folder:
        sizes = {
            "MLPClassifier (pickle)": _pickled_kb(mlp, folder),
            "ours (pickle)": _pickled_kb(ours, folder),
        }
        sizes["ours (save)"] = ours.save(Path(folder) / "ours.npz").stat().st_size
        sizes["ours (save)"] /= 1024
    timings = {
        "MLPClassifier (pickle)": _predict_ms(mlp, X_test),
        "ours (pickle)": _predict_ms(ours, X_test),
    }
    for name, size in sizes.items():
        timing = timings.get(name)
        shown = f"{timing:>12.3f}" if timing is not None else ""
        print(f"{name:<30}{size:>10.1f}{shown}")
    print(
        f"(predict: {len(X_test)} rows, best of 20.) Tune lambda_ for more or less "
        "sparsity: see examples/plot_lambda_search.py."
    )


def _span(seeds) -> str:
    return str(seeds[0]) if len(seeds) == 1 else f"{seeds[0]}-{seeds[-1]}"


def _pickled_kb(model, folder) -> float:
    path = Path(folder) / "model.pkl"
    path.write_bytes(pickle.dumps(model))
    return path.stat().st_size / 1024


def _predict_ms(model, X) -> float:
    best = float("inf")
    for _ in range(20):
        start = time.perf_counter()
        model.predict(X)
        best = min(best, time.perf_counter() - start)
    return 1e3 * best


if __name__ == "__main__":
    main()
