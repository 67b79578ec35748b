"""The input check of ``predict``: scikit-learn's, skipped where it is a no-op.

``validate_data(reset=False)`` costs a single row several times the
prediction itself (about 175 us against 20 us for a compacted network on
load_digits). For the input a deployed model mostly sees, a 2-D float32 or
float64 numpy array of the fitted width whose values are finite, given to an
estimator fitted without feature names, it returns the array unchanged and
warns of nothing: :func:`checked_for_predict` returns it at once. Anything
else (other types, dtypes or shapes, non-finite values, feature names, an
empty array) goes through ``validate_data``, which converts or raises its
own error.
"""

import numpy as np
from sklearn import get_config
from sklearn.utils.validation import validate_data

__all__ = ["checked_for_predict"]

_FLOATS = (np.dtype(np.float64), np.dtype(np.float32))


def _passes_unchanged(estimator, X) -> bool:
    """Whether ``validate_data`` would hand ``X`` back as it is, silently."""
    if type(X) is not np.ndarray or X.ndim != 2 or X.dtype not in _FLOATS:
        return False
    if X.shape[0] == 0 or X.shape[1] != estimator.n_features_in_:
        return False
    if hasattr(estimator, "feature_names_in_"):  # it would warn: no names in X
        return False
    # The finiteness test scikit-learn starts with: a finite sum means finite
    # values; an infinite or NaN sum leaves the verdict to validate_data.
    return get_config()["assume_finite"] or bool(np.isfinite(X.sum()))


def checked_for_predict(estimator, X):
    """``X`` as ``validate_data(estimator, X, reset=False)`` accepts it for
    prediction: float64 or float32, dense or CSR / CSC."""
    if _passes_unchanged(estimator, X):
        return X
    return validate_data(
        estimator,
        X,
        accept_sparse=["csr", "csc"],
        dtype=(np.float64, np.float32),
        reset=False,
    )
