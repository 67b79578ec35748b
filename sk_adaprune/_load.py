"""``load``: a fitted estimator back from an archive that ``save`` wrote."""

import os

from ._classifier import AdaptivePrunedMLPClassifier
from ._fitted import restore_fitted_state
from ._persistence import read_archive
from ._regressor import AdaptivePrunedMLPRegressor

__all__ = ["load"]

_KINDS = {
    kind.__name__: kind
    for kind in (AdaptivePrunedMLPClassifier, AdaptivePrunedMLPRegressor)
}


def load(
    path: str | os.PathLike,
) -> AdaptivePrunedMLPClassifier | AdaptivePrunedMLPRegressor:
    """Read an estimator written by its ``save`` method.

    The file is read with ``numpy.load(allow_pickle=False)``: no code from it
    ever runs.

    Parameters
    ----------
    path : str or path-like
        An archive written by ``save``.

    Returns
    -------
    estimator : AdaptivePrunedMLPClassifier or AdaptivePrunedMLPRegressor
        Predicts, scores and exports like the saved one; its ``net_`` is
        None.

    Raises
    ------
    ValueError
        If the file holds pickled Python objects or is not such an archive.
    """
    kind, params, state = read_archive(path)
    if kind not in _KINDS:
        raise ValueError(f"{path} holds an unknown kind of estimator: {kind!r}.")
    return restore_fitted_state(_KINDS[kind](**params), state)
