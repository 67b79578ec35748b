"""Several nets of one shape trained as one stacked network.

A search over ``lambda_`` trains many small networks of one shape, each with
its own rows (a fold), its own ``lambda_`` and its own stopping. A step of
such a network is mostly fixed cost (a few dozen small kernels, the autograd
bookkeeping, the optimizer's calls), which one stacked step of ``K``
networks pays once instead of ``K`` times. :func:`fit_stacked` runs skorch's
fit loop for ``K`` initialised :class:`~.net.PruningNet` at once: every net
keeps its own module (a member of a ``StackedSoftMaskedMLP``, whose
parameters are views of the stack's rows), history, callbacks (the stopping
rule, the divergence guard, the pruning records, each net's own), batch
order, schedule and loss, exactly as its own ``fit`` would run them; only
the forward and backward passes and the optimizer step are shared. A net
whose callbacks stop it rests (its row passes through unmasked and takes no
step) while the others go on.
"""

import math
from typing import NamedTuple

import torch
from skorch import NeuralNet
from skorch.dataset import Dataset

from .._module import StackedSoftMaskedMLP
from .net import PruningNet, batch_records
from .optim import StackedAdam

__all__ = ["StackedData", "fit_stacked"]


class StackedData(NamedTuple):
    """One net's training rows (tensors as ``PruningNet.fit`` reads them)
    and held-out set (or None)."""

    X: torch.Tensor
    y: torch.Tensor
    sample_weight: torch.Tensor | None
    held_out: Dataset | None


class _Lane:
    """One net's place in the stacked loop: its batches this epoch."""

    def __init__(self, k: int, net: PruningNet, data: StackedData, offset: int):
        self.k, self.net, self.data, self.offset = k, net, data, offset
        self.rows = data.X.shape[0]
        self.batch_size = net.batch_size
        self.batches = math.ceil(self.rows / self.batch_size)
        self.shuffle = net.iterator_train__shuffle
        self.order = None
        self.stopped = False
        # Whether the net's batch start is skorch's own (a new row in the
        # epoch's batches) with no callback listening: then the loop adds
        # the row itself and fills it, without notify and record_batch.
        self.quiet_begin = type(
            net
        ).on_batch_begin is NeuralNet.on_batch_begin and not net._listeners(
            "on_batch_begin"
        )
        self.row = None

    def notify(self, method_name: str, **kwargs) -> None:
        """The net's ``notify``; a callback's ``KeyboardInterrupt`` ends this
        net's training as skorch's ``partial_fit`` ends it."""
        if self.stopped:
            return
        try:
            self.net.notify(method_name, **kwargs)
        except KeyboardInterrupt:
            self.stop()

    def begin_batch(self) -> None:
        """The net's ``on_batch_begin``; ``row``, the batch's row of its
        history, to be filled."""
        if self.quiet_begin:
            self.row = {}
            self.net.history[-1]["batches"].append(self.row)
            return
        self.notify("on_batch_begin", batch=None, training=True)
        self.row = self.net.history[-1]["batches"][-1]

    def stop(self) -> None:
        self.stopped = True
        self.net.notify("on_train_end", X=None, y=None)

    def batch_count(self, j: int) -> int:
        """The rows of this epoch's batch ``j``."""
        return min(self.batch_size, self.rows - j * self.batch_size)


def _epoch_index(lanes: list[_Lane], live: list[_Lane]) -> tuple[torch.Tensor, int]:
    """The live lanes' batches of this epoch as rows of the stacked training
    set: ``(K, batches x stride)``, lane ``k``'s batch ``j`` (its rows of its
    ``order``) from column ``j x stride`` on, ``stride`` the largest batch
    size; zeros elsewhere (row 0, padding). A step's index is then one
    slice of it. Returns the index and ``stride``."""
    stride = max(lane.batch_size for lane in live)
    width = stride * max(lane.batches for lane in live)
    index = torch.zeros((len(lanes), width), dtype=torch.long)
    for lane in live:
        rows = torch.arange(lane.rows)
        columns = rows + (rows // lane.batch_size) * (stride - lane.batch_size)
        index[lane.k, columns] = lane.order + lane.offset
    return index, stride


def fit_stacked(nets: list[PruningNet], data: list[StackedData]) -> None:
    """Train the nets (modules of one shape, the same ``max_epochs`` and
    optimizer settings; not yet initialised) on their ``data``, as their
    ``fit`` would, in one stacked network."""
    for net in nets:
        net.initialize()
    stack = StackedSoftMaskedMLP([net.module_ for net in nets])
    device = stack.weights.device
    groups = stack.parameter_groups()
    optimizer = StackedAdam(
        {
            name: (params, settings)
            for (name, params), settings in zip(
                groups.items(), nets[0].optimizer_.param_groups
            )
        }
    )
    # The nets' training sets, each once: the values of lambda_ of a fold
    # train on the same rows.
    distinct, lanes = [], []
    for k, (net, rows) in enumerate(zip(nets, data)):
        lanes.append(_Lane(k, net, rows, _offset_of(rows, distinct)))
    X_all = torch.cat([rows.X for rows, _ in distinct]).to(device)
    y_all = torch.cat([rows.y for rows, _ in distinct]).to(device)
    weights = None
    if data[0].sample_weight is not None:
        weights = torch.cat([rows.sample_weight for rows, _ in distinct]).to(device)
    valid = _held_out_stack(data, device)

    for lane in lanes:
        lane.notify("on_train_begin", X=None, y=None)
    for _ in range(nets[0].max_epochs):
        live = [lane for lane in lanes if not lane.stopped]
        if not live:
            break
        for lane in live:
            lane.notify(
                "on_epoch_begin", dataset_train=None, dataset_valid=lane.data.held_out
            )
            if lane.shuffle:
                lane.order = torch.from_numpy(
                    lane.net.shuffle_rng_.permutation(lane.rows)
                )
            else:
                lane.order = torch.arange(lane.rows)
        epoch_index, stride = _epoch_index(lanes, live)
        for j in range(max(lane.batches for lane in live)):
            stepping = [lane for lane in live if not lane.stopped and j < lane.batches]
            if not stepping:
                break
            counts = [0] * len(lanes)
            for lane in stepping:
                counts[lane.k] = lane.batch_count(j)
            index = epoch_index[:, j * stride : j * stride + max(counts)]
            _train_step(
                stack, optimizer, lanes, stepping, counts, index, X_all, y_all, weights
            )
        live = [lane for lane in live if not lane.stopped]
        if valid is not None and live:
            _validation_step(stack, lanes, live, valid)
        for lane in live:
            lane.net.history.record("train_batch_count", lane.batches)
            if valid is not None:
                lane.net.history.record("valid_batch_count", 1)
            lane.notify(
                "on_epoch_end", dataset_train=None, dataset_valid=lane.data.held_out
            )
    for lane in lanes:
        if not lane.stopped:
            lane.stop()
    for net in nets:  # each module its own parameters again, off the stack
        for param in net.module_.parameters():
            param.data = param.data.clone()


def _offset_of(rows: StackedData, distinct: list) -> int:
    """Where ``rows`` start in the stacked training set: at an earlier net's
    equal rows (``distinct`` holds ``(rows, offset)`` of each set so far),
    or after all so far, added to ``distinct``."""
    for earlier, offset in distinct:
        if _equal_rows(earlier, rows):
            return offset
    offset = sum(len(earlier.X) for earlier, _ in distinct)
    distinct.append((rows, offset))
    return offset


def _equal_rows(a: StackedData, b: StackedData) -> bool:
    def same(x, y):
        if x is None or y is None:
            return x is y
        return x.shape == y.shape and x.dtype == y.dtype and torch.equal(x, y)

    return same(a.X, b.X) and same(a.y, b.y) and same(a.sample_weight, b.sample_weight)


def _train_step(
    stack, optimizer, lanes, stepping, counts, index, X_all, y_all, weights
):
    """One training step of the ``stepping`` lanes (the others rest), whose
    batches hold ``counts[k]`` rows, at ``index[k]`` of the stacked
    training set (``(K, size)``)."""
    stack.resting = [True] * len(lanes)
    for lane in stepping:
        stack.resting[lane.k] = False
        lane.net.set_mask_off()
        lane.begin_batch()
    K, size = index.shape
    flat = index.reshape(-1).to(X_all.device)
    # Into a buffer kept from step to step (a fresh one costs page faults).
    inputs = stack.workspace.get("inputs", (len(flat), X_all.shape[1]), X_all)
    X = torch.index_select(X_all, 0, flat, out=inputs).view(K, size, -1)
    y = y_all.index_select(0, flat)
    y = y.view(K, size, *y.shape[1:])
    w = None
    if weights is not None:
        w = weights.index_select(0, flat).view(K, size)
    stack.train()
    optimizer.zero_grad()
    outputs = stack(X)
    failed = set(stack.failed)
    active = [lane for lane in stepping if lane.k not in failed]
    losses = _losses(stack, active, outputs, y, w, counts)
    # As a single net's Adam steps a parameter with a gradient: r and tau
    # of a soft mask, r alone while the mask is off and a penalty pulls it.
    decay, ratios, temperatures = {}, [], []
    slopes, values = [0.0] * len(lanes), stack.ratio.tolist()
    for lane in active:
        net, module = lane.net, lane.net.module_
        decay[lane.k] = net.weights_group_["weight_decay"]
        if module.hardened:
            continue
        if not module.mask_off:
            ratios.append(lane.k)
            temperatures.append(lane.k)
        if net.sparsity_penalty:
            if module.mask_off:
                ratios.append(lane.k)
            # d/dr of sparsity_penalty (1 - r)^2, as PruningNet adds it.
            slopes[lane.k] = -2.0 * net.sparsity_penalty * (1.0 - values[lane.k])
    if any(slopes):
        if stack.ratio.grad is None:
            stack.ratio.grad = torch.zeros_like(stack.ratio)
        stack.ratio.grad.add_(
            torch.tensor(slopes, dtype=stack.ratio.dtype).to(stack.ratio.device)
        )
    stepped = list(decay)
    optimizer.step(
        {
            "ratio": ratios,
            "temperature": temperatures,
            "weights": stepped,
            "biases": stepped,
        },
        decay,
    )
    # Each stepped model's clamp_, all at once (bounds of inf and -inf
    # leave the others as they are).
    ceilings, floors = [math.inf] * len(lanes), [-math.inf] * len(lanes)
    for lane in stepping:
        net, module = lane.net, lane.net.module_
        if lane.k not in losses:
            continue  # NaN or infinite weights: the divergence guard takes over
        net.train_steps_ += 1
        if module.hardened:
            module.zero_pruned_()
        else:
            ceilings[lane.k] = net.ratio_ceiling(net.train_steps_)
            floors[lane.k] = net.tau_min
    stack.clamp_(floors, ceilings)
    for lane in stepping:
        lane.row["train_loss"] = losses.get(lane.k, math.nan)
        lane.row["train_batch_size"] = counts[lane.k]
        lane.notify("on_batch_end", batch=None, training=True)


def _losses(stack, active, outputs, y, w, counts) -> dict[int, float]:
    """Back-propagate the active lanes' losses; their training losses, as
    each net's ``get_loss`` computes and records them: one stacked loss
    (the criterion's ``stacked``; a shorter batch's padding rows weigh
    nothing), else each lane's ``get_loss`` in turn."""
    if not active:
        return {}
    size = outputs.shape[1]
    criterion = active[0].net.criterion_
    if not hasattr(criterion, "stacked"):
        return _lane_losses(active, outputs, y, w, counts)
    resting = [count == 0 for count in counts]
    counts = [count or size for count in counts]  # a resting lane: any rows
    weights, totals = None, counts
    if w is not None or any(count != size for count in counts):
        weighted = w is not None
        # Ones (or the sample weights) on each lane's rows, zeros on the
        # rows that pad its batch to the longest.
        w = torch.ones((len(counts), size)) if w is None else w.cpu()
        w = w.to(outputs.dtype)
        w.masked_fill_(torch.arange(size) >= torch.tensor(counts)[:, None], 0.0)
        if weighted:  # the L2 term divides by the sum of the weights
            w[resting] = 1.0  # a resting lane: any finite loss
            totals = w.sum(dim=1).tolist()
        weights = w.to(outputs.device)
    graph = criterion.stacked(outputs, y, weights)
    index = torch.tensor([lane.k for lane in active], device=outputs.device)
    graph.index_select(0, index).sum().backward()
    # The nets' loss terms from host numbers fetched once for the stack.
    tasks, ratios = graph.detach().tolist(), stack.ratio.tolist()
    squared_norms = [0.0] * len(tasks)
    if any(lane.net.alpha for lane in active):
        weights = stack.weights.detach()
        squared_norms = torch.linalg.vecdot(weights, weights).tolist()
    losses = {}
    for lane in active:
        k = lane.k
        pruning, l2, mlp_loss = lane.net.loss_terms(
            tasks[k], totals[k], ratios[k], squared_norms[k]
        )
        lane.row.update(batch_records(tasks[k], pruning, mlp_loss))
        losses[k] = tasks[k] + pruning + l2
    return losses


def _lane_losses(active, outputs, y, w, counts) -> dict[int, float]:
    """Each active lane's ``get_loss`` in turn, back-propagated together."""
    totals, total = {}, 0.0
    for lane in active:
        count = counts[lane.k]
        y_true = y[lane.k, :count]
        if w is not None:
            y_true = (y_true, w[lane.k, :count])
        loss = lane.net.get_loss(outputs[lane.k, :count], y_true, training=True)
        totals[lane.k] = loss.item()
        total = total + loss
    total.backward()
    return totals


class _HeldOut(NamedTuple):
    X: torch.Tensor  # (K, rows, n_features), padded with zeros
    rows: list[int]


def _held_out_stack(data, device) -> _HeldOut | None:
    """The held-out sets stacked (the nets have one all, or none)."""
    if data[0].held_out is None:
        return None
    sets = [torch.as_tensor(rows.held_out.X) for rows in data]
    size = max(len(X) for X in sets)
    X = sets[0].new_zeros((len(sets), size, sets[0].shape[1]))
    for k, rows in enumerate(sets):
        X[k, : len(rows)] = rows
    return _HeldOut(X.to(device), [len(rows) for rows in sets])


@torch.no_grad()
def _validation_step(stack, lanes, live, valid) -> None:
    """The hard-masked networks' outputs on their held-out sets, one batch
    each, as skorch's validation pass hands them to the callbacks."""
    stack.resting = [lane.stopped for lane in lanes]
    stack.eval()
    outputs = stack(valid.X)
    stack.train()
    for lane in live:
        y_pred = outputs[lane.k, : valid.rows[lane.k]]
        lane.notify("on_batch_begin", batch=None, training=False)
        loss = lane.net.get_loss(
            y_pred, torch.as_tensor(lane.data.held_out.y), training=False
        )
        lane.net.history.record_batch("valid_loss", loss.item())
        lane.net.history.record_batch("valid_batch_size", valid.rows[lane.k])
        lane.notify("on_batch_end", batch=None, training=False, y_pred=y_pred)
