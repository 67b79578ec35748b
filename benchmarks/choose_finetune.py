"""Evidence behind the defaults of r_init and finetune_fraction (Fashion-MNIST).

How a fit starts and how it ends, on two network sizes, 3 seeds each, batch
128, test accuracy and sparsity on Fashion-MNIST's test set (or the synthetic
stand-in when the Debian package is missing):

1. a grid of ``r_init`` x ``finetune_fraction`` on LeNet-300-100 (784-300-100-10,
   10 epochs) and a smaller grid on 784-512-512-10 (15 epochs);
2. alternatives for the end of a fit, on LeNet-300-100 at one setting of the
   grid: the hard fine-tuning phase as the library runs it; the same with the
   learning rate divided by 10 for the phase; ``r`` frozen with the soft mask
   kept (no hardening until fit ends); ``r`` frozen, soft mask, ``tau``
   annealed geometrically to ``tau_min`` over the phase. The three
   alternatives replace :meth:`PruningNet.start_finetuning` for their runs.

Fit times come from the same run, one fit at a time, so the cost of the
phase (no threshold, no density, no mask) shows as a shorter fit.
Writes ``results/choose_finetune.md``/``.json``.
Run: ``python benchmarks/choose_finetune.py [--quick]``.

``--phase-cost``: one default fit of 784-512-512-10 (15 epochs, batch 128)
and the seconds of each of its epochs from the net's history, pruning epochs
against fine-tuning epochs: the same process and data, so the machine's
drift between separate fits does not enter. Writes
``results/choose_finetune_phase_cost.md``/``.json``.

``--small``: the same question on scikit-learn-sized data, where r's climb is
limited by the number of steps: load_digits (classifier, 200 epochs) and
load_diabetes / make_friedman1 (regressor, standardised), 3 seeds, for the
previous defaults, fixed r_init with and without the phase, and the current
defaults. Writes ``results/choose_finetune_small.md``/``.json`` (a minute).
"""

import argparse
import contextlib
import statistics
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from skorch.callbacks import Callback

from _common import fixed_epochs, summarise, write_results
from _data import load_fashion_mnist_or_stand_in, regression_splits
from sk_adaprune import AdaptivePrunedMLPClassifier, AdaptivePrunedMLPRegressor
from sk_adaprune._training.net import PruningNet

LENET, WIDE = (300, 100), (512, 512)
FRACTIONS = (0.0, 0.2, 0.4)


class _AnnealTemperature(Callback):
    """Multiplies ``tau`` by ``factor`` at the end of every epoch."""

    def __init__(self, factor):
        self.factor = factor

    def on_epoch_end(self, net, **kwargs):
        temperature = net.module_.temperature
        temperature.data.mul_(self.factor).clamp_(min=net.tau_min)


def _group_of(net, parameter):
    return next(
        group
        for group in net.optimizer_.param_groups
        if any(p is parameter for p in group["params"])
    )


def _lr_decay(net):
    harden(net)
    for group in net.optimizer_.param_groups:
        group["lr"] *= 0.1


def _soft_frozen(net, anneal=False):
    module = net.module_
    _group_of(net, module.ratio)["lr"] = 0.0
    if anneal:
        _group_of(net, module.temperature)["lr"] = 0.0
        start, end = module.temperature.item(), net.tau_min
        factor = (end / start) ** (1.0 / max(1, net.finetune_epochs))
        net.callbacks_.append(("anneal", _AnnealTemperature(factor)))


harden = PruningNet.start_finetuning
VARIANTS = {
    "hard phase": None,
    "hard phase, lr / 10": _lr_decay,
    "soft mask, r frozen": _soft_frozen,
    "soft mask, r frozen, tau annealed": lambda net: _soft_frozen(net, anneal=True),
}


@contextlib.contextmanager
def _variant(name):
    replacement = VARIANTS[name]
    if replacement is not None:
        PruningNet.start_finetuning = replacement
    try:
        yield
    finally:
        PruningNet.start_finetuning = harden


def fit_once(data, hidden, epochs, seed, variant="hard phase", **params):
    X, y, X_test, y_test = data
    model = AdaptivePrunedMLPClassifier(
        random_state=seed, **fixed_epochs(hidden, 128, epochs), **params
    )
    start = time.perf_counter()
    with _variant(variant):
        model.fit(X, y)
    seconds = time.perf_counter() - start
    return {
        "network": "-".join(map(str, (784, *hidden, 10))),
        "epochs": epochs,
        "variant": variant,
        "r_init": params.get("r_init", 0.5),
        "finetune_fraction": params.get("finetune_fraction", 0.0),
        "accuracy": model.score(X_test, y_test),
        "sparsity": model.learned_sparsity_,
        "final_r": model.learned_ratio_,
        "fit_s": seconds,
    }


SMALL_SETTINGS = (
    {"r_init": 0.5, "finetune_fraction": 0.0},
    {"r_init": 0.5, "finetune_fraction": 0.2},
    {"r_init": 0.3, "finetune_fraction": 0.2},
    {"r_init": 0.1, "finetune_fraction": 0.2},
    {},  # the current defaults
)


def _small_data_sets():
    X, y = load_digits(return_X_y=True)
    yield (
        "load_digits",
        AdaptivePrunedMLPClassifier,
        train_test_split(X / 16, y, test_size=0.25, stratify=y, random_state=0),
    )
    for name, split in regression_splits().items():
        yield name, AdaptivePrunedMLPRegressor, split


def run_small() -> None:
    rows = []
    for name, estimator, (X_train, X_test, y_train, y_test) in _small_data_sets():
        for settings in SMALL_SETTINGS:
            fits = [
                estimator(random_state=seed, **settings).fit(X_train, y_train)
                for seed in (0, 1, 2)
            ]
            scores = [fit.score(X_test, y_test) for fit in fits]
            rows.append(
                {
                    "data": name,
                    "r_init": settings.get("r_init", "auto (default)"),
                    "finetune_fraction": settings.get(
                        "finetune_fraction", "0.2 (default)"
                    ),
                    "initial_r": statistics.mean(f.initial_ratio_ for f in fits),
                    "score": statistics.mean(scores),
                    "score_std": statistics.pstdev(scores),
                    "sparsity": statistics.mean(f.learned_sparsity_ for f in fits),
                    "fine_tuned_epochs": statistics.mean(
                        f.pruning_history_["finetuning"].sum() for f in fits
                    ),
                    "epochs": statistics.mean(f.n_iter_ for f in fits),
                }
            )
            print(rows[-1], flush=True)
    write_results(
        "choose_finetune_small",
        "r_init and finetune_fraction on scikit-learn-sized data",
        rows,
        notes=(
            "load_digits: stratified 75/25 split, X / 16, test accuracy; "
            "load_diabetes and make_friedman1 (2000 samples, noise 0.5): 75/25 "
            "split, X and y standardised, test R^2. max_iter=200 and the other "
            "parameters at their defaults; means over seeds 0, 1, 2."
        ),
    )


def run_phase_cost() -> None:
    X, y, _, _, data_name = load_fashion_mnist_or_stand_in()
    model = AdaptivePrunedMLPClassifier(
        hidden_layer_sizes=WIDE, batch_size=128, max_iter=15, random_state=0
    ).fit(X, y)
    seconds = model.net_.history[:, "dur"]
    phase = model.pruning_history_["finetuning"].astype(bool)
    rows = [
        {
            "epochs": name,
            "count": int(mask.sum()),
            "median_s": statistics.median(np.asarray(seconds)[mask]),
            "min_s": min(np.asarray(seconds)[mask]),
            "max_s": max(np.asarray(seconds)[mask]),
        }
        for name, mask in (("pruning", ~phase), ("fine-tuning", phase))
    ]
    # The first epoch pays for warming up; leave it out of the pruning side.
    seconds = np.asarray(seconds)
    pruning_epoch = statistics.median(seconds[~phase][1:])
    total = seconds.sum()
    without_phase = total + phase.sum() * (pruning_epoch - rows[1]["median_s"])
    write_results(
        "choose_finetune_phase_cost",
        "Seconds per epoch with and without the fine-tuning phase",
        rows,
        notes=(
            f"Data: {data_name}, {len(X)} samples, 784-512-512-10, batch 128, 15 "
            "epochs, default parameters, seed 0; seconds of each epoch from the "
            "net's history (skorch's dur), one fit. The fit took "
            f"{total:.1f} s; with pruning epochs (median of epochs 2 on: "
            f"{pruning_epoch:.2f} s) in place of its {int(phase.sum())} "
            f"fine-tuning epochs it would take {without_phase:.1f} s: the phase "
            f"saved {1 - total / without_phase:.1%} of the fit time."
        ),
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--phase-cost", action="store_true")
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    if args.small:
        run_small()
        return
    if args.phase_cost:
        run_phase_cost()
        return
    X, y, X_test, y_test, data_name = load_fashion_mnist_or_stand_in()
    seeds = (0, 1, 2)
    lenet_epochs, wide_epochs = 10, 15
    if args.quick:
        X, y, X_test, y_test = X[:5000], y[:5000], X_test[:1000], y_test[:1000]
        seeds, lenet_epochs, wide_epochs = (0,), 5, 5
    data = (X, y, X_test, y_test)
    plan = [
        (LENET, lenet_epochs, "hard phase", r_init, fraction)
        for r_init in (0.1, 0.3, 0.5)
        for fraction in FRACTIONS
    ]
    plan += [
        (LENET, lenet_epochs, variant, 0.1, 0.2)
        for variant in VARIANTS
        if variant != "hard phase"
    ]
    plan += [
        (WIDE, wide_epochs, "hard phase", r_init, fraction)
        for r_init in (0.1, 0.3)
        for fraction in (0.2, 0.4)
    ]
    rows = []
    for hidden, epochs, variant, r_init, fraction in plan:
        for seed in seeds:
            rows.append(
                fit_once(
                    data,
                    hidden,
                    epochs,
                    seed,
                    variant,
                    r_init=r_init,
                    finetune_fraction=fraction,
                )
            )
            print(rows[-1], flush=True)
    write_results(
        "choose_finetune" + ("_quick" if args.quick else ""),
        "Choosing r_init and finetune_fraction on Fashion-MNIST",
        summarise(
            rows,
            ["network", "variant", "r_init", "finetune_fraction"],
            ["accuracy", "sparsity", "fit_s"],
        ),
        notes=(
            f"Data: {data_name}, {len(X)} training / {len(X_test)} test samples, "
            f"batch 128, lambda_=10, other parameters at their defaults; "
            f"784-300-100-10 for {lenet_epochs} epochs and 784-512-512-10 for "
            f"{wide_epochs} epochs; means and population std over seeds "
            f"{list(seeds)}; fit_s is the wall time of one fit, one fit at a "
            "time. The alternatives for the phase run at r_init=0.1, "
            "finetune_fraction=0.2."
        ),
    )


if __name__ == "__main__":
    main()
