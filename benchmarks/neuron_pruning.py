"""Pruning neurons: ours (prune='neurons') against structured magnitude pruning.

784-512-512-10 on Fashion-MNIST (or the synthetic stand-in), ReLU, Adam, 15
epochs at batch 128 for every method, 3 seeds:

1. MLPClassifier and the same MLP trained densely in plain torch;
2. ours with ``prune='neurons'`` over a ``lambda_`` sweep (10 is the default);
3. for every run of ours, structured L2 magnitude pruning told that run's
   units per hidden layer: each layer keeps its units with the largest L2
   norm of incoming weights (the ranking of torch's
   ``ln_structured(n=2, dim=0)``), their biases masked with them, so that a
   pruned ReLU unit outputs 0 -- one-shot after 2/3 of the epochs and
   fine-tuned for the rest, and gradually (Zhu & Gupta's cubic schedule over
   10%..75% of the steps, 4 prunings an epoch).

Writes ``results/neuron_pruning[_quick].md``/``.json`` and the frontier plot
``results/frontier_neurons[_quick].png`` (test accuracy against hidden units
kept). Run: ``python benchmarks/neuron_pruning.py [--quick]`` (``--quick``: a
10k-sample subset, 3 epochs, 1 seed, two lambdas; a few minutes).
"""

import argparse
import time
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn.utils import prune  # noqa: E402

from _common import (  # noqa: E402
    HIDDEN,
    RESULTS,
    dense_mlp,
    fixed_epochs,
    summarise,
    write_results,
)
from _data import load_fashion_mnist_or_stand_in  # noqa: E402
from accuracy_vs_sparsity import (  # noqa: E402
    accuracy_of,
    cubic_schedule,
    linears,
    train_torch,
)
from sk_adaprune import AdaptivePrunedMLPClassifier  # noqa: E402


def keep_strongest_units(model, kept_per_layer) -> None:
    """Mask each hidden layer to its ``kept`` units of largest incoming L2
    norm (weights and biases); masks only shrink: a pruned unit's norm is 0."""
    for layer, kept in zip(linears(model)[:-1], kept_per_layer):
        norms = layer.weight.detach().norm(dim=1)
        units = torch.zeros(norms.numel(), dtype=torch.bool)
        units[norms.argsort(descending=True)[:kept]] = True
        rows = units[:, None].expand_as(layer.weight).to(layer.weight.dtype)
        prune.custom_from_mask(layer, "weight", rows)
        prune.custom_from_mask(layer, "bias", units.to(layer.bias.dtype))


def units_kept(model) -> list[int]:
    """Hidden units with a non-zero incoming weight, per layer."""
    return [int((layer.weight != 0).any(dim=1).sum()) for layer in linears(model)[:-1]]


def one_shot_units(data, epochs, batch_size, seed, kept):
    X, y, _, _ = data
    model = dense_mlp(784, 10, seed, HIDDEN)
    first = max(1, (2 * epochs) // 3)
    train_torch(model, X, y, first, batch_size, seed, nn.functional.cross_entropy)
    keep_strongest_units(model, kept)
    train_torch(
        model, X, y, epochs - first, batch_size, seed + 1, nn.functional.cross_entropy
    )
    return model


def gradual_units(data, epochs, batch_size, seed, kept):
    X, y, _, _ = data
    model = dense_mlp(784, 10, seed, HIDDEN)

    def prune_to_share(share):
        units = [size - round((size - k) * share) for size, k in zip(HIDDEN, kept)]
        keep_strongest_units(model, units)

    cubic = cubic_schedule(len(X), epochs, batch_size, prune_to_share)
    train_torch(
        model, X, y, epochs, batch_size, seed, nn.functional.cross_entropy, cubic
    )
    keep_strongest_units(model, kept)
    return model


def run(data, epochs, batch_size, seeds, lambdas):
    X, y, X_test, y_test = data
    rows = []
    hidden_units = sum(HIDDEN)
    weights = sum(a * b for a, b in zip((784, *HIDDEN), (*HIDDEN, 10)))

    def record(method, seed, lam, accuracy, kept, seconds):
        layers = [784, *kept, 10]
        kept_weights = sum(a * b for a, b in zip(layers, layers[1:]))
        rows.append(
            {
                "method": method,
                "lambda_": lam,
                "seed": seed,
                "accuracy": accuracy,
                "units_kept": sum(kept),
                "units_removed": 1 - sum(kept) / hidden_units,
                "weights_removed": 1 - kept_weights / weights,
                "layer_1_units": kept[0],
                "layer_2_units": kept[1],
                "fit_s": seconds,
            }
        )
        print(rows[-1], flush=True)

    common = fixed_epochs(HIDDEN, batch_size, epochs)
    for seed in seeds:
        start = time.perf_counter()
        mlp = MLPClassifier(random_state=seed, **common).fit(X, y)
        seconds = time.perf_counter() - start
        record("MLPClassifier", seed, "", mlp.score(X_test, y_test), HIDDEN, seconds)
        start = time.perf_counter()
        dense = train_torch(
            dense_mlp(784, 10, seed, HIDDEN),
            X,
            y,
            epochs,
            batch_size,
            seed,
            nn.functional.cross_entropy,
        )
        seconds = time.perf_counter() - start
        record(
            "dense (torch)",
            seed,
            "",
            accuracy_of(dense, X_test, y_test),
            HIDDEN,
            seconds,
        )
        for lam in lambdas:
            start = time.perf_counter()
            ours = AdaptivePrunedMLPClassifier(
                prune="neurons", lambda_=lam, random_state=seed, **common
            ).fit(X, y)
            seconds = time.perf_counter() - start
            kept = [coef.shape[1] for coef in ours.coefs_[:-1]]
            record(
                "ours, neurons", seed, lam, ours.score(X_test, y_test), kept, seconds
            )
            for method, train in (
                ("structured L2, one-shot + fine-tune", one_shot_units),
                ("structured L2, gradual", gradual_units),
            ):
                start = time.perf_counter()
                model = train(data, epochs, batch_size, seed, kept)
                seconds = time.perf_counter() - start
                assert units_kept(model) == kept
                accuracy = accuracy_of(model, X_test, y_test)
                record(method, seed, lam, accuracy, kept, seconds)
    return rows


STYLES = {
    "ours, neurons": ("tab:red", "o"),
    "structured L2, gradual": ("tab:blue", "s"),
    "structured L2, one-shot + fine-tune": ("tab:green", "^"),
}


def plot(summary, title, path, styles=STYLES) -> None:
    """Accuracy against hidden units kept, a line per method of ``styles``
    (method -> colour, marker), ours annotated with ``lambda_``."""
    figure, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    for method, (colour, marker) in styles.items():
        points = sorted(
            (r for r in summary if r["method"] == method),
            key=lambda r: r["units_kept_mean"],
        )
        ax.errorbar(
            [r["units_kept_mean"] for r in points],
            [r["accuracy_mean"] for r in points],
            xerr=[r["units_kept_std"] for r in points],
            yerr=[r["accuracy_std"] for r in points],
            color=colour,
            marker=marker,
            label=method,
        )
        if method.startswith("ours"):
            for r in points:
                ax.annotate(
                    f"{r['lambda_']:g}",
                    (r["units_kept_mean"], r["accuracy_mean"]),
                    textcoords="offset points",
                    xytext=(4, -10),
                    fontsize=7,
                    color=colour,
                )
    for row in summary:
        if row["method"] in ("MLPClassifier", "dense (torch)"):
            ax.axhline(
                row["accuracy_mean"],
                linestyle="--" if row["method"] == "MLPClassifier" else ":",
                color="grey",
                label=f"{row['method']} ({sum(HIDDEN)} units)",
            )
    ax.set_xscale("log")
    ax.set_xlabel("hidden units kept, of 1024 (numbers at our points: lambda_)")
    ax.set_ylabel("test accuracy")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    figure.savefig(path, dpi=110)


def quick_or_full_data():
    """The command line's ``--quick`` and the data of the neuron benchmarks:
    Fashion-MNIST (or its stand-in), a 10k / 2k subset with ``--quick``."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    quick = parser.parse_args().quick
    warnings.simplefilter("ignore", ConvergenceWarning)
    X, y, X_test, y_test, data_name = load_fashion_mnist_or_stand_in()
    if quick:
        X, y, X_test, y_test = X[:10_000], y[:10_000], X_test[:2_000], y_test[:2_000]
    return quick, (X, y, X_test, y_test), data_name


def main() -> None:
    quick, (X, y, X_test, y_test), data_name = quick_or_full_data()
    if quick:
        epochs, seeds, lambdas, suffix = 3, (0,), (3.0, 10.0), "_quick"
    else:
        epochs, seeds, lambdas, suffix = 15, (0, 1, 2), (1.0, 3.0, 10.0, 30.0), ""
    batch_size = 128
    rows = run((X, y, X_test, y_test), epochs, batch_size, seeds, lambdas)
    values = [
        "accuracy",
        "units_kept",
        "layer_1_units",
        "layer_2_units",
        "units_removed",
        "weights_removed",
        "fit_s",
    ]
    summary = summarise(rows, ["method", "lambda_"], values)
    plot(
        summary,
        f"{data_name}, 784-512-512-10: accuracy against hidden units kept",
        RESULTS / f"frontier_neurons{suffix}.png",
    )
    notes = (
        f"Data: {data_name}, {len(X)} training / {len(X_test)} test samples, "
        f"784-512-512-10 for {epochs} epochs at batch {batch_size}, seeds "
        f"{list(seeds)}; means and population std over seeds. Each structured "
        "baseline is told the units per hidden layer of the run of ours with the "
        "same seed and lambda_. fit_s is one fit's wall time, for orientation "
        "only. Plot: frontier_neurons" + suffix + ".png."
    )
    write_results(f"neuron_pruning{suffix}", "Pruning neurons", summary, notes)


if __name__ == "__main__":
    main()
