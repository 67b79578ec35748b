"""Per-step scalars on the host, rounded as torch's 0-d tensors round them.

A training step's scalar arithmetic (the threshold's offset, ``1/tau``,
``dt/dr``) costs a few microseconds per operation on 0-d tensors and a
fraction of one on numpy scalars of the same dtype, which round each
operation alike (IEEE arithmetic in that precision).
"""

import numpy as np
import torch

__all__ = ["host_scalar"]

_NUMPY_SCALARS = {
    torch.float16: np.float16,
    torch.float32: np.float32,
    torch.float64: np.float64,
}


def host_scalar(dtype: torch.dtype) -> type:
    """The numpy scalar type of a torch floating dtype."""
    try:
        return _NUMPY_SCALARS[dtype]
    except KeyError:
        raise TypeError(
            f"Training computes in float16, float32 or float64, not {dtype}."
        ) from None
