import numpy as np
import pytest
from sklearn.datasets import make_friedman1
from sklearn.preprocessing import StandardScaler

from sk_adaprune import AdaptivePrunedMLPRegressor


@pytest.fixture(scope="module")
def friedman():
    X, y = make_friedman1(n_samples=400, noise=0.1, random_state=0)
    return StandardScaler().fit_transform(X), (y - y.mean()) / y.std()


def fit_quietly(model, X, y):
    return model.fit(X, y)


def test_single_output_regression_prunes_and_fits(friedman):
    X, y = friedman
    reg = fit_quietly(AdaptivePrunedMLPRegressor(random_state=0), X, y)
    assert reg.predict(X).shape == (400,)
    assert reg.predict(X).dtype == np.float64
    assert reg.score(X, y) > 0.8
    # A short fit (400 rows, 400 steps, r held at 0 for the first 200): r
    # climbs at most about 0.2.
    assert reg.learned_sparsity_ > 0.1
    assert reg.out_activation_ == "identity" and reg.n_outputs_ == 1


def test_multi_output_regression(friedman):
    X, y = friedman
    Y = np.column_stack([y, -2 * y, X[:, 0]])
    reg = fit_quietly(AdaptivePrunedMLPRegressor(max_iter=100, random_state=0), X, Y)
    assert reg.n_outputs_ == 3
    assert reg.predict(X).shape == (400, 3)
    assert reg.coefs_[-1].shape == (100, 3)
    assert reg.score(X, Y) > 0.7


def test_column_target_warns_and_is_raveled(friedman):
    X, y = friedman
    from sklearn.exceptions import DataConversionWarning

    with pytest.warns(DataConversionWarning):
        reg = fit_quietly(
            AdaptivePrunedMLPRegressor(max_iter=5, random_state=0), X, y[:, None]
        )
    assert reg.n_outputs_ == 1 and reg.predict(X).shape == (400,)


def test_early_stopping_uses_r2_on_the_held_out_split(friedman):
    X, y = friedman
    reg = AdaptivePrunedMLPRegressor(
        early_stopping=True, n_iter_no_change=5, max_iter=300, random_state=0
    ).fit(X, y)
    assert reg.n_iter_ < 300
    assert reg.best_validation_score_ == max(reg.validation_scores_)
    assert 0.5 < reg.best_validation_score_ <= 1.0


def test_string_targets_are_refused(friedman):
    X, _ = friedman
    with pytest.raises(ValueError):
        AdaptivePrunedMLPRegressor().fit(X, np.array(["a", "b"] * 200))
