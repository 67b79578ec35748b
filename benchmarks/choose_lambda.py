"""One grid search over lambda_ on load_digits, refit with sparsest_within(0.01).

Writes ``results/choose_lambda.md``, ``results/choose_lambda.png`` (accuracy
against sparsity for every lambda_), ``results/pruning_history.png`` and
``results/input_usage.png`` (the chosen model). Needs the ``plot`` extra.
Run: ``python benchmarks/choose_lambda.py``.
"""

import time
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, train_test_split  # noqa: E402

from _common import RESULTS, write_results  # noqa: E402
from sk_adaprune import AdaptivePrunedMLPClassifier  # noqa: E402
from sk_adaprune.model_selection import sparsest_within, sparsity_scorer  # noqa: E402
from sk_adaprune.plotting import plot_input_usage, plot_pruning_history  # noqa: E402

LAMBDAS = [0.0, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0]
TOLERANCE = 0.01


def main() -> None:
    warnings.simplefilter("ignore", ConvergenceWarning)
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X / 16, y, test_size=0.25, stratify=y, random_state=0
    )
    search = GridSearchCV(
        AdaptivePrunedMLPClassifier(random_state=0),
        {"lambda_": LAMBDAS},
        scoring={"accuracy": "accuracy", "sparsity": sparsity_scorer},
        refit=sparsest_within(TOLERANCE),
        cv=3,
        n_jobs=2,
    )
    start = time.perf_counter()
    search.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    results = search.cv_results_
    best = search.best_estimator_
    rows = [
        {
            "lambda_": lam,
            "cv_accuracy": float(results["mean_test_accuracy"][i]),
            "cv_accuracy_std": float(results["std_test_accuracy"][i]),
            "cv_sparsity": float(results["mean_test_sparsity"][i]),
            "chosen": "yes" if i == search.best_index_ else "",
        }
        for i, lam in enumerate(LAMBDAS)
    ]
    write_results(
        "choose_lambda",
        "Choosing lambda_ with GridSearchCV on load_digits",
        rows,
        notes=(
            f"3-fold CV on 75% of load_digits (X / 16), defaults otherwise; refit="
            f"sparsest_within({TOLERANCE}): the sparsest lambda_ whose CV accuracy "
            f"is within {TOLERANCE} of the best. Search time {seconds:.0f} s "
            f"(n_jobs=2). Chosen lambda_={best.lambda_}: held-out test accuracy "
            f"{best.score(X_test, y_test):.4f} at {best.learned_sparsity_:.1%} "
            "sparsity."
        ),
    )

    figure, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    accuracy = results["mean_test_accuracy"]
    sparsity = results["mean_test_sparsity"]
    ax.errorbar(sparsity, accuracy, yerr=results["std_test_accuracy"], fmt="o-")
    for lam, s, a in zip(LAMBDAS, sparsity, accuracy):
        ax.annotate(f"λ={lam:g}", (s, a), textcoords="offset points", xytext=(4, 4))
    chosen = search.best_index_
    ax.scatter(
        sparsity[chosen],
        accuracy[chosen],
        s=200,
        facecolors="none",
        edgecolors="red",
        label="refit: sparsest within 1 point",
    )
    ax.axhline(
        accuracy.max() - TOLERANCE,
        color="grey",
        linestyle=":",
        label="best accuracy - 0.01",
    )
    ax.set_xlabel("CV sparsity (fraction of weights pruned)")
    ax.set_ylabel("CV accuracy")
    ax.set_title("GridSearchCV over lambda_ (load_digits)")
    ax.legend(loc="lower left")
    figure.savefig(RESULTS / "choose_lambda.png", dpi=120)

    axes = plot_pruning_history(best)
    axes[0].figure.suptitle(f"chosen model, lambda_={best.lambda_}")
    axes[0].figure.savefig(RESULTS / "pruning_history.png", dpi=110)
    ax = plot_input_usage(best, image_shape=(8, 8))
    ax.figure.savefig(RESULTS / "input_usage.png", dpi=110)


if __name__ == "__main__":
    main()
