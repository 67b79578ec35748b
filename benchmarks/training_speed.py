"""Training speed: ours vs the same MLP trained densely with skorch vs MLPClassifier.

784-512-512-10, ReLU, Adam, same data and batch size for every method,
measured side by side in one run: one epoch of each method in turn, repeated,
and the median epoch time reported. Also: per-step cost of the threshold +
density against the number of weights, a breakdown of one step with parts left
out, the peak memory of a fit (each in a fresh process), and an operator
profile of a step, ours and dense.

Writes ``results/training_speed.md`` and ``.json``, and the profile to
``results/training_speed_profile.md`` and ``.json``. Run:
``python benchmarks/training_speed.py [--rounds 5] [--quick]
[--epochs-against CHECKOUT]``.
"""

import argparse
import functools
import json
import math
import random
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from skorch import NeuralNet
from torch import nn

from _common import (
    HIDDEN,
    RESULTS,
    baseline_package,
    commit_of,
    dense_mlp,
    in_turn,
    markdown_table,
    write_results,
)
from _data import load_fashion_mnist_or_stand_in
from sk_adaprune import AdaptivePrunedMLPClassifier
from sk_adaprune._method import mask as mask_module
from sk_adaprune._method.threshold import exact_threshold
from sk_adaprune._module import SoftMaskedMLP
from sk_adaprune._training.net import BatchIterator


def dense_net(batch_size: int, epochs: int, hidden=HIDDEN) -> NeuralNet:
    """The same MLP without a mask, trained by skorch the way ours is."""
    return NeuralNet(
        dense_mlp(784, 10, seed=0, hidden=hidden),
        nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        optimizer__fused=True,
        lr=1e-3,
        max_epochs=epochs,
        batch_size=batch_size,
        iterator_train=BatchIterator,
        iterator_train__shuffle=True,
        iterator_train__random_state=np.random.RandomState(0),
        train_split=None,
        verbose=0,
    )


def epoch_seconds(method: str, X, y, batch_size, hidden=HIDDEN, epochs=1) -> float:
    """Seconds of the last of ``epochs`` training epochs of a fresh model
    (set-up not counted; ``epochs`` for ours and dense skorch only)."""
    if method == "ours":
        return _epoch_seconds_of(
            AdaptivePrunedMLPClassifier, 0, X, y, batch_size, hidden, epochs
        )
    if method == "dense skorch":
        size = min(200, len(X)) if batch_size == "auto" else batch_size
        net = dense_net(size, epochs, hidden)
        net.fit(torch.from_numpy(X), torch.from_numpy(y))
        return net.history[-1, "dur"]
    if method == "plain torch":
        return plain_torch_epoch_seconds(X, y, batch_size, hidden)
    model = MLPClassifier(
        hidden_layer_sizes=hidden, batch_size=batch_size, random_state=0
    )
    start = time.perf_counter()
    model.partial_fit(X, y, classes=np.arange(10))
    return time.perf_counter() - start


def plain_torch_epoch_seconds(X, y, batch_size: int, hidden) -> float:
    """One epoch of the dense network in a plain loop (fused Adam, the same
    shuffled batches of ``batch_size``, no skorch): the floor of the step."""
    module = dense_mlp(X.shape[1], 10, seed=0, hidden=hidden)
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3, fused=True)
    X, y = torch.from_numpy(X), torch.from_numpy(y)
    order = torch.from_numpy(np.random.RandomState(0).permutation(len(X)))
    start = time.perf_counter()
    for first in range(0, len(X), batch_size):
        rows = order[first : first + batch_size]
        optimizer.zero_grad()
        nn.functional.cross_entropy(module(X[rows]), y[rows]).backward()
        optimizer.step()
    return time.perf_counter() - start


SWEEP_SIZES = ((256, 256), (1024, 1024), (2048, 2048))
SWEEP_METHODS = ("ours", "dense skorch", "plain torch", "MLPClassifier")
# A later epoch of ours and of dense skorch: by then tau has fallen and more
# pruned weights' masks are near 0 (the case subnormal numbers slowed).
LATE_EPOCH = 4
LATE_METHODS = (f"ours, epoch {LATE_EPOCH}", f"dense skorch, epoch {LATE_EPOCH}")
LATE_BEFORE = f"before, epoch {LATE_EPOCH}"


def size_sweep(X, y, rounds: int, baseline=None) -> list[dict]:
    """One epoch of each method at each network size, the methods in turn
    (in a new order every round), ``rounds`` rounds; medians and the median
    of the per-round ratios. ``baseline``: an earlier checkout's classifier
    joins as ``before``."""
    methods = list(SWEEP_METHODS) + list(LATE_METHODS)
    if baseline is not None:
        methods[1:1] = ["before", LATE_BEFORE]
        before = baseline_package(baseline).AdaptivePrunedMLPClassifier
    shuffler = random.Random(0)
    rows = []
    for hidden in SWEEP_SIZES:
        times = {method: [] for method in methods}
        epoch_seconds("ours", X[:1280], y[:1280], 128, hidden)  # warm-up
        for _ in range(rounds):
            order = list(methods)
            shuffler.shuffle(order)
            for method in order:
                if method == "before":
                    seconds = _epoch_seconds_of(before, 0, X, y, 128, hidden)
                elif method == LATE_BEFORE:
                    seconds = _epoch_seconds_of(
                        before, 0, X, y, 128, hidden, LATE_EPOCH
                    )
                elif method in LATE_METHODS:
                    first = method.split(",")[0]
                    seconds = epoch_seconds(first, X, y, 128, hidden, LATE_EPOCH)
                else:
                    seconds = epoch_seconds(method, X, y, 128, hidden)
                times[method].append(seconds)
        weights = sum(a * b for a, b in zip([784, *hidden], [*hidden, 10]))
        row = {"hidden": str(hidden), "weights_M": weights / 1e6}
        for method in methods:
            row[f"{method}_s"] = statistics.median(times[method])

        def ratio(a, b, times=times):
            return statistics.median(x / z for x, z in zip(times[a], times[b]))

        row["ours/dense"] = ratio("ours", "dense skorch")
        row[f"ours/dense, epoch {LATE_EPOCH}"] = ratio(*LATE_METHODS)
        if baseline is not None:
            row["before/dense"] = ratio("before", "dense skorch")
            row[f"before/dense, epoch {LATE_EPOCH}"] = ratio(
                LATE_BEFORE, LATE_METHODS[1]
            )
        row["ours/plain_torch"] = ratio("ours", "plain torch")
        row["dense/plain_torch"] = ratio("dense skorch", "plain torch")
        row["ours/MLPClassifier"] = ratio("ours", "MLPClassifier")
        rows.append(row)
        print(row, flush=True)
    return rows


def plot_sweep(rows: list[dict], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    weights = [row["weights_M"] for row in rows]
    for key, label in (
        ("ours/dense", "ours / dense skorch"),
        (f"ours/dense, epoch {LATE_EPOCH}", f"ours / dense skorch, epoch {LATE_EPOCH}"),
        ("before/dense", "before (the earlier commit) / dense skorch"),
    ):
        if key in rows[0]:
            axes.plot(weights, [row[key] for row in rows], "o-", label=label)
    axes.axhline(1.15, color="grey", linestyle="--", label="target 1.15")
    axes.axhline(1.0, color="black", linewidth=0.8)
    axes.set_xscale("log")
    axes.set_xticks(weights, labels=[f"{w:.2f}" for w in weights])
    axes.minorticks_off()
    axes.set_xlabel("weights (millions)")
    axes.set_ylabel("epoch time / dense skorch's")
    axes.set_title("Fashion-MNIST, 10,000 rows, batch 128, float32")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def threshold_step_ms(n_weights: int, steps: int = 20) -> float:
    """Median time of one step's threshold + density (forward and backward of t)."""
    rows = int(math.sqrt(n_weights))
    module = SoftMaskedMLP(rows, [], n_weights // rows, r_init=0.7, seed=0)
    generator = torch.Generator().manual_seed(0)
    times = []
    for _ in range(steps + 3):
        with torch.no_grad():  # an Adam-sized move of every weight
            weights = module.weights
            weights.add_(1e-4 * torch.randn(weights.shape, generator=generator))
        start = time.perf_counter()
        threshold = module.threshold()
        threshold.backward()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times[3:])


BREAKDOWN_ROUNDS, BREAKDOWN_BLOCK = 16, 25


def step_breakdown(
    hidden=HIDDEN,
    batch_size: int = 128,
    rounds: int = BREAKDOWN_ROUNDS,
    block: int = BREAKDOWN_BLOCK,
) -> list[dict]:
    """Where a training step's time goes: the same step with parts left out.

    A plain loop (no skorch) with fused Adam steps our module as trained
    ('ours'); the same with the density at the threshold left out (the
    threshold's pass still made, ``dt/dr`` held at its first value); with
    the threshold frozen as well (its first ``t`` and ``dt/dr``: the mask's
    passes alone); with neither mask nor threshold (the flat pool of
    weights, trained as it is); and the dense network. Every round runs a
    block of consecutive steps of each, in a new random order, so that drift
    hits all alike; the median over rounds of each block's mean step is
    reported, and the differences of the medians are each part's cost in
    place. Blocks, not single interleaved steps: stepping the models in turn
    step by step churns the allocator between them, which a fit never does,
    and inflates the cost of every large temporary.
    """
    generator = torch.Generator().manual_seed(0)
    X = torch.randn(batch_size, 784, generator=generator)
    y = torch.randint(0, 10, (batch_size,), generator=generator)
    # The pruned variants' threshold routes, swapped in around their blocks.
    computed = mask_module.threshold_and_slope
    first = {}

    def routes(module):
        threshold, slope = computed(
            module.weights.detach(), module.ratio.item(), module.kde_grid_size
        )
        first["slope"] = float(slope)

        def density_left_out(weights, ratio, grid_size, scratch, defer=False):
            return exact_threshold(weights, ratio, grid_size, scratch), first["slope"]

        return {
            "ours": computed,
            "density left out": density_left_out,
            "threshold frozen": lambda *args, **kwargs: (threshold, first["slope"]),
        }

    def pruned():
        return SoftMaskedMLP(784, hidden, 10, r_init=0.5, seed=0).train()

    variants = {name: pruned() for name in PARTS}
    swapped = routes(variants["ours"])
    variants["neither"].masked_weights = functools.partial(
        lambda module, sizes=None: module.weights, variants["neither"]
    )
    variants["dense"] = dense_net(batch_size, 1, hidden).initialize().module_
    optimizers = {
        name: torch.optim.Adam(module.parameters(), fused=True)
        for name, module in variants.items()
    }
    times = {name: [] for name in variants}
    order = list(variants)
    shuffler = random.Random(0)
    for _ in range(rounds + 1):  # the first round warms up
        shuffler.shuffle(order)
        for name in order:
            module, optimizer = variants[name], optimizers[name]
            mask_module.threshold_and_slope = swapped.get(name, computed)
            start = time.perf_counter()
            for _ in range(block):
                optimizer.zero_grad()
                nn.functional.cross_entropy(module(X), y).backward()
                optimizer.step()
            times[name].append((time.perf_counter() - start) / block)
            mask_module.threshold_and_slope = computed
    return [
        {"step": name, "ms_per_step": 1e3 * statistics.median(values[1:])}
        for name, values in times.items()
    ]


PARTS = ("ours", "density left out", "threshold frozen", "neither")
BREAKDOWN_NOTE = (
    "'density left out' makes the threshold's pass but sums no density "
    "(dt/dr held at its first value), 'threshold frozen' holds t and dt/dr "
    "as well (the mask's passes alone), 'neither' trains the flat pool of "
    "weights without mask or threshold."
)


def operator_profile(X, y, batch_size: int = 128, top: int = 12) -> list[dict]:
    """The operators a training step spends its time in, ours and dense.

    One epoch of each on the first 12,800 samples under ``torch.profiler``;
    the ``top`` operators by self CPU time, per step. Python work inside an
    autograd function (our selection, density and bin counting) is the function's
    own self time. The profiler itself slows every operator a little.
    """
    from torch.profiler import ProfilerActivity, profile

    X, y = X[:12_800], y[:12_800]
    steps = math.ceil(len(X) / batch_size)
    rows = []
    for method in ("ours", "dense skorch"):
        epoch_seconds(method, X[:1_280], y[:1_280], batch_size)  # warm-up
        with profile(activities=[ProfilerActivity.CPU]) as profiler:
            epoch_seconds(method, X, y, batch_size)
        events = sorted(
            profiler.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True
        )
        total = sum(e.self_cpu_time_total for e in events)
        for event in events[:top]:
            rows.append(
                {
                    "method": method,
                    "operator": event.key,
                    "self_ms_per_step": event.self_cpu_time_total / 1e3 / steps,
                    "calls_per_step": event.count / steps,
                    "share": f"{100 * event.self_cpu_time_total / total:.1f}%",
                }
            )
    return rows


def peak_memory_mb(
    method: str, batch_size: int, hidden=HIDDEN, rows: int | None = None
) -> float:
    """Peak resident memory added by one fit, in a fresh process.

    The data is loaded first; then the kernel's high-water mark is reset
    (``/proc/self/clear_refs``) so that the peak is the fit's alone.
    """
    code = (
        "import sys; sys.path.insert(0, 'benchmarks')\n"
        "import training_speed as t, _data\n"
        "X, y, *_ = _data.load_fashion_mnist_or_stand_in()\n"
        f"X, y = X[:{rows}], y[:{rows}]\n"
        "status = lambda key: int(next(l.split()[1] for l in open('/proc/self/status')"
        " if l.startswith(key)))\n"
        "open('/proc/self/clear_refs', 'w').write('5')\n"
        "before = status('VmRSS:')\n"
        f"t.epoch_seconds({method!r}, X, y, {batch_size}, {tuple(hidden)!r})\n"
        "print(status('VmHWM:') - before)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def _epoch_seconds_of(kind, round_, X, y, batch_size, hidden=HIDDEN, epochs=1) -> float:
    """The last of ``epochs`` epochs of a fresh ``kind`` model (its history's
    ``dur``); every round fits the same model (random_state 0), ``round_`` is
    not used. No ramp (``r_ramp=None``): every step is a pruning step, where
    a short fit's ramp would train its first steps unmasked."""
    model = kind(
        hidden_layer_sizes=hidden,
        batch_size=batch_size,
        max_iter=epochs,
        n_iter_no_change=epochs + 1,
        r_ramp=None,
        random_state=0,
    ).fit(X, y)
    return model.net_.history[-1, "dur"]


def epochs_against(X, y, rounds, baseline) -> list[dict]:
    """One epoch of ours and of the sk_adaprune of ``baseline`` per batch size,
    in one process, in turn (who goes first alternates by round); medians of
    the epochs' ``dur``."""
    kinds = {
        "ours": AdaptivePrunedMLPClassifier,
        "baseline": baseline_package(baseline).AdaptivePrunedMLPClassifier,
    }
    rows = []
    for batch_size in (32, 128, "auto"):
        seconds = functools.partial(_epoch_seconds_of, X=X, y=y, batch_size=batch_size)
        timed = in_turn(rounds, kinds, seconds)
        rows.append(
            {
                "batch_size": str(batch_size),
                "ours_s_per_epoch": timed["ours"],
                "baseline_s_per_epoch": timed["baseline"],
                "ours_vs_baseline": timed["ratio"],
            }
        )
        print(rows[-1], flush=True)
    return rows


def sizes_against(X, y, rounds, baseline) -> list[dict]:
    """Ours against the sk_adaprune of ``baseline`` at each size of the sweep:
    the first epoch of a fit and the fourth of a 4-epoch fit, in turn (who
    goes first alternates by round); medians of the epochs' ``dur``."""
    kinds = {
        "ours": AdaptivePrunedMLPClassifier,
        "baseline": baseline_package(baseline).AdaptivePrunedMLPClassifier,
    }
    rows = []
    for hidden in SWEEP_SIZES:
        _epoch_seconds_of(kinds["ours"], 0, X[:1280], y[:1280], 128, hidden)  # warm-up
        for epochs in (1, LATE_EPOCH):
            seconds = functools.partial(
                _epoch_seconds_of,
                X=X,
                y=y,
                batch_size=128,
                hidden=hidden,
                epochs=epochs,
            )
            timed = in_turn(rounds, kinds, seconds)
            rows.append(
                {
                    "hidden": str(hidden),
                    "epoch": epochs,
                    "ours_s": timed["ours"],
                    "baseline_s": timed["baseline"],
                    "ours_vs_baseline": timed["ratio"],
                }
            )
            print(rows[-1], flush=True)
    return rows


def sizes_main(X, y, data_name, rounds, before) -> None:
    rows = size_sweep(X, y, rounds, before)
    breakdowns = []
    for hidden in SWEEP_SIZES:
        steps = {r["step"]: r["ms_per_step"] for r in step_breakdown(hidden, block=10)}
        row = {"hidden": str(hidden), **{f"{k}_ms": v for k, v in steps.items()}}
        for part in PARTS:
            row[f"{part}/dense"] = steps[part] / steps["dense"]
        breakdowns.append(row)
        print(row, flush=True)
    largest = SWEEP_SIZES[-1]
    memory = {
        method: statistics.median(
            peak_memory_mb(method, 128, largest, len(X)) for _ in range(3)
        )
        for method in ("ours", "dense skorch")
    }
    plot_sweep(rows, RESULTS / "training_speed_sizes.png")
    before_note = (
        f" 'before': the classifier of commit {commit_of(before)}, in the same process."
        if before
        else ""
    )
    write_results(
        "training_speed_sizes",
        "Training speed against the network's size",
        rows,
        notes=f"Data: {data_name}, the first {len(X)} rows, float32, batch 128. "
        "Each method trains one epoch of a fresh 784-H-H-10 network (ours: the "
        "default classifier with max_iter=1 and r_ramp=None, so that every step "
        "prunes, its history's dur; 'epoch 4': the fourth epoch of a 4-epoch "
        "fit, ours and dense skorch, where tau has fallen; dense skorch: "
        "the same network without a mask, trained by skorch with the same batch "
        "iterator, Adam and loss; plain torch: the dense network in a plain "
        "loop with fused Adam; MLPClassifier: one partial_fit), the methods in "
        f"a new random order each round, {rounds} rounds; medians, and ratios as "
        f"the median of the per-round ratios.{before_note}\n\n"
        f"Peak memory added by a {largest} fit (resident set high-water mark "
        "above the loaded data, median of 3 fresh processes): ours "
        f"{memory['ours']:.0f} MB, dense skorch {memory['dense skorch']:.0f} MB "
        f"(ratio {memory['ours'] / memory['dense skorch']:.2f}).\n\n"
        "![ratio against the number of weights](training_speed_sizes.png)\n\n"
        "Where a step's time goes at each size (batch 128, a plain torch loop "
        "with fused Adam, no skorch; each round steps every variant for a block "
        f"of 10 consecutive steps, in a new random order; median of "
        f"{BREAKDOWN_ROUNDS} block means, and each variant's median over the "
        f"dense network's): {BREAKDOWN_NOTE}\n\n" + markdown_table(breakdowns),
    )
    (RESULTS / "training_speed_sizes_memory.json").write_text(
        json.dumps(memory, indent=2)
    )
    (RESULTS / "training_speed_sizes_breakdown.json").write_text(
        json.dumps(breakdowns, indent=2)
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="10k samples, 2 rounds")
    parser.add_argument(
        "--epochs-against",
        metavar="CHECKOUT",
        help="only our epochs against those of the sk_adaprune of CHECKOUT (a "
        "checkout of an earlier commit); writes training_speed_against.md, or "
        "with --sizes, at each size of the sweep, training_speed_sizes_against.md",
    )
    parser.add_argument(
        "--sizes",
        action="store_true",
        help="only the sweep over network sizes (10,000 rows, batch 128, "
        "float32); writes training_speed_sizes.md and .png",
    )
    parser.add_argument(
        "--before",
        metavar="CHECKOUT",
        help="with --sizes: the classifier of CHECKOUT (an earlier commit's "
        "checkout) joins the sweep as 'before'",
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    X, y, _, _, data_name = load_fashion_mnist_or_stand_in()
    rounds = args.rounds
    if args.sizes and args.epochs_against:
        write_results(
            "training_speed_sizes_against",
            "Training speed against an earlier commit, by network size",
            sizes_against(X[:10_000], y[:10_000], rounds, args.epochs_against),
            notes=f"Data: {data_name}, the first 10000 rows, float32, batch 128, "
            "784-H-H-10 (the default classifier, r_ramp=None). The first epoch of "
            f"a fresh fit and the fourth of a {LATE_EPOCH}-epoch fit (history's "
            f"dur), ours and the sk_adaprune of commit "
            f"{commit_of(args.epochs_against)} in one process, in turn (who goes "
            f"first alternates), {rounds} rounds, medians; ours_vs_baseline: the "
            "median of the per-round ratios.",
        )
        return
    if args.sizes:
        sizes_main(X[:10_000], y[:10_000], data_name, args.rounds, args.before)
        return
    if args.quick:
        X, y, rounds = X[:10_000], y[:10_000], 2
    if args.epochs_against:
        write_results(
            "training_speed_against",
            "Training speed against an earlier commit",
            epochs_against(X, y, rounds, args.epochs_against),
            notes=f"Data: {data_name}, {len(X)} training samples, 784-512-512-10. One "
            f"epoch of a fresh model (its history's dur: set-up not counted), ours "
            f"and the sk_adaprune of {args.epochs_against} (commit "
            f"{commit_of(args.epochs_against)}) in one process, in turn (who goes "
            f"first alternates), {rounds} rounds, medians; ours_vs_baseline: the "
            "median of the per-round ratios.",
        )
        return
    methods = ("ours", "dense skorch", "MLPClassifier")
    rows = []
    for batch_size in (32, 128, "auto"):
        # One epoch of each method in turn, repeated: a slow spell of the
        # machine then hits all methods alike instead of one of them.
        times = {method: [] for method in methods}
        for _ in range(rounds):
            for method in methods:
                times[method].append(epoch_seconds(method, X, y, batch_size))
        medians = {method: statistics.median(times[method]) for method in methods}
        for method in methods:
            print(f"batch {batch_size} {method}: epochs {np.round(times[method], 2)} s")
        steps = math.ceil(len(X) / (200 if batch_size == "auto" else batch_size))
        per_round = [
            ours / dense for ours, dense in zip(times["ours"], times["dense skorch"])
        ]
        rows.append(
            {
                "batch_size": str(batch_size),
                "ours_s_per_epoch": medians["ours"],
                "dense_skorch_s_per_epoch": medians["dense skorch"],
                "MLPClassifier_s_per_epoch": medians["MLPClassifier"],
                "ours/dense": medians["ours"] / medians["dense skorch"],
                "ours/dense_per_round": f"{min(per_round):.2f}-{max(per_round):.2f}",
                "ours/MLPClassifier": medians["ours"] / medians["MLPClassifier"],
                "dense_step_ms": 1e3 * medians["dense skorch"] / steps,
            }
        )
    scaling = [
        {"weights": n, "threshold_density_ms_per_step": threshold_step_ms(n)}
        for n in (100_000, 1_000_000, 10_000_000)
    ]
    per_670k = threshold_step_ms(784 * 512 + 512 * 512 + 512 * 10)
    dense_step_128 = next(r["dense_step_ms"] for r in rows if r["batch_size"] == "128")
    breakdown = step_breakdown()
    for row in breakdown:
        print(f"step breakdown, {row['step']}: {row['ms_per_step']:.2f} ms", flush=True)
    # The high-water mark moves by a few MB from process to process.
    memory = {
        method: statistics.median(peak_memory_mb(method, 128) for _ in range(3))
        for method in ("ours", "dense skorch", "MLPClassifier")
    }
    notes = (
        f"Data: {data_name}, {len(X)} training samples. Each method trains one "
        f"epoch from scratch, the methods in turn, {rounds} rounds; the median "
        "epoch time is reported (set-up not counted; MLPClassifier timed by "
        "one partial_fit). "
        "'dense skorch' is the same 784-512-512-10 network without a mask, trained "
        "by skorch with the same batch iterator, Adam and loss.\n\n"
        f"Threshold + density per step on the 670k-weight model: {per_670k:.3f} ms, "
        f"{100 * per_670k / dense_step_128:.1f}% of a dense skorch step at batch 128 "
        f"({dense_step_128:.2f} ms).\n\n"
        + "\n".join(
            f"Threshold + density at {r['weights']:.0e} weights: "
            f"{r['threshold_density_ms_per_step']:.3f} ms per step"
            for r in scaling
        )
        + "\n\nPeak memory added by a 1-epoch fit at batch 128 "
        "(resident set high-water mark above the loaded data, median of 3 "
        "fresh processes): "
        f"ours {memory['ours']:.0f} MB, dense skorch {memory['dense skorch']:.0f} MB "
        f"(ratio {memory['ours'] / memory['dense skorch']:.2f}), MLPClassifier "
        f"{memory['MLPClassifier']:.0f} MB. The loaded data itself takes "
        f"{X.nbytes / 2**20:.0f} MB.\n\n"
        "Where a step's time goes (batch 128, plain torch loop with fused Adam, "
        f"no skorch; each round steps every variant for a block of "
        f"{BREAKDOWN_BLOCK} consecutive steps, in a new random order; median of "
        f"{BREAKDOWN_ROUNDS} block means): "
        + ", ".join(f"{r['step']} {r['ms_per_step']:.2f} ms" for r in breakdown)
        + ". "
        + BREAKDOWN_NOTE
    )
    write_results("training_speed", "Training speed", rows, notes=notes)
    write_results(
        "training_speed_profile",
        "Training speed: where a step's time goes, by operator",
        operator_profile(X, y),
        notes=(
            f"Data: {data_name}, the first 12,800 samples, batch 128, one epoch "
            "under torch.profiler (after a warm-up epoch on 1,280 samples); the "
            "top operators by self CPU time, in ms per step. Python work inside "
            "an autograd function (our selection and density; the compiled bin "
            "counting too) counts as that function's self time "
            "(_QuantileThreshold); 'Optimizer.step' "
            "holds the Python of skorch's closure, forward and backward."
        ),
    )
    extra = {
        "step_breakdown": breakdown,
        "threshold_scaling": scaling,
        "threshold_670k_ms": per_670k,
        "memory_mb": memory,
    }
    # Beside the other results, wherever the script is run from.
    (RESULTS / "training_speed_extra.json").write_text(json.dumps(extra, indent=2))


if __name__ == "__main__":
    main()
