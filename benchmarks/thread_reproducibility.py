"""Are fits with the same ``random_state`` identical across torch thread counts?

Fits twice at each of 1 and 2 torch threads: the demo's fit (load_digits,
hidden (100,), defaults) and 784-512-512-10 on 6,000 Fashion-MNIST rows (or
the synthetic stand-in) for 3 epochs, where the matrix products are large
enough to be split over threads. Reports whether the weights are bitwise
equal within a thread count and across the two, the largest weight
difference, and accuracy and sparsity. Writes
``results/thread_reproducibility.md``.
Run: ``python benchmarks/thread_reproducibility.py``.
"""

import hashlib
import warnings

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from _common import HIDDEN, write_results
from _data import load_fashion_mnist_or_stand_in
from sk_adaprune import AdaptivePrunedMLPClassifier


def problems():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X / 16, y, test_size=0.25, stratify=y, random_state=0
    )
    yield "load_digits, the demo's fit", {}, (X_train, y_train, X_test, y_test)
    X_train, y_train, X_test, y_test, name = load_fashion_mnist_or_stand_in()
    data = (X_train[:6000], y_train[:6000], X_test[:2000], y_test[:2000])
    params = dict(hidden_layer_sizes=HIDDEN, max_iter=3, batch_size=128)
    yield f"{name}, 6,000 rows, 784-512-512-10, 3 epochs", params, data


def fit(params, data, threads):
    torch.set_num_threads(threads)
    X_train, y_train, X_test, y_test = data
    model = AdaptivePrunedMLPClassifier(random_state=0, **params)
    model.fit(X_train, y_train)
    weights = np.concatenate([c.ravel() for c in model.coefs_])
    return {
        "weights": weights,
        "sha1": hashlib.sha1(weights.tobytes()).hexdigest()[:12],
        "accuracy": model.score(X_test, y_test),
        "sparsity": model.learned_sparsity_,
    }


def main() -> None:
    warnings.simplefilter("ignore", ConvergenceWarning)
    default_threads = torch.get_num_threads()
    rows = []
    for problem, params, data in problems():
        fits = {t: [fit(params, data, t) for _ in range(2)] for t in (1, 2)}
        torch.set_num_threads(default_threads)
        for threads, (first, second) in fits.items():
            rows.append(
                {
                    "problem": problem,
                    "torch_threads": threads,
                    "weights_sha1": first["sha1"],
                    "same_as_repeat": first["sha1"] == second["sha1"],
                    "same_as_1_thread": first["sha1"] == fits[1][0]["sha1"],
                    "max_weight_diff_vs_1_thread": float(
                        np.abs(first["weights"] - fits[1][0]["weights"]).max()
                    ),
                    "accuracy": first["accuracy"],
                    "sparsity": first["sparsity"],
                }
            )
            print({k: v for k, v in rows[-1].items()}, flush=True)
    write_results(
        "thread_reproducibility",
        "Fits across torch thread counts",
        rows,
        notes=(
            "Each problem is fitted twice at 1 and twice at 2 torch threads "
            "(torch.set_num_threads), random_state=0, in one process. "
            "same_as_repeat: the two fits at that thread count have bitwise "
            "equal weights; same_as_1_thread: equal to the 1-thread fit."
        ),
    )


if __name__ == "__main__":
    main()
