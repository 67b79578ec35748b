"""Pipelines, grid search and persistence round trips."""

import pickle

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sk_adaprune import AdaptivePrunedMLPClassifier, AdaptivePrunedMLPRegressor


def sparsity(pipeline, X, y):
    return pipeline[-1].learned_sparsity_


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.end_to_end
def test_grid_search_over_lambda_in_a_pipeline_on_two_workers(digits_split):
    X_train, X_test, y_train, y_test = digits_split
    pipeline = make_pipeline(
        StandardScaler(),
        AdaptivePrunedMLPClassifier(max_iter=25, lr_r=3e-3, random_state=0),
    )
    search = GridSearchCV(
        pipeline,
        param_grid={"adaptiveprunedmlpclassifier__lambda_": [0.0, 100.0]},
        scoring={"accuracy": "accuracy", "sparsity": sparsity},
        refit="accuracy",
        cv=2,
        n_jobs=2,
    )
    search.fit(X_train, y_train)
    accuracy = search.cv_results_["mean_test_accuracy"]
    sparsities = search.cv_results_["mean_test_sparsity"]
    assert np.all(accuracy > 0.8)
    # The workers trained real models: the strong regulariser pruned more.
    assert sparsities[1] > sparsities[0] + 0.1
    assert search.score(X_test, y_test) > 0.85
    assert isinstance(search.best_estimator_[-1], AdaptivePrunedMLPClassifier)


@pytest.fixture(scope="module")
def fitted_models(digits_split):
    X_train, _, y_train, _ = digits_split
    return [
        AdaptivePrunedMLPClassifier(max_iter=15, random_state=0).fit(X_train, y_train),
        AdaptivePrunedMLPRegressor(max_iter=15, random_state=0).fit(
            X_train, y_train / 9.0
        ),
    ]


def round_trips(model, tmp_path):
    yield pickle.loads(pickle.dumps(model))
    joblib.dump(model, tmp_path / "model.joblib")
    yield joblib.load(tmp_path / "model.joblib")


@pytest.mark.parametrize("index", [0, 1])
def test_pickle_and_joblib_round_trips_predict_identically(
    fitted_models, digits_split, index, tmp_path
):
    model = fitted_models[index]
    X_test = digits_split[1]
    for restored in round_trips(model, tmp_path):
        np.testing.assert_array_equal(restored.predict(X_test), model.predict(X_test))
        assert restored.learned_sparsity_ == model.learned_sparsity_
        for a, b in zip(restored.coefs_, model.coefs_):
            np.testing.assert_array_equal(a, b)
        # Pickles hold the pruned network, not the training state.
        assert restored.net_ is None and model.net_ is not None


@pytest.mark.parametrize("index", [0, 1])
def test_clone_refits_to_identical_predictions(fitted_models, digits_split, index):
    model = fitted_models[index]
    X_train, X_test, y_train, _ = digits_split
    twin = clone(model)
    assert not hasattr(twin, "net_")
    assert twin.get_params() == model.get_params()
    target = y_train if index == 0 else y_train / 9.0
    twin.fit(X_train, target)
    np.testing.assert_array_equal(twin.predict(X_test), model.predict(X_test))
