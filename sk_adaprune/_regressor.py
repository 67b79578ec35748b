"""AdaptivePrunedMLPRegressor."""

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.utils.validation import column_or_1d

from ._base import BaseAdaptivePrunedMLP
from ._net import HalfSquaredError, outputs_r2
from ._sklearn_private import fit_context


class AdaptivePrunedMLPRegressor(RegressorMixin, BaseAdaptivePrunedMLP):
    """Multi-layer perceptron regressor that learns how much of itself to prune.

    A drop-in alternative to :class:`sklearn.neural_network.MLPRegressor`
    (Adam solver, squared error). Training, parameters and pruning are those
    of :class:`AdaptivePrunedMLPClassifier`; see its documentation for the
    method.

    Parameters
    ----------
    hidden_layer_sizes, activation, alpha, batch_size, learning_rate_init, \
max_iter, shuffle, random_state, tol, verbose, early_stopping, \
validation_fraction, beta_1, beta_2, epsilon, n_iter_no_change, r_init, \
tau_init, lambda_, lr_r, lr_tau, tau_min, kde_grid_size, finetune_fraction, \
device
        As in :class:`AdaptivePrunedMLPClassifier`. With early stopping the
        held-out score is R^2.

    Attributes
    ----------
    n_features_in_, feature_names_in_, n_iter_, loss_curve_, best_loss_, \
validation_scores_, best_validation_score_, coefs_, intercepts_, n_layers_, \
n_outputs_, learned_sparsity_, learned_ratio_, initial_ratio_, temperature_, \
threshold_, layer_sparsity_, pruning_history_, net_, used_features_, compact_
        As in :class:`AdaptivePrunedMLPClassifier`.
    out_activation_ : str
        Always 'identity'.

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
    def fit(self, X, y):
        """Fit the model to data matrix X and target(s) y, pruning as it trains.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target values.

        Returns
        -------
        self : object
            The fitted, hard-masked estimator.
        """
        return self._fit(X, y)

    def _encode_targets(self, y):
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        targets = y.reshape(y.shape[0], -1)
        self.n_outputs_ = targets.shape[1]
        self.out_activation_ = "identity"
        return targets.astype(np.float32), y, outputs_r2

    def _criterion(self):
        return HalfSquaredError

    def predict(self, X):
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
