"""Evidence behind the defaults of lr_r, lambda_, tau_init and lr_tau (load_digits).

Scores the classifier by 5-fold stratified cross-validation on the training
part of the demo's 75/25 split of ``load_digits`` (the demo's test rows are
never seen) for a grid of ``lr_r`` x ``lambda_`` values, then for
``tau_init`` and ``lr_tau`` around the thesis's values, next to
MLPClassifier, and writes ``results/choose_defaults.md``.
Run: ``python benchmarks/choose_defaults.py``.
"""

import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedKFold, cross_validate, train_test_split
from sklearn.neural_network import MLPClassifier

from _common import write_results
from sk_adaprune import AdaptivePrunedMLPClassifier

FOLDS = 5
LR_R = (1e-4, 1e-3, 1e-2)
LAMBDAS = (0.0, 1.0, 10.0, 100.0)
TAU_INITS = (1e-3, 1e-1)
LR_TAUS = (0.0, 1e-4)
DEFAULTS = {"lr_r": 1e-3, "lambda_": 10.0, "tau_init": 1e-2, "lr_tau": 1e-6}


def main() -> None:
    warnings.simplefilter("ignore", ConvergenceWarning)
    X, y = load_digits(return_X_y=True)
    # The demo's split; only its training part is used here.
    X_train, _, y_train, _ = train_test_split(
        X / 16, y, test_size=0.25, stratify=y, random_state=0
    )
    runs = [None]
    runs += [
        {**DEFAULTS, "lr_r": lr_r, "lambda_": lam} for lr_r in LR_R for lam in LAMBDAS
    ]
    runs += [{**DEFAULTS, "tau_init": tau} for tau in TAU_INITS]
    runs += [{**DEFAULTS, "lr_tau": lr_tau} for lr_tau in LR_TAUS]
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=0)
    rows = []
    for params in runs:
        if params is None:
            model = MLPClassifier(random_state=0)
        else:
            model = AdaptivePrunedMLPClassifier(random_state=0, **params)
        scores = cross_validate(
            model,
            X_train,
            y_train,
            cv=folds,
            scoring={"accuracy": "accuracy"},
            return_estimator=True,
        )
        fitted = scores["estimator"]
        accuracies = scores["test_accuracy"]
        settings = {key: "-" for key in DEFAULTS} if params is None else params
        rows.append(
            {
                "method": "MLPClassifier" if params is None else "ours",
                **settings,
                "cv_accuracy": float(np.mean(accuracies)),
                "cv_accuracy_std": float(np.std(accuracies)),
                "sparsity": float(
                    np.mean([getattr(m, "learned_sparsity_", 0.0) for m in fitted])
                ),
                "final_r": float(
                    np.mean([getattr(m, "learned_ratio_", np.nan) for m in fitted])
                ),
                "epochs": float(np.mean([m.n_iter_ for m in fitted])),
                "fit_s": float(np.mean(scores["fit_time"])),
            }
        )
        print(rows[-1], flush=True)
    write_results(
        "choose_defaults",
        "Choosing lr_r and lambda_ on load_digits",
        rows,
        notes=(
            f"{FOLDS}-fold stratified cross-validation (shuffled, random_state=0) "
            f"on the {len(X_train)} training rows of the demo's stratified 75/25 "
            "split of load_digits (X / 16); the demo's test rows are not used. "
            "Hidden (100,), max_iter=200, random_state=0, other parameters at "
            "their defaults. cv_accuracy: mean over the folds (std across them); "
            "sparsity (fraction of exactly-zero weights), final_r, epochs and "
            "fit_s: means over the folds' fits."
        ),
    )


if __name__ == "__main__":
    main()
