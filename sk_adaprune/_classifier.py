"""AdaptivePrunedMLPClassifier."""

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import ClassifierMixin
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.multiclass import (
    check_classification_targets,
    type_of_target,
    unique_labels,
)
from sklearn.utils.validation import column_or_1d

from ._base import BaseAdaptivePrunedMLP
from ._docstrings import fill_docstring
from ._sklearn_private import fit_context
from ._training.losses import (
    BinaryLogLoss,
    SoftmaxLogLoss,
    argmax_accuracy,
    sign_accuracy,
)


@fill_docstring
class AdaptivePrunedMLPClassifier(ClassifierMixin, BaseAdaptivePrunedMLP):
    """Multi-layer perceptron classifier that learns how much of itself to prune.

    A drop-in alternative to :class:`sklearn.neural_network.MLPClassifier`
    (Adam solver).

    <METHOD>

    Parameters
    ----------
    <PARAMETERS_BEFORE_EARLY_STOPPING>
    early_stopping : bool, default=False
        Whether to hold out ``validation_fraction`` of the data and stop when
        its accuracy (of the hard-masked network) stops improving. The split
        is stratified, except for multilabel targets (MLPClassifier's
        documented rule; its code stratifies binary targets only).
    <PARAMETERS_AFTER_EARLY_STOPPING>

    Attributes
    ----------
    classes_ : ndarray or list of ndarray
        Class labels.
    <ATTRIBUTES_OF_TRAINING>
    validation_scores_ : list of float or None
        Held-out accuracy per epoch with early stopping, else None.
    best_validation_score_ : float or None
        Best of ``validation_scores_``; with a fine-tuning phase, the best of
        the hardened epochs (the phase's and the one it started from), the
        score of the state restored.
    <ATTRIBUTES_OF_THE_NETWORK>
    out_activation_ : str
        'softmax' for multiclass, 'logistic' for binary and multilabel.
    <ATTRIBUTES_OF_PRUNING>

    See Also
    --------
    AdaptivePrunedMLPRegressor : The regressor.
    sklearn.neural_network.MLPClassifier : The dense original.

    Notes
    -----
    The method is Learned Ratio Pruning (G. Pereira, 2025), combining PDP
    (Cho et al. 2023) and LTP (Azarian et al. 2020). ``dt/dr = 1 / f(t)``
    with ``f`` a reflected Gaussian KDE of the weight magnitudes computed
    with the FFT. Training computes in X's dtype (float32 or float64), as
    MLPClassifier; predictions run without a DataLoader on the compacted
    network (dead inputs and units removed, sparse layers also as CSR for
    small batches), in the dtype of X and ``coefs_`` promoted (float32 only
    when both are, as in MLPClassifier). ``save``/``sk_adaprune.load``
    store only the non-zero weights; ``to_torch`` exports a plain
    ``torch.nn.Sequential``.

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
    def fit(
        self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> "AdaptivePrunedMLPClassifier":
        """Fit the model to data matrix X and target(s) y, pruning as it trains.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels, or a label indicator matrix for multilabel targets.
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
        classes: ArrayLike | None = None,
    ) -> "AdaptivePrunedMLPClassifier":
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
        classes : array-like of shape (n_classes,), default=None
            All the classes of the stream; required on the first call, which
            fixes them (a chunk may hold only some of them).

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._fit(X, y, sample_weight, classes=classes, incremental=True)

    def _encode_targets(self, y, classes=None):
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if classes is None:
            binarizer = LabelBinarizer().fit(y)
        elif type_of_target(y).startswith("multilabel"):
            # As MLPClassifier's partial_fit: an indicator matrix's labels are
            # its columns' numbers.
            binarizer = LabelBinarizer().fit(y)
            if len(classes) != len(binarizer.classes_):
                raise ValueError(
                    f"`y` is an indicator matrix of {len(binarizer.classes_)} "
                    f"labels; `classes` has {len(classes)}."
                )
        else:
            binarizer = LabelBinarizer().fit(classes)
            unknown = np.setdiff1d(unique_labels(y), binarizer.classes_)
            if unknown.size:
                raise ValueError(
                    "`y` has classes not in `self.classes_`. `self.classes_` has "
                    f"{binarizer.classes_}. 'y' has {unique_labels(y)}."
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
        return indicator.astype(float), indicator, sign_accuracy

    _numeric_targets = False

    def _check_classes_argument(self, classes, first_call) -> None:
        # MLPClassifier's rules: required on the first call, the fitted ones
        # on later calls.
        if first_call:
            if classes is None:
                raise ValueError(
                    "classes must be passed on the first call to partial_fit."
                )
        elif classes is not None and not np.array_equal(
            np.unique(classes), self.classes_
        ):
            raise ValueError(
                f"`classes={list(classes)}` is not the same as on last call to "
                f"partial_fit, was: {self.classes_}"
            )

    def _check_continued_targets(self, y, fitted, subset):
        if subset:
            return  # checked against the classes when y is encoded
        classes = unique_labels(y)
        if set(classes) != set(fitted.classes):
            raise ValueError(
                "warm_start can only be used where `y` has the same classes "
                f"as in the previous call to fit. Previously got "
                f"{fitted.classes}, `y` has {classes}"
            )

    def _stratify(self, y):
        # Stratified except for multilabel targets, as MLPClassifier's
        # documentation says (its code tests n_outputs_ == 1 after one-hot
        # encoding, so it stratifies binary targets only, not multiclass
        # ones, unlike what its docstring and scikit-learn#13164 intend). The
        # user's labels, so that a class too small is named as given.
        single_label = self.out_activation_ == "softmax" or self.n_outputs_ == 1
        return y if single_label else None

    def _criterion(self):
        if self.out_activation_ == "softmax":
            return SoftmaxLogLoss
        return BinaryLogLoss

    def predict(self, X: ArrayLike) -> np.ndarray:
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
        binarizer = self._label_binarizer
        if binarizer.y_type_ == "multiclass":
            # What inverse_transform computes, without its input checks.
            return binarizer.classes_.take(y_prob.argmax(axis=1))
        if self.n_outputs_ == 1:
            y_prob = y_prob.ravel()
        return binarizer.inverse_transform(y_prob)

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
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

    def predict_log_proba(self, X: ArrayLike) -> np.ndarray:
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
