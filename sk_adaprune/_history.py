"""The training history: skorch's, with one epoch's row read as a list item."""

from skorch.history import History

__all__ = ["EpochHistory"]


class EpochHistory(History):
    """skorch's ``History``, where ``history[i]`` for an int ``i`` is a plain
    list lookup.

    skorch resolves every index, ``history[-1]`` included, by copying the
    list of epochs and parsing the key; a fit of a small network writes a
    batch's records through ``history[-1]`` several times a step
    (``new_batch``, ``record_batch``, ``record``), each a few microseconds
    that grow with the epochs. The row returned is the same dict either way;
    keys and slices (``history[:, "train_loss"]``) keep skorch's indexing.
    """

    def __getitem__(self, i):
        if isinstance(i, int):
            return list.__getitem__(self, i)
        return super().__getitem__(i)
