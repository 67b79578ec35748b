import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from sk_adaprune import AdaptivePrunedMLPClassifier
from sk_adaprune.model_selection import sparsest_within, sparsity_scorer


def results(accuracy, sparsity):
    return {
        "mean_test_accuracy": np.array(accuracy),
        "mean_test_sparsity": np.array(sparsity),
    }


def test_refit_picks_the_sparsest_within_tolerance():
    cv_results = results([0.95, 0.945, 0.93, 0.952], [0.5, 0.8, 0.95, 0.6])
    # Best 0.952; within 0.01: indices 0, 1, 3; sparsest of those: 1.
    assert sparsest_within(0.01)(cv_results) == 1
    assert sparsest_within(0.0)(cv_results) == 3
    assert sparsest_within(0.05)(cv_results) == 2


def test_refit_breaks_sparsity_ties_by_score_then_order():
    cv_results = results([0.90, 0.92, 0.92], [0.8, 0.8, 0.8])
    assert sparsest_within(0.1)(cv_results) == 1


def test_refit_ignores_nan_scores_and_refuses_all_nan():
    assert sparsest_within(0.01)(results([np.nan, 0.9], [0.99, 0.5])) == 1
    with pytest.raises(ValueError, match="NaN"):
        sparsest_within(0.01)(results([np.nan], [0.5]))


def test_negative_tolerance_is_refused():
    with pytest.raises(ValueError, match="tolerance must be >= 0"):
        sparsest_within(-0.1)


def test_grid_search_refits_the_chosen_candidate(blobs):
    X, y = blobs
    search = GridSearchCV(
        AdaptivePrunedMLPClassifier(max_iter=40, random_state=0),
        {"lambda_": [0.0, 10.0, 1000.0]},
        scoring={"accuracy": "accuracy", "sparsity": sparsity_scorer},
        refit=sparsest_within(0.02),
        cv=3,
    )
    search.fit(X, y)
    chosen = search.best_index_
    accuracy = search.cv_results_["mean_test_accuracy"]
    sparsity = search.cv_results_["mean_test_sparsity"]
    assert accuracy[chosen] >= accuracy.max() - 0.02
    eligible = accuracy >= accuracy.max() - 0.02
    assert sparsity[chosen] == sparsity[eligible].max()
    assert search.best_estimator_.lambda_ == search.cv_results_["param_lambda_"][chosen]
    assert (
        sparsity_scorer(search.best_estimator_)
        == search.best_estimator_.learned_sparsity_
    )
