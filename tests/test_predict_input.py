import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from sklearn import config_context
from sklearn.utils.validation import validate_data

from sk_adaprune import (
    AdaptivePrunedMLPClassifier,
    AdaptivePrunedMLPRegressor,
)
from sk_adaprune import _inference as _predict_input


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 4))
    y = np.arange(60) % 3
    return AdaptivePrunedMLPClassifier(max_iter=5, random_state=0).fit(X, y), X


def _refuse_validation(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("validate_data was called")

    monkeypatch.setattr(_predict_input, "validate_data", refuse)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("order", ["C", "F"])
def test_finite_float_arrays_skip_validation_and_are_what_it_returns(
    fitted, dtype, order, monkeypatch
):
    model, X = fitted
    X = np.asarray(X, dtype=dtype, order=order)
    # What the fast path claims: validate_data hands such an array back as is.
    kwargs = dict(accept_sparse=["csr", "csc"], dtype=(np.float64, np.float32))
    assert validate_data(model, X, reset=False, **kwargs) is X
    expected = model.predict_proba(X)
    _refuse_validation(monkeypatch)
    assert _predict_input.checked_for_predict(model, X) is X
    np.testing.assert_array_equal(model.predict_proba(X), expected)
    assert model.predict(X[:1]).shape == (1,)


@pytest.mark.parametrize(
    "make",
    [
        lambda X: X.astype(np.int64),
        lambda X: X.tolist(),
        lambda X: sparse.csr_matrix(X),
        lambda X: pd.DataFrame(X),
        lambda X: X[:, :3],
        lambda X: np.where(np.arange(X.shape[1]) == 1, np.nan, X),
        lambda X: X[:0],
    ],
    ids=["int", "list", "csr", "frame", "narrow", "nan", "empty"],
)
def test_other_inputs_go_through_validation(fitted, make, monkeypatch):
    model, X = fitted
    calls = []
    original = _predict_input.validate_data

    def spy(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(_predict_input, "validate_data", spy)
    try:
        model.predict(make(X))
    except ValueError:
        pass
    assert calls == [1]


def test_bad_inputs_keep_scikit_learns_errors(fitted):
    model, X = fitted
    with pytest.raises(ValueError, match="X has 3 features"):
        model.predict(X[:, :3])
    with pytest.raises(ValueError, match="NaN"):
        model.predict(np.where(np.arange(4) == 2, np.nan, X))
    with pytest.raises(ValueError, match="infinity"):
        model.predict(np.where(np.arange(4) == 2, np.inf, X))
    with pytest.raises(ValueError, match="minimum of 1 is required"):
        model.predict(X[:0])


def test_assume_finite_lets_non_finite_values_through_as_scikit_learn_does(fitted):
    model, X = fitted
    bad = np.where(np.arange(4) == 0, np.nan, X)
    with config_context(assume_finite=True):
        assert np.isnan(model.predict_proba(bad)).all()


def test_an_array_given_to_a_model_fitted_with_names_still_warns():
    X = pd.DataFrame(np.random.RandomState(0).normal(size=(40, 3)), columns=list("abc"))
    y = X["a"].to_numpy()
    model = AdaptivePrunedMLPRegressor(max_iter=3, random_state=0).fit(X, y)
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        model.predict(X.to_numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.predict(X)
