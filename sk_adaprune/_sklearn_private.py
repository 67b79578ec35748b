"""The private scikit-learn API the estimators rely on, in one place.

``_fit_context`` (parameter validation on ``fit``),
``BaseSearchCV._format_results`` (``cv_results_`` from the folds' scores),
``_safe_indexing`` and ``_check_method_params`` (rows of any array-like
and of the fit's parameters, as the searches take them),
``BaseSearchCV._get_routed_params_for_fit`` (what a search hands its scorers),
``validate_parameter_constraints`` (the same validation, for ``load``),
``_check_sample_weight``
(MLPClassifier's check of ``sample_weight``) and the constraint
classes of ``sklearn.utils._param_validation`` are what scikit-learn's own
estimators use, but private: a release may move them. Only this module
imports them, so a move is mended here. Supported: the range in
``pyproject.toml`` (``validate_data`` and ``__sklearn_tags__`` need 1.6);
tested with 1.9.1.
"""

from sklearn.base import _fit_context
from sklearn.utils import _safe_indexing
from sklearn.utils._param_validation import (
    Interval,
    Options,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.validation import _check_method_params, _check_sample_weight

__all__ = [
    "Interval",
    "Options",
    "StrOptions",
    "check_parameters",
    "method_params",
    "check_sample_weight",
    "fit_context",
    "safe_indexing",
    "search_results",
    "search_score_params",
]

check_sample_weight = _check_sample_weight
fit_context = _fit_context
safe_indexing = _safe_indexing
method_params = _check_method_params


def check_parameters(estimator) -> None:
    """What ``fit_context`` checks: the parameters against the estimator's
    ``_parameter_constraints`` (``InvalidParameterError``, a ValueError)."""
    validate_parameter_constraints(
        estimator._parameter_constraints,
        estimator.get_params(deep=False),
        caller_name=type(estimator).__name__,
    )


def search_results(search, candidate_params, n_splits, out) -> dict:
    """``cv_results_`` as the search ``search`` (a ``GridSearchCV``) lays it
    out, from ``out``: per candidate and split (candidates outermost) a
    dict of ``fit_time``, ``score_time`` and ``test_scores`` (by scorer
    name), as its fits report them."""
    return search._format_results(candidate_params, n_splits, out)


def search_score_params(search, fit_params: dict) -> dict:
    """What the search ``search`` passes its scorers when fitted with
    ``fit_params`` (this scikit-learn's rule: e.g. ``sample_weight`` where
    the scorers accept it), for every row; it warns as the search warns."""
    return dict(search._get_routed_params_for_fit(fit_params).scorer.score)
