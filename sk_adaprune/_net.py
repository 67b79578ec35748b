"""The skorch side: loss with the sparsity regulariser, clamps, per-epoch records."""

import math
import os
import sys

import numpy as np
import torch
from sklearn.metrics import accuracy_score, r2_score
from skorch import NeuralNet
from skorch.callbacks import Callback, PrintLog
from skorch.dataset import unpack_data
from skorch.utils import TeeGenerator, to_tensor
from torch import nn

from ._history import EpochHistory
from ._threshold import NonFiniteWeightsError

__all__ = [
    "BatchIterator",
    "BatchMeans",
    "BinaryLogLoss",
    "DivergenceGuard",
    "HalfSquaredError",
    "PruningMonitor",
    "PruningNet",
    "SoftmaxLogLoss",
    "StoppingRule",
    "argmax_accuracy",
    "outputs_r2",
    "sign_accuracy",
]


def _weighted_mean(per_sample: torch.Tensor, sample_weight: torch.Tensor):
    """``sum_i w_i l_i / sum_i w_i``: scikit-learn's weighted losses
    (``np.average`` over the batch's rows)."""
    return torch.dot(per_sample, sample_weight) / sample_weight.sum()


class HalfSquaredError(nn.Module):
    """``mean((y - y_pred)^2) / 2``, MLPRegressor's training loss; with
    ``sample_weight``, the weighted mean over rows of the mean over outputs."""

    def forward(
        self, y_pred: torch.Tensor, y_true: torch.Tensor, sample_weight=None
    ) -> torch.Tensor:
        if sample_weight is None:
            return 0.5 * torch.mean((y_pred - y_true) ** 2)
        per_row = torch.mean((y_pred - y_true) ** 2, dim=1)
        return 0.5 * _weighted_mean(per_row, sample_weight)


class SoftmaxLogLoss(nn.Module):
    """Cross-entropy of softmax logits, MLPClassifier's multiclass loss;
    with ``sample_weight``, the weighted mean over rows."""

    def forward(
        self, logits: torch.Tensor, y_true: torch.Tensor, sample_weight=None
    ) -> torch.Tensor:
        if sample_weight is None:
            return nn.functional.cross_entropy(logits, y_true)
        per_row = nn.functional.cross_entropy(logits, y_true, reduction="none")
        return _weighted_mean(per_row, sample_weight)


class BinaryLogLoss(nn.Module):
    """Logistic log loss summed over outputs, averaged over samples (with
    ``sample_weight``: their weighted mean).

    MLPClassifier's loss for binary and multilabel targets, on logits.
    """

    def forward(
        self, logits: torch.Tensor, y_true: torch.Tensor, sample_weight=None
    ) -> torch.Tensor:
        # Held-out targets keep their integer indicators; training's are float.
        y_true = y_true.to(logits.dtype)
        if sample_weight is None:
            loss = nn.functional.binary_cross_entropy_with_logits(
                logits, y_true, reduction="sum"
            )
            return loss / logits.shape[0]
        per_entry = nn.functional.binary_cross_entropy_with_logits(
            logits, y_true, reduction="none"
        )
        return _weighted_mean(per_entry.sum(dim=1), sample_weight)


class BatchIterator:
    """Mini-batches sliced straight from tensors (or a sparse matrix).

    A drop-in for skorch's ``iterator_train``: no per-sample ``__getitem__``
    and no collate, which dominate a ``DataLoader`` on small MLPs. A sparse
    ``X`` is densified one batch at a time. ``random_state`` is a
    ``numpy.random.RandomState`` shared across epochs (:class:`PruningNet`
    hands its own to every training iterator), so every epoch draws a new
    permutation and two fits with the same seed draw the same ones. With
    ``sample_weight`` (a tensor, one weight per row; the net sets it on
    training iterators) every batch is ``(X_rows, (y_rows, weight_rows))``.
    """

    def __init__(
        self,
        dataset,
        batch_size: int,
        shuffle: bool = False,
        random_state=None,
        sample_weight=None,
    ):
        self.X = dataset.X
        self.y = dataset.y
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.random_state = random_state
        self.sample_weight = sample_weight

    def __len__(self) -> int:
        return math.ceil(self.X.shape[0] / self.batch_size)

    def __iter__(self):
        n_samples = self.X.shape[0]
        if self.shuffle:
            order = torch.from_numpy(self.random_state.permutation(n_samples))
        for start in range(0, n_samples, self.batch_size):
            if self.shuffle:
                rows = order[start : start + self.batch_size]
            else:
                rows = slice(start, start + self.batch_size)
            if self.sample_weight is None:
                yield _rows(self.X, rows), _take(self.y, rows)
            else:
                weight = _take(self.sample_weight, rows)
                yield _rows(self.X, rows), (_take(self.y, rows), weight)


def _take(values, rows):
    """``values[rows]``; a tensor's shuffled rows by ``index_select``, half
    the cost of indexing on the batches of a small data set."""
    if isinstance(values, torch.Tensor) and isinstance(rows, torch.Tensor):
        return values.index_select(0, rows)
    return values[rows]


def _rows(X, rows) -> torch.Tensor:
    if isinstance(X, torch.Tensor):
        return _take(X, rows)
    if isinstance(rows, torch.Tensor):
        rows = rows.numpy()
    return torch.from_numpy(X[rows].toarray())


class EpochLog(PrintLog):
    """skorch's table of an epoch per row, with its colour codes only on a
    terminal: not when stdout is a file or a pipe, nor with ``NO_COLOR``
    set (https://no-color.org); not formatted at all when nothing prints."""

    def initialize(self):
        super().initialize()
        # sys.stdout may be None (pythonw) or lack isatty (some wrappers).
        terminal = getattr(sys.stdout, "isatty", lambda: False)()
        self.colour_ = terminal and not os.environ.get("NO_COLOR")
        return self

    def on_epoch_end(self, net, **kwargs):
        # skorch formats the table even when nothing is printed: 1 ms an epoch.
        if net.verbose or self.sink is not print:
            super().on_epoch_end(net, **kwargs)

    def format_row(self, row, key, color):
        if not self.colour_:  # skorch colours a value when its "_best" is set
            row = {name: value for name, value in row.items() if name != key + "_best"}
        return super().format_row(row, key, color)


class PruningNet(NeuralNet):
    """skorch net training a :class:`SoftMaskedMLP` with learned-ratio pruning.

    Parameters
    ----------
    sparsity_penalty : float
        Weight of the sparsity regulariser ``sparsity_penalty * (1 - r)^2``
        (the estimators' ``lambda_``; skorch takes names ending in ``_`` for
        state, not parameters).
    alpha : float
        L2 penalty ``alpha / 2 * ||W||^2 / B`` on the weights (not the
        biases), ``B`` the rows of the batch at hand, as in MLPClassifier;
        added to the reported loss. Its gradient ``alpha * W / B`` is the
        weight decay of the weights' optimizer group, set with the loss term
        for every batch and applied inside the fused Adam step.
    lr_ratio, lr_temperature : float
        Learning rates of ``r`` and ``tau``; weights and biases use ``lr``.
        The optimizer's groups are the module's
        :meth:`~SoftMaskedMLP.parameter_groups`.
    tau_min : float
        Lower clamp of the temperature after every step.
    finetune_epochs : int
        Length of the fine-tuning phase that ends the fit (0: none). When it
        is due (:class:`StoppingRule` decides), :meth:`start_finetuning`
        hardens the mask; the remaining epochs train the surviving weights
        and biases only.
    settle_tolerance : float
        ``r`` counts as settled, and the scheduled phase may start, once its
        mean change per step over the last epochs is at most this.
    ratio_ramp : tuple of (int, int) or None
        ``(begin, end)`` training steps of the ceiling on ``r``: it stays at
        the initial ``r`` up to step ``begin``, rises to 1 along Zhu &
        Gupta's cubic ``1 - (1 - p)^3`` until step ``end`` and is gone
        after (:meth:`ratio_ceiling`). None: no ceiling.
    sample_weight : torch.Tensor or None
        One weight per training row (positive), or None. The task loss of a
        batch is then its rows' weighted mean and the L2 term is divided by
        the batch's sum of weights instead of its rows, as in
        MLPClassifier.
    start_from : callable or None
        ``start_from(module)`` sets the parameters of the module a fit
        initialises (a warm start), before the initial ``r`` is read; None:
        the module's own initialisation.
    shuffle_seed : int
        Seed of the training batches' order. Each fit starts a new
        ``RandomState`` from it (``shuffle_rng_``), so a clone of a fitted
        net fits the same way again.
    **kwargs
        Passed to :class:`skorch.NeuralNet`. A held-out set for early
        stopping comes as skorch's ``train_split=predefined_split(dataset)``.

    Notes
    -----
    The training loss is ``L_task + sparsity_penalty (1 - r)^2 + alpha/2
    ||W||^2 / B``.
    The task part alone is recorded per batch as ``task_loss``, with the L2
    term (MLPClassifier's loss) as ``mlp_loss``, and the pruning term as
    ``pruning_loss``. In the
    fine-tuning phase ``r`` is frozen and the regulariser, a constant, is
    left out: the loss is ``L_task + alpha/2 ||W||^2 / B``.
    """

    def __init__(
        self,
        *args,
        sparsity_penalty=0.0,
        alpha=0.0,
        lr_ratio=1e-3,
        lr_temperature=1e-6,
        tau_min=1e-6,
        finetune_epochs=0,
        settle_tolerance=0.0,
        ratio_ramp=None,
        sample_weight=None,
        start_from=None,
        shuffle_seed=0,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.sparsity_penalty = sparsity_penalty
        self.alpha = alpha
        self.lr_ratio = lr_ratio
        self.lr_temperature = lr_temperature
        self.tau_min = tau_min
        self.finetune_epochs = finetune_epochs
        self.settle_tolerance = settle_tolerance
        self.ratio_ramp = ratio_ramp
        self.sample_weight = sample_weight
        self.start_from = start_from
        self.shuffle_seed = shuffle_seed

    @property
    def _default_callbacks(self):
        # skorch's, with the epoch means by BatchMeans (the loss and the parts
        # get_loss records, in one pass) and the table by EpochLog.
        replacements = {
            "train_loss": BatchMeans(
                ("train_loss", "task_loss", "mlp_loss", "pruning_loss")
            ),
            "valid_loss": BatchMeans(("valid_loss",), on_train=False),
            "print_log": EpochLog(),
        }
        return [
            (name, replacements.get(name, callback))
            for name, callback in super()._default_callbacks
        ]

    def notify(self, method_name, **cb_kwargs):
        # skorch calls every callback's every hook, several times a step;
        # most are Callback's no-ops, left out here.
        getattr(self, method_name)(self, **cb_kwargs)
        for callback in self._listeners(method_name):
            getattr(callback, method_name)(self, **cb_kwargs)

    def _listeners(self, method_name: str) -> list:
        """The callbacks, in order, whose ``method_name`` is their own (not
        the base ``Callback``'s); recomputed when ``callbacks_`` changes. The
        cache is state (``_listening_``; skorch takes names without a trailing
        ``_`` for parameters)."""
        callbacks = self.callbacks_
        cached = self.__dict__.get("_listening_")
        if cached is None or cached[0] != callbacks:
            cached = self._listening_ = (list(callbacks), {})
        listeners = cached[1].get(method_name)
        if listeners is None:
            no_op = getattr(Callback, method_name, None)
            listeners = cached[1][method_name] = [
                callback
                for _, callback in callbacks
                if no_op is None
                or method_name in vars(callback)
                or getattr(type(callback), method_name) is not no_op
            ]
        return listeners

    def initialize_history(self):
        if self.history_ is None:  # skorch's would be a plain History
            self.history_ = EpochHistory()
        return super().initialize_history()

    def initialize(self):
        super().initialize()
        if self.start_from is not None:
            self.start_from(self.module_)
        self.shuffle_rng_ = np.random.RandomState(self.shuffle_seed)
        self.train_steps_ = 0
        self.initial_ratio_ = self.module_.ratio.item()
        return self

    def ratio_ceiling(self, step: int) -> float:
        """The most ``r`` may be after training step ``step`` (1-based).

        Notes
        -----
        With ``ratio_ramp = (b, e)`` and ``r_0`` the initial ratio, the
        ceiling is ``r_0 + (1 - r_0) (1 - (1 - p)^3)``, ``p = clip((step - b)
        / (e - b), 0, 1)``: the schedule gradual magnitude pruning (Zhu &
        Gupta 2017) prunes along, used as a bound. ``r`` is still learned
        and settles where ``sparsity_penalty`` puts it; the bound only keeps
        it from pruning weights before they have trained.
        """
        if self.ratio_ramp is None:
            return 1.0
        begin, end = self.ratio_ramp
        progress = min(1.0, max(0.0, (step - begin) / max(1, end - begin)))
        start = self.initial_ratio_
        return start + (1.0 - start) * (1.0 - (1.0 - progress) ** 3)

    def get_params_for_optimizer(self, prefix, named_parameters):
        _, kwargs = super().get_params_for_optimizer(prefix, named_parameters)
        settings = {
            "ratio": {"lr": self.lr_ratio},
            "temperature": {"lr": self.lr_temperature},
            "weights": {"weight_decay": 0.0},  # set per batch by get_loss
        }
        groups = [
            {"params": params, **settings.get(name, {})}
            for name, params in self.module_.parameter_groups().items()
        ]
        return (groups,), kwargs

    def initialize_optimizer(self, *args, **kwargs):
        super().initialize_optimizer(*args, **kwargs)
        weights = self.module_.weights
        self.weights_group_ = next(
            group
            for group in self.optimizer_.param_groups
            if any(p is weights for p in group["params"])
        )
        return self

    def get_iterator(self, dataset, training=False):
        iterator = super().get_iterator(dataset, training=training)
        if training:
            iterator.random_state = self.shuffle_rng_
            iterator.sample_weight = self.sample_weight
        return iterator

    def get_loss(self, y_pred, y_true, X=None, training=False):
        sample_weight = None
        if isinstance(y_true, tuple):  # a weighted training batch
            y_true, sample_weight = y_true
        if sample_weight is None:
            task_loss = super().get_loss(y_pred, y_true, X=X, training=training)
            rows = y_pred.shape[0]
        else:
            task_loss = self.criterion_(
                y_pred,
                to_tensor(y_true, device=self.device),
                sample_weight=to_tensor(sample_weight, device=self.device),
            )
            rows = sample_weight.sum().item()  # MLPClassifier's sw_sum
        if not training:
            return task_loss
        task = task_loss.item()
        self.history.record_batch("task_loss", task)
        # The pruning and L2 terms enter the loss as numbers: their
        # gradients are closed forms, added by train_step_single and by the
        # optimizer's weight decay, not autograd graphs of their own.
        loss = task_loss
        pruning = 0.0
        if not self.module_.hardened:
            pruning = self.sparsity_penalty * (1.0 - self.module_.ratio.item()) ** 2
            loss = loss + pruning
        self.history.record_batch("pruning_loss", pruning)
        # MLPClassifier's loss: the task's plus alpha's, without the pruning term.
        mlp_loss = task
        if self.alpha:
            l2 = self._l2_term(rows)
            loss = loss + l2
            mlp_loss += l2
        self.history.record_batch("mlp_loss", mlp_loss)
        return loss

    def _l2_term(self, batch_size: float) -> float:
        """``alpha/2 ||W||^2 / B`` for the loss, and its gradient ``alpha W /
        B`` as the weights' weight decay for this batch's step (``B``: the
        batch's rows, or its sum of sample weights)."""
        self.weights_group_["weight_decay"] = self.alpha / batch_size
        weights = self.module_.weights.detach()
        return 0.5 * self.alpha * torch.dot(weights, weights).item() / batch_size

    def train_step_single(self, batch, **fit_params):
        # skorch's steps, without re-walking the modules to set a mode they
        # are in already: training mode is left only by validation's steps.
        if not (self.module_.training and self.criterion_.training):
            self._set_training(True)
        Xi, yi = unpack_data(batch)
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        loss.backward()
        module = self.module_
        if not module.hardened and self.sparsity_penalty:
            # d/dr of sparsity_penalty (1 - r)^2, the term get_loss added.
            slope = -2.0 * self.sparsity_penalty * (1.0 - module.ratio.item())
            if module.ratio.grad is None:
                module.ratio.grad = torch.zeros_like(module.ratio)
            module.ratio.grad.add_(slope)
        return {"loss": loss, "y_pred": y_pred}

    def train_step(self, batch, **fit_params):
        # skorch's train_step hands the optimizer a closure and collects the
        # step through an accumulator, for optimizers that evaluate the loss
        # several times; the net's Adam evaluates it once, so the step is
        # made in line: zero the gradients, compute them (callbacks hear of
        # them), step.
        optimizer = self.optimizer_
        optimizer.zero_grad()
        try:
            step = self.train_step_single(batch, **fit_params)
        except NonFiniteWeightsError:
            # A step with a finite loss left NaN or infinite weights; the
            # divergence guard sees it in this batch's loss.
            return {"loss": torch.tensor(math.nan), "y_pred": None}
        self.notify(
            "on_grad_computed",
            named_parameters=TeeGenerator(self.get_all_learnable_params()),
            batch=batch,
            training=True,
        )
        optimizer.step()
        self.train_steps_ += 1
        if self.module_.hardened:
            self.module_.zero_pruned_()
        else:
            ceiling = self.ratio_ceiling(self.train_steps_)
            self.module_.clamp_(self.tau_min, ratio_max=ceiling)
        return step

    def validation_step(self, batch, **fit_params):
        try:
            return super().validation_step(batch, **fit_params)
        except NonFiniteWeightsError:  # scored as NaN; the guard takes over
            rows = len(batch[0])
            outputs = self.module_.shapes[-1][0]
            return {
                "loss": torch.tensor(math.nan),
                "y_pred": torch.full((rows, outputs), math.nan),
            }

    def start_finetuning(self) -> None:
        """Harden the mask now; the epochs that follow fine-tune on it.

        Callbacks with an ``on_finetune_begin(net)`` method are told, after
        the module is hardened.
        """
        self.module_.harden()
        for _, callback in self.callbacks_:
            if hasattr(callback, "on_finetune_begin"):
                callback.on_finetune_begin(self)


class BatchMeans(Callback):
    """The epoch means of per-batch records, weighted by the batches' rows:
    for each of ``names``, ``name`` and ``name_best`` in the epoch's history,
    as skorch's ``PassthroughScoring(name, on_train=on_train)`` records them
    (lower is better), in one pass over the epoch's batches instead of two
    history queries per name. The net's ``train_loss`` and ``valid_loss``
    are recorded this way too (:class:`PruningNet`'s default callbacks)."""

    def __init__(self, names=(), on_train=True):
        self.names = names
        self.on_train = on_train

    def initialize(self):
        self.best_scores_ = dict.fromkeys(self.names, math.inf)
        return self

    def on_epoch_end(self, net, **kwargs):
        size = "train_batch_size" if self.on_train else "valid_batch_size"
        batches = [b for b in net.history[-1]["batches"] if size in b]
        for name in self.names:
            recorded = [(b[size], b[name]) for b in batches if name in b]
            if not recorded:
                continue
            rows, values = zip(*recorded)
            mean = _batch_mean(values, rows)
            best = mean < self.best_scores_[name]
            if best:
                self.best_scores_[name] = mean
            net.history.record(name, mean)
            net.history.record(name + "_best", bool(best))


def _batch_mean(values, rows):
    """``np.average(values, weights=rows)``, the same operations (so the same
    rounding) without its argument checks, which cost twice the mean."""
    rows = np.asarray(rows, dtype=np.float64)
    return np.multiply(values, rows).sum() / rows.sum()


class PruningMonitor(Callback):
    """Records ``ratio``, ``temperature``, ``threshold``, hard-mask
    ``sparsity`` and ``finetuning`` (whether the epoch trained the hardened
    mask) in the net's history at the end of every epoch (threshold and
    sparsity NaN while the weights are not finite)."""

    def on_epoch_end(self, net, **kwargs):
        module = net.module_
        if module.hardened:
            threshold = module.hardened_threshold
            # (n - kept) / n, the division learned_sparsity_ makes (1 - kept / n
            # can differ from it in the last bit).
            total = module.kept.numel()
            sparsity = (total - module.kept.sum().item()) / total
        else:
            try:
                threshold, sparsity = module.hard_threshold_and_sparsity()
            except NonFiniteWeightsError:  # the divergence guard takes over
                threshold = sparsity = math.nan
        net.history.record("ratio", module.ratio.item())
        net.history.record("temperature", module.temperature.item())
        net.history.record("threshold", threshold)
        net.history.record("sparsity", sparsity)
        net.history.record("finetuning", module.hardened)


def _as_finite_numpy(outputs: torch.Tensor):
    """The outputs as float64 numpy, or None if any is NaN or infinite."""
    values = outputs.detach().cpu().double().numpy()
    return values if np.isfinite(values).all() else None


def argmax_accuracy(outputs: torch.Tensor, y_true: np.ndarray, sample_weight=None):
    """Accuracy of the largest logit's class (softmax outputs); NaN for
    outputs that are not finite."""
    values = _as_finite_numpy(outputs)
    if values is None:
        return math.nan
    return accuracy_score(y_true, values.argmax(1), sample_weight=sample_weight)


def sign_accuracy(outputs: torch.Tensor, y_true: np.ndarray, sample_weight=None):
    """Accuracy of the logits thresholded at 0 (logistic outputs: binary or
    multilabel indicators); NaN for outputs that are not finite."""
    values = _as_finite_numpy(outputs)
    if values is None:
        return math.nan
    predicted = (values > 0).astype(y_true.dtype)
    return accuracy_score(y_true, predicted, sample_weight=sample_weight)


def outputs_r2(outputs: torch.Tensor, y_true: np.ndarray, sample_weight=None):
    """R^2 of regression outputs; NaN for outputs that are not finite."""
    values = _as_finite_numpy(outputs)
    if values is None:
        return math.nan
    return r2_score(y_true, values, sample_weight=sample_weight)


def copied_state(module: nn.Module) -> dict:
    """``module.state_dict()`` with its tensors cloned, those of its extra
    state too: what ``copy.deepcopy`` of it holds, at a fraction of the cost
    (deepcopy walks each tensor's storage in Python; the guard and the
    stopping rule copy a state every epoch)."""
    return {name: _copied(value) for name, value in module.state_dict().items()}


def _copied(value):
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, dict):
        return {key: _copied(item) for key, item in value.items()}
    if value is None or isinstance(value, (bool, int, float)):
        return value
    raise TypeError(f"Cannot copy a state entry of type {type(value).__name__}.")


class DivergenceGuard(Callback):
    """Stops training when the loss diverges and restores the last good epoch.

    A batch loss that is not finite, or that exceeds ``factor`` times the first
    batch's loss (at least ``1e-3``), counts as divergence; healthy training
    does not climb that far above its loss at initialisation. The state at the
    end of an epoch counts as good once the next batch's loss is healthy (an
    exploding update shows only in the loss after it). On divergence training
    stops (skorch's ``KeyboardInterrupt`` protocol) and the last good state is
    loaded back, so no NaN or exploded weights survive. ``diverged_`` holds
    ``(epoch, loss)`` or None; ``healthy_epochs_`` counts the good epochs.
    """

    def __init__(self, factor=1e3):
        self.factor = factor

    def initialize(self):
        self.first_loss_ = None
        self.diverged_ = None
        self.healthy_epochs_ = 0
        self.good_state_ = self.candidate_ = None
        return self

    def on_train_begin(self, net, **kwargs):
        self.good_state_ = copied_state(net.module_)

    def on_batch_end(self, net, training=False, **kwargs):
        if not training:
            return
        # skorch has just recorded this batch's loss as a float; reading it
        # back avoids a second device-to-host sync per step.
        value = net.history[-1]["batches"][-1]["train_loss"]
        if self.first_loss_ is None:
            self.first_loss_ = max(abs(value), 1e-3)
        if not math.isfinite(value) or abs(value) > self.factor * self.first_loss_:
            self.diverged_ = (len(net.history), value)
            raise KeyboardInterrupt
        if self.candidate_ is not None:
            self.healthy_epochs_, self.good_state_ = self.candidate_
            self.candidate_ = None

    def on_epoch_end(self, net, **kwargs):
        self.candidate_ = (len(net.history), copied_state(net.module_))

    def on_finetune_begin(self, net):
        # The epoch just ended is returned hardened if the phase diverges.
        self.on_epoch_end(net)

    def on_train_end(self, net, **kwargs):
        if self.diverged_ is not None:
            net.module_.load_state_dict(self.good_state_)
            del net.history[self.healthy_epochs_ :]
        self.good_state_ = self.candidate_ = None


# Whether r has settled is judged over at least this many steps (whole
# epochs): Adam's steps in r are noisy, and a few hundred average them out.
SETTLE_STEPS = 500


class StoppingRule(Callback):
    """MLPClassifier's stopping rule, with early stopping on a held-out set,
    and the switch to the fine-tuning phase.

    Without validation data, training stops once the epoch's ``monitor``
    (default: the total loss, ``train_loss``; benchmarks/
    choose_stopping_loss.py measured MLPClassifier's ``mlp_loss`` instead)
    has not improved by ``tol`` for more than ``n_iter_no_change`` epochs. With it
    (the net's ``dataset_valid``), the same rule applies to
    ``scoring(outputs, y_valid)`` of the hard-masked network's outputs on the
    held-out set, which skorch's validation pass has just computed (one
    batch: ``iterator_valid__batch_size=-1``; this callback keeps them as
    ``valid_outputs_``); the score is recorded as ``valid_score``, the best
    state is restored when training ends, and ``restored_score_`` is its
    score; ``sample_weight`` holds the held-out rows' weights, or None. The
    restored state is one the :class:`DivergenceGuard` accepted: the guard,
    a callback before this one, ends a diverged fit by cutting the history
    back to its accepted epochs, and a best state from an epoch past them
    gives way to the best before it.

    With ``net.finetune_epochs > 0`` the net starts its fine-tuning phase
    (:meth:`PruningNet.start_finetuning`) the first time the rule would stop,
    or from ``finetune_epochs`` before ``max_epochs`` on, at the first epoch
    end where ``r`` has settled: its mean change per step over the last
    epochs (as few as hold ``SETTLE_STEPS`` steps) is at most
    ``net.settle_tolerance`` (an ``r`` still climbing keeps its epochs; if it
    never settles there is no phase). The rule then starts afresh on the
    hardened network: the phase ends after ``finetune_epochs`` epochs, at
    ``max_epochs``, or when the rule stops it. With early stopping the best
    state is then chosen among hardened states only, starting with the one
    just hardened (whose score, that of the hard mask, was just recorded).
    ``finetune_start_`` is the number of epochs trained before the phase, or
    None.
    """

    def __init__(
        self,
        tol,
        n_iter_no_change,
        scoring=None,
        monitor="train_loss",
        sample_weight=None,
    ):
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.scoring = scoring
        self.monitor = monitor
        self.sample_weight = sample_weight

    def initialize(self):
        self.best_loss_ = math.inf
        self.best_score_ = -math.inf
        self.no_improvement_count_ = 0
        # (epoch, score, state) of the best state, and of the one before it.
        self.best_ = self.previous_best_ = None
        self.restored_score_ = None
        self.valid_outputs_ = []
        self.stopped_ = False
        self.finetune_start_ = None
        return self

    def on_epoch_begin(self, net, **kwargs):
        if self.finetune_start_ == len(net.history) - 1 and net.verbose:
            ratio = net.module_.ratio.item()
            sparsity = net.history[-2]["sparsity"]
            print(
                f"Fine-tuning from epoch {self.finetune_start_ + 1}: r frozen at "
                f"{ratio:.4f}, mask hardened ({sparsity:.1%} of the weights are 0)."
            )

    def on_batch_end(self, net, training=False, y_pred=None, **kwargs):
        if not training:
            self.valid_outputs_.append(y_pred)

    def on_epoch_end(self, net, dataset_valid=None, **kwargs):
        outputs, self.valid_outputs_ = self.valid_outputs_, []
        if dataset_valid is None:
            loss = net.history[-1][self.monitor]
            improved = loss <= self.best_loss_ - self.tol
            self.best_loss_ = min(self.best_loss_, loss)
        else:
            weighted = (
                {}
                if self.sample_weight is None
                else {"sample_weight": self.sample_weight}
            )
            score = self.scoring(torch.cat(outputs), dataset_valid.y, **weighted)
            net.history.record("valid_score", score)
            improved = score >= self.best_score_ + self.tol
            if score > self.best_score_:
                self.best_score_ = score
                self._keep_best(net, score)
        self.no_improvement_count_ = 0 if improved else self.no_improvement_count_ + 1
        converged = self.no_improvement_count_ > self.n_iter_no_change
        epochs = len(net.history)
        if self.finetune_start_ is None and net.finetune_epochs > 0:
            due = epochs >= net.max_epochs - net.finetune_epochs and self._settled(net)
            if converged or due:
                self._start_finetuning(net, epochs)
                return
        elif self.finetune_start_ is not None:
            # A phase that ends at max_epochs ends like any fit (and warns).
            finished = epochs >= self.finetune_start_ + net.finetune_epochs
            converged |= finished and epochs < net.max_epochs
        if converged:
            self.stopped_ = True
            raise KeyboardInterrupt

    def _settled(self, net) -> bool:
        history = net.history
        epochs = len(history)
        steps_per_epoch = len(history[-1]["batches"])
        window = min(epochs, math.ceil(SETTLE_STEPS / steps_per_epoch))
        # r after the epoch that ends the window's start (the initial r when
        # the window reaches back to the first epoch): two reads, no scan.
        start = (
            net.initial_ratio_ if window == epochs else history[-1 - window]["ratio"]
        )
        change = abs(history[-1]["ratio"] - start)
        return change <= net.settle_tolerance * window * steps_per_epoch

    def _start_finetuning(self, net, epochs):
        net.start_finetuning()
        self.finetune_start_ = epochs
        self.no_improvement_count_ = 0
        # The pruning term is gone from the loss: compare the phase with itself.
        self.best_loss_ = math.inf
        if "valid_score" in net.history[-1]:
            self.best_score_ = net.history[-1]["valid_score"]
            self._keep_best(net, self.best_score_)

    def _keep_best(self, net, score):
        self.previous_best_ = self.best_
        state = copied_state(net.module_)
        self.best_ = (len(net.history), score, state)

    def on_train_end(self, net, **kwargs):
        best = self.best_
        if best is not None and best[0] > len(net.history):
            # The divergence guard rejected the best state's epoch: at most
            # the last epoch can be, so the best before it was accepted.
            best = self.previous_best_
        if best is not None:
            _, self.restored_score_, state = best
            net.module_.load_state_dict(state)
        self.best_ = self.previous_best_ = None
