"""What choosing ``lambda_`` costs: the CV estimators against GridSearchCV.

On each set, three searches over the same folds (5 shuffled, stratified for
classification), each followed by the refit on all rows, float64, in one
process with nothing else running:

1. ``GridSearchCV(MLPClassifier / MLPRegressor(random_state=0))`` over 6
   values of ``alpha`` (1e-5 to 1), what a user compares with;
2. ``GridSearchCV`` over the single estimator's ``lambda_`` (6 values,
   0.3 to 100), one fit after another;
3. ``AdaptivePrunedMLPClassifierCV / RegressorCV`` over the same 6 values,
   whose (lambda_, fold) models train as stacked networks.

Each search runs in a child process of its own: wall time of ``fit`` (the
import and the data excluded) and the child's peak resident memory; with
``--rounds R`` each side R times in turn, medians (the ratios: medians of
each round's). 2. and
3. must give the same answers (the chosen ``lambda_`` and every mean score
and sparsity, compared exactly). Inputs: load_digits / 16; the other sets
standardised once on all rows (a benchmark's shortcut; every side sees the
same X). make_classification runs 50 epochs at most, on every side.

Writes ``results/cv_speed.md`` / ``.json``. Run: ``python
benchmarks/cv_speed.py [--sets NAME ...]`` (about ten minutes).

``--sizes``: where stacking stops paying. K = 6 models of a network of each
size (784 inputs, 10 classes, 2,000 rows of Fashion-MNIST's shape, batch
200, float32, 3 epochs) trained stacked (one stack, whatever its size) and
one after another, in one process, alternating; the stacked time over the
sequential one per size (``results/cv_speed_sizes.md``).
"""

import argparse
import json
import statistics
import subprocess
import sys
import textwrap

from _common import write_results

LAMBDAS = [0.3, 1.0, 3.0, 10.0, 30.0, 100.0]
ALPHAS = [1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0]
SETS = {
    # name: (loader code, classification, max_iter)
    "load_digits": ("X, y = load_digits(return_X_y=True); X = X / 16", True, 200),
    "load_breast_cancer": (
        "X, y = load_breast_cancer(return_X_y=True); X = scale(X)",
        True,
        200,
    ),
    "load_wine": ("X, y = load_wine(return_X_y=True); X = scale(X)", True, 200),
    "make_friedman1 2000": (
        "X, y = make_friedman1(2000, noise=0.5, random_state=0); X = scale(X)",
        False,
        200,
    ),
    "make_classification 20000x40": (
        "X, y = make_classification(n_samples=20000, n_features=40, "
        "n_informative=20, random_state=0); X = scale(X)",
        True,
        50,
    ),
}
SIDES = ("MLP GridSearchCV over alpha", "ours GridSearchCV", "ours CV estimator")

CHILD = """
import json, resource, time, warnings
import numpy as np
from sklearn.datasets import (load_breast_cancer, load_digits, load_wine,
    make_classification, make_friedman1)
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import scale
from sk_adaprune import (AdaptivePrunedMLPClassifier, AdaptivePrunedMLPClassifierCV,
    AdaptivePrunedMLPRegressor, AdaptivePrunedMLPRegressorCV)
from sk_adaprune.model_selection import sparsity_scorer
warnings.simplefilter("ignore", ConvergenceWarning)
{load}
classify, max_iter, side = {classify}, {max_iter}, {side!r}
splitter = StratifiedKFold if classify else KFold
cv = list(splitter(5, shuffle=True, random_state=0).split(X, y))
common = dict(random_state=0, max_iter=max_iter)
if side == "MLP GridSearchCV over alpha":
    mlp = MLPClassifier if classify else MLPRegressor
    search = GridSearchCV(mlp(**common), {{"alpha": {alphas}}}, cv=cv)
elif side == "ours GridSearchCV":
    single = AdaptivePrunedMLPClassifier if classify else AdaptivePrunedMLPRegressor
    search = GridSearchCV(single(**common), {{"lambda_": {lambdas}}}, cv=cv,
        scoring={{"score": None, "sparsity": sparsity_scorer}}, refit="score")
else:
    cv_estimator = (AdaptivePrunedMLPClassifierCV if classify
        else AdaptivePrunedMLPRegressorCV)
    search = cv_estimator({lambdas}, cv=cv, **common)
start = time.perf_counter()
search.fit(X, y)
seconds = time.perf_counter() - start
results = search.cv_results_
out = {{
    "seconds": seconds,
    "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "mean_scores": results["mean_test_score"].tolist(),
    "std_scores": results["std_test_score"].tolist(),
    "best_index": int(search.best_index_),
}}
if side != "MLP GridSearchCV over alpha":
    out["mean_sparsity"] = results["mean_test_sparsity"].tolist()
print("RESULT" + json.dumps(out))
"""


def run_side(name: str, side: str) -> dict:
    load, classify, max_iter = SETS[name]
    code = CHILD.format(
        load=load,
        classify=classify,
        max_iter=max_iter,
        side=side,
        alphas=ALPHAS,
        lambdas=LAMBDAS,
    )
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT"))
    return json.loads(line[len("RESULT") :])


def compare(name: str, rounds: int = 1) -> dict:
    """The three searches on ``name``, ``rounds`` times in turn (the order
    reversed every other round); each side's median time and peak memory."""
    runs = {side: [] for side in SIDES}
    for round_ in range(rounds):
        order = SIDES if round_ % 2 == 0 else SIDES[::-1]
        for side in order:
            runs[side].append(run_side(name, side))
    mlp, grid, stacked = ({**r[0], **_medians(r)} for r in runs.values())
    same = (
        grid["best_index"] == stacked["best_index"]
        and grid["mean_scores"] == stacked["mean_scores"]
        and grid["mean_sparsity"] == stacked["mean_sparsity"]
    )
    row = {
        "data": name,
        "MLP alpha search s": mlp["seconds"],
        "ours GridSearchCV s": grid["seconds"],
        "ours CV s": stacked["seconds"],
        # Each round's sides ran next to each other: the ratios of a round,
        # then their median, hold up better than a ratio of medians where the
        # machine's speed drifts between rounds.
        "CV / MLP": _paired_ratio(runs["ours CV estimator"], runs[SIDES[0]]),
        "CV / ours GridSearchCV": _paired_ratio(
            runs["ours CV estimator"], runs["ours GridSearchCV"]
        ),
        "rounds s (MLP, grid, CV)": "; ".join(
            ", ".join(f"{run['seconds']:.2f}" for run in runs[side]) for side in SIDES
        ),
        "peak MB (MLP, grid, CV)": "{:.0f}, {:.0f}, {:.0f}".format(
            mlp["peak_mb"], grid["peak_mb"], stacked["peak_mb"]
        ),
        "lambda_ chosen (grid, CV)": "{}, {}".format(
            LAMBDAS[grid["best_index"]], LAMBDAS[stacked["best_index"]]
        ),
        "best mean score (MLP, ours)": "{:.4f}, {:.4f}".format(
            max(mlp["mean_scores"]), stacked["mean_scores"][stacked["best_index"]]
        ),
        "identical answers": same,
        "max mean-score difference": max(
            abs(a - b) for a, b in zip(grid["mean_scores"], stacked["mean_scores"])
        ),
        "folds' std (median over values)": statistics.median(grid["std_scores"]),
    }
    print(row, flush=True)
    return row


SIZES = [(100,), (256,), (256, 256), (512, 512), (1024, 1024)]


def stacking_sizes(rounds: int = 3) -> list[dict]:
    import time
    import warnings

    import numpy as np
    from sklearn.exceptions import ConvergenceWarning

    import sk_adaprune._base as base
    from sk_adaprune import AdaptivePrunedMLPClassifier

    warnings.simplefilter("ignore", ConvergenceWarning)
    rng = np.random.RandomState(0)
    X = rng.normal(size=(2000, 784)).astype(np.float32)
    y = rng.randint(0, 10, 2000)
    # One stack, whatever its size.
    base._STACK_WEIGHTS = base._STACK_VALUES = base._STACKED_MODEL_WEIGHTS = 2**40
    lambdas = [0.3, 1.0, 3.0, 10.0, 30.0, 100.0]
    rows = []
    for hidden in SIZES:
        params = dict(
            hidden_layer_sizes=hidden,
            batch_size=200,
            max_iter=3,
            n_iter_no_change=100,
            random_state=0,
        )

        def stacked(params=params):
            fits = []
            for lam in lambdas:
                model = AdaptivePrunedMLPClassifier(lambda_=lam, **params)
                fits.append((model, model._begin_fit(X, y, None, None, False)))
            start = time.perf_counter()
            base.train_stacked(fits)
            return time.perf_counter() - start

        def sequential(params=params):
            start = time.perf_counter()
            for lam in lambdas:
                AdaptivePrunedMLPClassifier(lambda_=lam, **params).fit(X, y)
            return time.perf_counter() - start

        times = {"stacked": [], "sequential": []}
        for round_ in range(rounds):
            order = [stacked, sequential] if round_ % 2 == 0 else [sequential, stacked]
            for run in order:
                times[run.__name__].append(run())
        sizes = [784, *hidden, 10]
        weights = sum(a * b for a, b in zip(sizes, sizes[1:]))
        row = {
            "hidden": str(hidden),
            "weights per model": weights,
            "stacked s": statistics.median(times["stacked"]),
            "one after another s": statistics.median(times["sequential"]),
        }
        row["stacked / one after another"] = (
            row["stacked s"] / row["one after another s"]
        )
        print(row, flush=True)
        rows.append(row)
    return rows


def _paired_ratio(runs: list[dict], baselines: list[dict]) -> float:
    """The median over rounds of one round's ``runs`` time over its
    ``baselines`` time."""
    return statistics.median(
        run["seconds"] / baseline["seconds"] for run, baseline in zip(runs, baselines)
    )


def _medians(runs: list[dict]) -> dict:
    return {
        key: statistics.median(run[key] for run in runs)
        for key in ("seconds", "peak_mb")
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sets", nargs="*", default=list(SETS), choices=list(SETS))
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--sizes", action="store_true")
    parser.add_argument(
        "--name", default="cv_speed", help="the results files' name (results/NAME)"
    )
    args = parser.parse_args()
    if args.sizes:
        notes = (
            "6 models (lambda_ 0.3 to 100) of 784-hidden-10 on 2,000 rows of "
            "random float32 inputs, batch 200, 3 epochs, trained in one stack "
            "and one after another (each as fit), 3 rounds alternating, medians "
            "(`python benchmarks/cv_speed.py --sizes`). Above a ratio of 1 "
            "stacking does not pay."
        )
        write_results(
            "cv_speed_sizes", "Where stacking stops paying", stacking_sizes(), notes
        )
        return
    rows = [compare(name, args.rounds) for name in args.sets]
    notes = (
        f"5 shuffled folds (stratified for classification), {len(LAMBDAS)} values "
        f"of lambda_ ({LAMBDAS}) or alpha ({ALPHAS}), refit included, float64, "
        "random_state=0, every search in a child process of its own, one at a "
        f"time, {args.rounds} round(s) in turn, medians (`python "
        f"benchmarks/cv_speed.py {' '.join(sys.argv[1:])}`). s: wall seconds of fit; "
        "ratios: the median over rounds of each round's ratio (a round's "
        "searches run one after another); rounds s: each round's seconds; "
        "peak MB: the child's peak resident memory. identical answers: the CV "
        "estimator's chosen lambda_, mean scores and mean sparsities equal "
        "GridSearchCV's over the single estimator exactly; otherwise compare "
        "the largest difference of a value's mean score with the folds' std "
        "of GridSearchCV's scores. Targets on "
        "load_digits: CV <= MLP's alpha search, and <= 0.4x our GridSearchCV."
    )
    write_results(args.name, "Choosing lambda_: the CV estimators' cost", rows, notes)


if __name__ == "__main__":
    main()
