"""The private scikit-learn API the estimators rely on, in one place.

``_fit_context`` (parameter validation on ``fit``), ``_check_sample_weight``
(MLPClassifier's check of ``sample_weight``) and the constraint
classes of ``sklearn.utils._param_validation`` are what scikit-learn's own
estimators use, but private: a release may move them. Only this module
imports them, so a move is mended here. Supported: the range in
``pyproject.toml`` (``validate_data`` and ``__sklearn_tags__`` need 1.6);
tested with 1.9.1.
"""

from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import _check_sample_weight

__all__ = ["Interval", "Options", "StrOptions", "check_sample_weight", "fit_context"]

check_sample_weight = _check_sample_weight
fit_context = _fit_context
