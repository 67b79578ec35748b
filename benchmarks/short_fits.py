"""How a short fit should start: the 'auto' rule against the alternatives.

Scores MLPClassifier / MLPRegressor and ours, several seeds each (three
unless told), by 5-fold shuffled cross-validation of
``make_pipeline(StandardScaler(), estimator)`` (targets
left in their units, as users feed MLPRegressor) on scikit-learn-sized sets,
with each way of starting a fit written out as explicit parameters:

- ``thesis start``: r = 0.5 from the first step, no ramp, the full weight
  gradient (what 'auto' chose for short fits before);
- ``dense + ramp``: r = 0, the ceiling on r rising along the cubic ramp over
  10-75% of the fit's own steps, the masked weight gradient (what 'auto'
  chooses for long fits: one rule for every length);
- ``dense + late ramp, full`` and ``dense + latest ramp, full``: r = 0, the
  ramp over 30-90% or 50-95% of the steps, the full weight gradient;
- ``dense, no ramp, full``: r = 0, no ceiling (r climbs by at most about
  lr_r a step), the full weight gradient;
- ``defaults``: the estimator as it ships ('auto' is ``dense + latest ramp,
  full`` on these short fits).

Reports each set's mean score and learned sparsity over the folds, and the
gap to scikit-learn's estimator. Writes ``results/short_fits.md`` / ``.json``.
Run: ``python benchmarks/short_fits.py [--variants NAME ...] [--seeds N]``.
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.base import clone
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_wine,
    make_friedman1,
    make_regression,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold, StratifiedKFold, cross_validate
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from _common import write_results
from sk_adaprune import AdaptivePrunedMLPClassifier, AdaptivePrunedMLPRegressor

FOLDS = 5
SEEDS = (0, 1, 2)
VARIANTS = {
    "thesis start": dict(r_init=0.5, r_ramp=None, weight_gradient="full"),
    "dense + ramp": dict(r_init=0.0, r_ramp=(0.1, 0.75), weight_gradient="masked"),
    "dense + late ramp, full": dict(
        r_init=0.0, r_ramp=(0.3, 0.9), weight_gradient="full"
    ),
    "dense + latest ramp, full": dict(
        r_init=0.0, r_ramp=(0.5, 0.95), weight_gradient="full"
    ),
    "dense, no ramp, full": dict(r_init=0.0, r_ramp=None, weight_gradient="full"),
    "defaults": {},
}


def data_sets() -> dict:
    """name -> (X, y, is_classification)."""
    friedman = make_friedman1(2000, noise=0.5, random_state=0)
    regression = make_regression(
        500, 20, n_informative=10, n_targets=3, noise=5, random_state=0
    )
    return {
        "digits": (*load_digits(return_X_y=True), True),
        "breast_cancer": (*load_breast_cancer(return_X_y=True), True),
        "wine": (*load_wine(return_X_y=True), True),
        "diabetes": (*load_diabetes(return_X_y=True), False),
        "friedman1": (*friedman, False),
        "regression_3_targets": (*regression, False),
    }


def score(estimator, X, y, classification, seeds) -> dict:
    """Mean test score and learned sparsity over the folds and ``seeds`` (the
    estimator's random_state; the folds stay the same), the spread of the
    seeds' mean scores, and those means (``seed_scores``)."""
    splitter = (StratifiedKFold if classification else KFold)(
        FOLDS, shuffle=True, random_state=0
    )
    start = time.perf_counter()
    scores, sparsity = [], []
    for seed in seeds:
        results = cross_validate(
            make_pipeline(
                StandardScaler(), clone(estimator).set_params(random_state=seed)
            ),
            X,
            y,
            cv=splitter,
            return_estimator=True,
        )
        scores.append(np.mean(results["test_score"]))
        fitted = [pipeline[-1] for pipeline in results["estimator"]]
        sparsity += [getattr(e, "learned_sparsity_", 0.0) for e in fitted]
    return {
        "score": float(np.mean(scores)),
        "seed_spread": float(np.max(scores) - np.min(scores)),
        "sparsity": float(np.mean(sparsity)),
        "seconds": time.perf_counter() - start,
        "seed_scores": scores,
    }


def gap(result: dict, baseline: dict) -> dict:
    """Ours minus scikit-learn's score, and its standard error over the seeds
    (paired: a seed gives both estimators the same initial weights)."""
    paired = np.subtract(result.pop("seed_scores"), baseline["seed_scores"])
    error = paired.std(ddof=1) / np.sqrt(len(paired)) if len(paired) > 1 else np.nan
    return {"gap": float(paired.mean()), "gap_se": float(error)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--variants",
        nargs="*",
        default=[
            "thesis start",
            "dense + ramp",
            "dense + late ramp, full",
            "dense + latest ramp, full",
            "defaults",
        ],
    )
    parser.add_argument("--seeds", type=int, default=len(SEEDS))
    args = parser.parse_args()
    seeds = tuple(range(args.seeds))
    warnings.simplefilter("ignore", ConvergenceWarning)
    rows = []
    for name, (X, y, classification) in data_sets().items():
        reference = (MLPClassifier if classification else MLPRegressor)()
        ours = (
            AdaptivePrunedMLPClassifier
            if classification
            else AdaptivePrunedMLPRegressor
        )
        baseline = score(reference, X, y, classification, seeds)
        rows.append(
            {
                "data": name,
                "model": type(reference).__name__,
                **{k: v for k, v in baseline.items() if k != "seed_scores"},
                "gap": "",
                "gap_se": "",
            }
        )
        print(rows[-1], flush=True)
        for variant in args.variants:
            result = score(
                ours(random_state=0, **VARIANTS[variant]), X, y, classification, seeds
            )
            difference = gap(result, baseline)
            rows.append({"data": name, "model": variant, **result, **difference})
            print(rows[-1], flush=True)
    write_results(
        "short_fits",
        rows=rows,
        title="Short fits: how a fit starts, against scikit-learn's MLPs",
        notes=f"{FOLDS}-fold shuffled CV (stratified for classification) of "
        "make_pipeline(StandardScaler(), estimator(random_state=seed)) for seeds "
        f"{seeds}, targets unscaled; score = accuracy or R^2, mean over folds and "
        "seeds; seed_spread = max - min of the seeds' means; gap = ours minus "
        "scikit-learn's (points of accuracy / R^2 x 100 are gap x 100), gap_se its "
        "standard error over the seeds (paired: a seed gives both estimators the "
        "same initial weights); sparsity "
        "= learned_sparsity_, mean over folds. Variants: "
        + "; ".join(f"{k}: {v or 'as shipped'}" for k, v in VARIANTS.items()),
    )


if __name__ == "__main__":
    main()
