"""Choosing the unit score of ``prune='neurons'``: what ranks a hidden unit.

784-512-512-10 on Fashion-MNIST (or the synthetic stand-in), 15 epochs at
batch 128, 3 seeds, ``lambda_`` in (3, 10, 30), every other parameter at its
default; the units ranked by each score of ``_units.UNIT_SCORES``:

- ``incoming``: ``||w_in_j||^2``, the squared L2 norm of the unit's incoming
  weights (the ranking of torch's ``ln_structured(n=2, dim=0)``);
- ``incoming_outgoing``: ``||w_in_j||^2 ||w_out_j||^2``, unchanged by a ReLU
  unit's rescaling;
- ``incoming_per_layer``: ``||w_in_j||^2`` over its layer's mean.

Compared by their frontiers (test accuracy against hidden units kept), in one
run. Then the same on load_digits (the README demo's data, stratified 75/25,
X / 16) with two hidden layers, (64, 64) and (100, 100), the estimator's
defaults otherwise (200 epochs): a small network, where the layers' norms
differ in other ways. (With one hidden layer ``incoming_per_layer`` is
``incoming``.) Writes ``results/choose_unit_score[_quick].md``/``.json``,
``results/choose_unit_score_digits[_quick].md``/``.json`` and
``results/choose_unit_score[_quick].png``.
Run: ``python benchmarks/choose_unit_score.py [--quick]`` (``--quick``: a
10k-sample subset, 3 epochs, 1 seed, lambda_ 10).
"""

import time

from neuron_pruning import plot, quick_or_full_data

from _common import HIDDEN, RESULTS, fixed_epochs, summarise, write_results
from _data import classification_splits
from sk_adaprune import AdaptivePrunedMLPClassifier
from sk_adaprune._method.units import UNIT_SCORES

COLOURS = ("tab:red", "tab:blue", "tab:green", "tab:purple")


class ScoredUnits(AdaptivePrunedMLPClassifier):
    """The estimator with its module ranking units by ``unit_score``, a
    module setting the estimator does not expose."""

    def __init__(self, unit_score="incoming", **params):
        super().__init__(**params)
        self.unit_score = unit_score

    def get_params(self, deep=True):
        return {**super().get_params(deep), "unit_score": self.unit_score}

    def _build_net(self, **settings):
        net = super()._build_net(**settings)
        return net.set_params(module__unit_score=self.unit_score)


def fit_each_score(data, seeds, lambdas, **params) -> list[dict]:
    """For every seed, ``lambda_`` and unit score, in that order, one fit of
    ``ScoredUnits(prune='neurons', **params)``: its test accuracy, units
    kept per hidden layer and wall time."""
    X, y, X_test, y_test = data
    rows = []
    for seed in seeds:
        for lam in lambdas:
            for score in UNIT_SCORES:
                start = time.perf_counter()
                model = ScoredUnits(
                    unit_score=score,
                    prune="neurons",
                    lambda_=lam,
                    random_state=seed,
                    **params,
                ).fit(X, y)
                seconds = time.perf_counter() - start
                kept = [coef.shape[1] for coef in model.coefs_[:-1]]
                rows.append(
                    {
                        "method": f"ours, neurons, score={score}",
                        "lambda_": lam,
                        "seed": seed,
                        "accuracy": model.score(X_test, y_test),
                        "units_kept": sum(kept),
                        "layer_1_units": kept[0],
                        "layer_2_units": kept[1],
                        "fit_s": seconds,
                    }
                )
                print(rows[-1], flush=True)
    return rows


def run(data, epochs, batch_size, seeds, lambdas):
    common = fixed_epochs(HIDDEN, batch_size, epochs)
    return fit_each_score(data, seeds, lambdas, **common)


def run_digits(seeds, lambdas, max_iter=200) -> list[dict]:
    """The scores on load_digits with (64, 64) and (100, 100) hidden units."""
    X, X_test, y, y_test = classification_splits()["load_digits"]
    rows = []
    for hidden in ((64, 64), (100, 100)):
        for row in fit_each_score(
            (X, y, X_test, y_test),
            seeds,
            lambdas,
            hidden_layer_sizes=hidden,
            max_iter=max_iter,
        ):
            rows.append({"hidden": "-".join(map(str, hidden)), **row})
    return rows


def main() -> None:
    quick, (X, y, X_test, y_test), data_name = quick_or_full_data()
    if quick:
        epochs, seeds, lambdas, suffix = 3, (0,), (10.0,), "_quick"
    else:
        epochs, seeds, lambdas, suffix = 15, (0, 1, 2), (3.0, 10.0, 30.0), ""
    batch_size = 128
    values = ["accuracy", "units_kept", "layer_1_units", "layer_2_units", "fit_s"]
    digits = run_digits(seeds, lambdas, max_iter=20 if quick else 200)
    write_results(
        f"choose_unit_score_digits{suffix}",
        "Choosing the unit score: load_digits, two hidden layers",
        summarise(digits, ["hidden", "method", "lambda_"], values),
        "Data: load_digits, stratified 75/25 split (random_state=0), X / 16; "
        f"hidden layers (64, 64) and (100, 100), seeds {list(seeds)}, "
        "prune='neurons', other parameters at their defaults "
        f"({20 if quick else 200} epochs, batch 'auto', the stopping rule on); "
        "means and population std over seeds. fit_s is one fit's wall time, for "
        "orientation only.",
    )
    rows = run((X, y, X_test, y_test), epochs, batch_size, seeds, lambdas)
    summary = summarise(rows, ["method", "lambda_"], values)
    styles = {
        f"ours, neurons, score={score}": (colour, "o")
        for score, colour in zip(UNIT_SCORES, COLOURS)
    }
    plot(
        summary,
        f"{data_name}, 784-512-512-10: unit scores, accuracy against units kept",
        RESULTS / f"choose_unit_score{suffix}.png",
        styles,
    )
    notes = (
        f"Data: {data_name}, {len(X)} training / {len(X_test)} test samples, "
        f"784-512-512-10 for {epochs} epochs at batch {batch_size}, seeds "
        f"{list(seeds)}, prune='neurons', other parameters at their defaults; "
        "means and population std over seeds. fit_s is one fit's wall time, for "
        f"orientation only. Plot: choose_unit_score{suffix}.png."
    )
    write_results(
        f"choose_unit_score{suffix}", "Choosing the unit score", summary, notes
    )


if __name__ == "__main__":
    main()
