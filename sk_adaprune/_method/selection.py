"""Exact order statistics of a pool of values."""

import numpy as np
import torch

__all__ = ["binned_pair", "partitioned_pair"]


def binned_pair(
    values: torch.Tensor, counts: np.ndarray, grid_index: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(s_k, s_{k+1})``, the k-th and (k+1)-th smallest magnitudes ``|values|``
    (1-based), from their counts in order-keeping bins.

    Parameters
    ----------
    values : Tensor of shape (n,)
        Signed or not; their magnitudes are ranked.
    counts : int ndarray of shape (m,)
        How many magnitudes sit in each bin.
    grid_index : int Tensor of shape (n,)
        Each magnitude's bin; must not decrease as the magnitude grows (the
        multiply-and-truncate of ``bin_magnitudes`` does not).
    k : int
        ``1 <= k < n``.

    Notes
    -----
    With ``C = cumsum(counts)``, the values at grid point ``j`` are exactly
    those of ranks ``C[j-1] + 1 .. C[j]``. The points holding ranks ``k`` and
    ``k + 1`` are found by a binary search in ``C``; only the values there
    (about ``n / m`` of them) are copied out and partitioned. Finding them is
    one comparison pass over ``grid_index`` and one scan of its result, run
    in numpy on the CPU (torch's boolean reductions are several times slower
    there).
    """
    cumulative = np.cumsum(counts)
    first, last = np.searchsorted(cumulative, (k, k + 1)).tolist()
    rank = k - (int(cumulative[first - 1]) if first else 0)
    if values.device.type == "cpu":
        return _pair_at_points_numpy(values, grid_index, first, last, rank)
    return _pair_at_points_torch(values, grid_index, first, last, rank)


def _pair_at_points_numpy(values, grid_index, first, last, rank):
    """Ranks ``rank`` and ``rank + 1`` among the values at points first..last."""
    index = grid_index.numpy()
    if first == last:
        at_points = index == first
    else:
        at_points = (index >= first) & (index <= last)
    # A scan for the few hits, then a gather: faster than a boolean mask.
    chosen = np.abs(values.numpy()[np.flatnonzero(at_points)])
    return tuple(
        torch.from_numpy(np.array(value)) for value in partitioned_pair(chosen, rank)
    )


def _pair_at_points_torch(values, grid_index, first, last, rank):
    if first == last:
        chosen = values[grid_index == first]
    else:
        chosen = values[(grid_index >= first) & (grid_index <= last)]
    chosen = chosen.abs()
    return tuple(torch.sort(chosen).values[rank - 1 : rank + 1])


def partitioned_pair(magnitudes: np.ndarray, k: int) -> tuple:
    """``(s_k, s_{k+1})`` of a small pool of magnitudes (1-based, ``1 <= k <
    n``), partitioning ``magnitudes`` in place: one ``O(n)`` selection, no
    binning."""
    # One kth and the largest below it: numpy's partition at two kths is
    # several times slower on training's pools.
    magnitudes.partition(k)
    return magnitudes[:k].max(), magnitudes[k]
