"""Machinery shared by the classifier and the regressor."""

import copy
import math
import os
import sys
import time
import warnings
from abc import ABCMeta, abstractmethod
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from numbers import Integral, Real
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from scipy import sparse
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data
from skorch.callbacks import ProgressBar
from skorch.dataset import Dataset
from skorch.helper import predefined_split

from ._auto import SETTLE_STEPS, schedule, settle_tolerance, steps_of
from ._fitted import (
    FittedNetwork,
    continue_records,
    fitted_state,
    load_into,
    restore_fitted_state,
    trained_attributes,
)
from ._inference import checked_for_predict, compact_network, torch_sequential
from ._method.mask import WEIGHT_GRADIENTS
from ._module import (
    HIDDEN_ACTIVATIONS,
    PRUNE_TARGETS,
    RATIO_CEILING,
    SoftMaskedMLP,
)
from ._persistence import write_archive
from ._sklearn_private import (
    Interval,
    Options,
    StrOptions,
    check_parameters,
    check_sample_weight,
)
from ._training.callbacks import DivergenceGuard, PruningMonitor, StoppingRule
from ._training.cpu import subnormals_flushed, threads_for_this_process
from ._training.net import BatchIterator, PruningNet
from ._training.optim import FusedAdam
from ._training.stacked import StackedData, fit_stacked

_SEED_BOUND = np.iinfo(np.int32).max
# The dtypes training computes in: X's, as validated.
_TORCH_DTYPES = {
    np.dtype(np.float32): torch.float32,
    np.dtype(np.float64): torch.float64,
}
# Adam's fused CPU kernel (torch >= 2.4) does a step in one pass.
FUSED_ADAM = torch.torch_version.TorchVersion(torch.__version__) >= "2.4"
# Inputs larger than this in magnitude get advice to standardise them.
_LARGE_INPUT = 1e3


def _rows_with_weight(X, y, sample_weight, at_least=2):
    """``sample_weight`` checked (one finite, non-negative weight per row,
    not all zero), and the rows of weight zero dropped: a zero weight is
    exactly a row left out, in the batches and in the early-stopping split."""
    sample_weight = check_sample_weight(
        sample_weight, X, dtype=np.float64, ensure_non_negative=True
    )
    kept = sample_weight > 0
    if not kept.any():
        raise ValueError(
            "sample_weight is zero for every sample; at least one must be positive."
        )
    if kept.all():
        return X, y, sample_weight
    if kept.sum() < at_least:
        raise ValueError(
            "sample_weight is positive for only one sample; fitting needs at "
            f"least {at_least} samples of positive weight."
        )
    return X[kept], y[kept], sample_weight[kept]


class _PendingFit(NamedTuple):
    """A fit ready to train (``BaseAdaptivePrunedMLP._begin_fit``): its net,
    training data, and what its fitted attributes need after training."""

    net: PruningNet
    X: object  # the training rows, in the training dtype
    y_train: np.ndarray
    sample_weight: np.ndarray | None
    incremental: bool
    stream: tuple | None
    start: FittedNetwork | None
    held_out: Dataset | None
    initial_ratio: float | None


class BaseAdaptivePrunedMLP(BaseEstimator, metaclass=ABCMeta):
    """Base class of the learned-ratio pruning MLPs. Do not use directly."""

    _parameter_constraints: dict = {
        "hidden_layer_sizes": [
            "array-like",
            Interval(Integral, 1, None, closed="left"),
        ],
        "activation": [StrOptions(set(HIDDEN_ACTIVATIONS))],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
        ],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [
            Interval(Integral, 1, None, closed="left"),
            Options(Real, {np.inf}),
        ],
        "r_init": [StrOptions({"auto"}), Interval(Real, 0, 1, closed="left")],
        "r_ramp": [StrOptions({"auto"}), tuple, None],
        "tau_init": [Interval(Real, 0, None, closed="neither")],
        "lambda_": [Interval(Real, 0, None, closed="left")],
        "lr_r": [Interval(Real, 0, None, closed="left")],
        "lr_tau": [Interval(Real, 0, None, closed="left")],
        "tau_min": [Interval(Real, 0, None, closed="neither")],
        "kde_grid_size": [Interval(Integral, 16, None, closed="left")],
        "weight_gradient": [StrOptions({"auto", *WEIGHT_GRADIENTS})],
        "prune": [StrOptions(set(PRUNE_TARGETS))],
        "finetune_fraction": [Interval(Real, 0, 1, closed="left")],
        "warm_start": ["boolean"],
        "device": [str],
    }

    def __init__(
        self,
        hidden_layer_sizes: Sequence[int] | int = (100,),
        activation: str = "relu",
        *,
        alpha: float = 1e-4,
        batch_size: int | str = "auto",
        learning_rate_init: float = 1e-3,
        max_iter: int = 200,
        shuffle: bool = True,
        random_state: int | np.random.RandomState | None = None,
        tol: float = 1e-4,
        verbose: bool | int = False,
        warm_start: bool = False,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        n_iter_no_change: int | float = 10,
        r_init: float | str = "auto",
        r_ramp: tuple[float, float] | str | None = "auto",
        tau_init: float = 1e-2,
        lambda_: float = 10.0,
        lr_r: float = 1e-3,
        lr_tau: float = 1e-6,
        tau_min: float = 1e-6,
        kde_grid_size: int = 1024,
        weight_gradient: str = "auto",
        prune: str = "weights",
        finetune_fraction: float = 0.2,
        device: str = "cpu",
    ):
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
        self.warm_start = warm_start
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.r_init = r_init
        self.r_ramp = r_ramp
        self.tau_init = tau_init
        self.lambda_ = lambda_
        self.lr_r = lr_r
        self.lr_tau = lr_tau
        self.tau_min = tau_min
        self.kde_grid_size = kde_grid_size
        self.weight_gradient = weight_gradient
        self.prune = prune
        self.finetune_fraction = finetune_fraction
        self.device = device

    # -- what the subclasses define ------------------------------------------

    @abstractmethod
    def _encode_targets(self, y, classes=None):
        """Validate ``y`` for the task; set target attributes; return
        ``(y_for_training, y_for_scoring, scoring)``, ``scoring(outputs,
        y_for_scoring)`` the held-out score of early stopping. ``classes``
        (classifier, partial_fit): all the classes, of which ``y`` may hold
        some."""

    @abstractmethod
    def _criterion(self):
        """The task loss as a torch module class."""

    @abstractmethod
    def _check_continued_targets(self, y, fitted, subset):
        """Raise if ``y`` does not fit the ``fitted`` network a fit goes on
        from; ``subset`` (partial_fit): ``y`` may hold some of the classes."""

    # Whether y must be numeric (validate_data's y_numeric).
    _numeric_targets = True

    def _check_classes_argument(self, classes, first_call) -> None:
        """Check partial_fit's ``classes`` (the classifier has them)."""

    def _stratify(self, y):
        """The labels the early-stopping split is stratified by, or None."""
        return None

    # -- fitting ---------------------------------------------------------------

    def __sklearn_is_fitted__(self):
        # ``lambda_`` ends with an underscore, so the default check would
        # mistake every estimator for a fitted one.
        return hasattr(self, "coefs_")

    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = list(sizes) if hasattr(sizes, "__iter__") else [sizes]
        if not sizes:
            raise ValueError("hidden_layer_sizes must hold at least one layer, got ().")
        if any(not isinstance(s, Integral) or s <= 0 for s in sizes):
            raise ValueError(
                "hidden_layer_sizes must be positive integers, "
                f"got {self.hidden_layer_sizes}."
            )
        return [int(s) for s in sizes]

    def _torch_device(self):
        try:
            device = torch.device(self.device)
        except (RuntimeError, TypeError) as error:
            raise ValueError(
                f"device={self.device!r} is not a torch device; use 'cpu' or 'cuda'."
            ) from error
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(
                f"device={self.device!r} was requested but CUDA is not available "
                "on this machine; use device='cpu'."
            )
        return device

    @contextmanager
    def _all_or_nothing(self) -> Iterator[None]:
        """A fit as a transaction: if it raises (bad input, divergence in the
        first epoch, an interrupt before one epoch ended), the estimator is
        what it was before the call, fitted attributes and all.

        A fit replaces attributes and never changes their values in place, so
        the attributes as they were are all it takes to undo it; a
        ``partial_fit`` stream that failed midway is dropped, and the next
        call goes on from the fitted attributes.
        """
        before = dict(self.__dict__)
        try:
            yield
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            if self.__dict__.get("_partial_stream_") is not None:
                self._partial_stream_ = None
            raise

    def _fit(self, X, y, sample_weight=None, classes=None, incremental=False):
        """``fit`` (a new network, or with ``warm_start`` the fitted one going
        on) and ``partial_fit`` (``incremental``: one epoch, the network
        going on from the last call), as one transaction."""
        with threads_for_this_process(), subnormals_flushed(), self._all_or_nothing():
            return self._fit_on_this_process(X, y, sample_weight, classes, incremental)

    def _fit_on_this_process(self, X, y, sample_weight, classes, incremental):
        pending = self._begin_fit(X, y, sample_weight, classes, incremental)
        net = pending.net
        epochs_before = len(net.history or ())  # None before a fit initializes it
        self._train(
            net,
            pending.X,
            pending.y_train,
            pending.sample_weight,
            net.partial_fit if incremental else net.fit,
        )
        self._check_trained(net, epochs_before)
        return self._end_fit(pending)

    def _begin_fit(self, X, y, sample_weight, classes, incremental) -> "_PendingFit":
        """Everything ``fit`` and ``partial_fit`` do before training: the
        data checked, the schedule, the net (or the stream's) to train."""
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        hidden_sizes = self._hidden_sizes()
        device = self._torch_device()
        # partial_fit's calls after the first go on with the (net, fitted
        # network it went on from or None) of the calls so far; fit, pickles
        # and archives end it (a later call goes on from the fitted
        # attributes, with a new Adam).
        stream = getattr(self, "_partial_stream_", None) if incremental else None
        continues = hasattr(self, "coefs_") and (incremental or self.warm_start)
        fitted = FittedNetwork.of(self) if continues else None
        if incremental:
            self._check_classes_argument(classes, first_call=fitted is None)
        # One sample has no spread to learn from (and no class balance), but a
        # stream's chunk may hold one; going on checks X against the fitted
        # features.
        X, y, sample_weight = self._validate(
            X, y, sample_weight, 1 if incremental else 2, reset=fitted is None
        )
        if fitted is not None:  # before _encode_targets sets the targets anew
            fitted.check(hidden_sizes, at_most=self.prune == "neurons")
            self._check_continued_targets(y, fitted, subset=incremental)
            # Pruned units are gone from coefs_: the fit goes on with the rest.
            hidden_sizes = fitted.hidden_sizes
            if incremental:
                classes = fitted.classes
        X = _in_training_dtype(X, fitted)
        y_train, y_score, scoring = self._encode_targets(y, classes=classes)
        if not incremental:  # a stream would hear it at every chunk
            _advise_on_scale(X)

        if stream is None:
            rng = check_random_state(self.random_state)
            # The module draws its weights from a copy of rng as it stands,
            # as MLPClassifier's first draws: the same initial network.
            init_seed = copy.deepcopy(rng)
            shuffle_seed, split_seed = rng.randint(_SEED_BOUND, size=2)
        held_out = valid_weight = None
        if self.early_stopping:
            X, y_train, sample_weight, held_out, valid_weight = self._held_out(
                X, y, y_train, y_score, sample_weight, split_seed
            )
        batch_size = self._batch_size(X.shape[0])

        if stream is None:
            if incremental:  # one epoch a call: no phase, no stopping rule
                steps, max_epochs, finetune_epochs = None, 1, 0
                stopping_rule = StoppingRule(np.inf, np.inf)
            else:
                steps = steps_of(self.max_iter, X.shape[0], batch_size)
                max_epochs = self.max_iter
                # At least one epoch prunes: the fraction is below 1.
                finetune_epochs = math.floor(self.finetune_fraction * self.max_iter)
                stopping_rule = StoppingRule(
                    self.tol, self.n_iter_no_change, scoring, sample_weight=valid_weight
                )
            plan = schedule(self, steps, None if fitted is None else fitted.ratio)
            net = self._build_net(
                n_features=X.shape[1],
                hidden_sizes=hidden_sizes,
                device=device,
                dtype=X.dtype,
                seeds=(init_seed, shuffle_seed),
                batch_size=batch_size,
                schedule=plan,
                start_from=fitted,
                max_epochs=max_epochs,
                finetune_epochs=finetune_epochs,
                stopping_rule=stopping_rule,
                held_out=held_out,
            )
            if incremental:
                net.initialize()
                stream = (net, fitted)
        if incremental:  # the stream's net, and the fitted network it began from
            net, start = stream
            net.set_params(batch_size=batch_size)
        else:
            start = fitted
        return _PendingFit(
            net,
            X,
            y_train,
            sample_weight,
            incremental,
            stream,
            start,
            held_out,
            None if incremental else plan.initial_ratio,
        )

    def _end_fit(self, pending: "_PendingFit"):
        """The fitted attributes of the trained ``pending`` fit."""
        net, incremental, start = pending.net, pending.incremental, pending.start
        self._partial_stream_ = pending.stream
        self._set_fitted_attributes(
            net, early_stopping=pending.held_out is not None, harden=not incremental
        )
        # The r the network started from (a stream's first call's).
        self.initial_ratio_ = (
            net.initial_ratio_ if incremental else pending.initial_ratio
        )
        if incremental:
            self.n_iter_ = 1  # as MLPClassifier's partial_fit: the call's epochs
        if start is not None:
            continue_records(self, start)
        self._warn_about_training(net, reached_max_iter=not incremental)
        return self

    def _held_out(self, X, y, y_train, y_score, sample_weight, seed):
        """Early stopping's split: the training rows ``(X, y_train,
        sample_weight)``, and the held-out rows as a skorch ``Dataset`` of
        ``y_score`` with their weights."""
        train_rows, valid_rows = train_test_split(
            np.arange(X.shape[0]),
            random_state=seed,
            test_size=self.validation_fraction,
            stratify=self._stratify(y),
        )
        if valid_rows.size < 2:
            raise ValueError(
                "The validation set is too small. Increase 'validation_fraction' "
                "or the size of your dataset."
            )
        held_out = Dataset(_as_tensor(X[valid_rows], dense=True), y_score[valid_rows])
        valid_weight = None
        if sample_weight is not None:
            valid_weight = sample_weight[valid_rows]
            sample_weight = sample_weight[train_rows]
        return X[train_rows], y_train[train_rows], sample_weight, held_out, valid_weight

    def _validate(self, X, y, sample_weight, min_samples, reset):
        """X and y checked as MLPClassifier checks them, and the rows of
        positive weight (at least ``min_samples``) with their weights."""
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            y_numeric=self._numeric_targets,
            dtype=(np.float64, np.float32),
            ensure_min_samples=min_samples,
            reset=reset,
        )
        if sample_weight is not None:
            X, y, sample_weight = _rows_with_weight(X, y, sample_weight, min_samples)
        return X, y, sample_weight

    def _batch_size(self, n_samples) -> int:
        """``batch_size``, or ``min(200, n_samples)`` for 'auto', clipped."""
        if self.batch_size == "auto":
            return min(200, n_samples)
        if self.batch_size > n_samples:
            _warn(
                "Got `batch_size` less than 1 or larger than sample size. "
                "It is going to be clipped",
            )
        return int(np.clip(self.batch_size, 1, n_samples))

    def _build_net(
        self,
        *,
        n_features,
        hidden_sizes,
        device,
        dtype,
        seeds,
        batch_size,
        schedule,
        start_from,
        max_epochs,
        finetune_epochs,
        stopping_rule,
        held_out,
    ) -> PruningNet:
        """The skorch net a fit trains, with this estimator's parameters."""
        init_seed, shuffle_seed = seeds
        return PruningNet(
            SoftMaskedMLP,
            self._criterion(),
            module__n_features=n_features,
            module__hidden_layer_sizes=hidden_sizes,
            module__n_outputs=self.n_outputs_,
            module__activation=self.activation,
            module__r_init=schedule.initial_ratio,
            module__tau_init=self.tau_init,
            module__kde_grid_size=self.kde_grid_size,
            module__weight_gradient=schedule.weight_gradient,
            module__seed=init_seed,
            module__dtype=_TORCH_DTYPES[dtype],
            module__prune=self.prune,
            sparsity_penalty=self.lambda_,
            alpha=self.alpha,
            lr_r=self.lr_r,
            lr_tau=self.lr_tau,
            tau_min=self.tau_min,
            finetune_epochs=finetune_epochs,
            settle_tolerance=settle_tolerance(self.lr_r),
            settle_steps=SETTLE_STEPS,
            ratio_ramp=schedule.ratio_ramp,
            start_from=(
                None if start_from is None else partial(load_into, fitted=start_from)
            ),
            # The same steps as torch.optim.Adam(fused=True), without
            # torch.optim's import of torch._dynamo in every process.
            optimizer=FusedAdam if FUSED_ADAM else torch.optim.Adam,
            lr=self.learning_rate_init,
            optimizer__betas=(self.beta_1, self.beta_2),
            optimizer__eps=self.epsilon,
            optimizer__fused=FUSED_ADAM,
            max_epochs=max_epochs,
            batch_size=batch_size,
            iterator_train=BatchIterator,
            iterator_train__shuffle=self.shuffle,
            shuffle_seed=int(shuffle_seed),
            # The held-out set, if any, in one batch: the forward pass the
            # stopping rule scores.
            iterator_valid=BatchIterator,
            iterator_valid__batch_size=-1,
            train_split=None if held_out is None else predefined_split(held_out),
            callbacks=[
                ("pruning", PruningMonitor()),
                ("divergence", DivergenceGuard()),
                ("stopping", stopping_rule),
            ]
            + ([("progress", ProgressBar())] if self.verbose >= 2 else []),
            device=device,
            verbose=self.verbose,
        )

    def _train(self, net, X, y_train, sample_weight, train) -> None:
        """``train(X, y)`` (the net's ``fit`` or ``partial_fit``) on X (in
        the module's dtype), with the rows' weights for this call only."""
        X_train, y_train, net.sample_weight = _training_tensors(
            X, y_train, sample_weight
        )
        train(X_train, y_train)
        # The fitted net keeps neither the data's weights nor the start.
        net.sample_weight = net.start_from = None

    def _check_trained(self, net, epochs_before) -> None:
        """Refuse a fit that diverged in its first epoch, or that was
        interrupted before the call's first epoch ended."""
        guard = dict(net.callbacks_)["divergence"]
        if guard.diverged_ is not None and guard.healthy_epochs_ == 0:
            epoch, loss = guard.diverged_
            raise ValueError(
                # MLPClassifier's words first, for code that matches them.
                "Solver produced non-finite parameter weights. The input data may "
                "contain large values and need to be preprocessed. Training "
                f"diverged in the first epoch (loss {loss:.3g}). Lower "
                f"learning_rate_init (now {self.learning_rate_init}) or standardise "
                "X, e.g. make_pipeline(StandardScaler(), estimator)."
            )
        if not any("sparsity" in epoch for epoch in net.history[epochs_before:]):
            # skorch ends training quietly on an interrupt; before the call's
            # first epoch ended there is no new model to keep.
            raise KeyboardInterrupt

    def _check_params(self) -> None:
        """Every check of the parameters alone, as ``fit`` makes them before
        it touches the data (``load`` makes them too)."""
        check_parameters(self)
        self._hidden_sizes()
        self._ratio_ramp()

    def _ratio_ramp(self):
        """``r_ramp`` checked: ``'auto'``, None or ``(begin, end)``."""
        ramp = self.r_ramp
        if ramp == "auto" or ramp is None:
            return ramp
        ramp = tuple(ramp)
        if not (
            len(ramp) == 2
            and all(isinstance(f, Real) and not isinstance(f, bool) for f in ramp)
            and 0 <= ramp[0] < ramp[1] <= 1
        ):
            raise ValueError(
                "r_ramp must be None or (begin, end) with 0 <= begin < end <= 1, "
                f"got {self.r_ramp!r}."
            )
        return ramp

    def _warn_about_training(self, net, reached_max_iter=True):
        callbacks = dict(net.callbacks_)
        guard, stopping_rule = callbacks["divergence"], callbacks["stopping"]
        if self.learned_ratio_ >= RATIO_CEILING - 1e-6:
            _warn(
                f"The pruning ratio r reached its ceiling ({RATIO_CEILING}): "
                f"{self.learned_sparsity_:.2%} of the weights were pruned. Lower "
                f"lambda_ (now {self.lambda_}) or lr_r (now {self.lr_r}).",
                ConvergenceWarning,
            )
        if guard.diverged_ is not None:
            epoch, loss = guard.diverged_
            _warn(
                f"Training diverged in epoch {epoch} (loss {loss:.3g}); the weights "
                f"of epoch {guard.healthy_epochs_} were restored. Lower "
                f"learning_rate_init (now {self.learning_rate_init}) or standardise X.",
                ConvergenceWarning,
            )
        elif stopping_rule.stopped_ or not reached_max_iter:
            return
        elif self.n_iter_ < self.max_iter:
            _warn("Training interrupted by user.")
        else:
            _warn(
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached "
                "and the optimization hasn't converged yet.",
                ConvergenceWarning,
            )

    def _set_fitted_attributes(self, net, early_stopping, harden=True):
        """The fitted attributes of the trained ``net``. ``harden=False``
        (partial_fit): they describe the hard mask at the current ``r``
        while the module stays soft, with its gradients and Adam's moments,
        for the next call."""
        for name, value in trained_attributes(net, early_stopping, harden).items():
            setattr(self, name, value)
        self.net_ = net
        # Shares of the network hidden_layer_sizes describes: weights of
        # removed units count as pruned (a warm start goes on with fewer).
        hidden = np.array(self._hidden_sizes())
        layers = [self.n_features_in_, *hidden, self.n_outputs_]
        sizes = np.array([a * b for a, b in zip(layers, layers[1:])])
        zeros = sizes - np.array([np.count_nonzero(c) for c in self.coefs_])
        self.layer_sparsity_ = zeros / sizes
        self.learned_sparsity_ = float(zeros.sum() / sizes.sum())
        self._compact()
        self.unit_sparsity_ = 1.0 - np.array(self.compact_.layer_sizes[1:-1]) / hidden
        if harden:
            # The pruned network is all that predictions need; Adam's moments
            # and the last step's gradients would each hold the weights again.
            net.optimizer_.state.clear()
            net.module_.zero_grad(set_to_none=True)

    def _compact(self):
        self.compact_ = compact_network(
            self.coefs_, self.intercepts_, self.activation, self.out_activation_
        )
        self.used_features_ = self.compact_.used_features

    # -- prediction ------------------------------------------------------------

    def _forward_pass_fast(self, X):
        """Output-layer activations of the compacted network."""
        check_is_fitted(self)
        X = checked_for_predict(self, X)
        # As MLPClassifier: X's and the weights' dtypes promoted.
        return self.compact_.forward(X, np.result_type(X.dtype, self.coefs_[0].dtype))

    @property
    def sparse_coefs_(self) -> list[sparse.csr_matrix]:
        """``coefs_`` as scipy CSR matrices (only the non-zero weights)."""
        check_is_fitted(self)
        return [sparse.csr_matrix(coef) for coef in self.coefs_]

    def to_torch(self) -> torch.nn.Sequential:
        """Export the compacted network as a plain ``torch.nn.Sequential``.

        It takes all ``n_features_in_`` columns (unused ones have zero weights)
        and ends in the output activation, so its outputs are the
        probabilities of ``predict_proba`` (for a binary target, the
        probability of ``classes_[1]`` only) or the regression predictions.
        It does not depend on this package.

        Returns
        -------
        torch.nn.Sequential
            ``Linear`` layers (in ``coefs_``' dtype, on the CPU) with the hidden
            activation between them and the output activation last.
        """
        check_is_fitted(self)
        return torch_sequential(
            self.compact_.coefs,
            self.compact_.intercepts,
            self.activation,
            self.out_activation_,
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Write the fitted estimator to ``path`` without pickle.

        A compressed numpy archive of the non-zero weights (CSR in their
        dtype, with narrow indices), the parameters and the fitted
        attributes; read it back with :func:`sk_adaprune.load`.

        Parameters
        ----------
        path : str or path-like
            The file to write, as given (``.npz`` by convention; nothing is
            appended). A ``RandomState`` instance as ``random_state`` is
            saved as None.

        Returns
        -------
        pathlib.Path
            The path written.
        """
        check_is_fitted(self)
        return write_archive(
            path, type(self).__name__, self.get_params(), fitted_state(self)
        )

    def __getstate__(self):
        state = dict(super().__getstate__())  # may be the live __dict__
        if "coefs_" in state:
            # Compact pickles: the fitted state in save()'s schema (the pruned
            # weights as sparse matrices), no training state, no derived network.
            params = self.get_params(deep=False)
            state = {
                name: value
                for name, value in state.items()
                if name in params
                or not (name.endswith("_") or name == "_label_binarizer")
            }
            state["_fitted_state"] = fitted_state(self)
        return state

    def __setstate__(self, state):
        state = dict(state)
        fitted = state.pop("_fitted_state", None)
        super().__setstate__(state)
        if fitted is not None:
            restore_fitted_state(self, fitted)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


def _warn(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` attributed to the caller's line: the first frame
    outside this package and scikit-learn (whose decorators wrap ``fit``)."""
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_globals.get("__name__", "").startswith(
        ("sk_adaprune.", "sklearn.")
    ):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


def _advise_on_scale(X):
    values = X.data if sparse.issparse(X) else X
    # max(max, -min) needs no temporary the size of X.
    largest = max(values.max(), -values.min()) if values.size else 0.0
    if largest > _LARGE_INPUT:
        _warn(
            f"X has values up to {largest:.3g} in magnitude; neural networks train "
            "poorly on unscaled features. Standardise them, e.g. "
            "make_pipeline(StandardScaler(), estimator).",
            UserWarning,
        )


def _in_training_dtype(X, fitted):
    """``X`` in the dtype training computes in: X's own, as MLPClassifier's,
    or the ``fitted`` network's that a fit goes on from."""
    return X.astype(X.dtype if fitted is None else fitted.dtype, copy=False)


# Models of more weights than this train one after another: a stacked step
# of larger ones is bound by arithmetic and memory traffic, not by the fixed
# costs it shares (benchmarks/results/cv_speed_sizes.md: a stack of 269k
# weights a model takes 0.84 of the time of its fits one after another, of
# 669k 1.04).
_STACKED_MODEL_WEIGHTS = 2**19
# A stack holds at most this many weights in all (its parameters, gradients,
# Adam's moments and masks are a few arrays of this size) and this many
# training values, counted model by model (a fold's rows are held once).
_STACK_WEIGHTS = 2**22
_STACK_VALUES = 2**25
# What stacked models must share: their modules' shape and arithmetic.
_STACKED_ALIKE = (
    "n_features",
    "hidden_layer_sizes",
    "n_outputs",
    "activation",
    "kde_grid_size",
    "weight_gradient",
    "dtype",
    "prune",
)


def train_stacked(fits: list) -> list[float]:
    """Train the pending fits (``(estimator, pending)`` pairs from
    ``_begin_fit``) in stacked networks (:func:`fit_stacked`), as many as
    share a shape and fit in the stack's bounds together (models past
    ``_STACKED_MODEL_WEIGHTS`` alone), and finish each as ``fit`` does:
    every estimator ends as its own ``fit`` would leave it (to round-off:
    the batched products and losses reduce in another order than the single
    ones). Returns each fit's share of its stack's wall time."""
    alike = defaultdict(list)
    for i, (_, pending) in enumerate(fits):
        net = pending.net
        module = net.get_params_for("module")
        key = tuple(repr(module[name]) for name in _STACKED_ALIKE)
        alike[key + (net.max_epochs, str(net.device))].append(i)
    times = [0.0] * len(fits)
    with threads_for_this_process(), subnormals_flushed():
        for indices in alike.values():
            size = _stack_size(fits[indices[0]][1])
            for start in range(0, len(indices), size):
                chunk = [fits[i] for i in indices[start : start + size]]
                began = time.perf_counter()
                if len(chunk) > 1:
                    fit_stacked(
                        [pending.net for _, pending in chunk],
                        [
                            StackedData(
                                *_training_tensors(
                                    pending.X, pending.y_train, pending.sample_weight
                                ),
                                pending.held_out,
                            )
                            for _, pending in chunk
                        ],
                    )
                for estimator, pending in chunk:
                    net = pending.net
                    if len(chunk) == 1:  # alone: the estimator's own training
                        estimator._train(
                            net,
                            pending.X,
                            pending.y_train,
                            pending.sample_weight,
                            net.fit,
                        )
                    net.sample_weight = net.start_from = None
                    estimator._check_trained(net, 0)
                    estimator._end_fit(pending)
                share = (time.perf_counter() - began) / len(chunk)
                for i in indices[start : start + size]:
                    times[i] = share
    return times


def _stack_size(pending) -> int:
    """How many fits like ``pending`` one stack takes."""
    module = pending.net.get_params_for("module")
    sizes = [module["n_features"], *module["hidden_layer_sizes"], module["n_outputs"]]
    weights = sum(a * b for a, b in zip(sizes, sizes[1:]))
    if weights > _STACKED_MODEL_WEIGHTS:
        return 1
    values = max(pending.X.shape[0] * pending.X.shape[1], 1)
    return max(1, min(_STACK_WEIGHTS // weights, _STACK_VALUES // values))


def _training_tensors(X, y_train, sample_weight):
    """What training reads: X as a tensor (a sparse X as CSR, densified a
    batch at a time), the targets (floats in X's dtype) and the rows'
    weights in X's dtype, or None."""
    dtype = _TORCH_DTYPES[X.dtype]
    X_train = X.tocsr() if sparse.issparse(X) else _as_tensor(X)
    if sample_weight is not None:
        sample_weight = torch.as_tensor(sample_weight, dtype=dtype)
    y_train = torch.as_tensor(y_train)
    if y_train.is_floating_point():  # indicators and regression targets
        y_train = y_train.to(dtype)
    return X_train, y_train, sample_weight


def _as_tensor(X, dense=False):
    """Tensor of ``X`` in its dtype, sharing its memory where it can.

    Training never writes into it; read-only arrays (e.g. memory maps) are
    copied, since torch cannot wrap them.
    """
    if sparse.issparse(X):
        X = X.toarray() if dense else X
    X = np.asarray(X)
    if X.flags.c_contiguous and X.flags.writeable:
        return torch.from_numpy(X)
    return torch.tensor(X)
