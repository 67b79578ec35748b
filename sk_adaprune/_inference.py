"""Predictions of a fitted network: its compacted form without dead inputs
and units, the input check of ``predict``, and the export to plain torch.
"""

from dataclasses import dataclass

import numpy as np
import torch
from scipy import sparse
from sklearn import get_config
from sklearn.utils.extmath import safe_sparse_dot
from sklearn.utils.validation import validate_data

from ._module import ACTIVATIONS

__all__ = [
    "CompactNetwork",
    "checked_for_predict",
    "compact_network",
    "torch_sequential",
]


# A layer at most this dense also keeps a CSR copy, used for batches of at
# most SMALL_BATCH rows: there a sparse product beats BLAS; for large
# batches the dense product wins.
SPARSE_DENSITY = 0.15

SMALL_BATCH = 16


@dataclass
class CompactNetwork:
    """Dense layers ``(coef, intercept)`` without dead hidden units.

    The first layer keeps a (zero) row for every input, since selecting the
    ``used_features`` columns of X costs more than multiplying by zeros;
    ``used_features`` records which inputs still matter.
    ``transposed_csr[i]`` is ``coefs[i].T`` as CSR for sparse layers, else None.
    The layers keep the dtype the network was trained in and compute in the
    predictions' dtype (as MLPClassifier: X's and the weights' promoted).
    """

    used_features: np.ndarray
    coefs: list
    intercepts: list
    transposed_csr: list
    activation: str
    out_activation: str

    def forward(self, X, dtype=np.float64) -> np.ndarray:
        """Output-layer activations for ``X`` with all ``n_features_in_``
        columns, computed in ``dtype``."""
        activations = X.astype(dtype, copy=False)
        small = activations.shape[0] <= SMALL_BATCH and not sparse.issparse(activations)
        hidden = ACTIVATIONS[self.activation].function
        last = len(self.coefs) - 1
        for i, (coef, intercept, csr) in enumerate(
            zip(self.coefs, self.intercepts, self.transposed_csr)
        ):
            if small and csr is not None:
                activations = (csr @ activations.T).T + intercept
            else:
                activations = safe_sparse_dot(activations, coef) + intercept
            if i < last:
                activations = hidden(activations)
        # X was cast to dtype, which the weights' dtype does not exceed.
        return ACTIVATIONS[self.out_activation].function(activations)

    @property
    def layer_sizes(self) -> list[int]:
        """Units per layer, inputs first."""
        return [self.used_features.size] + [c.shape[1] for c in self.coefs]


def compact_network(coefs, intercepts, activation, out_activation) -> CompactNetwork:
    """Remove what cannot change the outputs; the predictions stay the same.

    - input features with no outgoing weight to a unit that is kept are
      recorded as unused (their rows of the first layer are zero);
    - hidden units with no outgoing weight are dropped;
    - hidden units with no incoming weight output the constant
      ``activation(bias)``, which is folded into the next layer's bias.

    Each removal can starve another unit, so it repeats until nothing changes.
    The output units are kept.
    """
    # Only what a removal changes is copied: an untouched layer is the
    # caller's array itself. The folds compute in float64.
    coefs = [np.asarray(c) for c in coefs]
    dtype = coefs[0].dtype
    intercepts = [np.array(b, dtype=np.float64) for b in intercepts]
    hidden = ACTIVATIONS[activation].function
    changed = True
    while changed:
        changed = False
        for layer in range(len(coefs) - 1):  # hidden layer after coefs[layer]
            incoming = np.any(coefs[layer] != 0, axis=0)
            outgoing = np.any(coefs[layer + 1] != 0, axis=1)
            constant = ~incoming & outgoing
            if constant.any():
                values = hidden(intercepts[layer][constant].copy())
                intercepts[layer + 1] = (
                    intercepts[layer + 1] + values @ coefs[layer + 1][constant]
                )
            keep = incoming & outgoing
            if not keep.all():
                coefs[layer] = coefs[layer][:, keep]
                intercepts[layer] = intercepts[layer][keep]
                coefs[layer + 1] = coefs[layer + 1][keep]
                changed = True
    # After the removals: an input feeding only removed units is unused too.
    used = np.flatnonzero(np.any(coefs[0] != 0, axis=1))
    intercepts = [b.astype(dtype) for b in intercepts]
    transposed_csr = [
        sparse.csr_matrix(c.T) if c.size and np.mean(c != 0) <= SPARSE_DENSITY else None
        for c in coefs
    ]
    return CompactNetwork(
        used, coefs, intercepts, transposed_csr, activation, out_activation
    )


_FLOATS = (np.dtype(np.float64), np.dtype(np.float32))


def _passes_unchanged(estimator, X) -> bool:
    """Whether ``validate_data`` would hand ``X`` back as it is, silently:
    then predict skips it, since on a single row it costs several times
    the prediction."""
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


def torch_sequential(coefs, intercepts, activation, out_activation):
    """A ``torch.nn.Sequential`` in the weights' dtype computing ``X @ coef +
    intercept`` layer by layer, ``activation`` between layers,
    ``out_activation`` last."""
    layers = []
    for i, (coef, intercept) in enumerate(zip(coefs, intercepts)):
        linear = torch.nn.Linear(*coef.shape, dtype=torch.from_numpy(coef).dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(coef.T))
            linear.bias.copy_(torch.from_numpy(intercept))
        layers.append(linear)
        if i < len(coefs) - 1:
            layers.append(ACTIVATIONS[activation].module())
    layers.append(ACTIVATIONS[out_activation].module())
    return torch.nn.Sequential(*layers)
