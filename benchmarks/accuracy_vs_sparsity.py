"""Accuracy against sparsity: ours vs dense MLPs and standard magnitude pruning.

784-512-512-10 on Fashion-MNIST (or the synthetic stand-in), ReLU, Adam, the
same epochs and batch size for every method, several seeds:

1. MLPClassifier; 2. the same MLP trained densely in plain torch;
3. ours at default parameters, without the fine-tuning phase, without the
   ramp on r (r_ramp=None), with the thesis's weight gradient
   (weight_gradient='full'), with the previous defaults (r_init=0.5, no
   phase, no ramp, the thesis's gradient), and over a lambda_ sweep;
4. fixed-ratio soft-mask pruning (r frozen at our learned sparsity: PDP, as
   published, without a fine-tuning phase);
5. one-shot global L1 magnitude pruning (torch.nn.utils.prune) to our learned
   sparsity after 2/3 of the epochs, fine-tuned for the rest;
6. gradual magnitude pruning (Zhu & Gupta 2017 cubic schedule) to our learned
   sparsity, and to the sparsity of every run of the lambda_ sweep;
7. ours with ``prune='neurons'`` over a lambda_ sweep, each seed's fits in
   turn with a fit of the default (weights): the fraction of weights whole
   units remove, the accuracy at it, and the training time of the two.
Also: LeNet-300-100 (784-300-100-10, 10 epochs) dense and over lambda_; final
sparsity from r_init in {0, 0.1, ..., 0.9} with and without lambda_; load_digits
(MLPClassifier, ours with the previous and the current defaults); and
AdaptivePrunedMLPRegressor vs MLPRegressor on load_diabetes and
make_friedman1, with the previous and the current defaults.

Writes ``results/accuracy_vs_sparsity[_quick].md``/``.json``,
``results/accuracy_vs_sparsity_neurons[_quick].md``/``.json`` (7.) and PNG
plots. Run: ``python benchmarks/accuracy_vs_sparsity.py [--quick]
[--neurons]`` (``--quick``: a 10k-sample subset, 3 epochs, 1 seed; minutes
instead of about two hours; ``--neurons``: only 7., about ten minutes, and
the frontier redrawn with the other methods' rows of the last full run).
"""

import argparse
import json
import math
import time
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn.utils import prune  # noqa: E402

from _common import (  # noqa: E402
    HIDDEN,
    RESULTS,
    dense_mlp,
    fixed_epochs,
    markdown_table,
    summarise,
    write_results,
)
from _data import load_fashion_mnist_or_stand_in, regression_splits  # noqa: E402
from sk_adaprune import AdaptivePrunedMLPClassifier, AdaptivePrunedMLPRegressor  # noqa: E402


def linears(model):
    return [m for m in model if isinstance(m, nn.Linear)]


def train_torch(model, X, y, epochs, batch_size, seed, loss, after_step=None):
    """Adam (lr 1e-3) over shuffled mini-batches; ``after_step(step)`` hook."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.RandomState(seed)
    X, y = torch.from_numpy(X), torch.from_numpy(y)
    step = 0
    for _ in range(epochs):
        order = torch.from_numpy(rng.permutation(len(X)))
        for start in range(0, len(X), batch_size):
            rows = order[start : start + batch_size]
            optimizer.zero_grad()
            loss(model(X[rows]), y[rows]).backward()
            optimizer.step()
            step += 1
            if after_step is not None:
                after_step(step)
    return model


def prune_globally_to(model, sparsity):
    """Global L1 pruning of the Linear weights up to ``sparsity`` in total."""
    parameters = [(layer, "weight") for layer in linears(model)]
    total = sum(layer.weight.numel() for layer in linears(model))
    current = sum(int((layer.weight == 0).sum()) for layer in linears(model)) / total
    if sparsity > current:
        # torch's amount applies to the weights not pruned yet.
        amount = (sparsity - current) / (1 - current)
        prune.global_unstructured(
            parameters, pruning_method=prune.L1Unstructured, amount=amount
        )


def weight_sparsity(model):
    weights = [layer.weight for layer in linears(model)]
    return sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)


def accuracy_of(model, X, y):
    with torch.no_grad():
        return float((model(torch.from_numpy(X)).argmax(1).numpy() == y).mean())


def cubic_schedule(rows, epochs, batch_size, prune_to_share):
    """Zhu & Gupta's cubic schedule as a ``train_torch`` ``after_step`` hook:
    over 10%..75% of the steps, 4 prunings an epoch, ``prune_to_share(share)``
    with ``share = 1 - (1 - progress)^3`` of the final pruning."""
    steps_per_epoch = math.ceil(rows / batch_size)
    total_steps = epochs * steps_per_epoch
    begin, end = total_steps // 10, (3 * total_steps) // 4
    every = max(1, steps_per_epoch // 4)

    def cubic(step):
        if begin <= step <= end and (step - begin) % every == 0:
            progress = (step - begin) / max(1, end - begin)
            prune_to_share(1 - (1 - progress) ** 3)

    return cubic


def gradual_pruning(data, epochs, batch_size, seed, target, hidden=HIDDEN):
    """Global magnitude pruning to ``target`` along :func:`cubic_schedule`."""
    X, y, _, _ = data
    model = dense_mlp(784, 10, seed, hidden)
    cubic = cubic_schedule(
        len(X),
        epochs,
        batch_size,
        lambda share: prune_globally_to(model, target * share),
    )
    loss = nn.functional.cross_entropy
    train_torch(model, X, y, epochs, batch_size, seed, loss, after_step=cubic)
    prune_globally_to(model, target)
    return model


# r_init=0.5, no fine-tuning phase, no ramp, the thesis's weight gradient:
# the defaults before any of them existed.
PREVIOUS_DEFAULTS = dict(
    r_init=0.5, finetune_fraction=0.0, r_ramp=None, weight_gradient="full"
)
NO_PHASE = dict(finetune_fraction=0.0)
NO_RAMP = dict(r_ramp=None)
THESIS_GRADIENT = dict(weight_gradient="full")
R_INITS = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9)


def run_classification(data, hidden, epochs, batch_size, seeds, lambdas, full=True):
    """Every method on one network; ``full=False``: dense, ours and gradual only."""
    X, y, X_test, y_test = data
    ce = nn.functional.cross_entropy
    network = "-".join(map(str, (784, *hidden, 10)))
    rows = []

    def record(method, seed, model_accuracy, sparsity, seconds, lam=""):
        rows.append(
            {
                "network": network,
                "method": method,
                "lambda_": lam,
                "seed": seed,
                "accuracy": model_accuracy,
                "sparsity": sparsity,
                "fit_s": seconds,
            }
        )
        print(rows[-1], flush=True)

    def record_torch(method, seed, model, start, **tags):
        accuracy = accuracy_of(model, X_test, y_test)
        seconds = time.perf_counter() - start
        record(method, seed, accuracy, weight_sparsity(model), seconds, **tags)

    def ours(method, seed, lam="", **params):
        start = time.perf_counter()
        model = AdaptivePrunedMLPClassifier(random_state=seed, **common, **params).fit(
            X, y
        )
        seconds = time.perf_counter() - start
        record(
            method,
            seed,
            model.score(X_test, y_test),
            model.learned_sparsity_,
            seconds,
            lam,
        )
        return model

    def gradual(method, seed, target, **tags):
        start = time.perf_counter()
        model = gradual_pruning(data, epochs, batch_size, seed, target, hidden)
        record_torch(method, seed, model, start, **tags)

    common = fixed_epochs(hidden, batch_size, epochs)
    default_lambda = AdaptivePrunedMLPClassifier().lambda_
    for seed in seeds:
        if full:
            start = time.perf_counter()
            mlp = MLPClassifier(random_state=seed, **common).fit(X, y)
            record(
                "MLPClassifier",
                seed,
                mlp.score(X_test, y_test),
                0.0,
                time.perf_counter() - start,
            )

        start = time.perf_counter()
        dense = train_torch(
            dense_mlp(784, 10, seed, hidden), X, y, epochs, batch_size, seed, ce
        )
        record_torch("dense (torch)", seed, dense, start)

        default = ours("ours (default)", seed, lam=default_lambda)
        target = default.learned_sparsity_
        if full:
            ours("ours, no fine-tuning phase", seed, **NO_PHASE)
            ours("ours, no r_ramp", seed, **NO_RAMP)
            ours("ours, thesis's weight gradient", seed, **THESIS_GRADIENT)
            ours("ours, previous defaults", seed, **PREVIOUS_DEFAULTS)
        gradual(
            "gradual magnitude (Zhu & Gupta), told our sparsity",
            seed,
            target,
            lam=default_lambda,
        )
        for lam in lambdas:
            model = ours(f"ours lambda_={lam:g}", seed, lam=lam, lambda_=lam)
            gradual(
                f"gradual magnitude, told lambda_={lam:g}'s sparsity",
                seed,
                model.learned_sparsity_,
                lam=lam,
            )
        if not full:
            continue

        start = time.perf_counter()
        pdp = AdaptivePrunedMLPClassifier(
            r_init=min(target, 0.9999),
            lr_r=0.0,
            random_state=seed,
            **common,
            **NO_PHASE,
        ).fit(X, y)
        record(
            "fixed-ratio soft mask (PDP)",
            seed,
            pdp.score(X_test, y_test),
            pdp.learned_sparsity_,
            time.perf_counter() - start,
        )

        start = time.perf_counter()
        one_shot = dense_mlp(784, 10, seed, hidden)
        first = max(1, (2 * epochs) // 3)
        train_torch(one_shot, X, y, first, batch_size, seed, ce)
        prune_globally_to(one_shot, target)
        train_torch(one_shot, X, y, epochs - first, batch_size, seed + 1, ce)
        record_torch("one-shot magnitude + fine-tune", seed, one_shot, start)
    return rows


NEURONS = "ours, prune='neurons'"
NEURON_COLUMNS = (
    "method",
    "lambda_",
    "accuracy_mean",
    "accuracy_std",
    "sparsity_mean",
    "sparsity_std",
    "units_kept_mean",
    "units_kept_std",
    "fit_s_mean",
    "fit_s_std",
    "runs",
)


def run_neurons(data, epochs, batch_size, seeds, lambdas) -> list[dict]:
    """7.: per seed, the default (weights) and ``prune='neurons'`` at each of
    ``lambdas``, fitted in turn: accuracy, weights removed, units kept and
    the wall time of each fit."""
    X, y, X_test, y_test = data
    common = fixed_epochs(HIDDEN, batch_size, epochs)
    default_lambda = AdaptivePrunedMLPClassifier().lambda_
    rows = []
    for seed in seeds:
        for method, lam, params in (
            ("ours (default)", default_lambda, {}),
            *((NEURONS, lam, {"prune": "neurons", "lambda_": lam}) for lam in lambdas),
        ):
            start = time.perf_counter()
            model = AdaptivePrunedMLPClassifier(
                random_state=seed, **common, **params
            ).fit(X, y)
            seconds = time.perf_counter() - start
            rows.append(
                {
                    "network": "784-512-512-10",
                    "method": method,
                    "lambda_": lam,
                    "seed": seed,
                    "accuracy": model.score(X_test, y_test),
                    "sparsity": model.learned_sparsity_,
                    "units_kept": sum(c.shape[1] for c in model.coefs_[:-1]),
                    "fit_s": seconds,
                }
            )
            print(rows[-1], flush=True)
    return rows


def write_neurons(rows, suffix) -> list[dict]:
    """Summarise 7., write ``accuracy_vs_sparsity_neurons{suffix}``, return
    the summary."""
    summary = summarise(
        rows,
        ["network", "method", "lambda_"],
        ["accuracy", "sparsity", "units_kept", "fit_s"],
    )
    default = _row(summary, "ours (default)")
    neuron_default = next(
        r
        for r in summary
        if r["method"] == NEURONS and r["lambda_"] == default["lambda_"]
    )
    runs = default["runs"]
    ratio = neuron_default["fit_s_mean"] / default["fit_s_mean"]
    notes = (
        f"784-512-512-10, the epochs, batch and seeds ({runs} runs) of the main "
        "table; per seed the default (weights pruned) and prune='neurons' at each "
        "lambda_ fitted in turn in one process (the training-time comparison "
        "needs an idle machine). sparsity: "
        "the fraction of weights removed (learned_sparsity_), so the rows sit on "
        "the main table's axis; units_kept: hidden units of 1024 after "
        "compaction.\n\nTraining time (target: neurons no slower than weights): "
        f"prune='neurons' at lambda_={default['lambda_']:g} "
        f"{neuron_default['fit_s_mean']:.1f} s against the default's "
        f"{default['fit_s_mean']:.1f} s a fit, ratio {ratio:.2f} "
        f"({_verdict(ratio <= 1.0)})."
    )
    write_results(
        f"accuracy_vs_sparsity_neurons{suffix}",
        "Accuracy against sparsity: pruning whole neurons",
        [{k: r[k] for k in NEURON_COLUMNS} for r in summary],
        notes,
    )
    return summary


def run_r_init(data, epochs, batch_size, seed):
    X, y, X_test, y_test = data
    curves = {}
    for lam in (10.0, 0.0):
        for r_init in R_INITS:
            model = AdaptivePrunedMLPClassifier(
                r_init=r_init,
                lambda_=lam,
                random_state=seed,
                **fixed_epochs(HIDDEN, batch_size, epochs),
            ).fit(X, y)
            curves[(lam, r_init)] = (
                model.pruning_history_["sparsity"],
                model.score(X_test, y_test),
            )
            print(lam, r_init, model.learned_sparsity_, flush=True)
    return curves


def run_regression(seeds, epochs):
    rows = []
    for name, (X_train, X_test, y_train, y_test) in regression_splits().items():
        for seed in seeds:
            for method, model in (
                ("MLPRegressor", MLPRegressor(random_state=seed, max_iter=epochs)),
                (
                    "ours, previous defaults",
                    AdaptivePrunedMLPRegressor(
                        random_state=seed, max_iter=epochs, **PREVIOUS_DEFAULTS
                    ),
                ),
                (
                    "ours (default)",
                    AdaptivePrunedMLPRegressor(random_state=seed, max_iter=epochs),
                ),
            ):
                model.fit(X_train, y_train)
                rows.append(
                    {
                        "data": name,
                        "method": method,
                        "seed": seed,
                        "test_R2": model.score(X_test, y_test),
                        "sparsity": getattr(model, "learned_sparsity_", 0.0),
                    }
                )
                print(rows[-1], flush=True)
    return rows


def run_digits(seeds):
    """load_digits as choose_defaults.py splits it, 200 epochs as in the demo."""
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X / 16, y, test_size=0.25, stratify=y, random_state=0
    )
    rows = []
    for seed in seeds:
        for method, model in (
            ("MLPClassifier", MLPClassifier(random_state=seed)),
            (
                "ours, previous defaults",
                AdaptivePrunedMLPClassifier(random_state=seed, **PREVIOUS_DEFAULTS),
            ),
            ("ours (default)", AdaptivePrunedMLPClassifier(random_state=seed)),
        ):
            model.fit(X_train, y_train)
            rows.append(
                {
                    "data": "load_digits",
                    "method": method,
                    "seed": seed,
                    "test_accuracy": model.score(X_test, y_test),
                    "sparsity": getattr(model, "learned_sparsity_", 0.0),
                    "epochs": model.n_iter_,
                }
            )
            print(rows[-1], flush=True)
    return rows


_STYLE = {  # method -> (colour, marker) for the points outside the sweeps
    "MLPClassifier": ("tab:gray", "s"),
    "dense (torch)": ("black", "D"),
    "ours, no fine-tuning phase": ("tab:cyan", "^"),
    "ours, no r_ramp": ("tab:pink", "<"),
    "ours, thesis's weight gradient": ("tab:orange", ">"),
    "ours, previous defaults": ("tab:purple", "v"),
    "fixed-ratio soft mask (PDP)": ("tab:brown", "P"),
    "one-shot magnitude + fine-tune": ("tab:olive", "X"),
}


def _family(method: str) -> str:
    """Which sweep a method's row belongs to: 'ours', 'neurons', 'gradual'
    or ''."""
    if method == "ours (default)" or method.startswith("ours lambda_="):
        return "ours"
    if method == NEURONS:
        return "neurons"
    return "gradual" if method.startswith("gradual magnitude") else ""


def plot_frontier(summary, title, path) -> None:
    """Accuracy against the fraction of weights kept (log axis): the two
    sweeps as lines with their spread, every other method as a point."""
    summary = [{**row, "family": _family(row["method"])} for row in summary]
    figure, ax = plt.subplots(figsize=(7.5, 4.8), layout="constrained")
    for family, label, colour, marker in (
        ("ours", "ours, lambda_ sweep (star: default)", "tab:red", "o"),
        ("gradual", "gradual magnitude, told each sparsity", "tab:blue", "s"),
        ("neurons", "ours, prune='neurons', lambda_ sweep", "tab:green", "^"),
    ):
        points = sorted(
            (r for r in summary if r["family"] == family),
            key=lambda r: r["sparsity_mean"],
        )
        kept = np.array([1 - r["sparsity_mean"] for r in points])
        accuracy = np.array([r["accuracy_mean"] for r in points])
        spread = np.array([r["accuracy_std"] for r in points])
        ax.fill_between(
            kept, accuracy - spread, accuracy + spread, color=colour, alpha=0.15
        )
        ax.errorbar(
            kept,
            accuracy,
            xerr=[r["sparsity_std"] for r in points],
            yerr=spread,
            color=colour,
            marker=marker,
            label=label,
        )
        for r, x, a in zip(points, kept, accuracy):
            ax.annotate(
                f"{r['lambda_']:g}",
                (x, a),
                textcoords="offset points",
                xytext=(4, -10),
                fontsize=7,
                color=colour,
            )
            if r["method"] == "ours (default)":
                ax.plot(x, a, marker="*", markersize=16, color=colour, linestyle="")
    for row in summary:
        if row["method"] in _STYLE:
            colour, marker = _STYLE[row["method"]]
            ax.errorbar(
                max(1 - row["sparsity_mean"], 1e-3),
                row["accuracy_mean"],
                xerr=row["sparsity_std"],
                yerr=row["accuracy_std"],
                fmt=marker,
                color=colour,
                markersize=7,
                label=row["method"],
            )
    ax.set_xscale("log")
    ticks = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
    ax.set_xticks(ticks, [f"{t:.1%}".replace(".0%", "%") for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("weights kept (log scale; numbers at the points: lambda_)")
    ax.set_ylabel("test accuracy")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    figure.savefig(path, dpi=110)


def _saved_rows(name) -> list[dict]:
    """The summary rows of ``results/NAME.json`` (none if it is missing)."""
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text())["rows"] if path.exists() else []


def _row(summary, method):
    return next(r for r in summary if r["method"] == method)


def _verdict(ok):
    return "met" if ok else "MISSED"


def _targets(summary, lenet, curves):
    dense = _row(summary, "dense (torch)")["accuracy_mean"]
    ours = _row(summary, "ours (default)")
    gradual = _row(summary, "gradual magnitude (Zhu & Gupta), told our sparsity")
    accuracy, sparsity = ours["accuracy_mean"], ours["sparsity_mean"]
    theirs = gradual["accuracy_mean"]
    lines = [
        f"- default: accuracy {accuracy:.4f} at sparsity {sparsity:.3f} (target "
        f">= 0.90: {_verdict(sparsity >= 0.9)}); vs gradual magnitude told that "
        f"sparsity {theirs:.4f} ({_verdict(accuracy >= theirs)}, "
        f"{100 * (accuracy - theirs):+.2f} points); vs dense {dense:.4f} "
        f"({_verdict(accuracy >= dense)}, {100 * (accuracy - dense):+.2f} points).",
    ]
    for method in (
        "ours, no fine-tuning phase",
        "ours, no r_ramp",
        "ours, thesis's weight gradient",
        "ours, previous defaults",
    ):
        other = _row(summary, method)
        lines.append(
            f"- {method}: {other['accuracy_mean']:.4f} at "
            f"{other['sparsity_mean']:.3f}; "
            f"fit {other['fit_s_mean']:.1f} s against the default's "
            f"{ours['fit_s_mean']:.1f} s."
        )
    sweep = sorted(
        (r for r in summary if _family(r["method"]) == "ours"),
        key=lambda r: r["sparsity_mean"],
    )
    at_95 = [r for r in sweep if r["sparsity_mean"] >= 0.95]
    best_95 = max(at_95, key=lambda r: r["accuracy_mean"]) if at_95 else None
    if best_95 is None:
        lines.append("- >= dense at >= 95% sparsity: MISSED (no run reached 95%).")
    else:
        lines.append(
            f"- >= dense at >= 95% sparsity with some lambda_: best lambda_="
            f"{best_95['lambda_']:g}, {best_95['accuracy_mean']:.4f} at "
            f"{best_95['sparsity_mean']:.3f} vs dense {dense:.4f} "
            f"({_verdict(best_95['accuracy_mean'] >= dense)})."
        )
    lines.append("- frontier, ours vs gradual magnitude told each run's sparsity:")
    for r in sweep:
        other = next(
            g
            for g in summary
            if _family(g["method"]) == "gradual" and g["lambda_"] == r["lambda_"]
        )
        gap = 100 * (r["accuracy_mean"] - other["accuracy_mean"])
        lines.append(
            f"  - lambda_={r['lambda_']:g}: {r['accuracy_mean']:.4f} vs "
            f"{other['accuracy_mean']:.4f} at {r['sparsity_mean']:.3f} "
            f"({gap:+.2f} points, {_verdict(gap >= 0)})."
        )
    lenet_dense = _row(lenet, "dense (torch)")["accuracy_mean"]
    lenet_95 = [
        r
        for r in lenet
        if _family(r["method"]) == "ours" and r["sparsity_mean"] >= 0.95
    ]
    best = max(lenet_95, key=lambda r: r["accuracy_mean"]) if lenet_95 else None
    if best is None:
        lines.append(
            "- LeNet-300-100 within 1 point of dense at >= 95%: MISSED (no run "
            "reached 95%)."
        )
    else:
        lines.append(
            f"- LeNet-300-100 within 1 point of dense at >= 95% sparsity: lambda_="
            f"{best['lambda_']:g}, {best['accuracy_mean']:.4f} at "
            f"{best['sparsity_mean']:.3f} vs dense {lenet_dense:.4f} "
            f"({_verdict(best['accuracy_mean'] >= lenet_dense - 0.01)})."
        )
    spread = [curves[(10.0, r)][0][-1] for r in R_INITS]
    collapse = [curves[(0.0, r)][0][-1] for r in R_INITS]
    lines += [
        f"- lambda_=10, final sparsity from r_init {R_INITS}: "
        f"{np.round(spread, 3).tolist()}, spread {max(spread) - min(spread):.3f}.",
        f"- lambda_=0, final sparsity from r_init {R_INITS}: "
        f"{np.round(collapse, 3).tolist()}.",
    ]
    return lines


def _table(summary, keys):
    columns = [
        *keys,
        "accuracy_mean",
        "accuracy_std",
        "sparsity_mean",
        "sparsity_std",
        "fit_s_mean",
        "runs",
    ]
    return [{c: r[c] for c in columns} for r in summary]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--replot",
        action="store_true",
        help="only redraw frontier[_quick].png from the results' JSON",
    )
    parser.add_argument(
        "--neurons",
        action="store_true",
        help="only the prune='neurons' rows (7.); the frontier redrawn with them",
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    X, y, X_test, y_test, data_name = load_fashion_mnist_or_stand_in()
    suffix = "_quick" if args.quick else ""
    title = f"{data_name}, 784-512-512-10: accuracy against weights kept"
    if args.quick:
        X, y, X_test, y_test = X[:10_000], y[:10_000], X_test[:2_000], y_test[:2_000]
        epochs, lenet_epochs, seeds = 3, 3, (0,)
        lambdas, lenet_lambdas, neuron_lambdas = (1.0, 100.0), (100.0,), (10.0,)
    else:
        epochs, lenet_epochs, seeds = 15, 10, (0, 1, 2)
        lambdas, lenet_lambdas = (1.0, 3.0, 30.0, 100.0, 300.0), (30.0, 100.0)
        neuron_lambdas = (3.0, 10.0, 30.0)
    batch_size = 128
    data = (X, y, X_test, y_test)
    if args.replot or args.neurons:
        rows = _saved_rows(f"accuracy_vs_sparsity{suffix}")
        if args.neurons:
            neurons = run_neurons(data, epochs, batch_size, seeds, neuron_lambdas)
            write_neurons(neurons, suffix)
        neurons = _saved_rows(f"accuracy_vs_sparsity_neurons{suffix}")
        rows += [r for r in neurons if r["method"] == NEURONS]
        plot_frontier(rows, title, RESULTS / f"frontier{suffix}.png")
        return
    values = ["accuracy", "sparsity", "fit_s"]
    keys = ["network", "method", "lambda_"]
    rows = run_classification(data, HIDDEN, epochs, batch_size, seeds, lambdas)
    summary = summarise(rows, keys, values)
    neurons = write_neurons(
        run_neurons(data, epochs, batch_size, seeds, neuron_lambdas), suffix
    )
    lenet_rows = run_classification(
        data, (300, 100), lenet_epochs, batch_size, seeds, lenet_lambdas, full=False
    )
    lenet = summarise(lenet_rows, keys, values)
    curves = run_r_init(data, epochs, batch_size, seeds[0])
    digits = summarise(
        run_digits(seeds), ["data", "method"], ["test_accuracy", "sparsity", "epochs"]
    )
    regression = summarise(
        run_regression(seeds, 200), ["data", "method"], ["test_R2", "sparsity"]
    )
    defaults = AdaptivePrunedMLPClassifier().get_params()
    notes = (
        f"Data: {data_name}, {len(X)} training / {len(X_test)} test samples, "
        f"784-512-512-10 for {epochs} epochs and 784-300-100-10 (LeNet-300-100) for "
        f"{lenet_epochs} epochs, batch {batch_size}, seeds {list(seeds)}; means and "
        "population std over seeds; fit_s is the wall time of one fit, for "
        "orientation only: not a speed benchmark, and other work may have run "
        "beside it. "
        f"Defaults: r_init={defaults['r_init']}, r_ramp={defaults['r_ramp']}, "
        f"finetune_fraction={defaults['finetune_fraction']}, "
        f"weight_gradient={defaults['weight_gradient']}, "
        f"lambda_={defaults['lambda_']}; previous "
        f"defaults: {PREVIOUS_DEFAULTS}.\n\nTargets:\n"
        + "\n".join(_targets(summary, lenet, curves))
        + "\n\nLeNet-300-100:\n\n"
        + markdown_table(_table(lenet, ["method", "lambda_"]))
        + "\n\nload_digits (stratified 75/25 split, X / 16, 200 epochs; "
        "test accuracy):\n\n"
        + markdown_table(digits)
        + "\n\nRegression (200 epochs, standardised X and y; test R^2):\n\n"
        + markdown_table(regression)
        + "\n\n784-512-512-10:"
    )
    write_results(
        f"accuracy_vs_sparsity{suffix}",
        "Accuracy against sparsity",
        _table(summary, ["method", "lambda_"]),
        notes,
    )

    plot_frontier(
        summary + [r for r in neurons if r["method"] == NEURONS],
        title,
        RESULTS / f"frontier{suffix}.png",
    )

    figure, axes = plt.subplots(
        1, 2, figsize=(9, 3.5), layout="constrained", sharey=True
    )
    for ax, lam in zip(axes, (10.0, 0.0)):
        for r_init in R_INITS:
            sparsity, _ = curves[(lam, r_init)]
            ax.plot(
                np.arange(1, len(sparsity) + 1),
                sparsity,
                marker=".",
                label=f"r_init={r_init}",
            )
        ax.set_title(f"lambda_={lam:g}")
        ax.set_xlabel("epoch")
    axes[0].set_ylabel("hard-mask sparsity")
    axes[1].legend(fontsize=7)
    figure.savefig(RESULTS / f"r_init_convergence{suffix}.png", dpi=110)


if __name__ == "__main__":
    main()
