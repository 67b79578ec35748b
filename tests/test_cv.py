"""AdaptivePrunedMLPClassifierCV / AdaptivePrunedMLPRegressorCV: the search,
the choice, the refit, and the estimator API."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_diabetes, load_digits
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import sk_adaprune
from sk_adaprune import (
    AdaptivePrunedMLPClassifier,
    AdaptivePrunedMLPClassifierCV,
    AdaptivePrunedMLPRegressor,
    AdaptivePrunedMLPRegressorCV,
)
from sk_adaprune.model_selection import sparsest_within, sparsity_scorer

FAST = dict(max_iter=30, random_state=0)


# A grid of one lambda_ runs the whole search (2 folds and the refit) at the
# least cost; the checks' fits are those of the single estimator's checks.
@pytest.mark.end_to_end
@parametrize_with_checks(
    [
        AdaptivePrunedMLPClassifierCV(lambdas=[10.0], cv=2, max_iter=30),
        AdaptivePrunedMLPRegressorCV(lambdas=[10.0], cv=2, max_iter=30),
    ],
)
def test_sklearn_compatible_cv_estimator(estimator, check):
    check(estimator)


@pytest.fixture
def digits(digits_split):
    X_train, _, y_train, _ = digits_split
    return X_train[:600], y_train[:600]


@pytest.mark.parametrize("tolerance", [None, 0.05])
def test_the_choice_and_the_results_are_grid_search_cvs(digits, tolerance):
    X, y = digits
    lambdas = [0.3, 30.0, 300.0]
    model = AdaptivePrunedMLPClassifierCV(
        lambdas, cv=3, sparsest_within=tolerance, **FAST
    ).fit(X, y)
    search = GridSearchCV(
        AdaptivePrunedMLPClassifier(**FAST),
        {"lambda_": lambdas},
        scoring={"score": "accuracy", "sparsity": sparsity_scorer},
        refit="score" if tolerance is None else sparsest_within(tolerance, "score"),
        cv=3,
    ).fit(X, y)
    assert model.lambda_ == search.best_params_["lambda_"]
    assert model.best_index_ == search.best_index_
    for key in ("mean_test_score", "mean_test_sparsity", "split2_test_sparsity"):
        np.testing.assert_array_equal(model.cv_results_[key], search.cv_results_[key])
    # The refit is the chosen lambda_ on all the data, and reads as this one.
    refit = search.best_estimator_
    np.testing.assert_array_equal(model.predict(X), refit.predict(X))
    assert model.learned_sparsity_ == refit.learned_sparsity_
    for mine, theirs in zip(model.coefs_, refit.coefs_):
        np.testing.assert_array_equal(mine, theirs)
    assert model.score(X, y) == refit.score(X, y)
    np.testing.assert_array_equal(model.lambdas_, lambdas)


def test_the_tolerance_trades_score_for_sparsity():
    X, y = load_digits(return_X_y=True)
    X = X / 16
    # r free to climb fast: lambda_=300 prunes much more than 0, and here
    # loses a little accuracy for it.
    model = AdaptivePrunedMLPClassifierCV(
        [0.0, 300.0], cv=2, lr_r=0.02, r_ramp=None, sparsest_within=1.0, **FAST
    ).fit(X[:300], y[:300])
    scores = model.cv_results_["mean_test_score"]
    sparsity = model.cv_results_["mean_test_sparsity"]
    assert sparsity[1] > sparsity[0] + 0.2 and scores[1] < scores[0]
    assert model.lambda_ == 300.0  # every score is within 1.0: the sparsest
    strict = clone(model).set_params(sparsest_within=None).fit(X[:300], y[:300])
    assert strict.lambda_ == 0.0  # the best score
    tight = clone(model).set_params(sparsest_within=0.001).fit(X[:300], y[:300])
    assert tight.lambda_ == 0.0


def test_pruning_neurons_the_results_are_grid_search_cvs(digits):
    X, y = digits
    model = AdaptivePrunedMLPClassifierCV(
        [1.0, 100.0], cv=2, prune="neurons", **FAST
    ).fit(X, y)
    search = GridSearchCV(
        AdaptivePrunedMLPClassifier(prune="neurons", **FAST),
        {"lambda_": [1.0, 100.0]},
        scoring={"score": "accuracy", "sparsity": sparsity_scorer},
        refit="score",
        cv=2,
    ).fit(X, y)
    for key in ("split0_test_score", "split1_test_sparsity"):
        np.testing.assert_array_equal(model.cv_results_[key], search.cv_results_[key])
    assert model.lambda_ == search.best_params_["lambda_"]


def test_sample_weight_reaches_every_fit(digits):
    X, y = digits
    weights = np.random.RandomState(0).uniform(0.2, 2.0, len(y))
    folds = list(KFold(2, shuffle=True, random_state=0).split(X))
    model = AdaptivePrunedMLPClassifierCV([1.0, 30.0], cv=folds, **FAST)
    model.fit(X, y, sample_weight=weights)
    search = GridSearchCV(
        AdaptivePrunedMLPClassifier(**FAST), {"lambda_": [1.0, 30.0]}, cv=folds
    ).fit(X, y, sample_weight=weights)
    np.testing.assert_array_equal(
        model.cv_results_["mean_test_score"], search.cv_results_["mean_test_score"]
    )
    unweighted = clone(model).fit(X, y)
    assert not np.array_equal(
        unweighted.cv_results_["mean_test_score"], model.cv_results_["mean_test_score"]
    ) or not np.array_equal(unweighted.coefs_[0], model.coefs_[0])


def test_an_int_spans_the_default_range_log_evenly():
    grid = AdaptivePrunedMLPClassifierCV(7)._lambda_grid()
    np.testing.assert_allclose(
        grid, [0.3, 0.3 * 10**0.5, 3, 3 * 10**0.5, 30, 94.87, 300], rtol=1e-3
    )
    assert AdaptivePrunedMLPClassifierCV(1)._lambda_grid().tolist() == [10.0]


@pytest.mark.parametrize(
    "lambdas, message",
    [
        (0, "lambdas must be at least 1"),
        ([], "at least one finite, non-negative"),
        ([1.0, -2.0], "at least one finite, non-negative"),
        ([1.0, float("nan")], "at least one finite, non-negative"),
        ("many", "an int .* or a sequence"),
    ],
)
def test_bad_lambdas_are_refused(digits, lambdas, message):
    X, y = digits
    with pytest.raises(ValueError, match=message):
        AdaptivePrunedMLPClassifierCV(lambdas, **FAST).fit(X, y)


@pytest.mark.parametrize("tolerance", [-0.1, float("inf"), "1%"])
def test_a_bad_tolerance_is_refused(digits, tolerance):
    X, y = digits
    with pytest.raises(ValueError, match="sparsest_within must be None or a finite"):
        AdaptivePrunedMLPClassifierCV([1.0], sparsest_within=tolerance).fit(X, y)


def test_the_fitted_model_saves_exports_pickles_and_sits_in_a_pipeline(
    digits, tmp_path
):
    X, y = digits
    pipe = make_pipeline(
        StandardScaler(), AdaptivePrunedMLPClassifierCV([1.0, 30.0], cv=2, **FAST)
    ).fit(X, y)
    model = pipe[-1]
    loaded = sk_adaprune.load(model.save(tmp_path / "cv.npz"))
    assert type(loaded) is AdaptivePrunedMLPClassifier
    assert loaded.lambda_ == model.lambda_
    Xs = pipe[0].transform(X)
    np.testing.assert_array_equal(loaded.predict(Xs), model.predict(Xs))
    assert model.to_torch()(__import__("torch").from_numpy(Xs)).shape == (len(X), 10)
    restored = pickle.loads(pickle.dumps(pipe))
    np.testing.assert_array_equal(restored.predict(X), pipe.predict(X))
    np.testing.assert_allclose(model.predict_proba(Xs).sum(axis=1), 1.0)
    assert clone(model).get_params()["lambdas"] == [1.0, 30.0]
    assert (
        "lambda_" not in model.get_params() and "warm_start" not in model.get_params()
    )


def test_the_single_estimator_gets_every_other_parameter():
    model = AdaptivePrunedMLPRegressorCV(prune="neurons", alpha=0.5, tau_init=0.02)
    single = model._single_estimator()
    assert isinstance(single, AdaptivePrunedMLPRegressor)
    shared = set(single.get_params()) - {"lambda_", "warm_start"}
    assert shared == set(model.get_params()) - set(model._SEARCH_PARAMETERS)
    assert (single.prune, single.alpha, single.tau_init) == ("neurons", 0.5, 0.02)


def test_the_regressor_chooses_by_r2():
    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    model = AdaptivePrunedMLPRegressorCV([0.3, 30.0], cv=2, **FAST).fit(X, y / 100)
    scores = model.cv_results_["mean_test_score"]
    assert model.best_score_ == scores.max() and model.lambda_ in (0.3, 30.0)
    assert model.predict(X).shape == (len(X),)
