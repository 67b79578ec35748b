"""Which loss should the ``tol`` / ``n_iter_no_change`` stopping rule watch?

The total loss Adam minimises includes the pruning term ``lambda_ (1 - r)^2``,
which falls as long as ``r`` climbs; MLPClassifier's loss (the task's plus
alpha's L2 term) does not. For each scikit-learn data set and 3 seeds, the
default estimators are fitted twice, side by side in one run: the rule
watching the total (``train_loss``, the default) and watching MLPClassifier's
loss (``mlp_loss``), next to MLPClassifier / MLPRegressor with the same
``max_iter``, ``tol`` and ``n_iter_no_change``. Records the epochs run, the
test score (accuracy or R^2) and the sparsity. Writes
``results/choose_stopping_loss.md`` / ``.json``.
Run: ``python benchmarks/choose_stopping_loss.py``.
"""

import functools
import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor

from _common import summarise, write_results
from _data import classification_splits, regression_splits
from sk_adaprune import AdaptivePrunedMLPClassifier, AdaptivePrunedMLPRegressor, _base

SEEDS = (0, 1, 2)
MONITORS = ("train_loss", "mlp_loss")


def data_sets():
    """``name -> (X_train, X_test, y_train, y_test, is_classification)``."""
    sets = {name: (*split, True) for name, split in classification_splits().items()}
    for name, split in regression_splits().items():
        sets[name] = (*split, False)
    return sets


def main() -> None:
    warnings.simplefilter("ignore", ConvergenceWarning)
    original = _base.StoppingRule
    rows = []
    for name, (X_train, X_test, y_train, y_test, classify) in data_sets().items():
        ours = AdaptivePrunedMLPClassifier if classify else AdaptivePrunedMLPRegressor
        theirs = MLPClassifier if classify else MLPRegressor
        for seed in SEEDS:
            model = theirs(random_state=seed).fit(X_train, y_train)
            rows.append(
                {
                    "data": name,
                    "method": theirs.__name__,
                    "seed": seed,
                    "epochs": model.n_iter_,
                    "test_score": model.score(X_test, y_test),
                    "sparsity": 0.0,
                }
            )
            for monitor in MONITORS:
                # The rule is built inside fit; this run swaps what it watches.
                _base.StoppingRule = functools.partial(original, monitor=monitor)
                try:
                    model = ours(random_state=seed).fit(X_train, y_train)
                finally:
                    _base.StoppingRule = original
                rows.append(
                    {
                        "data": name,
                        "method": f"ours, rule on {monitor}",
                        "seed": seed,
                        "epochs": model.n_iter_,
                        "test_score": model.score(X_test, y_test),
                        "sparsity": model.learned_sparsity_,
                    }
                )
            for row in rows[-3:]:
                print(row, flush=True)
    write_results(
        "choose_stopping_loss",
        "The loss the stopping rule watches",
        summarise(rows, ("data", "method"), ("epochs", "test_score", "sparsity")),
        notes=(
            "Default parameters (max_iter=200, tol=1e-4, n_iter_no_change=10, no "
            f"early stopping), seeds {list(SEEDS)}; stratified 75/25 splits for the "
            "classifiers (X / 16 for load_digits, else standardised X), 75/25 splits "
            "with standardised X and y for the regressors. test_score: accuracy or "
            "R^2 on the test rows; means and population std over seeds. "
            "train_loss: the total loss (task + pruning + L2 terms), what the rule "
            "watches by default; mlp_loss: MLPClassifier's loss (task + L2), "
            "loss_curve_. Without early stopping the rule's first stall starts the "
            "fine-tuning phase, so it decides how many epochs prune."
        ),
    )


if __name__ == "__main__":
    main()
