import numpy as np
import torch

from sk_adaprune._base import _as_tensor


def test_float32_arrays_are_shared_not_copied():
    X = np.random.rand(20, 3).astype(np.float32)
    tensor = _as_tensor(X)
    assert tensor.data_ptr() == X.ctypes.data
    assert tensor.dtype == torch.float32


def test_other_arrays_are_converted_copies():
    X = np.random.rand(20, 3)
    readonly = X.astype(np.float32)
    readonly.setflags(write=False)
    for source in (X, readonly, np.asfortranarray(X.astype(np.float32))):
        tensor = _as_tensor(source)
        assert tensor.dtype == torch.float32
        assert tensor.data_ptr() != source.ctypes.data
        np.testing.assert_array_equal(tensor.numpy(), source.astype(np.float32))
