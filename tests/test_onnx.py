"""Export to ONNX: skl2onnx converts both estimators (after importing
sk_adaprune.onnx) and onnxruntime predicts what they predict."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_digits, make_multilabel_classification
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sk_adaprune import AdaptivePrunedMLPClassifier, AdaptivePrunedMLPRegressor

onnxruntime = pytest.importorskip("onnxruntime")
skl2onnx = pytest.importorskip("skl2onnx")
import sk_adaprune.onnx  # noqa: E402, F401  (registers the converters)

TOLERANCE = {np.float32: 1e-5, np.float64: 1e-9}
SMALL = dict(hidden_layer_sizes=(24, 12), max_iter=40, random_state=0)


def run(model, X, **options):
    """onnxruntime's outputs for ``model`` exported for X's dtype."""
    estimator = model[-1] if hasattr(model, "steps") else model
    onx = skl2onnx.to_onnx(model, X[:1], options={id(estimator): options})
    session = onnxruntime.InferenceSession(
        onx.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    return session.run(None, {session.get_inputs()[0].name: X}), onx


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16, y


@pytest.fixture(scope="module")
def fitted(digits):
    """Fitted estimators by target kind, with the data they were fitted on."""
    X, y = digits
    rng = np.random.default_rng(0)
    labels, Y = make_multilabel_classification(300, 12, n_classes=4, random_state=0)
    X_reg = rng.normal(size=(300, 6))
    Y_reg = np.column_stack([X_reg @ rng.normal(size=6), np.sin(X_reg[:, 0])])
    return {
        "multiclass": (AdaptivePrunedMLPClassifier(**SMALL).fit(X, y), X),
        "neurons": (
            AdaptivePrunedMLPClassifier(prune="neurons", **SMALL).fit(X, y),
            X,
        ),
        "binary strings": (
            AdaptivePrunedMLPClassifier(**SMALL).fit(X, np.where(y < 5, "low", "high")),
            X,
        ),
        "multilabel": (AdaptivePrunedMLPClassifier(**SMALL).fit(labels, Y), labels),
        "regression": (
            AdaptivePrunedMLPRegressor(**SMALL).fit(X_reg, Y_reg[:, 0]),
            X_reg,
        ),
        "multi-output regression": (
            AdaptivePrunedMLPRegressor(**SMALL).fit(X_reg, Y_reg),
            X_reg,
        ),
    }


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "kind",
    ["multiclass", "neurons", "binary strings", "multilabel"],
)
def test_classifier_round_trip(fitted, kind, dtype):
    model, X = fitted[kind]
    X = X.astype(dtype)
    (labels, probabilities), _ = run(model, X, zipmap=False)
    np.testing.assert_array_equal(labels, model.predict(X))
    np.testing.assert_allclose(
        probabilities, model.predict_proba(X), rtol=0, atol=TOLERANCE[dtype]
    )
    assert probabilities.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["regression", "multi-output regression"])
def test_regressor_round_trip(fitted, kind, dtype):
    model, X = fitted[kind]
    X = X.astype(dtype)
    (outputs,), _ = run(model, X)
    expected = model.predict(X).reshape(len(X), -1)
    assert outputs.shape == expected.shape and outputs.dtype == dtype
    # Within the tolerance relative to 1 + |output|, as the benchmark reports.
    tolerance = TOLERANCE[dtype]
    np.testing.assert_allclose(outputs, expected, rtol=tolerance, atol=tolerance)


def test_the_graph_is_the_compacted_network(fitted):
    # Neuron pruning removes units: the exported matrices have the sizes of
    # compact_.
    model, X = fitted["neurons"]
    _, onx = run(model, X.astype(np.float32), zipmap=False)
    matrices = [
        tuple(init.dims)
        for init in onx.graph.initializer
        if len(init.dims) == 2 and init.dims[0] > 1
    ]
    assert matrices == [c.shape for c in model.compact_.coefs]
    kept = sum(c.shape[1] for c in model.compact_.coefs[:-1])
    assert kept < sum(SMALL["hidden_layer_sizes"])


def test_unused_inputs_are_not_read(digits):
    X, y = digits
    model = AdaptivePrunedMLPClassifier(**SMALL).fit(X, y)
    model.coefs_[0][:5] = 0  # the first five inputs reach no unit
    model._compact()
    (labels, probabilities), onx = run(model, X.astype(np.float32), zipmap=False)
    used = model.compact_.used_features
    assert used.size <= X.shape[1] - 5 and used.min() >= 5
    first = next(i for i in onx.graph.initializer if len(i.dims) == 2)
    assert tuple(first.dims) == (used.size, SMALL["hidden_layer_sizes"][0])
    assert [n.op_type for n in onx.graph.node][:2] == ["Cast", "Gather"]
    np.testing.assert_array_equal(labels, model.predict(X))
    np.testing.assert_allclose(probabilities, model.predict_proba(X), atol=1e-5)


def test_pipeline_with_a_scaler_and_a_column_transformer(digits):
    X, y = digits
    X = X * 16 + 3
    pipeline = make_pipeline(
        ColumnTransformer(
            [("scaled", StandardScaler(), slice(0, 40))], remainder="passthrough"
        ),
        AdaptivePrunedMLPClassifier(**SMALL),
    ).fit(X, y)
    X = X.astype(np.float32)
    (labels, probabilities), _ = run(pipeline, X, zipmap=False)
    np.testing.assert_array_equal(labels, pipeline.predict(X))
    np.testing.assert_allclose(probabilities, pipeline.predict_proba(X), atol=1e-5)


def test_classifier_options_as_for_mlpclassifier(fitted):
    model, X = fitted["binary strings"]
    X = X.astype(np.float32)
    (labels, probabilities), _ = run(model, X)  # zipmap=True by default
    assert probabilities[0].keys() == {"high", "low"}
    assert probabilities[0]["low"] == pytest.approx(model.predict_proba(X[:1])[0, 1])
    outputs, _ = run(model, X, zipmap="columns")
    np.testing.assert_allclose(outputs[1], model.predict_proba(X)[:, 0], atol=1e-5)
    outputs, _ = run(model, X, zipmap=False, output_class_labels=True)
    np.testing.assert_array_equal(outputs[2], ["high", "low"])
    (labels, _), _ = run(model, X, zipmap=False, nocl=True)
    np.testing.assert_array_equal(
        labels, np.searchsorted(model.classes_, model.predict(X))
    )


def test_sparse_weights_shrink_the_file_and_predict_the_same(digits):
    X, y = digits
    model = AdaptivePrunedMLPClassifier(**SMALL).fit(X, y)
    for coef in model.coefs_[:2]:  # keep one weight in ten
        coef[np.random.default_rng(0).random(coef.shape) < 0.9] = 0
    model._compact()
    X = X.astype(np.float32)
    (dense_labels, dense_probabilities), dense = run(model, X, zipmap=False)
    (labels, probabilities), onx = run(model, X, zipmap=False, sparse_weights=True)
    sparse_constants = [
        n for n in onx.graph.node if n.op_type == "Constant" and n.attribute
    ]
    assert {n.attribute[0].name for n in sparse_constants} == {"sparse_value"}
    assert len(sparse_constants) == 2  # the dense output layer stays dense
    assert len(onx.SerializeToString()) < 0.6 * len(dense.SerializeToString())
    np.testing.assert_array_equal(labels, dense_labels)
    np.testing.assert_array_equal(probabilities, dense_probabilities)


def test_a_network_without_hidden_units_exports_its_constant_output(digits):
    X, y = digits
    model = AdaptivePrunedMLPClassifier(**SMALL).fit(X, y)
    model.coefs_[0][:] = 0  # every hidden unit loses its inputs
    model._compact()
    assert model.compact_.layer_sizes == [0, 0, 0, 10]
    (labels, probabilities), _ = run(model, X.astype(np.float32), zipmap=False)
    np.testing.assert_array_equal(labels, model.predict(X))
    np.testing.assert_allclose(probabilities, model.predict_proba(X), atol=1e-6)


def test_unfitted_estimator_gets_not_fitted_error():
    with pytest.raises(NotFittedError, match="not fitted yet"):
        skl2onnx.to_onnx(AdaptivePrunedMLPClassifier(), np.zeros((1, 3), np.float32))


def test_float_labels_come_out_as_integers(digits):
    X, y = digits
    model = AdaptivePrunedMLPClassifier(hidden_layer_sizes=(8,), max_iter=2)
    model.fit(X, y.astype(float))
    (labels, _), _ = run(model, X.astype(np.float32), zipmap=False)
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, model.predict(X))


def test_package_imports_without_skl2onnx():
    # The converters are an extra: without skl2onnx the package imports and
    # only sk_adaprune.onnx says what to install.
    code = textwrap.dedent(
        """
        import sys
        sys.modules["skl2onnx"] = None  # as if it were not installed
        import sk_adaprune
        sk_adaprune.AdaptivePrunedMLPClassifier()
        try:
            import sk_adaprune.onnx
        except ImportError as error:
            print(error)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert 'pip install "sk_adaprune[onnx]"' in result.stdout
