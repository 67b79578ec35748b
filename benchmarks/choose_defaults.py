"""Evidence behind the defaults of lr_r, lambda_, tau_init and lr_tau (load_digits).

Fits the classifier on a stratified 75/25 split of ``load_digits`` for a grid
of ``lr_r`` x ``lambda_`` values, then for ``tau_init`` and ``lr_tau`` around
the thesis's values, over several seeds, next to MLPClassifier, and writes
``results/choose_defaults.md``.
Run: ``python benchmarks/choose_defaults.py``.
"""

import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

from _common import write_results
from sk_adaprune import AdaptivePrunedMLPClassifier

SEEDS = (0, 1, 2)
LR_R = (1e-4, 1e-3, 1e-2)
LAMBDAS = (0.0, 1.0, 10.0, 100.0)
TAU_INITS = (1e-3, 1e-1)
LR_TAUS = (0.0, 1e-4)
DEFAULTS = {"lr_r": 1e-3, "lambda_": 10.0, "tau_init": 1e-2, "lr_tau": 1e-6}


def main() -> None:
    warnings.simplefilter("ignore", ConvergenceWarning)
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X / 16, y, test_size=0.25, stratify=y, random_state=0
    )
    runs = [None]
    runs += [
        {**DEFAULTS, "lr_r": lr_r, "lambda_": lam} for lr_r in LR_R for lam in LAMBDAS
    ]
    runs += [{**DEFAULTS, "tau_init": tau} for tau in TAU_INITS]
    runs += [{**DEFAULTS, "lr_tau": lr_tau} for lr_tau in LR_TAUS]
    rows = []
    for params in runs:
        accuracies, sparsities, ratios, seconds, epochs = [], [], [], [], []
        for seed in SEEDS:
            if params is None:
                model = MLPClassifier(random_state=seed)
            else:
                model = AdaptivePrunedMLPClassifier(random_state=seed, **params)
            start = time.perf_counter()
            model.fit(X_train, y_train)
            seconds.append(time.perf_counter() - start)
            accuracies.append(model.score(X_test, y_test))
            epochs.append(model.n_iter_)
            sparsities.append(getattr(model, "learned_sparsity_", 0.0))
            ratios.append(getattr(model, "learned_ratio_", float("nan")))
        settings = {key: "-" for key in DEFAULTS} if params is None else params
        rows.append(
            {
                "method": "MLPClassifier" if params is None else "ours",
                **settings,
                "accuracy": float(np.mean(accuracies)),
                "accuracy_std": float(np.std(accuracies)),
                "sparsity": float(np.mean(sparsities)),
                "final_r": float(np.mean(ratios)),
                "epochs": float(np.mean(epochs)),
                "fit_s": float(np.mean(seconds)),
            }
        )
        print(rows[-1], flush=True)
    write_results(
        "choose_defaults",
        "Choosing lr_r and lambda_ on load_digits",
        rows,
        notes=(
            f"Stratified 75/25 split of load_digits (X / 16), hidden (100,), "
            f"max_iter=200, other parameters at their defaults; mean over seeds "
            f"{SEEDS}. Sparsity is the fraction of exactly-zero weights after fit."
        ),
    )


if __name__ == "__main__":
    main()
