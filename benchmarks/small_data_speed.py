"""Fit time on scikit-learn-sized data: ours against MLPClassifier / MLPRegressor.

Default estimators (hidden (100,), batch 'auto', Adam) on both sides, the same
``max_iter`` and ``tol=0, n_iter_no_change=inf`` so that both run every epoch,
the same float64 input, the same threads, in one process, rounds interleaved
(ours, theirs, ours, ...). Per data set: median fit seconds of each, the median
of the per-round ratios, and the cost per training step, next to two floors: a
plain PyTorch loop over the same network, and the same network trained by
skorch with every callback disabled (the least a loop that skorch manages
costs). Also: the first fit
in a fresh process against a later one (a 1-epoch fit on load_digits, import
excluded), the import times of ``sk_adaprune`` and of ``sklearn.neural_network``
with ``torch``, a 5-fold ``GridSearchCV`` over 4 values of ``lambda_`` against
the same search over 4 values of ``alpha`` with MLPClassifier, and a profile
of one of our load_digits fits (the functions with the most own time), and
the threshold's two routes (selection and the KDE summed at ``t``, or binning
and the FFT) timed by pool size, which sets ``_threshold.SMALL_POOL``.
Writes ``results/small_data_speed.md`` / ``.json``.
Run: ``python benchmarks/small_data_speed.py [--rounds N] [--decompose]
[--fits-against CHECKOUT] [--fixed-costs-against CHECKOUT]`` (nothing else
running: it is a timing).
"""

import argparse
import cProfile
import functools
import json
import math
import os
import pstats
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import (
    load_digits,
    make_classification,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import StandardScaler
from skorch import NeuralNet

import sk_adaprune
from _common import (
    RESULTS,
    baseline_package,
    commit_of,
    dense_mlp,
    in_turn,
    machine_info,
    markdown_table,
    write_results,
)
from _data import classification_splits, regression_splits
from sk_adaprune import (
    AdaptivePrunedMLPClassifier,
    AdaptivePrunedMLPRegressor,
)
from sk_adaprune._method import threshold as _threshold
from sk_adaprune._module import SoftMaskedMLP
from sk_adaprune._training.net import BatchIterator
from sk_adaprune._training.optim import FusedAdam

ALL_EPOCHS = dict(tol=0.0, n_iter_no_change=np.inf)


def data_sets():
    """``name -> (X, y, is_classification, max_iter, hidden_layer_sizes)``:
    the training rows of the benchmarks' shared splits with the default
    network, load_digits with two hidden layers (17,400 weights, near the
    small-pool route's limit), and a larger synthetic set."""
    splits = classification_splits()
    sets = {
        name: (X_train, y_train, True, 200, (100,))
        for name, (X_train, _, y_train, _) in splits.items()
    }
    X_train, _, y_train, _ = splits["load_digits"]
    sets["load_digits, hidden (100, 100)"] = (X_train, y_train, True, 200, (100, 100))
    X_train, _, y_train, _ = regression_splits()["load_diabetes"]
    sets["load_diabetes"] = (X_train, y_train, False, 200, (100,))
    X, y = make_classification(
        n_samples=20_000, n_features=40, n_informative=20, random_state=0
    )
    sets["make_classification 20000x40"] = (
        StandardScaler().fit_transform(X),
        y,
        True,
        50,
        (100,),
    )
    return sets


def timed_fit(estimator, X, y):
    start = time.perf_counter()
    estimator.fit(X, y)
    return time.perf_counter() - start, estimator


def _as_tensors(X, y, classify):
    """``X`` as float64, ``y`` as class indices or a float64 column, and the
    number of outputs: what the floors' dense networks train on."""
    X = torch.as_tensor(X, dtype=torch.float64)
    if classify:
        y = torch.as_tensor(np.unique(y, return_inverse=True)[1])
        return X, y, int(y.max()) + 1
    return X, torch.as_tensor(y, dtype=torch.float64).reshape(-1, 1), 1


def plain_torch_fit(X, y, classify, max_iter, seed, hidden=(100,)):
    """The floor of a PyTorch training loop: the same network (``hidden``,
    relu, float64), batches and Adam (``torch.optim.Adam(fused=True)``), a
    plain ``nn.Sequential`` with no mask, no threshold, no L2 term and no
    skorch; one ``loss.item()`` a step, as any loop that logs its loss."""
    generator = torch.Generator().manual_seed(seed)
    X, y, outputs = _as_tensors(X, y, classify)
    if classify:
        loss_fn = torch.nn.functional.cross_entropy
    else:
        loss_fn = lambda pred, true: 0.5 * torch.nn.functional.mse_loss(pred, true)  # noqa: E731
    network = dense_mlp(X.shape[1], outputs, seed, hidden).double()
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-3, fused=True)
    rows, batch = len(X), min(200, len(X))
    start = time.perf_counter()
    for _ in range(max_iter):
        order = torch.randperm(rows, generator=generator)
        for first in range(0, rows, batch):
            index = order[first : first + batch]
            optimizer.zero_grad()
            loss = loss_fn(network(X.index_select(0, index)), y.index_select(0, index))
            loss.backward()
            optimizer.step()
            loss.item()
    return time.perf_counter() - start


def skorch_loop_fit(X, y, classify, max_iter, seed, hidden=(100,)):
    """The floor of a skorch-managed loop: :func:`plain_torch_fit`'s network,
    loss (the squared error unhalved: the same cost) and fused Adam trained by
    skorch's ``NeuralNet`` with the estimators' batch iterator, no validation
    split and every callback disabled (``callbacks="disable"``: no epoch
    timer, no loss scoring, no printing), so that what it adds to the plain
    loop is skorch's epoch and batch machinery alone (its notifications,
    history records, the iterator)."""
    X, y, outputs = _as_tensors(X, y, classify)
    criterion = torch.nn.CrossEntropyLoss if classify else torch.nn.MSELoss
    net = NeuralNet(
        dense_mlp(X.shape[1], outputs, seed, hidden).double(),
        criterion,
        optimizer=torch.optim.Adam,
        optimizer__fused=True,
        lr=1e-3,
        max_epochs=max_iter,
        batch_size=min(200, len(X)),
        iterator_train=BatchIterator,
        iterator_train__shuffle=True,
        iterator_train__random_state=np.random.RandomState(seed),
        train_split=None,
        callbacks="disable",
        verbose=0,
    )
    start = time.perf_counter()
    net.fit(X, y)
    return time.perf_counter() - start


def compare(rounds):
    rows = []
    for name, (X, y, classify, max_iter, hidden) in data_sets().items():
        ours_kind = (
            AdaptivePrunedMLPClassifier if classify else AdaptivePrunedMLPRegressor
        )
        theirs_kind = MLPClassifier if classify else MLPRegressor
        ours_s, theirs_s, plain_s, loop_s, ratios = [], [], [], [], []
        for round_ in range(rounds):
            params = dict(
                hidden_layer_sizes=hidden,
                max_iter=max_iter,
                random_state=round_,
                **ALL_EPOCHS,
            )
            seconds, ours = timed_fit(ours_kind(**params), X, y)
            ours_s.append(seconds)
            seconds, theirs = timed_fit(theirs_kind(**params), X, y)
            theirs_s.append(seconds)
            plain_s.append(plain_torch_fit(X, y, classify, max_iter, round_, hidden))
            loop_s.append(skorch_loop_fit(X, y, classify, max_iter, round_, hidden))
            ratios.append(ours_s[-1] / theirs_s[-1])
            assert ours.n_iter_ == theirs.n_iter_ == max_iter
        steps = max_iter * math.ceil(len(X) / min(200, len(X)))
        rows.append(
            {
                "data": name,
                "rows": len(X),
                "weights": sum(c.size for c in theirs.coefs_),
                "epochs": max_iter,
                "steps": steps,
                "ours_fit_s": statistics.median(ours_s),
                "mlp_fit_s": statistics.median(theirs_s),
                "ratio": statistics.median(ratios),
                "ours_ms_per_step": 1e3 * statistics.median(ours_s) / steps,
                "mlp_ms_per_step": 1e3 * statistics.median(theirs_s) / steps,
                "plain_torch_ms_per_step": 1e3 * statistics.median(plain_s) / steps,
                "skorch_loop_ms_per_step": 1e3 * statistics.median(loop_s) / steps,
                "ours/plain_torch": statistics.median(
                    o / p for o, p in zip(ours_s, plain_s)
                ),
                "skorch_loop/plain_torch": statistics.median(
                    o / p for o, p in zip(loop_s, plain_s)
                ),
            }
        )
        print(rows[-1], flush=True)
    return rows


_FIRST_FIT = """
import time, warnings
import numpy as np
import torch
from skorch import NeuralNet
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from {module} import {name} as Estimator
warnings.simplefilter("ignore", ConvergenceWarning)
X, y = load_digits(return_X_y=True)
X = X / 16
times = []
for _ in range(2):
    start = time.perf_counter()
    Estimator(max_iter=1, random_state=0).fit(X, y)
    times.append(time.perf_counter() - start)
print(times[0], times[1])
"""

_IMPORT = (
    "import time; t = time.perf_counter(); {imports}; print(time.perf_counter() - t)"
)


def run_python(code, checkout=None):
    """``code`` in a fresh interpreter; ``checkout``: a directory whose
    ``sk_adaprune`` is imported instead of the installed one."""
    env = None if checkout is None else {**os.environ, "PYTHONPATH": str(checkout)}
    command = [sys.executable, "-c", code]
    # Run in the checkout: ``python -c`` puts the working directory ahead of
    # PYTHONPATH, so from this repository's root it would import ours.
    return subprocess.run(
        command, capture_output=True, text=True, check=True, env=env, cwd=checkout
    ).stdout.split()


def fixed_costs(rounds, baseline=None):
    """First and next 1-epoch fit and the imports, each in fresh processes,
    the candidates in turn every round; with ``baseline`` (a checkout of an
    earlier commit) its fits too."""
    rows = []
    ours = ("sk_adaprune", "AdaptivePrunedMLPClassifier")
    candidates = [("ours", *ours, None)]
    if baseline is not None:
        candidates.append((f"ours at {baseline}", *ours, baseline))
    candidates.append(
        ("MLPClassifier", "sklearn.neural_network", "MLPClassifier", None)
    )
    # Rounds outermost: the candidates take turns, so a drift in the
    # machine's speed reaches all of them alike.
    firsts = {label: [] for label, *_ in candidates}
    laters = {label: [] for label, *_ in candidates}
    for _ in range(rounds):
        for label, module, name, checkout in candidates:
            first, later = map(
                float,
                run_python(_FIRST_FIT.format(module=module, name=name), checkout),
            )
            firsts[label].append(first)
            laters[label].append(later)
    for label, *_ in candidates:
        rows.append(
            {
                "what": f"{label}: first 1-epoch fit in a process",
                "seconds": statistics.median(firsts[label]),
            }
        )
        rows.append(
            {
                "what": f"{label}: the next 1-epoch fit",
                "seconds": statistics.median(laters[label]),
            }
        )
    imports = {
        "import sk_adaprune": "import sk_adaprune",
        "import sklearn.neural_network, torch": (
            "import sklearn.neural_network; import torch"
        ),
    }
    times = {label: [] for label in imports}
    for _ in range(rounds):  # in turn, as the fits above
        for label, code in imports.items():
            times[label].append(float(run_python(_IMPORT.format(imports=code))[0]))
    for label in imports:
        rows.append({"what": label, "seconds": statistics.median(times[label])})
    for row in rows:
        print(row, flush=True)
    return rows


def grid_searches():
    X, y = load_digits(return_X_y=True)
    X = X / 16
    rows = []
    for label, estimator, grid in (
        (
            "ours, lambda_ in (1, 3, 10, 30)",
            AdaptivePrunedMLPClassifier(random_state=0),
            {"lambda_": [1.0, 3.0, 10.0, 30.0]},
        ),
        (
            "MLPClassifier, alpha in (1e-5, 1e-4, 1e-3, 1e-2)",
            MLPClassifier(random_state=0),
            {"alpha": [1e-5, 1e-4, 1e-3, 1e-2]},
        ),
    ):
        seconds, _ = timed_fit(GridSearchCV(estimator, grid, cv=5), X, y)
        rows.append({"search": label, "fits": 21, "seconds": seconds})
        print(rows[-1], flush=True)
    return rows


def _short(path: str) -> str:
    """A profiled function's file without the machine's folders: from the
    package or ``site-packages`` on."""
    for anchor in ("site-packages/", f"{Path(__file__).resolve().parent.parent}/"):
        path = path.split(anchor)[-1]
    return path


def profile():
    X, y = load_digits(return_X_y=True)
    X = X / 16
    AdaptivePrunedMLPClassifier(max_iter=1).fit(X, y)  # the first fit's imports
    profiler = cProfile.Profile()
    profiler.enable()
    AdaptivePrunedMLPClassifier(max_iter=100, random_state=0, **ALL_EPOCHS).fit(X, y)
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = stats.total_tt
    entries = sorted(stats.stats.items(), key=lambda item: -item[1][2])[:12]
    return [
        {
            "function": f"{_short(path)}:{line}({function})",
            "own_s": own,
            "share": own / total,
        }
        for (path, line, function), (_, _, own, _, _) in entries
    ]


def bare_loop(module, optimizer, X, y, epochs, seed, learned_ratio):
    """Milliseconds per step of a training loop over ``module`` without
    skorch: the batches of :class:`BatchIterator` (a new permutation per
    epoch, ``index_select``), the softmax loss, one ``loss.item()``, and with
    ``learned_ratio`` the estimator's per-step extras: the sparsity term's
    gradient on ``r`` (lambda_ 10) and the clamps."""
    X = torch.as_tensor(X, dtype=torch.float64)
    y = torch.as_tensor(np.unique(y, return_inverse=True)[1])
    rng = np.random.RandomState(seed)
    rows, batch = len(X), min(200, len(X))
    steps = 0
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.from_numpy(rng.permutation(rows))
        for first in range(0, rows, batch):
            index = order[first : first + batch]
            optimizer.zero_grad()
            module.train()
            loss = torch.nn.functional.cross_entropy(
                module(X.index_select(0, index)), y.index_select(0, index)
            )
            loss.item()
            loss.backward()
            if learned_ratio:
                module.ratio.grad.add_(-20.0 * (1.0 - module.ratio.item()))
            optimizer.step()
            if learned_ratio:
                module.clamp_(1e-6)
            steps += 1
    return 1e3 * (time.perf_counter() - start) / steps


def step_decomposition(rounds):
    """Where a pruning step goes on load_digits: the whole fit (every step
    masked: no ramp, whose first steps train unmasked, and the masked weight
    gradient, as the bare loop's), the same module trained by a bare loop (so
    the difference is skorch's loop, the callbacks and the records), the
    module hardened (no mask and no threshold: the difference is theirs), and
    the plain torch floor; rounds interleaved, medians."""
    X, _, y, _ = classification_splits()["load_digits"]
    epochs = 200
    steps = epochs * math.ceil(len(X) / 200)
    AdaptivePrunedMLPClassifier(max_iter=1).fit(X, y)  # the first fit's imports
    times = {name: [] for name in ("fit", "soft", "hardened", "plain")}
    for round_ in range(rounds):
        params = dict(
            max_iter=epochs,
            random_state=round_,
            r_ramp=None,
            weight_gradient="masked",
            **ALL_EPOCHS,
        )
        seconds, _ = timed_fit(AdaptivePrunedMLPClassifier(**params), X, y)
        times["fit"].append(1e3 * seconds / steps)
        for hardened in (False, True):
            module = SoftMaskedMLP(
                X.shape[1],
                (100,),
                10,
                r_init=0.0,
                weight_gradient="masked",
                seed=round_,
                dtype=torch.float64,
            )
            if hardened:
                module.harden()
            groups = [{"params": p} for p in module.parameter_groups().values()]
            times["hardened" if hardened else "soft"].append(
                bare_loop(module, FusedAdam(groups), X, y, epochs, round_, not hardened)
            )
        times["plain"].append(1e3 * plain_torch_fit(X, y, True, epochs, round_) / steps)
    fit, soft, hardened, plain = (statistics.median(times[k]) for k in times)
    parts = [
        ("the whole fit (estimator, skorch)", fit),
        ("our module, bare loop, soft mask", soft),
        ("our module, bare loop, hardened (no mask, no threshold)", hardened),
        ("plain torch nn.Sequential, fused Adam", plain),
        ("= skorch loop, callbacks, records (fit - soft)", fit - soft),
        ("= soft mask and threshold (soft - hardened)", soft - hardened),
    ]
    return [
        {"what": what, "ms_per_step": ms, "share_of_fit": ms / fit}
        for what, ms in parts
    ]


def threshold_routes(sizes=(1000, 3000, 7400, 10_000, 15_000, 20_000, 40_000)):
    """Microseconds per ``threshold_and_density`` call of each route, on 64
    different pools per size (signed, Glorot-like weights, ratio 0.7) called
    in turn: one pool called again and again lets the branch predictor learn
    it, which flatters a selection several times over."""
    rows = []
    default = _threshold.SMALL_POOL
    rng = np.random.default_rng(0)
    try:
        for size in sizes:
            for dtype in (np.float32, np.float64):
                pools = [
                    torch.from_numpy(rng.uniform(-0.2, 0.2, size).astype(dtype))
                    for _ in range(64)
                ]
                row = {"pool": size, "dtype": np.dtype(dtype).name}
                for route, limit in (("selection_us", size), ("binned_us", 0)):
                    _threshold.SMALL_POOL = limit
                    for pool in pools:  # warm-up
                        _threshold.threshold_and_density(pool, 0.7)
                    start = time.perf_counter()
                    for _ in range(5):
                        for pool in pools:
                            _threshold.threshold_and_density(pool, 0.7)
                    row[route] = (time.perf_counter() - start) / (5 * 64) * 1e6
                rows.append(row)
                print(row, flush=True)
    finally:
        _threshold.SMALL_POOL = default
    return rows


def _fit_seconds(kind, round_, X, y, params):
    return timed_fit(kind(random_state=round_, **params), X, y)[0]


def fits_against(rounds, baseline):
    """Each data set's fit by ours and by the sk_adaprune of ``baseline`` in
    this process, after a 1-epoch fit of each, in turn (who goes first
    alternates by round); medians. One process: this host's speed drifts
    between processes by more than the differences measured."""
    packages = {"ours": sk_adaprune, "baseline": baseline_package(baseline)}
    rows = []
    for name, (X, y, classify, max_iter, hidden) in data_sets().items():
        kinds = {
            side: package.AdaptivePrunedMLPClassifier
            if classify
            else package.AdaptivePrunedMLPRegressor
            for side, package in packages.items()
        }
        for kind in kinds.values():  # what the first fit builds
            kind(hidden_layer_sizes=hidden, max_iter=1).fit(X, y)
        params = dict(hidden_layer_sizes=hidden, max_iter=max_iter, **ALL_EPOCHS)
        seconds = functools.partial(_fit_seconds, X=X, y=y, params=params)
        timed = in_turn(rounds, kinds, seconds)
        rows.append(
            {
                "data": name,
                "ours_fit_s": timed["ours"],
                "baseline_fit_s": timed["baseline"],
                "ours_vs_baseline": timed["ratio"],
            }
        )
        print(rows[-1], flush=True)
    return rows


def write_fits_against(rounds, baseline) -> None:
    write_results(
        "small_data_speed_against",
        "Fit time against an earlier commit",
        fits_against(rounds, baseline),
        notes=f"The data sets and fits of small_data_speed.md (float64, every epoch "
        f"runs), ours and the sk_adaprune of {baseline} (commit "
        f"{commit_of(baseline)}) in one process, each after a 1-epoch fit, in turn "
        f"(who goes first alternates), {rounds} rounds (random_state = round), "
        "medians; ours_vs_baseline: the median of the per-round ratios.",
    )


def write_fixed_costs(rounds, baseline) -> None:
    commit = commit_of(baseline)
    write_results(
        "small_data_speed_fixed_costs",
        "Fixed costs of a fit, against an earlier commit",
        fixed_costs(rounds, baseline),
        notes=f"Fresh processes, {rounds} interleaved rounds, medians; the baseline "
        f"is the sk_adaprune of {baseline} (commit {commit}). The first fit includes "
        "what is imported or built on first use.",
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--fixed-costs-against",
        metavar="CHECKOUT",
        help="only the fixed costs, ours against the sk_adaprune of CHECKOUT (a "
        "checkout of an earlier commit); writes small_data_speed_fixed_costs.md",
    )
    parser.add_argument(
        "--fits-against",
        metavar="CHECKOUT",
        help="only the data sets' fits, ours against the sk_adaprune of CHECKOUT; "
        "writes small_data_speed_against.md",
    )
    parser.add_argument(
        "--decompose",
        action="store_true",
        help="only where a load_digits step goes (fit, bare loops, plain torch); "
        "writes small_data_speed_decomposition.md",
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    if args.decompose:
        write_results(
            "small_data_speed_decomposition",
            "Where a load_digits step goes",
            step_decomposition(args.rounds),
            notes=f"load_digits training split (1,347 rows), hidden (100,), float64, "
            f"200 epochs of 7 steps, {args.rounds} interleaved rounds, medians. A "
            "bare loop trains our SoftMaskedMLP with the estimator's optimizer, "
            "batches, loss and per-step extras, without skorch; hardened: the same "
            "module after harden(), whose forward pass has no mask and no threshold.",
        )
        return
    if args.fixed_costs_against:
        write_fixed_costs(args.rounds, args.fixed_costs_against)
        return
    if args.fits_against:
        write_fits_against(args.rounds, args.fits_against)
        return
    comparison = compare(args.rounds)
    fixed = fixed_costs(args.rounds)
    searches = grid_searches()
    hot = profile()
    routes = threshold_routes()
    info = machine_info()
    machine = ", ".join(f"{k}: {v}" for k, v in info.items())
    text = (
        "# Fit time on scikit-learn-sized data\n\n"
        f"Default estimators on both sides, float64 X, tol=0 and n_iter_no_change=inf "
        f"(every epoch runs), {args.rounds} interleaved rounds (random_state = round); "
        "medians. ratio: median of the per-round ours / MLP ratios (ours/plain_torch "
        "likewise). Steps: epochs x "
        "mini-batches of min(200, rows). plain_torch: the floor of a PyTorch loop, "
        "the same network, batches and fused Adam as a bare nn.Sequential (no mask, "
        "no threshold, no L2, no skorch), timed in the same rounds. skorch_loop: "
        "that network, loss and Adam trained by skorch's NeuralNet with our batch "
        "iterator, no validation split and every callback disabled: the floor of a "
        "loop that skorch manages, whose excess over plain_torch is skorch's epoch "
        "and batch machinery alone.\n\n"
        + markdown_table(comparison)
        + "\n\nFixed costs (fresh processes; the first fit includes what is imported "
        "or built on first use):\n\n"
        + markdown_table(fixed)
        + "\n\n5-fold GridSearchCV on load_digits (X / 16), 4 candidates and the "
        "refit, sequential:\n\n"
        + markdown_table(searches)
        + "\n\nWhere our step's time goes: cProfile of one load_digits fit (100 "
        "epochs, after a first fit), the 12 functions with the most own time "
        "(profiling slows Python-level code more than the kernels):\n\n"
        + markdown_table(hot)
        + "\n\nThe threshold's routes by pool size (microseconds per call of "
        "threshold_and_density, 64 different pools called in turn): selection on "
        "the host and the KDE summed at t, or binning and the FFT density. "
        f"Pools up to SMALL_POOL = {_threshold.SMALL_POOL:,} take the first.\n\n"
        + markdown_table(routes)
        + f"\n\nMachine: {machine}\n"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "small_data_speed.md").write_text(text)
    (RESULTS / "small_data_speed.json").write_text(
        json.dumps(
            {
                "machine": info,
                "comparison": comparison,
                "fixed_costs": fixed,
                "grid_searches": searches,
                "profile": hot,
                "threshold_routes": routes,
            },
            indent=2,
        )
        + "\n"
    )
    print(text)


if __name__ == "__main__":
    main()
