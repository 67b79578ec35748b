"""Bad input: every case names its problem in the error message."""

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

from sk_adaprune import AdaptivePrunedMLPClassifier, AdaptivePrunedMLPRegressor

rng = np.random.RandomState(0)
X = rng.normal(size=(40, 5))
y = np.arange(40) % 2
y_reg = rng.normal(size=40)


def with_value(array, index, value, dtype=float):
    copy = array.astype(dtype, copy=True)
    copy[index] = value
    return copy


DATA_CASES = {
    "nan in X": (with_value(X, (3, 1), np.nan), y, ValueError, "Input X contains NaN"),
    "inf in X": (
        with_value(X, (0, 0), np.inf),
        y,
        ValueError,
        "Input X contains infinity",
    ),
    "nan in y": (X, with_value(y_reg, 5, np.nan), ValueError, "Input y contains NaN"),
    "empty X": (X[:0], y[:0], ValueError, "0 sample"),
    "one sample": (X[:1], y_reg[:1], ValueError, "1 sample"),
    "3-D X": (X.reshape(40, 5, 1), y, ValueError, "Found array with dim 3"),
    "1-D X": (X[:, 0], y, ValueError, "Expected 2D array, got 1D array"),
    "complex X": (X + 1j, y, ValueError, "Complex data not supported"),
    "string X": (
        X.astype(str).astype(object) + "a",
        y,
        ValueError,
        "could not convert",
    ),
    "length mismatch": (X, y[:30], ValueError, "inconsistent numbers of samples"),
    "no features": (X[:, :0], y, ValueError, "0 feature"),
    "y is None": (X, None, ValueError, "requires y to be passed"),
}


@pytest.mark.parametrize("case", DATA_CASES)
def test_bad_data_is_refused_with_a_message_naming_it(case):
    data, target, error, message = DATA_CASES[case]
    estimator = AdaptivePrunedMLPRegressor(max_iter=2)
    with pytest.raises(error, match=message):
        estimator.fit(data, target)


def test_continuous_target_for_classifier_is_refused():
    with pytest.raises(ValueError, match="Unknown label type"):
        AdaptivePrunedMLPClassifier().fit(X, y_reg)


def test_string_target_for_regressor_is_refused():
    with pytest.raises(ValueError, match="could not convert"):
        AdaptivePrunedMLPRegressor().fit(X, np.array(["a", "b"] * 20))


PARAMETER_CASES = [
    ("r_init", 1.0, "'r_init' parameter .* range \\[0.0, 1.0\\)"),
    ("r_init", -0.1, "'r_init' parameter"),
    ("tau_init", 0.0, "'tau_init' parameter .* range \\(0.0, inf\\)"),
    ("tau_init", -1.0, "'tau_init' parameter"),
    ("lambda_", -1.0, "'lambda_' parameter .* range \\[0.0, inf\\)"),
    ("lr_r", -1e-3, "'lr_r' parameter"),
    ("lr_tau", -1e-6, "'lr_tau' parameter"),
    ("tau_min", 0.0, "'tau_min' parameter"),
    ("kde_grid_size", 8, "'kde_grid_size' parameter"),
    ("batch_size", 0, "'batch_size' parameter"),
    ("max_iter", 0, "'max_iter' parameter"),
    ("activation", "swish", "'activation' parameter .*'relu'"),
    ("validation_fraction", 0.0, "'validation_fraction' parameter"),
    ("validation_fraction", 1.0, "'validation_fraction' parameter"),
    ("learning_rate_init", 0.0, "'learning_rate_init' parameter"),
    ("alpha", -1.0, "'alpha' parameter"),
    ("beta_1", 1.0, "'beta_1' parameter"),
    ("n_iter_no_change", 0, "'n_iter_no_change' parameter"),
    ("device", 3, "'device' parameter"),
    ("r_ramp", [0.1, 0.7], "'r_ramp' parameter .* 'tuple' or None"),
    ("weight_gradient", "thesis", "'weight_gradient' parameter .*'full'"),
]


@pytest.mark.parametrize(
    "ramp", [(0.5, 0.5), (0.6, 0.2), (-0.1, 0.5), (0.1, 1.5), (0.1,)]
)
def test_a_ramp_out_of_order_or_range_is_refused(ramp):
    estimator = AdaptivePrunedMLPClassifier(r_ramp=ramp, max_iter=1)
    with pytest.raises(ValueError, match=r"r_ramp must be None or \(begin, end\)"):
        estimator.fit(X, y)


@pytest.mark.parametrize("name,value,message", PARAMETER_CASES)
def test_bad_parameters_are_refused_at_fit(name, value, message):
    estimator = AdaptivePrunedMLPClassifier(**{name: value})
    with pytest.raises(InvalidParameterError, match=message):
        estimator.fit(X, y)


@pytest.mark.parametrize(
    "sizes,message",
    [((), "at least one layer"), ((10, 0), "positive integers"), ((-3,), "positive")],
)
def test_bad_hidden_layer_sizes_are_refused(sizes, message):
    with pytest.raises(ValueError, match=f"hidden_layer_sizes must.*{message}"):
        AdaptivePrunedMLPClassifier(hidden_layer_sizes=sizes).fit(X, y)


def test_hidden_layer_sizes_of_floats_are_refused():
    with pytest.raises(
        ValueError, match="hidden_layer_sizes must be positive integers"
    ):
        AdaptivePrunedMLPClassifier(hidden_layer_sizes=(10.5,)).fit(X, y)


def test_early_stopping_with_too_few_samples_is_refused():
    estimator = AdaptivePrunedMLPRegressor(early_stopping=True, validation_fraction=0.1)
    with pytest.raises(ValueError, match="validation set is too small"):
        estimator.fit(X[:10], y_reg[:10])


def test_unknown_device_is_refused():
    with pytest.raises(ValueError, match="'gpu0' is not a torch device"):
        AdaptivePrunedMLPClassifier(device="gpu0").fit(X, y)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "predict_log_proba"])
def test_prediction_before_fit_is_refused(method):
    with pytest.raises(NotFittedError, match="not fitted yet"):
        getattr(AdaptivePrunedMLPClassifier(), method)(X)


def test_feature_count_differing_at_predict_is_refused():
    estimator = AdaptivePrunedMLPClassifier(max_iter=2).fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but .* expecting 5"):
        estimator.predict(X[:, :3])


def test_nan_at_predict_is_refused():
    estimator = AdaptivePrunedMLPRegressor(max_iter=2).fit(X, y_reg)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        estimator.predict(with_value(X, (0, 0), np.nan))


def test_unscaled_features_get_advice():
    with pytest.warns(UserWarning, match="values up to 1e\\+06.*StandardScaler"):
        AdaptivePrunedMLPRegressor(max_iter=2).fit(X * 1e6 / np.abs(X).max(), y_reg)
