"""Choosing ``lambda_``: a sparsity scorer and a refit rule for grid searches."""

from collections.abc import Callable

import numpy as np
from sklearn.base import BaseEstimator

__all__ = ["sparsest_within", "sparsity_scorer"]


def sparsity_scorer(
    estimator: BaseEstimator, X=None, y=None, sample_weight=None
) -> float:
    """Score a fitted estimator by its ``learned_sparsity_``.

    Use it in ``scoring={"accuracy": "accuracy", "sparsity":
    sparsity_scorer}``.

    Parameters
    ----------
    estimator : estimator or Pipeline
        A fitted AdaptivePrunedMLPClassifier or AdaptivePrunedMLPRegressor,
        or a Pipeline ending in one.
    X, y, sample_weight : object, default=None
        Ignored; a scorer's signature (a search fitted with sample weights
        passes them on).

    Returns
    -------
    float
        The fraction of the weights the fit pruned.
    """
    if hasattr(estimator, "steps"):
        estimator = estimator.steps[-1][1]
    return float(estimator.learned_sparsity_)


# A search fitted with sample_weight asks each scorer of a scoring dict
# whether it takes sample weights (scikit-learn >= 1.8 calls this method of
# its scorer objects on plain callables too). The sparsity of a fit is what
# it is, weighted or not.
sparsity_scorer._accept_sample_weight = lambda: True


def sparsest_within(
    tolerance: float, score: str = "accuracy", sparsity: str = "sparsity"
) -> Callable[[dict], int]:
    """A ``refit`` callable picking the sparsest candidate near the best score.

    Among the candidates whose mean test ``score`` is within ``tolerance`` of
    the best one, it picks the one with the highest mean test ``sparsity``
    (ties: the better score, then the first).

    Parameters
    ----------
    tolerance : float >= 0
        How much mean test score may be given up, e.g. 0.01 for one point of
        accuracy.
    score, sparsity : str
        The names of the two entries of the search's ``scoring`` dict.

    Returns
    -------
    refit : callable
        ``refit(cv_results) -> int``, for ``GridSearchCV(refit=...)``.

    Examples
    --------
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sk_adaprune import AdaptivePrunedMLPClassifier
    >>> from sk_adaprune.model_selection import sparsest_within, sparsity_scorer
    >>> search = GridSearchCV(
    ...     AdaptivePrunedMLPClassifier(),
    ...     {"lambda_": [1.0, 10.0, 100.0]},
    ...     scoring={"accuracy": "accuracy", "sparsity": sparsity_scorer},
    ...     refit=sparsest_within(0.01),
    ... )
    """
    if not tolerance >= 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance!r}.")

    def refit(cv_results) -> int:
        scores = np.asarray(cv_results[f"mean_test_{score}"], dtype=float)
        sparsities = np.asarray(cv_results[f"mean_test_{sparsity}"], dtype=float)
        if np.all(np.isnan(scores)):
            raise ValueError(f"Every candidate's mean test {score} is NaN.")
        eligible = scores >= np.nanmax(scores) - tolerance
        candidates = np.flatnonzero(eligible)
        # Highest sparsity first, then highest score, then the first index.
        order = np.lexsort((candidates, -scores[candidates], -sparsities[candidates]))
        return int(candidates[order[0]])

    refit.__name__ = f"sparsest_within({tolerance})"
    return refit
