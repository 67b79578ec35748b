"""Choosing ``r_ramp``: does a cubic ceiling on ``r`` close the gap to gradual
magnitude pruning on Fashion-MNIST?

For each seed and network: ours without a ceiling (``r_ramp=None``), ours
with ``r_ramp=(0.1, 0.75)`` from ``r_init='auto'`` (0.1 here) and from
``r_init=0`` (dense until 10% of the steps), and gradual magnitude pruning
(Zhu & Gupta's cubic schedule over 10%..75% of the steps, the quality
benchmark's) told each of ours' sparsities, side by side in one run.
``lambda_`` and every other parameter at their defaults
(``finetune_fraction=0.2``), the thesis's weight gradient. Writes
``results/choose_ramp.md`` / ``.json``.
Run: ``python benchmarks/choose_ramp.py [--quick]`` (``--quick``: one seed,
LeNet-300-100 only, 3 epochs, 10,000 rows).
"""

import argparse
import time
import warnings

from sklearn.exceptions import ConvergenceWarning

from _common import fixed_epochs, summarise, write_results
from _data import load_fashion_mnist_or_stand_in
from accuracy_vs_sparsity import accuracy_of, gradual_pruning
from sk_adaprune import AdaptivePrunedMLPClassifier

BATCH = 128
# method -> parameters; explicit, so that later defaults leave this run alone
# (it was run with r_init='auto' starting at 0.1 and the thesis's weight
# gradient, the defaults then).
VARIANTS = {
    "ours, no ceiling": dict(r_ramp=None, r_init=0.1, weight_gradient="full"),
    "ours, r_ramp=(0.1, 0.75)": dict(
        r_ramp=(0.1, 0.75), r_init=0.1, weight_gradient="full"
    ),
    "ours, r_ramp=(0.1, 0.75), r_init=0": dict(
        r_ramp=(0.1, 0.75), r_init=0.0, weight_gradient="full"
    ),
}


def run_variants(variants, networks, seeds, data):
    """Each variant of ours and gradual pruning told its sparsity, per seed."""
    X, y, X_test, y_test = data
    rows = []
    for hidden, epochs in networks.items():
        network = "-".join(map(str, (784, *hidden, 10)))
        for seed in seeds:
            for method, params in variants.items():
                start = time.perf_counter()
                model = AdaptivePrunedMLPClassifier(
                    random_state=seed, **fixed_epochs(hidden, BATCH, epochs), **params
                ).fit(X, y)
                rows.append(
                    {
                        "network": network,
                        "method": method,
                        "seed": seed,
                        "accuracy": model.score(X_test, y_test),
                        "sparsity": model.learned_sparsity_,
                        "fit_s": time.perf_counter() - start,
                    }
                )
                print(rows[-1], flush=True)
                start = time.perf_counter()
                target = model.learned_sparsity_
                gradual = gradual_pruning(data, epochs, BATCH, seed, target, hidden)
                rows.append(
                    {
                        "network": network,
                        "method": f"gradual magnitude, told {method}'s sparsity",
                        "seed": seed,
                        "accuracy": accuracy_of(gradual, X_test, y_test),
                        "sparsity": target,
                        "fit_s": time.perf_counter() - start,
                    }
                )
                print(rows[-1], flush=True)
    return summarise(rows, ("network", "method"), ("accuracy", "sparsity", "fit_s"))


def fashion_runs(quick):
    """Data, seeds and networks (hidden sizes -> epochs) of a full or quick run."""
    X, y, X_test, y_test, name = load_fashion_mnist_or_stand_in()
    if quick:
        X, y = X[:10_000], y[:10_000]
        seeds, networks = (0,), {(300, 100): 3}
    else:
        seeds, networks = (0, 1, 2), {(512, 512): 15, (300, 100): 10}
    notes = (
        f"Data: {name}, {len(X)} training / {len(X_test)} test rows, batch "
        f"{BATCH}; networks and epochs {networks}; seeds {list(seeds)}; means "
        "and population std over seeds. Gradual magnitude pruning is told the "
        "sparsity the row above it learned, per seed. fit_s: wall time of one "
        "fit, for orientation only: this is not a speed benchmark."
    )
    return (X, y, X_test, y_test), seeds, networks, notes


def choose(name, title, variants, note) -> None:
    """Run ``variants`` (``--quick``: the small version) and write
    ``results/<name>[_quick].md`` / ``.json``."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    data, seeds, networks, notes = fashion_runs(args.quick)
    summary = run_variants(variants, networks, seeds, data)
    suffix = "_quick" if args.quick else ""
    write_results(name + suffix, title, summary, notes=notes + " " + note)


def main() -> None:
    choose(
        "choose_ramp",
        "Choosing r_ramp on Fashion-MNIST",
        VARIANTS,
        "lambda_ and the other parameters at their defaults.",
    )


if __name__ == "__main__":
    main()
