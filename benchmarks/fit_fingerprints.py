"""Fingerprints of six fits, to tell whether a change leaves fits bit for bit.

Fits load_digits (default; early stopping; batch 128 with alpha=1e-2),
load_breast_cancer (early stopping) and load_diabetes (default; early
stopping), and prints a SHA-1 of each fit's coefficients, intercepts, loss
curve and validation scores. Run it before and after a change and compare.
Writes ``results/fit_fingerprints.md``.
Run: ``python benchmarks/fit_fingerprints.py``.
"""

import hashlib
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from _common import write_results
from sk_adaprune import AdaptivePrunedMLPClassifier, AdaptivePrunedMLPRegressor


def fingerprint(model) -> str:
    digest = hashlib.sha1()
    for values in model.coefs_ + model.intercepts_:
        digest.update(np.ascontiguousarray(values).tobytes())
    # The total training loss per epoch (loss_curve_ until it became
    # MLPClassifier's loss), so fingerprints compare across that change.
    digest.update(np.asarray(model.pruning_history_["loss"]).tobytes())
    if model.validation_scores_ is not None:
        digest.update(np.asarray(model.validation_scores_).tobytes())
    return digest.hexdigest()[:12]


def main() -> None:
    warnings.simplefilter("ignore", ConvergenceWarning)
    X, y = load_digits(return_X_y=True)
    X = X / 16
    Xb, yb = load_breast_cancer(return_X_y=True)
    Xb = StandardScaler().fit_transform(Xb)
    Xd, yd = load_diabetes(return_X_y=True)
    Xd = StandardScaler().fit_transform(Xd)
    yd = (yd - yd.mean()) / yd.std()
    classifier, regressor = AdaptivePrunedMLPClassifier, AdaptivePrunedMLPRegressor
    cases = {
        "digits default": (classifier(random_state=0), X, y),
        "digits early stopping": (
            classifier(random_state=0, early_stopping=True),
            X,
            y,
        ),
        "digits batch 128 alpha 1e-2": (
            classifier(random_state=1, batch_size=128, alpha=1e-2, max_iter=60),
            X,
            y,
        ),
        "breast_cancer early stopping": (
            classifier(random_state=0, early_stopping=True, max_iter=100),
            Xb,
            yb,
        ),
        "diabetes default": (regressor(random_state=0), Xd, yd),
        "diabetes early stopping": (
            regressor(random_state=0, early_stopping=True),
            Xd,
            yd,
        ),
    }
    rows = []
    for name, (model, X_fit, y_fit) in cases.items():
        model.fit(X_fit, y_fit)
        rows.append(
            {
                "fit": name,
                "sha1": fingerprint(model),
                "n_iter": model.n_iter_,
                "sparsity": model.learned_sparsity_,
            }
        )
        print(rows[-1], flush=True)
    write_results(
        "fit_fingerprints",
        "Fingerprints of six fits",
        rows,
        notes="SHA-1 (first 12 hex digits) of coefs_, intercepts_, the total loss "
        "per epoch and validation_scores_; equal fingerprints mean bitwise equal fits.",
    )


if __name__ == "__main__":
    main()
