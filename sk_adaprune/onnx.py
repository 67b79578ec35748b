"""Export to ONNX through skl2onnx.

Importing this module registers a converter for each estimator with
skl2onnx, so that ``skl2onnx.to_onnx`` and ``skl2onnx.convert_sklearn``
convert them, alone or inside a ``Pipeline`` or a ``ColumnTransformer``::

    import sk_adaprune.onnx  # noqa: F401  (registers the converters)
    from skl2onnx import to_onnx

    onx = to_onnx(pipeline, X[:1].astype(np.float32))

The graph is the compacted network that ``predict`` runs: inputs no weight
reaches are not read, hidden units that were removed are absent and the
matrices have the sizes left after pruning. It computes in the input's
type: a ``FloatTensorType`` input gives float32 arithmetic, a
``DoubleTensorType`` input float64 arithmetic.

Options, as skl2onnx takes them (``options={id(estimator): {...}}`` or by
class): the classifier accepts MLPClassifier's ``zipmap`` (True, False,
``'columns'``), ``output_class_labels`` and ``nocl``; both estimators accept
``sparse_weights=True``, which stores each weight matrix of the graph that
is at most one third non-zero as a sparse constant (non-zero values and
their positions), and leaves denser ones dense: a smaller file, the same
predictions.

Needs the ``onnx`` extra: ``pip install "sk_adaprune[onnx]"``.
"""

import numpy as np
from scipy import sparse
from sklearn.utils.validation import check_is_fitted

try:
    from onnx import TensorProto
    from skl2onnx import update_registered_converter, update_registered_parser
    from skl2onnx._parse import _parse_sklearn_classifier
    from skl2onnx.common.data_types import (
        DoubleTensorType,
        FloatTensorType,
        Int64TensorType,
        StringTensorType,
    )
    from skl2onnx.common.utils_classifier import get_label_classes
except ImportError as error:  # pragma: no cover - exercised without the extra
    raise ImportError(
        "sk_adaprune.onnx needs skl2onnx and onnx; install them with "
        'pip install "sk_adaprune[onnx]"'
    ) from error

from ._classifier import AdaptivePrunedMLPClassifier
from ._module import ACTIVATIONS
from ._regressor import AdaptivePrunedMLPRegressor

__all__ = []

# The initializers' element types.
_PROTO_TYPES = {
    np.dtype(np.float32): TensorProto.FLOAT,
    np.dtype(np.float64): TensorProto.DOUBLE,
    np.dtype(np.int64): TensorProto.INT64,
}

# The graph's operators as opset 13 defines them (the ai.onnx domain only);
# a lower target_opset defines them alike for the 2-D tensors used here.
_OPSET = 13

# A matrix at most this dense is stored as a sparse constant when the
# ``sparse_weights`` option asks for it: its values and int64 positions take
# 12 bytes (float32) per non-zero weight against 4 per weight stored dense.
_SPARSE_DENSITY = 1 / 3


def _float_type(operator):
    """The tensor type and the numpy dtype the graph computes in: double
    for a ``DoubleTensorType`` input, else float."""
    if isinstance(operator.inputs[0].type, DoubleTensorType):
        return DoubleTensorType, np.float64
    return FloatTensorType, np.float32


def _labels(scope, estimator):
    """The class labels the graph outputs (indices under ``nocl``) and the
    tensor type that holds them, as skl2onnx's classifiers output them:
    int64 for integer, boolean and float labels, else strings."""
    labels = np.asarray(get_label_classes(scope, estimator))
    # Float labels are integral: scikit-learn takes other floats for a
    # continuous (regression) target.
    if labels.dtype.kind in "iubf":
        return labels.astype(np.int64), Int64TensorType
    return np.array([str(label) for label in labels]), StringTensorType


def _parse_classifier(scope, model, inputs, custom_parsers=None):
    # The parser skl2onnx gives classifiers (it adds the ZipMap), after
    # scikit-learn's own check: it reads classes_ before anything of ours.
    check_is_fitted(model)
    return _parse_sklearn_classifier(scope, model, inputs, custom_parsers)


def _classifier_shapes(operator):
    estimator = operator.raw_operator
    check_is_fitted(estimator)
    rows = operator.inputs[0].get_first_dimension()
    tensor_type, _ = _float_type(operator)
    if estimator.out_activation_ == "logistic" and estimator.n_outputs_ > 1:
        operator.outputs[0].type = Int64TensorType([rows, estimator.n_outputs_])
    else:
        label_type = _labels(operator.scope_inst, estimator)[1]
        operator.outputs[0].type = label_type([rows])
    operator.outputs[1].type = tensor_type([rows, len(estimator.classes_)])


def _regressor_shapes(operator):
    estimator = operator.raw_operator
    check_is_fitted(estimator)
    rows = operator.inputs[0].get_first_dimension()
    tensor_type, _ = _float_type(operator)
    operator.outputs[0].type = tensor_type([rows, estimator.n_outputs_])


class _Graph:
    """Adds the nodes of one converter call, with names unique in its scope."""

    def __init__(self, scope, container, operator):
        self.scope = scope
        self.container = container
        self.options = container.get_options(
            operator.raw_operator, dict(sparse_weights=False)
        )

    def name(self, hint):
        return self.scope.get_unique_variable_name(hint)

    def node(self, op_type, inputs, output=None, **attributes):
        output = output or self.name(op_type.lower())
        self.container.add_node(
            op_type,
            inputs,
            output,
            op_version=min(_OPSET, self.container.target_opset),
            name=self.scope.get_unique_operator_name(op_type),
            **attributes,
        )
        return output

    def constant(self, hint, values, sparse_allowed=False):
        """An initializer holding ``values`` (or, under the sparse_weights
        option, a sparse constant if few of them are non-zero)."""
        values = np.asarray(values)
        name = self.name(hint)
        proto_type = _PROTO_TYPES.get(values.dtype, TensorProto.STRING)
        dense_enough = np.count_nonzero(values) > _SPARSE_DENSITY * values.size
        if sparse_allowed and self.options["sparse_weights"] and not dense_enough:
            self.container.add_initializer(
                name, proto_type, list(values.shape), sparse.coo_matrix(values)
            )
        else:
            content = values.ravel()
            if proto_type == TensorProto.STRING:
                content = [label.encode("utf-8") for label in content]
            self.container.add_initializer(
                name, proto_type, list(values.shape), content
            )
        return name


def _network(graph, operator, estimator) -> str:
    """The compacted network's output activations for the operator's input,
    computed in the input's float type."""
    _, dtype = _float_type(operator)
    compact = estimator.compact_
    activations = graph.node(
        "Cast", [operator.inputs[0].full_name], to=_PROTO_TYPES[np.dtype(dtype)]
    )
    coefs = compact.coefs
    used = compact.used_features
    if 0 < used.size < coefs[0].shape[0]:
        # The unused inputs are not read: their rows of the first layer are zero.
        indices = graph.constant("used_features", used.astype(np.int64))
        activations = graph.node("Gather", [activations, indices], axis=1)
        coefs = [coefs[0][used], *coefs[1:]]
    last = len(coefs) - 1
    for i, (coef, intercept) in enumerate(zip(coefs, compact.intercepts)):
        weights = graph.constant("coefficient", coef.astype(dtype), sparse_allowed=True)
        bias = graph.constant("intercept", intercept.astype(dtype).reshape(1, -1))
        product = graph.node("MatMul", [activations, weights])
        activations = graph.node("Add", [product, bias])
        activation = estimator.out_activation_ if i == last else estimator.activation
        activations = graph.node(ACTIVATIONS[activation].onnx_operator, [activations])
    return activations


def _convert_classifier(scope, operator, container):
    estimator = operator.raw_operator
    graph = _Graph(scope, container, operator)
    label_name, probability_name = (v.full_name for v in operator.outputs[:2])
    outputs = _network(graph, operator, estimator)
    if estimator.out_activation_ == "logistic" and estimator.n_outputs_ > 1:
        # Multilabel: each label's own probability, predicted above 0.5.
        graph.node("Identity", [outputs], probability_name)
        half = graph.constant("half", np.full((1, 1), 0.5, _float_type(operator)[1]))
        above = graph.node("Greater", [outputs, half])
        graph.node("Cast", [above], label_name, to=TensorProto.INT64)
        return
    if estimator.out_activation_ == "logistic":
        # Binary: the network outputs the probability of classes_[1].
        one = graph.constant("one", np.ones((1, 1), dtype=_float_type(operator)[1]))
        negative = graph.node("Sub", [one, outputs])
        graph.node("Concat", [negative, outputs], probability_name, axis=1)
    else:
        graph.node("Identity", [outputs], probability_name)
    labels = graph.constant("classes", _labels(scope, estimator)[0])
    best = graph.node("ArgMax", [probability_name], axis=1, keepdims=0)
    graph.node("Gather", [labels, best], label_name, axis=0)


def _convert_regressor(scope, operator, container):
    estimator = operator.raw_operator
    graph = _Graph(scope, container, operator)
    outputs = _network(graph, operator, estimator)
    graph.node("Identity", [outputs], operator.outputs[0].full_name)


update_registered_converter(
    AdaptivePrunedMLPClassifier,
    "SkAdapruneAdaptivePrunedMLPClassifier",
    _classifier_shapes,
    _convert_classifier,
    options={
        "zipmap": [True, False, "columns"],
        "output_class_labels": [False, True],
        "nocl": [True, False],
        "sparse_weights": [False, True],
    },
)
update_registered_parser(AdaptivePrunedMLPClassifier, _parse_classifier)
update_registered_converter(
    AdaptivePrunedMLPRegressor,
    "SkAdapruneAdaptivePrunedMLPRegressor",
    _regressor_shapes,
    _convert_regressor,
    options={"sparse_weights": [False, True]},
)
