"""The skorch net: the loss with the sparsity regulariser, the clamps after
each step, the batches, and the per-epoch history.
"""

import math
import os
import sys

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback, PrintLog
from skorch.dataset import unpack_data
from skorch.history import History
from skorch.utils import TeeGenerator, to_tensor

from .._method.threshold import NonFiniteWeightsError
from .callbacks import BatchMeans

__all__ = ["BatchIterator", "EpochHistory", "EpochLog", "PruningNet", "batch_records"]


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
        # skorch formats the table even when nothing is printed.
        if net.verbose or self.sink is not print:
            super().on_epoch_end(net, **kwargs)

    def format_row(self, row, key, color):
        if not self.colour_:  # skorch colours a value when its "_best" is set
            row = {name: value for name, value in row.items() if name != key + "_best"}
        return super().format_row(row, key, color)


class EpochHistory(History):
    """skorch's ``History``, where ``history[i]`` for an int ``i`` is a plain
    list lookup.

    skorch resolves every index, ``history[-1]`` included, by copying the
    list of epochs and parsing the key; a fit of a small network writes a
    batch's records through ``history[-1]`` several times a step
    (``new_batch``, ``record_batch``, ``record``), each a few microseconds
    that grow with the epochs. The row returned is the same dict either way;
    keys and slices (``history[:, "train_loss"]``) keep skorch's indexing.
    """

    def __getitem__(self, i):
        if isinstance(i, int):
            return list.__getitem__(self, i)
        return super().__getitem__(i)


def batch_records(task: float, pruning: float, mlp_loss: float) -> dict:
    """What a training batch's row of the history holds of its loss, as
    ``get_loss`` records it: the task's loss, the pruning term and
    MLPClassifier's loss (the task's plus the L2 term)."""
    return {"task_loss": task, "pruning_loss": pruning, "mlp_loss": mlp_loss}


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
    lr_r, lr_tau : float
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
    settle_tolerance, settle_steps : float, int
        ``r`` counts as settled, and the scheduled phase may start, once its
        mean change per step over the last epochs (as few as hold
        ``settle_steps`` steps) is at most ``settle_tolerance``.
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
        lr_r=1e-3,
        lr_tau=1e-6,
        tau_min=1e-6,
        finetune_epochs=0,
        settle_tolerance=0.0,
        settle_steps=500,
        ratio_ramp=None,
        sample_weight=None,
        start_from=None,
        shuffle_seed=0,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.sparsity_penalty = sparsity_penalty
        self.alpha = alpha
        self.lr_r = lr_r
        self.lr_tau = lr_tau
        self.tau_min = tau_min
        self.finetune_epochs = finetune_epochs
        self.settle_tolerance = settle_tolerance
        self.settle_steps = settle_steps
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

    def set_mask_off(self) -> None:
        """Before a training step: the mask is off while the ceiling holds
        ``r`` at 0, so that those steps train the dense network (at ``r = 0``
        the soft mask would still scale the smallest weights by about a half,
        which slows a short fit down; benchmarks/short_fits.py)."""
        mask_off = self.ratio_ceiling(self.train_steps_) == 0.0
        if self.module_.mask_off is not mask_off:  # nn.Module's setattr is slow
            self.module_.mask_off = mask_off

    def get_params_for_optimizer(self, prefix, named_parameters):
        _, kwargs = super().get_params_for_optimizer(prefix, named_parameters)
        settings = {
            "ratio": {"lr": self.lr_r},
            "temperature": {"lr": self.lr_tau},
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
        return self.training_loss(task_loss, rows)

    def training_loss(self, task_loss: torch.Tensor, rows: float) -> torch.Tensor:
        """The training loss of a batch of ``rows`` rows (or sum of weights)
        whose task loss is ``task_loss``: :meth:`loss_terms` added (as
        numbers: their gradients are closed forms, added by
        train_step_single and by the optimizer's weight decay)."""
        module = self.module_
        squared_norm = module.squared_norm() if self.alpha else 0.0
        # A hardened module's loss has no pruning term: its r is not read.
        ratio = 0.0 if module.hardened else module.ratio.item()
        task = task_loss.item()
        pruning, l2, mlp_loss = self.loss_terms(task, rows, ratio, squared_norm)
        self.history[-1]["batches"][-1].update(batch_records(task, pruning, mlp_loss))
        loss = task_loss
        if not module.hardened:
            loss = loss + pruning
        if self.alpha:
            loss = loss + l2
        return loss

    def loss_terms(
        self, task: float, rows: float, ratio: float, squared_norm: float
    ) -> tuple[float, float, float]:
        """The pruning and L2 terms of a batch's loss (task loss ``task``,
        ``rows`` rows or sum of weights, ratio ``r``, ``||W||^2`` of the
        weights) and MLPClassifier's loss (the task's plus the L2 term,
        without the pruning term), which the batch's history records with
        the task's; the weights' decay for this step's alpha term set
        (:meth:`_l2_term`)."""
        pruning = 0.0
        if not self.module_.hardened:
            pruning = self.sparsity_penalty * (1.0 - ratio) ** 2
        mlp_loss = task
        l2 = 0.0
        if self.alpha:
            l2 = self._l2_term(rows, squared_norm)
            mlp_loss += l2
        return pruning, l2, mlp_loss

    def _l2_term(self, batch_size: float, squared_norm: float) -> float:
        """``alpha/2 ||W||^2 / B`` for the loss, and its gradient ``alpha W /
        B`` as the weights' weight decay for this batch's step (``B``: the
        batch's rows, or its sum of sample weights)."""
        self.weights_group_["weight_decay"] = self.alpha / batch_size
        return 0.5 * self.alpha * squared_norm / batch_size

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
        self.set_mask_off()
        try:
            step = self.train_step_single(batch, **fit_params)
        except NonFiniteWeightsError:
            # A step with a finite loss left NaN or infinite weights; the
            # divergence guard sees it in this batch's loss.
            return {"loss": torch.tensor(math.nan), "y_pred": None}
        if self._listeners("on_grad_computed"):  # the net's own is a no-op
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
