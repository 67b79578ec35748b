"""What training steps keep between calls: reusable buffers for large
temporaries, and host scalars rounded as torch's 0-d tensors round them.

A training step's scalar arithmetic (the threshold's offset, ``1/tau``,
``dt/dr``) on numpy scalars of the training dtype rounds each operation as
the 0-d tensors would (IEEE arithmetic in that precision), at a fraction of
their cost.
"""

import numpy as np
import torch

__all__ = ["Scratch", "host_scalar"]


class Scratch:
    """Named tensors kept between calls, reallocated only when shapes change.

    A fresh multi-megabyte temporary in every step costs page faults that,
    on the CPU, take as long as the arithmetic; per-step temporaries the size
    of the weight pool live here instead. A buffer's contents are only valid
    until the next request for the same name. Not pickled.
    """

    def __init__(self):
        self._buffers = {}
        self._generations = {}
        # Host values a later call starts from (the last threshold's window).
        self.notes = {}

    def __getstate__(self):
        return {"_buffers": {}, "_generations": {}, "notes": {}}

    def __setstate__(self, state):
        self.__init__()

    def bump(self, name: str) -> int:
        """Mark the buffers of ``name`` as rewritten; returns the new count."""
        self._generations[name] = self._generations.get(name, 0) + 1
        return self._generations[name]

    def generation(self, name: str) -> int:
        """How often the buffers of ``name`` have been rewritten."""
        return self._generations.get(name, 0)

    def get(
        self, name: str, shape: torch.Size, like: torch.Tensor, dtype=None
    ) -> torch.Tensor:
        """The buffer ``name`` with ``shape``, on ``like``'s device."""
        dtype = like.dtype if dtype is None else dtype
        buffer = self._buffers.get(name)
        if (
            buffer is None
            or buffer.shape != shape
            or buffer.dtype != dtype
            or buffer.device != like.device
        ):
            buffer = torch.empty(shape, dtype=dtype, device=like.device)
            self._buffers[name] = buffer
        return buffer


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
