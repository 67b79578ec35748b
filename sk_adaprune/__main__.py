"""Demo: ``python -m sk_adaprune`` fits MLPClassifier and ours on load_digits."""

import platform
import time
import warnings

import sklearn
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

from . import AdaptivePrunedMLPClassifier, __version__


def main() -> None:
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X / 16.0, y, test_size=0.25, stratify=y, random_state=0
    )
    print(
        f"sk_adaprune {__version__}: load_digits, {len(X_train)} train / "
        f"{len(X_test)} test samples, {X.shape[1]} features, hidden layer (100,)"
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


if __name__ == "__main__":
    main()
