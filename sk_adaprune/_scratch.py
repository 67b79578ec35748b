"""Buffers reused across training steps for large temporaries."""

import torch

__all__ = ["Scratch"]


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

    def __getstate__(self):
        return {"_buffers": {}, "_generations": {}}

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
