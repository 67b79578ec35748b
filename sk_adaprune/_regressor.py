"""AdaptivePrunedMLPRegressor."""

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import RegressorMixin
from sklearn.utils.validation import column_or_1d

from ._base import BaseAdaptivePrunedMLP
from ._docstrings import fill_docstring
from ._sklearn_private import fit_context
from ._training.losses import HalfSquaredError, outputs_r2


@fill_docstring
class AdaptivePrunedMLPRegressor(RegressorMixin, BaseAdaptivePrunedMLP):
    """Multi-layer perceptron regressor that learns how much of itself to prune.

    A drop-in alternative to :class:`sklearn.neural_network.MLPRegressor`
    (Adam solver, squared error).

    <METHOD>

    Parameters
    ----------
    <PARAMETERS_BEFORE_EARLY_STOPPING>
    early_stopping : bool, default=False
        Whether to hold out ``validation_fraction`` of the data and stop when
        its R^2 (of the hard-masked network) stops improving. The split is
        random, not stratified.
    <PARAMETERS_AFTER_EARLY_STOPPING>

    Attributes
    ----------
    <ATTRIBUTES_OF_TRAINING>
    validation_scores_ : list of float or None
        Held-out R^2 per epoch with early stopping, else None.
    best_validation_score_ : float or None
        Best of ``validation_scores_``; with a fine-tuning phase, the best of
        the hardened epochs (the phase's and the one it started from), the
        score of the state restored.
    <ATTRIBUTES_OF_THE_NETWORK>
    out_activation_ : str
        Always 'identity'.
    <ATTRIBUTES_OF_PRUNING>

    See Also
    --------
    AdaptivePrunedMLPClassifier : The classifier.
    sklearn.neural_network.MLPRegressor : The dense original.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sk_adaprune import AdaptivePrunedMLPRegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> reg = AdaptivePrunedMLPRegressor(max_iter=20, random_state=0).fit(X, y / 100)
    >>> reg.predict(X[:2]).shape
    (2,)
    """

    @fit_context(prefer_skip_nested_validation=True)
    def fit(
        self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> "AdaptivePrunedMLPRegressor":
        """Fit the model to data matrix X and target(s) y, pruning as it trains.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target values.
        <SAMPLE_WEIGHT>

        Returns
        -------
        self : object
            The fitted, hard-masked estimator.
        """
        return self._fit(X, y, sample_weight)

    @fit_context(prefer_skip_nested_validation=True)
    def partial_fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        sample_weight: ArrayLike | None = None,
    ) -> "AdaptivePrunedMLPRegressor":
        """Update the model with one epoch over the given data.

        <PARTIAL_FIT>

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the rows, as in ``fit``.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._fit(X, y, sample_weight, incremental=True)

    def _encode_targets(self, y, classes=None):
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        targets = y.reshape(y.shape[0], -1)
        self.n_outputs_ = targets.shape[1]
        self.out_activation_ = "identity"
        return targets.astype(float), y, outputs_r2

    def _check_continued_targets(self, y, fitted, subset):
        n_outputs = y.shape[1] if y.ndim == 2 else 1
        if n_outputs != fitted.n_outputs:
            raise ValueError(
                f"warm_start continues a network of {fitted.n_outputs} outputs; y "
                f"has {n_outputs}. Set warm_start=False to fit a new network."
            )

    def _criterion(self):
        return HalfSquaredError

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predict with the hard-masked network.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The predicted values.
        """
        y_pred = self._forward_pass_fast(X)
        return y_pred.ravel() if y_pred.shape[1] == 1 else y_pred

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
