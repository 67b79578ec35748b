"""The private scikit-learn API the estimators rely on, in one place.

``_fit_context`` (parameter validation on ``fit``),
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
from sklearn.utils._param_validation import (
    Interval,
    Options,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.validation import _check_sample_weight

__all__ = [
    "Interval",
    "Options",
    "StrOptions",
    "check_parameters",
    "check_sample_weight",
    "fit_context",
]

check_sample_weight = _check_sample_weight
fit_context = _fit_context


def check_parameters(estimator) -> None:
    """What ``fit_context`` checks: the parameters against the estimator's
    ``_parameter_constraints`` (``InvalidParameterError``, a ValueError)."""
    validate_parameter_constraints(
        estimator._parameter_constraints,
        estimator.get_params(deep=False),
        caller_name=type(estimator).__name__,
    )
