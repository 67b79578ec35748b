"""Exact order statistics of a pool of values that moves a little between calls."""

import math

import numpy as np
import torch

__all__ = ["BandSelector", "full_pair"]

# Band sizes (values inside it) between which the band is left as it is.
_FEW, _MANY = 16, 8192


def full_pair(values: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(s_k, s_{k+1})``, the k-th and (k+1)-th smallest values (1-based)."""
    kth = torch.kthvalue(values, k).values
    # s_{k+1} is s_k itself when more than k values are <= s_k (a tie),
    # otherwise the smallest value above s_k.
    above = torch.where(values > kth, values, values.new_tensor(math.inf))
    tied = (values.numel() - torch.isfinite(above).sum()) > k
    return kth, torch.where(tied, kth, above.min())


class BandSelector:
    """``(s_k, s_{k+1})`` of a pool, reusing where they were in the last call.

    Training moves every weight a little per step, so the new k-th magnitude
    lies in a narrow band ``[lo, hi)`` around the previous threshold. Two
    counts and one pass that keeps the values inside the band find it
    exactly: if fewer than ``k`` values lie below ``lo`` and at least ``k + 1``
    below ``hi``, then ``s_k`` and ``s_{k+1}`` are in the band, at ranks
    ``k - #below`` and ``k - #below + 1`` among its values. Otherwise the band
    is widened and the pool is selected in full (``torch.kthvalue``). The
    band's half width adapts so that it holds a few hundred to a few thousand
    values. Results equal :func:`full_pair` exactly, ties included.

    On the CPU the counting runs in numpy on views of the same memory, with
    buffers kept between calls (torch's boolean reductions are several times
    slower on the CPU); other devices use torch operations.
    """

    def __init__(self):
        self.center = None
        self.half_width = None
        self.calls = 0
        self.full_selections = 0
        self._below = self._upto = None

    def __getstate__(self):
        # The buffers are scratch space, not state worth pickling.
        return {**self.__dict__, "_below": None, "_upto": None}

    def pair(self, values: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(s_k, s_{k+1})`` of the 1-D tensor ``values``, for ``1 <= k < n``."""
        self.calls += 1
        if self.center is not None:
            lo, hi = self.center - self.half_width, self.center + self.half_width
            found = self._in_band(values, k, lo, hi)
            if found is not None:
                kth, next_value, band_size = found
                if band_size > _MANY:
                    self.half_width /= 2
                elif band_size < _FEW:
                    self.half_width *= 2
                self.center = 0.5 * (float(kth) + float(next_value))
                return kth, next_value
            self.half_width *= 4
        self.full_selections += 1
        kth, next_value = full_pair(values, k)
        self.center = 0.5 * (kth.item() + next_value.item())
        if self.half_width is None or self.half_width == 0:
            # A start; the first calls adapt it.
            self.half_width = 1e-3 * max(values.max().item(), 1e-30)
        return kth, next_value

    def _in_band(self, values, k, lo, hi):
        if values.device.type == "cpu":
            return self._in_band_numpy(values, k, lo, hi)
        return self._in_band_torch(values, k, lo, hi)

    def _in_band_torch(self, values, k, lo, hi):
        below = int((values < lo).sum())
        upto = int((values < hi).sum())
        if not (below < k <= upto - 1):
            return None
        band = values[(values >= lo) & (values < hi)]
        j = k - below
        ordered = torch.sort(band).values
        return ordered[j - 1], ordered[j], band.numel()

    def _in_band_numpy(self, values, k, lo, hi):
        array = values.numpy()
        if self._below is None or self._below.shape != array.shape:
            self._below = np.empty(array.shape, dtype=bool)
            self._upto = np.empty(array.shape, dtype=bool)
        np.less(array, lo, out=self._below)
        below = np.count_nonzero(self._below)
        if below >= k:
            return None
        np.less(array, hi, out=self._upto)
        upto = np.count_nonzero(self._upto)
        if upto < k + 1:
            return None
        np.logical_xor(self._below, self._upto, out=self._upto)
        band = array[self._upto]
        j = k - below
        band.partition((j - 1, j))
        kth, next_value = torch.from_numpy(band[j - 1 : j + 1].copy())
        return kth, next_value, band.size
