"""Demo: ``python -m sk_adaprune`` fits MLPClassifier and ours on load_digits,
then shows what the pruned model buys: weights kept, file size, prediction time."""

import pickle
import platform
import tempfile
import time
import warnings
from pathlib import Path

import sklearn
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

from . import AdaptivePrunedMLPClassifier, __version__


def demo_split():
    """The demo's data: load_digits / 16, stratified 75/25, split seed 0, as
    ``X_train, X_test, y_train, y_test``."""
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.25, stratify=y, random_state=0)


def main() -> None:
    X_train, X_test, y_train, y_test = demo_split()
    print(
        f"sk_adaprune {__version__}: load_digits, {len(X_train)} train / "
        f"{len(X_test)} test samples, {X_train.shape[1]} features, hidden layer (100,)"
    )
    print(
        f"python {platform.python_version()}, torch {torch.__version__}, "
        f"scikit-learn {sklearn.__version__}, {torch.get_num_threads()} torch threads\n"
    )
    models = {
        "MLPClassifier": MLPClassifier(random_state=0),
        "AdaptivePrunedMLPClassifier": AdaptivePrunedMLPClassifier(random_state=0),
    }
    print(f"{'model':<30}{'accuracy':>10}{'sparsity':>10}{'weights':>10}{'fit s':>8}")
    for name, model in models.items():
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X_train, y_train)
        seconds = time.perf_counter() - start
        accuracy = model.score(X_test, y_test)
        sparsity = getattr(model, "learned_sparsity_", 0.0)
        kept = sum(int((c != 0).sum()) for c in model.coefs_)
        print(f"{name:<30}{accuracy:>10.4f}{sparsity:>10.1%}{kept:>10d}{seconds:>8.2f}")
    ours = models["AdaptivePrunedMLPClassifier"]
    print(
        f"\nlearned ratio r = {ours.learned_ratio_:.4f} "
        f"(from r_init={ours.initial_ratio_}), "
        f"per-layer sparsity {[round(float(s), 3) for s in ours.layer_sparsity_]}"
    )
    print("\nWhat the pruned model buys:")
    print(f"{'model':<30}{'file kB':>10}{'predict ms':>12}")
    with tempfile.TemporaryDirectory() as folder:
        sizes = {
            "MLPClassifier (pickle)": _pickled_kb(models["MLPClassifier"], folder),
            "ours (pickle)": _pickled_kb(ours, folder),
        }
        sizes["ours (save)"] = ours.save(Path(folder) / "ours.npz").stat().st_size
        sizes["ours (save)"] /= 1024
    timings = {
        "MLPClassifier (pickle)": _predict_ms(models["MLPClassifier"], X_test),
        "ours (pickle)": _predict_ms(ours, X_test),
    }
    for name, size in sizes.items():
        timing = timings.get(name)
        shown = f"{timing:>12.3f}" if timing is not None else f"{'':>12}"
        print(f"{name:<30}{size:>10.1f}{shown}")
    print(
        f"(predict: {len(X_test)} rows, best of 20.) Tune lambda_ for more or less "
        "sparsity: see examples/plot_lambda_search.py."
    )


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
