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
# The most weights (entries of the dense weight matrices) load() accepts by
# default: a file of a few kilobytes can declare a network of any size.
MAX_WEIGHTS = 100_000_000


def load(
    path: str | os.PathLike, *, max_weights: int | None = MAX_WEIGHTS
) -> AdaptivePrunedMLPClassifier | AdaptivePrunedMLPRegressor:
    """Read an estimator written by its ``save`` method.

    The file is treated as untrusted: nothing in it is unpickled or run, and
    everything is checked before it is used. Each array's declared dtype and
    shape are checked against the layers the archive declares before its
    data are decompressed, the sparse weights' structure is checked, and
    every parameter and fitted value must be one that ``save`` can write.
    An estimator that loads predicts.

    Parameters
    ----------
    path : str or path-like
        An archive written by ``save``.
    max_weights : int or None, default=100_000_000
        The most weights (entries of the dense weight matrices, which
        ``coefs_`` holds) to accept; a file of a few kilobytes can declare a
        network of any size. None accepts any size: only for files you trust.

    Returns
    -------
    estimator : AdaptivePrunedMLPClassifier or AdaptivePrunedMLPRegressor
        Predicts, scores and exports like the saved one; its ``net_`` is
        None.

    Raises
    ------
    ArchiveError
        A ``ValueError``: the file is not a valid archive of this package
        (not a zip, truncated, pickled objects, members or values that
        ``save`` does not write, a network larger than ``max_weights``); the
        message says what is wrong.
    OSError
        The path cannot be read (missing, a directory, no permission).
    """
    with read_archive(path) as (kind, params, state):
        if kind not in _KINDS:
            raise ValueError(f"it holds an unknown kind of estimator: {kind!r:.80}")
        estimator = _KINDS[kind]()
        unknown = sorted(set(params) - set(estimator.get_params(deep=False)))
        if unknown:
            raise ValueError(f"it holds parameters the estimator lacks: {unknown}")
        estimator.set_params(**params)
        estimator._check_params()
        return restore_fitted_state(estimator, state, max_weights=max_weights)
