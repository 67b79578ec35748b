"""The net's callbacks: epoch means, the pruning records, the divergence
guard, and the stopping rule that also schedules the fine-tuning phase.
"""

import math

import numpy as np
import torch
from skorch.callbacks import Callback
from torch import nn

from .._method.threshold import NonFiniteWeightsError

__all__ = [
    "BatchMeans",
    "DivergenceGuard",
    "PruningMonitor",
    "StoppingRule",
    "copied_state",
]


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
        if batches and all(name in b for b in batches for name in self.names):
            # Every batch has every name (as training records them): all the
            # means in one product and one sum per name, the same operations.
            rows = np.array([b[size] for b in batches], dtype=np.float64)
            values = [[b[name] for b in batches] for name in self.names]
            means = list(np.multiply(values, rows).sum(axis=1) / rows.sum())
        else:
            means = []
            for name in self.names:
                recorded = [(b[size], b[name]) for b in batches if name in b]
                mean = None
                if recorded:
                    rows, values = zip(*recorded)
                    mean = _batch_mean(values, rows)
                means.append(mean)
        for name, mean in zip(self.names, means):
            if mean is None:
                continue
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
            total = module.hard_mask.numel()
            sparsity = (total - module.hard_mask.sum().item()) / total
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


class StoppingRule(Callback):
    """MLPClassifier's stopping rule, with early stopping on a held-out set,
    and the switch to the fine-tuning phase.

    Without validation data, training stops once the epoch's ``monitor``
    (default: the total loss, ``train_loss``)
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
    epochs (as few as hold ``net.settle_steps`` steps) is at most
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
        window = min(epochs, math.ceil(net.settle_steps / steps_per_epoch))
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
