import inspect
import pickle
import warnings

import numpy as np
import pytest
import torch

from sk_adaprune import AdaptivePrunedMLPClassifier
from sk_adaprune._base import _as_tensor


@pytest.mark.parametrize(
    "dtype, torch_dtype", [(np.float32, torch.float32), (np.float64, torch.float64)]
)
def test_arrays_are_shared_in_their_dtype_not_copied(dtype, torch_dtype):
    # Training computes in X's dtype, as MLPClassifier's.
    X = np.random.rand(20, 3).astype(dtype)
    tensor = _as_tensor(X)
    assert tensor.data_ptr() == X.ctypes.data
    assert tensor.dtype == torch_dtype


def test_arrays_torch_cannot_wrap_are_copied_in_their_dtype():
    X = np.random.rand(20, 3)
    readonly = X.astype(np.float32)
    readonly.setflags(write=False)
    for source in (readonly, np.asfortranarray(X)):
        tensor = _as_tensor(source)
        assert tensor.numpy().dtype == source.dtype
        assert tensor.data_ptr() != source.ctypes.data
        np.testing.assert_array_equal(tensor.numpy(), source)


PAIRS = {
    "classifier": ("AdaptivePrunedMLPClassifier", "MLPClassifier", "predict_proba"),
    "regressor": ("AdaptivePrunedMLPRegressor", "MLPRegressor", "predict"),
}


@pytest.mark.parametrize("pair", sorted(PAIRS))
@pytest.mark.parametrize("fit_dtype", [np.float32, np.float64])
def test_weights_and_outputs_take_the_dtype_mlpclassifier_gives(
    pair, fit_dtype, tmp_path, three_classes
):
    import sklearn.neural_network

    import sk_adaprune

    ours_name, theirs_name, method = PAIRS[pair]
    X, y = three_classes(60)
    params = dict(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    ours = getattr(sk_adaprune, ours_name)(**params).fit(X.astype(fit_dtype), y)
    theirs = getattr(sklearn.neural_network, theirs_name)(**params)
    theirs.fit(X.astype(fit_dtype), y)
    for name in ("coefs_", "intercepts_"):
        assert [a.dtype for a in getattr(ours, name)] == [
            a.dtype for a in getattr(theirs, name)
        ]
    # Training computed in X's dtype, as theirs: the module is in it too.
    trained = ours.net_.module_.weights.numpy(force=True)
    assert trained.dtype == fit_dtype
    # The fitted arrays are copies, never views of the module's weights.
    assert not any(np.shares_memory(coef, trained) for coef in ours.coefs_)
    restored = sk_adaprune.load(ours.save(tmp_path / "model.npz"))
    twin = pickle.loads(pickle.dumps(ours))
    for predict_dtype in (np.float32, np.float64):
        X_new = X.astype(predict_dtype)
        expected = getattr(theirs, method)(X_new).dtype
        for model in (ours, restored, twin):
            assert getattr(model, method)(X_new).dtype == expected
    for restored_coef, coef in zip(restored.coefs_, ours.coefs_):
        assert restored_coef.dtype == coef.dtype
        np.testing.assert_array_equal(restored_coef, coef)


def test_warnings_point_at_the_callers_line():
    X = np.random.RandomState(0).normal(size=(50, 3)) * 5000
    y = np.arange(50) % 2
    clf = AdaptivePrunedMLPClassifier(max_iter=2, batch_size=100)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = inspect.currentframe().f_lineno + 1
        clf.fit(X, y)
        clf.partial_fit(X, y)
    messages = {str(w.message)[:20] for w in caught}
    assert {
        "X has values up to 1",
        "Got `batch_size` les",
        "Stochastic Optimizer",
    } <= messages
    assert {(w.filename, w.lineno) for w in caught} <= {
        (__file__, line),
        (__file__, line + 1),
    }
