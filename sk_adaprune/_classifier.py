"""AdaptivePrunedMLPClassifier."""

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d
from torch import nn

from ._base import BaseAdaptivePrunedMLP
from ._net import BinaryLogLoss, argmax_accuracy, sign_accuracy
from ._sklearn_private import fit_context


class AdaptivePrunedMLPClassifier(ClassifierMixin, BaseAdaptivePrunedMLP):
    """Multi-layer perceptron classifier that learns how much of itself to prune.

    A drop-in alternative to :class:`sklearn.neural_network.MLPClassifier`
    (Adam solver). While it trains, every weight is multiplied by a soft mask
    ``sigmoid((w^2 - t^2) / tau)``, where the threshold ``t`` is the
    ``r``-quantile of all weight magnitudes. The pruning ratio ``r`` and the
    temperature ``tau`` are trained with the weights, and the loss gets
    ``lambda_ * (1 - r)^2``, so ``lambda_`` trades accuracy for sparsity.
    After ``fit`` pruned weights are exact zeros.

    Parameters
    ----------
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        The ith element is the number of neurons in the ith hidden layer.
    activation : {'identity', 'logistic', 'tanh', 'relu'}, default='relu'
        Activation function of the hidden layers.
    alpha : float, default=1e-4
        Strength of the L2 penalty on the weights, as in MLPClassifier.
    batch_size : int or 'auto', default='auto'
        Mini-batch size; 'auto' means ``min(200, n_samples)``.
    learning_rate_init : float, default=1e-3
        Adam's learning rate for the weights and biases.
    max_iter : int, default=200
        Maximum number of epochs.
    shuffle : bool, default=True
        Whether to shuffle the samples in each epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, shuffling and the early-stopping split.
        With an int, two fits on CPU are bitwise identical.
    tol : float, default=1e-4
        Tolerance of the stopping rule.
    verbose : bool or int, default=False
        0: silent; 1: a table row per epoch (loss, task loss, ``r``, ``tau``,
        threshold, sparsity, validation score, seconds); 2: also a progress
        bar over each epoch's batches.
    early_stopping : bool, default=False
        Whether to hold out ``validation_fraction`` of the data and stop when
        its accuracy (of the hard-masked network) stops improving. The split
        is stratified, except for multilabel targets (MLPClassifier's
        documented rule; its code stratifies binary targets only).
    validation_fraction : float, default=0.1
        Fraction of the data held out for early stopping.
    beta_1, beta_2, epsilon : float, default=0.9, 0.999, 1e-8
        Adam's parameters, shared by all parameter groups.
    n_iter_no_change : int, default=10
        Epochs without ``tol`` improvement before stopping.
    r_init : float in [0, 1) or 'auto', default='auto'
        Initial pruning ratio ``r``. 'auto' starts at 0.1 when the fit has
        the steps for ``r`` to climb far (``max_iter * n_batches * lr_r >=
        3``, ``n_batches`` the mini-batches per epoch): fewer of the random
        initial weights are masked, and ``r`` rises by up to about ``lr_r``
        per step to where ``lambda_`` puts it. With fewer steps ``r``'s climb
        is limited by them and 'auto' starts at the thesis's 0.5. ``r`` is
        a float32 parameter and ``floor(r * n)`` of the ``n`` weights are
        pruned, with ``r`` rounded to float32 first: ``r_init=0.7`` prunes
        6 of 10 weights, since float32's 0.7 is 0.69999999.
    tau_init : float > 0, default=1e-2
        Initial temperature as a multiple of the weights' standard deviation.
    lambda_ : float >= 0, default=10.0
        Weight of the sparsity regulariser ``lambda_ * (1 - r)^2``; larger
        values prune more. With 0 only the task loss moves ``r``: it falls a
        few points while that loss is high, then creeps up once it is small,
        so a fit still prunes (for no pruning, ``r_init=0, lr_r=0``).
    lr_r : float >= 0, default=1e-3
        Adam's learning rate for ``r``; 0 freezes it (fixed-ratio pruning).
    lr_tau : float >= 0, default=1e-6
        Adam's learning rate for ``tau``.
    tau_min : float > 0, default=1e-6
        Lower bound the temperature is clamped to after every step.
    kde_grid_size : int, default=1024
        Grid points of the density estimate behind ``dt/dr``.
    finetune_fraction : float in [0, 1), default=0.2
        Share of ``max_iter`` spent in the fine-tuning phase that ends the
        fit: ``floor(finetune_fraction * max_iter)`` epochs in which ``r``
        and ``tau`` are frozen, the mask is hard (pruned weights are exact
        zeros and stay zero) and Adam trains the surviving weights and
        biases on the task loss alone (plus ``alpha``'s L2 term), with no
        threshold, density or soft mask. The phase is due that many epochs
        before ``max_iter`` and starts at the first epoch end from then on
        where ``r`` has settled: over the last epochs (at least 500 steps)
        it moved by at most ``0.05 * lr_r`` per step on average (Adam moves
        it by up to about ``lr_r``). An ``r`` still climbing keeps pruning,
        so a fit with too few steps for ``r`` to settle ends as without the
        phase. The phase also starts, earlier, when the stopping rule
        (``tol``, ``n_iter_no_change``, or the validation score with
        ``early_stopping``) first finds no improvement; it then lasts at most
        that many epochs, and the same rule, applied afresh to the phase, may
        end it sooner. With early stopping the state restored is the best
        hardened one. 0 disables the phase: the mask stays soft until fit
        ends.
    device : str, default='cpu'
        Torch device to train on, e.g. 'cuda'. Predictions always run on the
        CPU from ``coefs_``.

    Attributes
    ----------
    classes_ : ndarray or list of ndarray
        Class labels.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names, when X has string column names.
    n_iter_ : int
        Number of epochs run.
    loss_curve_ : list of float
        Training loss (task loss plus penalties) per epoch.
    best_loss_ : float or None
        Minimum of ``loss_curve_``; None with early stopping.
    validation_scores_ : list of float or None
        Held-out accuracy per epoch with early stopping, else None.
    best_validation_score_ : float or None
        Best of ``validation_scores_``; with a fine-tuning phase, the best of
        the hardened epochs (the phase's and the one it started from), the
        score of the state restored.
    coefs_ : list of ndarray of shape (n_in, n_out)
        Hard-masked weight matrices; pruned weights are exactly 0.
    intercepts_ : list of ndarray of shape (n_out,)
        Bias vectors (never pruned).
    n_layers_ : int
        Number of layers, input and output included.
    n_outputs_ : int
        Number of output units.
    out_activation_ : str
        'softmax' for multiclass, 'logistic' for binary and multilabel.
    learned_sparsity_ : float
        Fraction of weights that are exactly 0 after fit.
    learned_ratio_ : float
        Final pruning ratio ``r``.
    initial_ratio_ : float
        The ``r`` the fit started from (``r_init``, or what 'auto' chose).
    temperature_ : float
        Final temperature ``tau``.
    threshold_ : float
        Final threshold ``t``; weights with ``|w| < t`` were pruned.
    layer_sparsity_ : ndarray of shape (n_layers_ - 1,)
        Fraction of zero weights per layer.
    pruning_history_ : dict of ndarray
        Per-epoch ``loss``, ``task_loss``, ``ratio``, ``temperature``,
        ``threshold``, ``sparsity``, ``finetuning`` (1 for the epochs of the
        fine-tuning phase, else 0) and, with early stopping,
        ``validation_score``.
    net_ : skorch.NeuralNet or None
        The trained skorch net holding the hardened torch module (float32,
        without gradients or the optimizer's state); None after unpickling or
        ``load``.
    used_features_ : ndarray of int
        Indices of the input features that kept at least one weight.
    compact_ : CompactNetwork
        The pruned network without dead units, which predictions run on
        (float32; a layer that lost no unit is ``coefs_``'s own array when
        that is float32, and layers at most 15% dense are also kept as CSR).

    See Also
    --------
    AdaptivePrunedMLPRegressor : The regressor.
    sklearn.neural_network.MLPClassifier : The dense original.

    Notes
    -----
    The method is Learned Ratio Pruning (G. Pereira, 2025), combining PDP
    (Cho et al. 2023) and LTP (Azarian et al. 2020). ``dt/dr = 1 / f(t)``
    with ``f`` a reflected Gaussian KDE of the weight magnitudes computed
    with the FFT. Training runs in float32, and so do predictions: without
    a DataLoader, on the compacted network (dead inputs and units removed,
    sparse layers also as CSR for small batches), with the output activation
    in float64. ``save``/``sk_adaprune.load`` store only the non-zero
    weights; ``to_torch`` exports a plain ``torch.nn.Sequential``.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sk_adaprune import AdaptivePrunedMLPClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = AdaptivePrunedMLPClassifier(max_iter=20, random_state=0).fit(X / 16, y)
    >>> 0.0 <= clf.learned_sparsity_ <= 1.0
    True
    """

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fit the model to data matrix X and target(s) y, pruning as it trains.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels, or a label indicator matrix for multilabel targets.

        Returns
        -------
        self : object
            The fitted, hard-masked estimator.
        """
        return self._fit(X, y)

    def _encode_targets(self, y):
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        binarizer = LabelBinarizer().fit(y)
        if binarizer.classes_.shape[0] < 2:
            raise ValueError(
                "The classifier needs samples of at least 2 classes in the data, "
                f"but the data contains only one class: {binarizer.classes_[0]!r}."
            )
        self._label_binarizer = binarizer
        self.classes_ = binarizer.classes_
        indicator = binarizer.transform(y)
        self.n_outputs_ = indicator.shape[1]
        if binarizer.y_type_ == "multiclass":
            self.out_activation_ = "softmax"
            codes = indicator.argmax(axis=1)
            return codes.astype(np.int64), codes, argmax_accuracy
        self.out_activation_ = "logistic"
        return indicator.astype(np.float32), indicator, sign_accuracy

    def _criterion(self):
        if self.out_activation_ == "softmax":
            return nn.CrossEntropyLoss
        return BinaryLogLoss

    def predict(self, X):
        """Predict classes with the hard-masked network.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_classes)
            The predicted classes.
        """
        y_prob = self._forward_pass_fast(X)
        if self.n_outputs_ == 1:
            y_prob = y_prob.ravel()
        return self._label_binarizer.inverse_transform(y_prob)

    def predict_proba(self, X):
        """Probability estimates.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y_prob : ndarray of shape (n_samples, n_classes)
            Probabilities of the classes in the order of ``classes_``.
        """
        y_prob = self._forward_pass_fast(X)
        if self.n_outputs_ == 1:
            y_prob = y_prob.ravel()
            return np.vstack([1 - y_prob, y_prob]).T
        return y_prob

    def predict_log_proba(self, X):
        """Log of the probability estimates, ``log(predict_proba(X))``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        log_y_prob : ndarray of shape (n_samples, n_classes)
            Log-probabilities in the order of ``classes_``.
        """
        y_prob = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(y_prob, out=y_prob)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags
