"""AdaptivePrunedMLPClassifierCV and AdaptivePrunedMLPRegressorCV: ``lambda_``
chosen by cross-validation, then refit, in one estimator.

Every ``(lambda_, fold)`` model is the single estimator's fit on the fold's
training rows, prepared and finished by the single estimator's own code;
the models of one shape train together as stacked networks
(``_training/stacked.py``), which pay a small network's per-step fixed costs
once for all of them. They are scored as ``GridSearchCV`` scores them and
``cv_results_`` is laid out by its own formatter, so that the answers are a
``GridSearchCV``'s over the single estimator. Where stacking does not apply
(sparse X, ``n_jobs`` > 1, torch < 2.4) the search is that ``GridSearchCV``.
"""

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from numpy.typing import ArrayLike
from scipy import sparse
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    RegressorMixin,
    clone,
    is_classifier,
)
from sklearn.metrics import check_scoring
from sklearn.model_selection import GridSearchCV, ParameterGrid, check_cv
from sklearn.utils import indexable
from sklearn.utils.validation import assert_all_finite, check_is_fitted

from ._base import FUSED_ADAM, train_stacked
from ._classifier import AdaptivePrunedMLPClassifier
from ._docstrings import fill_docstring
from ._regressor import AdaptivePrunedMLPRegressor
from ._sklearn_private import (
    method_params,
    safe_indexing,
    search_results,
    search_score_params,
)
from .model_selection import sparsest_within, sparsity_scorer

__all__ = [
    "DEFAULT_LAMBDAS",
    "AdaptivePrunedMLPClassifierCV",
    "AdaptivePrunedMLPRegressorCV",
]

# An int ``lambdas`` spans this range log-evenly: on load_digits it takes
# the learned sparsity from about 67% to 94% at a cost of 0 to 3.5 points of
# accuracy (benchmarks/results/choose_lambda.md), and on Fashion-MNIST
# from 82% to 98.5% (accuracy_vs_sparsity.md).
DEFAULT_LAMBDAS = (0.3, 300.0)


class _BaseAdaptivePrunedMLPCV(BaseEstimator):
    """The search, the refit and the fitted state; the subclasses name the
    single estimator and the task's mixin."""

    _single: type

    def __init__(
        self,
        lambdas: int | Sequence[float] = 7,
        *,
        cv=5,
        scoring: str | Callable | None = None,
        sparsest_within: float | None = None,
        n_jobs: int | None = None,
        hidden_layer_sizes: Sequence[int] | int = (100,),
        activation: str = "relu",
        alpha: float = 1e-4,
        batch_size: int | str = "auto",
        learning_rate_init: float = 1e-3,
        max_iter: int = 200,
        shuffle: bool = True,
        random_state: int | np.random.RandomState | None = None,
        tol: float = 1e-4,
        verbose: bool | int = False,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        n_iter_no_change: int | float = 10,
        r_init: float | str = "auto",
        r_ramp: tuple[float, float] | str | None = "auto",
        tau_init: float = 1e-2,
        lr_r: float = 1e-3,
        lr_tau: float = 1e-6,
        tau_min: float = 1e-6,
        kde_grid_size: int = 1024,
        weight_gradient: str = "auto",
        prune: str = "weights",
        finetune_fraction: float = 0.2,
        device: str = "cpu",
    ):
        self.lambdas = lambdas
        self.cv = cv
        self.scoring = scoring
        self.sparsest_within = sparsest_within
        self.n_jobs = n_jobs
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.r_init = r_init
        self.r_ramp = r_ramp
        self.tau_init = tau_init
        self.lr_r = lr_r
        self.lr_tau = lr_tau
        self.tau_min = tau_min
        self.kde_grid_size = kde_grid_size
        self.weight_gradient = weight_gradient
        self.prune = prune
        self.finetune_fraction = finetune_fraction
        self.device = device

    # The search's own parameters; every other one is the single estimator's.
    _SEARCH_PARAMETERS = ("lambdas", "cv", "scoring", "sparsest_within", "n_jobs")

    def _lambda_grid(self) -> np.ndarray:
        lambdas = self.lambdas
        if isinstance(lambdas, (int, np.integer)) and not isinstance(lambdas, bool):
            if lambdas < 1:
                raise ValueError(f"lambdas must be at least 1, got {lambdas}.")
            if lambdas == 1:
                return np.array([10.0])  # the single estimator's default
            return np.geomspace(*DEFAULT_LAMBDAS, int(lambdas))
        try:
            grid = np.asarray(lambdas, dtype=float).reshape(-1)
        except (TypeError, ValueError):
            raise ValueError(
                "lambdas must be an int (how many values, log-spaced from "
                f"{DEFAULT_LAMBDAS[0]} to {DEFAULT_LAMBDAS[1]}) or a sequence "
                f"of non-negative floats, got {lambdas!r}."
            ) from None
        if grid.size == 0 or not np.all(np.isfinite(grid)) or np.any(grid < 0):
            raise ValueError(
                "lambdas must hold at least one finite, non-negative value, "
                f"got {lambdas!r}."
            )
        return grid

    def _single_estimator(self):
        """The single estimator with this one's parameters (``lambda_`` is
        the search's, ``warm_start`` stays off)."""
        names = set(self._single._get_param_names()) - {"lambda_", "warm_start"}
        return self._single(**{name: getattr(self, name) for name in sorted(names)})

    def fit(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None):
        """Cross-validate every ``lambda_`` of ``lambdas``, then refit.

        The chosen ``lambda_`` is refit on all of ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The training input samples.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights of the fits (each fold's training rows' share of
            them), as the single estimator takes them; the folds are scored
            unweighted, as ``GridSearchCV`` scores them.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        if y is None:  # before the folds, which would fail on it less clearly
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y "
                "is None."
            )
        targets = np.asarray(y) if not hasattr(y, "toarray") else y.toarray()
        if targets.dtype.kind in "fc":  # before the folds' label handling
            assert_all_finite(targets, input_name="y")
        if self.sparsest_within is not None and not (
            isinstance(self.sparsest_within, (int, float, np.floating))
            and np.isfinite(self.sparsest_within)
            and self.sparsest_within >= 0
        ):
            raise ValueError(
                "sparsest_within must be None or a finite float >= 0 (how much "
                f"score may be given up for sparsity), got {self.sparsest_within!r}."
            )
        grid = self._lambda_grid()
        single = self._single_estimator()
        scoring = {
            "score": check_scoring(single, self.scoring),
            "sparsity": sparsity_scorer,
        }
        refit = "score"
        if self.sparsest_within is not None:
            refit = sparsest_within(float(self.sparsest_within), "score", "sparsity")
        search = GridSearchCV(
            single,
            {"lambda_": list(grid)},
            scoring=scoring,
            refit=refit,
            cv=self.cv,
            n_jobs=self.n_jobs,
            error_score="raise",
        )
        fit_params = {} if sample_weight is None else {"sample_weight": sample_weight}
        if self._stacks(X):
            results = self._stacked_search(search, X, y, sample_weight)
            if callable(refit):
                best = refit(results)
            else:
                best = results["rank_test_score"].argmin()
            self.best_index_ = int(best)
            self.estimator_ = clone(single).set_params(lambda_=grid[self.best_index_])
            self.estimator_.fit(X, y, **fit_params)
        else:
            search.fit(X, y, **fit_params)
            results = search.cv_results_
            self.best_index_ = int(search.best_index_)
            self.estimator_ = search.best_estimator_
        self.lambdas_ = grid
        self.cv_results_ = results
        self.lambda_ = float(grid[self.best_index_])
        self.best_score_ = float(results["mean_test_score"][self.best_index_])
        return self

    def _stacks(self, X) -> bool:
        """Whether the folds' fits train as stacked networks: a dense X, one
        process, and Adam's fused step in this torch."""
        return not sparse.issparse(X) and FUSED_ADAM and self.n_jobs in (None, 1)

    def _stacked_search(self, search, X, y, sample_weight) -> dict:
        """The search's ``cv_results_``, every ``(lambda_, fold)`` model
        trained in stacked networks (:func:`fit_stacked`): each is the
        single estimator's fit on its fold's training rows (to round-off:
        the batched products and losses sum in another order than the
        single ones), and scored on its test rows as ``GridSearchCV``
        scores it."""
        X, y, sample_weight = indexable(X, y, sample_weight)
        single = search.estimator
        single._check_params()  # what fit checks first
        cv = check_cv(search.cv, y, classifier=is_classifier(single))
        folds = list(cv.split(X, y))
        candidates = list(ParameterGrid(search.param_grid))
        fit_params = {} if sample_weight is None else {"sample_weight": sample_weight}
        # Each fold's rows once, shared by its fits (and their stack).
        training = [
            (
                safe_indexing(X, train),
                safe_indexing(y, train),
                method_params(X, fit_params, train).get("sample_weight"),
            )
            for train, _ in folds
        ]
        fits = []
        for params in candidates:
            for (X_train, y_train, weights), (_, test) in zip(training, folds):
                model = clone(single).set_params(**params)
                pending = model._begin_fit(X_train, y_train, weights, None, False)
                fits.append((model, pending, test))
        times = train_stacked([(model, pending) for model, pending, _ in fits])
        score_params = search_score_params(search, fit_params)
        out = []
        for (model, _, test), fit_time in zip(fits, times):
            X_test, y_test = safe_indexing(X, test), safe_indexing(y, test)
            test_params = method_params(X, score_params, test)
            start = time.perf_counter()
            scores = {
                name: scorer(model, X_test, y_test, **test_params)
                for name, scorer in search.scoring.items()
            }
            score_time = time.perf_counter() - start
            out.append(
                {"fit_time": fit_time, "score_time": score_time, "test_scores": scores}
            )
        return search_results(search, candidates, len(folds), out)

    def __getattr__(self, name: str):
        # The refit estimator's fitted attributes (coefs_, learned_sparsity_,
        # classes_, ...) read as this estimator's own.
        estimator = self.__dict__.get("estimator_")
        if estimator is not None and name.endswith("_") and not name.startswith("__"):
            try:
                return getattr(estimator, name)
            except AttributeError:
                pass
        raise AttributeError(
            f"{type(self).__name__!r} object has no attribute {name!r}"
        )

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predict with the refit estimator (the chosen ``lambda_``).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        y : ndarray
            The predictions.
        """
        check_is_fitted(self)
        return self.estimator_.predict(X)

    def to_torch(self) -> torch.nn.Sequential:
        """The refit network as a plain ``torch.nn.Sequential``.

        See the single estimator's ``to_torch``.

        Returns
        -------
        network : torch.nn.Sequential
            The compacted network.
        """
        check_is_fitted(self)
        return self.estimator_.to_torch()

    def save(self, path: str | os.PathLike) -> Path:
        """Save the refit estimator (the chosen ``lambda_``).

        ``sk_adaprune.load`` gives it back as the single estimator.

        Parameters
        ----------
        path : str or os.PathLike
            Where to write the archive.

        Returns
        -------
        path : pathlib.Path
            The archive written.
        """
        check_is_fitted(self)
        return self.estimator_.save(path)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        single = self._single().__sklearn_tags__()
        tags.input_tags = single.input_tags
        tags.target_tags = single.target_tags
        tags.non_deterministic = single.non_deterministic
        return tags


_CV_DOCSTRING = """{what}

    The single estimator's parameters and fitted state, with ``lambda_``
    chosen by cross-validation over ``lambdas`` (as RidgeCV chooses
    ``alpha``): every ``lambda_`` of the grid is fitted on every fold, the
    best one (or, with ``sparsest_within``, the sparsest one whose mean score
    is within that much of the best) is refit on all the data, and the
    estimator then predicts, scores, saves and exports as that fit.

    The fits of all folds and values train together as one stacked network
    (for networks of up to 2^19 weights; larger ones one after another),
    each model the fit ``GridSearchCV`` over the single estimator would
    make (to round-off: the batched products and losses sum in another
    order than the single ones, which a long fit can grow), at a fraction
    of that search's time on small data sets.

    Parameters
    ----------
    lambdas : int or sequence of float, default=7
        The values of ``lambda_`` to try, or how many, log-evenly spaced from
        0.3 to 300 (the range that moves the learned sparsity from light to
        heavy pruning on the benchmarks' sets).
    cv : int, cross-validation generator or iterable, default=5
        As ``GridSearchCV``'s ``cv`` ({folds}).
    scoring : str or callable, default=None
        How the folds are scored, as ``GridSearchCV``'s; None: the estimator's
        ``score`` ({score}).
    sparsest_within : float >= 0, default=None
        If given, choose the sparsest ``lambda_`` whose mean score is within
        this much of the best one (e.g. 0.01: one point of accuracy), the
        rule of ``sk_adaprune.model_selection.sparsest_within``; None: the
        best mean score.
    n_jobs : int, default=None
        None or 1: the models of all folds and values train together as
        stacked networks in this process. More: they train one after
        another on ``n_jobs`` workers, as ``GridSearchCV``'s ``n_jobs``.
    <CV_PARAMETERS_BEFORE_EARLY_STOPPING>
    early_stopping : bool, default=False
        As the single estimator's ``early_stopping``.
    <CV_PARAMETERS_AFTER_EARLY_STOPPING>

    Attributes
    ----------
    lambda_ : float
        The chosen ``lambda_``.
    lambdas_ : ndarray of shape (n_lambdas,)
        The grid searched.
    cv_results_ : dict of ndarray
        ``GridSearchCV``'s results: per ``lambda_`` the folds' scores
        (``split0_test_score``, ...) and learned sparsities
        (``split0_test_sparsity``, ...), their means, standard deviations and
        ranks, and the fit and score times (a stacked model's fit time is its
        share of its stack's).
    best_index_ : int
        Index of the chosen ``lambda_`` in ``lambdas_`` and ``cv_results_``.
    best_score_ : float
        Its mean score over the folds.
    estimator_ : {single}
        The chosen ``lambda_`` refit on all the data. Its fitted attributes
        (``coefs_``, ``learned_sparsity_``, ``n_features_in_``, ...) read as
        this estimator's own.

    See Also
    --------
    {single} : The single estimator.
    sk_adaprune.model_selection.sparsest_within : The same refit rule for
        ``GridSearchCV``.

    Examples
    --------
    >>> from sklearn.datasets import {data}
    >>> from sk_adaprune import {name}
    >>> X, y = {data}(return_X_y=True)
    >>> model = {name}(lambdas=[1.0, 30.0], cv=2, max_iter=5).fit(X, y)
    >>> float(model.lambda_) in (1.0, 30.0)
    True
"""


@fill_docstring
class AdaptivePrunedMLPClassifierCV(ClassifierMixin, _BaseAdaptivePrunedMLPCV):
    __doc__ = _CV_DOCSTRING.format(
        what="AdaptivePrunedMLPClassifier, ``lambda_`` chosen by cross-validation.",
        folds="an int: stratified folds",
        score="accuracy",
        single="AdaptivePrunedMLPClassifier",
        name="AdaptivePrunedMLPClassifierCV",
        data="load_iris",
    )
    _single = AdaptivePrunedMLPClassifier

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Class probabilities of the refit estimator.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            The probabilities, columns in the order of ``classes_``.
        """
        check_is_fitted(self)
        return self.estimator_.predict_proba(X)

    def predict_log_proba(self, X: ArrayLike) -> np.ndarray:
        """Log of the class probabilities of the refit estimator.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            The log-probabilities, columns in the order of ``classes_``.
        """
        check_is_fitted(self)
        return self.estimator_.predict_log_proba(X)


@fill_docstring
class AdaptivePrunedMLPRegressorCV(RegressorMixin, _BaseAdaptivePrunedMLPCV):
    __doc__ = _CV_DOCSTRING.format(
        what="AdaptivePrunedMLPRegressor, ``lambda_`` chosen by cross-validation.",
        folds="an int: unshuffled folds",
        score="R^2",
        single="AdaptivePrunedMLPRegressor",
        name="AdaptivePrunedMLPRegressorCV",
        data="load_diabetes",
    )
    _single = AdaptivePrunedMLPRegressor
