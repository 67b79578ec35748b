"""What ``r`` does without the regulariser (``lambda_=0``) on load_digits.

Fits the classifier with ``lambda_=0`` from ``r_init`` 0.1 ... 0.9 over three
seeds for all 200 epochs (``tol=0``), other parameters at their defaults, on
the training part of the demo's split, and records ``r`` along the way:
its lowest value and when, and its value at epochs 10, 30, 100 and 200.
Writes ``results/lambda_zero.md``. Run: ``python benchmarks/lambda_zero.py``.
"""

import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from _common import write_results
from sk_adaprune import AdaptivePrunedMLPClassifier

R_INITS = (0.1, 0.3, 0.5, 0.7, 0.9)
SEEDS = (0, 1, 2)
EPOCHS = (10, 30, 100, 200)


def main() -> None:
    warnings.simplefilter("ignore", ConvergenceWarning)
    X, y = load_digits(return_X_y=True)
    X_train, _, y_train, _ = train_test_split(
        X / 16, y, test_size=0.25, stratify=y, random_state=0
    )
    rows = []
    for r_init in R_INITS:
        for seed in SEEDS:
            model = AdaptivePrunedMLPClassifier(
                lambda_=0.0, r_init=r_init, tol=0.0, random_state=seed
            ).fit(X_train, y_train)
            ratios = model.pruning_history_["ratio"]
            rows.append(
                {
                    "r_init": r_init,
                    "seed": seed,
                    "lowest_r": float(ratios.min()),
                    "lowest_at_epoch": int(ratios.argmin()) + 1,
                    **{f"r_epoch_{e}": float(ratios[e - 1]) for e in EPOCHS},
                    "sparsity": model.learned_sparsity_,
                    "finetuning_epochs": int(
                        np.sum(model.pruning_history_["finetuning"])
                    ),
                }
            )
            print(rows[-1], flush=True)
    write_results(
        "lambda_zero",
        "r without the regulariser (lambda_=0) on load_digits",
        rows,
        notes=(
            "Training part (1,347 rows) of the demo's stratified 75/25 split of "
            "load_digits (X / 16); hidden (100,), 200 epochs (tol=0), lambda_=0, "
            "other parameters at their defaults (finetune_fraction=0.2: where r "
            "settles, it is frozen for the last epochs; finetuning_epochs says "
            "how many)."
        ),
    )


if __name__ == "__main__":
    main()
