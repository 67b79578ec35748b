"""Accuracy against sparsity: ours vs dense MLPs and standard magnitude pruning.

784-512-512-10 on Fashion-MNIST (or the synthetic stand-in), ReLU, Adam, the
same epochs and batch size for every method, several seeds:

1. MLPClassifier; 2. the same MLP trained densely in plain torch;
3. ours at default parameters and over a lambda_ sweep;
4. fixed-ratio soft-mask pruning (ours with r frozen at our learned sparsity: PDP);
5. one-shot global L1 magnitude pruning (torch.nn.utils.prune) to our learned
   sparsity after 2/3 of the epochs, fine-tuned for the rest;
6. gradual magnitude pruning (Zhu & Gupta 2017 cubic schedule) to our learned
   sparsity.
Also: final sparsity from r_init in {0.1, ..., 0.9} with and without lambda_, and
AdaptivePrunedMLPRegressor vs MLPRegressor on load_diabetes and make_friedman1.

Writes ``results/accuracy_vs_sparsity[_quick].md``/``.json`` and PNG plots.
Run: ``python benchmarks/accuracy_vs_sparsity.py [--quick]`` (``--quick``: a
10k-sample subset, 3 epochs, 1 seed; minutes instead of about an hour).
"""

import argparse
import math
import statistics
import time
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.datasets import load_diabetes, make_friedman1  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn.utils import prune  # noqa: E402

from _common import (  # noqa: E402
    HIDDEN,
    RESULTS,
    dense_mlp,
    markdown_table,
    write_results,
)
from _data import load_fashion_mnist_or_stand_in  # noqa: E402
from sk_adaprune import AdaptivePrunedMLPClassifier, AdaptivePrunedMLPRegressor  # noqa: E402
from sk_adaprune.plotting import plot_pruning_history  # noqa: E402


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


def gradual_pruning(data, epochs, batch_size, seed, target):
    """Zhu & Gupta's cubic schedule over 10%..75% of the steps, 4 prunings an epoch."""
    X, y, _, _ = data
    model = dense_mlp(784, 10, seed)
    steps_per_epoch = math.ceil(len(X) / batch_size)
    total_steps = epochs * steps_per_epoch
    begin, end = total_steps // 10, (3 * total_steps) // 4
    every = max(1, steps_per_epoch // 4)

    def cubic(step):
        if begin <= step <= end and (step - begin) % every == 0:
            progress = (step - begin) / max(1, end - begin)
            prune_globally_to(model, target * (1 - (1 - progress) ** 3))

    loss = nn.functional.cross_entropy
    train_torch(model, X, y, epochs, batch_size, seed, loss, after_step=cubic)
    prune_globally_to(model, target)
    return model


def run_classification(data, epochs, batch_size, seeds, lambdas):
    X, y, X_test, y_test = data
    ce = nn.functional.cross_entropy
    rows, histories = [], {}

    def record(method, seed, model_accuracy, sparsity, seconds):
        rows.append(
            {
                "method": method,
                "seed": seed,
                "accuracy": model_accuracy,
                "sparsity": sparsity,
                "fit_s": seconds,
            }
        )
        print(rows[-1], flush=True)

    def record_torch(method, seed, model, start):
        accuracy = accuracy_of(model, X_test, y_test)
        record(
            method, seed, accuracy, weight_sparsity(model), time.perf_counter() - start
        )

    common = dict(
        hidden_layer_sizes=HIDDEN,
        batch_size=batch_size,
        max_iter=epochs,
        n_iter_no_change=epochs + 1,
    )
    for seed in seeds:
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
            dense_mlp(784, 10, seed), X, y, epochs, batch_size, seed, ce
        )
        record(
            "dense (torch)",
            seed,
            accuracy_of(dense, X_test, y_test),
            0.0,
            time.perf_counter() - start,
        )

        start = time.perf_counter()
        ours = AdaptivePrunedMLPClassifier(random_state=seed, **common).fit(X, y)
        target = ours.learned_sparsity_
        record(
            "ours (default)",
            seed,
            ours.score(X_test, y_test),
            target,
            time.perf_counter() - start,
        )
        histories[seed] = ours

        for lam in lambdas:
            start = time.perf_counter()
            model = AdaptivePrunedMLPClassifier(
                lambda_=lam, random_state=seed, **common
            ).fit(X, y)
            record(
                f"ours lambda_={lam:g}",
                seed,
                model.score(X_test, y_test),
                model.learned_sparsity_,
                time.perf_counter() - start,
            )

        start = time.perf_counter()
        pdp = AdaptivePrunedMLPClassifier(
            r_init=min(target, 0.9999), lr_r=0.0, random_state=seed, **common
        ).fit(X, y)
        record(
            "fixed-ratio soft mask (PDP)",
            seed,
            pdp.score(X_test, y_test),
            pdp.learned_sparsity_,
            time.perf_counter() - start,
        )

        start = time.perf_counter()
        one_shot = dense_mlp(784, 10, seed)
        first = max(1, (2 * epochs) // 3)
        train_torch(one_shot, X, y, first, batch_size, seed, ce)
        prune_globally_to(one_shot, target)
        train_torch(one_shot, X, y, epochs - first, batch_size, seed + 1, ce)
        record_torch("one-shot magnitude + fine-tune", seed, one_shot, start)

        start = time.perf_counter()
        gradual = gradual_pruning(data, epochs, batch_size, seed, target)
        record_torch("gradual magnitude (Zhu & Gupta)", seed, gradual, start)
    return rows, histories


def run_r_init(data, epochs, batch_size, seed):
    X, y, X_test, y_test = data
    curves = {}
    for lam in (10.0, 0.0):
        for r_init in (0.1, 0.3, 0.5, 0.7, 0.9):
            model = AdaptivePrunedMLPClassifier(
                hidden_layer_sizes=HIDDEN,
                batch_size=batch_size,
                max_iter=epochs,
                n_iter_no_change=epochs + 1,
                r_init=r_init,
                lambda_=lam,
                random_state=seed,
            ).fit(X, y)
            curves[(lam, r_init)] = (
                model.pruning_history_["sparsity"],
                model.score(X_test, y_test),
            )
            print(lam, r_init, model.learned_sparsity_, flush=True)
    return curves


def run_regression(seeds, epochs):
    rows = []
    diabetes = load_diabetes(return_X_y=True)
    friedman = make_friedman1(n_samples=2000, noise=0.5, random_state=0)
    for name, (X, y) in (("load_diabetes", diabetes), ("make_friedman1", friedman)):
        X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
        x_scale, y_scale = (
            StandardScaler().fit(X_train),
            StandardScaler().fit(y_train[:, None]),
        )
        X_train, X_test = x_scale.transform(X_train), x_scale.transform(X_test)
        y_train = y_scale.transform(y_train[:, None]).ravel()
        y_test = y_scale.transform(y_test[:, None]).ravel()
        for seed in seeds:
            for method, model in (
                ("MLPRegressor", MLPRegressor(random_state=seed, max_iter=epochs)),
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


def summarise(rows, keys, values):
    groups = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in keys), []).append(row)
    summary = []
    for key, group in groups.items():
        entry = dict(zip(keys, key))
        for value in values:
            numbers = [g[value] for g in group]
            entry[f"{value}_mean"] = statistics.mean(numbers)
            entry[f"{value}_std"] = statistics.pstdev(numbers)
        entry["runs"] = len(group)
        summary.append(entry)
    return summary


def plot_frontier(summary, data_name, path) -> None:
    """Accuracy against sparsity, a colour and a marker of its own per method."""
    colours = plt.get_cmap("tab20").colors  # the default cycle has only 10
    markers = "osD^v<>phX*P"
    figure, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    for i, row in enumerate(summary):
        ax.errorbar(
            row["sparsity_mean"],
            row["accuracy_mean"],
            xerr=row["sparsity_std"],
            yerr=row["accuracy_std"],
            fmt=markers[i % len(markers)],
            color=colours[(2 * i) % len(colours) + (2 * i) // len(colours)],
            label=row["method"],
        )
    ax.set_xlabel("sparsity (fraction of weights pruned)")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"{data_name}: accuracy against sparsity")
    ax.legend(fontsize=7, loc="lower left")
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    X, y, X_test, y_test, data_name = load_fashion_mnist_or_stand_in()
    if args.quick:
        X, y, X_test, y_test = X[:10_000], y[:10_000], X_test[:2_000], y_test[:2_000]
        epochs, seeds, lambdas, suffix = 3, (0,), (1.0, 100.0), "_quick"
    else:
        epochs, seeds, lambdas, suffix = (
            15,
            (0, 1, 2),
            (1.0, 3.0, 30.0, 100.0, 300.0),
            "",
        )
    batch_size = 128
    data = (X, y, X_test, y_test)
    rows, histories = run_classification(data, epochs, batch_size, seeds, lambdas)
    summary = summarise(rows, ["method"], ["accuracy", "sparsity", "fit_s"])
    curves = run_r_init(data, epochs, batch_size, seeds[0])
    regression = summarise(
        run_regression(seeds, 200), ["data", "method"], ["test_R2", "sparsity"]
    )

    dense = next(r for r in summary if r["method"] == "dense (torch)")["accuracy_mean"]
    ours = next(r for r in summary if r["method"] == "ours (default)")

    def verdict(ok):
        return "met" if ok else "MISSED"

    r_inits = (0.1, 0.3, 0.5, 0.7, 0.9)
    spread = [curves[(10.0, r)][0][-1] for r in r_inits]
    collapse = [curves[(0.0, r)][0][-1] for r in r_inits]
    accuracy, sparsity = ours["accuracy_mean"], ours["sparsity_mean"]
    targets = [
        f"- default vs dense: accuracy {accuracy:.4f} vs {dense:.4f} (target >= "
        f"dense - 0.005: {verdict(accuracy >= dense - 0.005)}), sparsity "
        f"{sparsity:.3f} (target >= 0.90: {verdict(sparsity >= 0.9)}).",
        f"- lambda_=10, final sparsity from r_init 0.1..0.9: "
        f"{np.round(spread, 3).tolist()}, spread {max(spread) - min(spread):.3f} "
        f"(target <= 0.05: {verdict(max(spread) - min(spread) <= 0.05)}).",
        f"- lambda_=0, final sparsity from r_init 0.1..0.9: "
        f"{np.round(collapse, 3).tolist()}.",
    ]
    for baseline in (
        "one-shot magnitude + fine-tune",
        "gradual magnitude (Zhu & Gupta)",
    ):
        other = next(r for r in summary if r["method"] == baseline)
        theirs = other["accuracy_mean"]
        targets.append(
            f"- ours {accuracy:.4f} vs {baseline} {theirs:.4f} at sparsity "
            f"{other['sparsity_mean']:.3f}: {verdict(accuracy >= theirs)}."
        )
    notes = (
        f"Data: {data_name}, {len(X)} training / {len(X_test)} test samples, "
        f"784-512-512-10, {epochs} epochs, batch {batch_size}, seeds {list(seeds)}; "
        "means and population std over seeds.\n\nTargets:\n"
        + "\n".join(targets)
        + "\n\nRegression (200 epochs, standardised X and y; test R^2):\n\n"
        + markdown_table(regression)
    )
    write_results(
        f"accuracy_vs_sparsity{suffix}", "Accuracy against sparsity", summary, notes
    )

    plot_frontier(summary, data_name, RESULTS / f"frontier{suffix}.png")

    figure, axes = plt.subplots(
        1, 2, figsize=(9, 3.5), layout="constrained", sharey=True
    )
    for ax, lam in zip(axes, (10.0, 0.0)):
        for r_init in (0.1, 0.3, 0.5, 0.7, 0.9):
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

    axes = plot_pruning_history(histories[seeds[0]])
    axes[0].figure.savefig(RESULTS / f"fashion_history{suffix}.png", dpi=110)


if __name__ == "__main__":
    main()
