"""Stacked training (_training/stacked.py, StackedSoftMaskedMLP, the stacked
mask node and StackedAdam): K models trained as one network, each exactly
as its own fit."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_breast_cancer, load_diabetes
from skorch import NeuralNet

from sk_adaprune import AdaptivePrunedMLPClassifier, AdaptivePrunedMLPRegressor
from sk_adaprune._base import train_stacked
from sk_adaprune._method import _kernels
from sk_adaprune._method.mask import pruned_weight, pruned_weights
from sk_adaprune._method.workspace import Scratch
from sk_adaprune._module import SoftMaskedMLP, StackedSoftMaskedMLP
from sk_adaprune._training.losses import (
    BinaryLogLoss,
    HalfSquaredError,
    SoftmaxLogLoss,
)
from sk_adaprune._training.net import PruningNet
from sk_adaprune._training.optim import FusedAdam, StackedAdam


def _members(shape, dtype, weight_gradient="masked", count=4, activation="relu"):
    n_features, hidden, n_outputs = shape
    return [
        SoftMaskedMLP(
            n_features,
            hidden,
            n_outputs,
            activation=activation,
            r_init=0.1 + 0.2 * seed,
            seed=seed,
            dtype=dtype,
            weight_gradient=weight_gradient,
        )
        for seed in range(count)
    ]


def _step(module, X, y):
    """One model's outputs and the gradients of its cross-entropy."""
    outputs = module(X)
    torch.nn.functional.cross_entropy(outputs, y).backward()
    return outputs.detach(), {
        name: param.grad.clone()
        for name, param in module.named_parameters()
        if param.grad is not None
    }


# (64, (100,), 10): a small pool (the compiled stacked route); (30, (800,),
# 10): 32,000 weights, past SMALL_POOL (row by row). The batched products
# may reduce in another order than the single ones (which order depends on
# the BLAS and the processor): equal to round-off.
@pytest.mark.parametrize("shape", [(64, (100,), 10), (30, (800,), 10)])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("weight_gradient", ["masked", "full"])
def test_a_stacked_step_is_each_models_own(shape, dtype, weight_gradient):
    tolerance = 1e-12 if dtype == torch.float64 else 1e-5

    def same(a, b):
        return torch.allclose(a, b, rtol=tolerance, atol=tolerance * b.abs().max())

    singles = _members(shape, dtype, weight_gradient)
    stack = StackedSoftMaskedMLP(_members(shape, dtype, weight_gradient))
    stack.members[2].harden()  # a member in its fine-tuning phase
    singles[2].harden()
    rng = np.random.RandomState(0)
    X = torch.from_numpy(rng.normal(size=(4, 50, shape[0]))).to(dtype)
    y = torch.from_numpy(rng.randint(0, 10, (4, 50)))
    outputs = stack(X)
    losses = [torch.nn.functional.cross_entropy(out, yk) for out, yk in zip(outputs, y)]
    torch.stack(losses).sum().backward()
    names = ("weights", "biases.0", "biases.1", "ratio", "temperature")
    stacked = dict(stack.named_parameters())
    for k, single in enumerate(singles):
        expected, grads = _step(single, X[k], y[k])
        assert same(outputs[k].detach(), expected)
        for name in names:
            if name in grads:
                assert same(stacked[name].grad[k], grads[name]), (k, name)
            else:  # the hardened model's r and tau take no gradient
                assert stacked[name].grad[k] == 0
    # The members are views of the stack: hardening wrote the stack's row.
    assert torch.equal(stack.weights[2], stack.members[2].weights)


@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
def test_the_stacks_hidden_layers_differentiate_each_activation(activation):
    # Two hidden layers: the stack's layer node passes dL/dX on as well.
    shape = (6, (5, 4), 3)
    singles = _members(shape, torch.float64, activation=activation)
    stack = StackedSoftMaskedMLP(_members(shape, torch.float64, activation=activation))
    X = torch.from_numpy(np.random.RandomState(0).normal(size=(4, 9, 6)))
    stack(X).square().sum().backward()
    for k, single in enumerate(singles):
        single(X[k]).square().sum().backward()
        for name, param in single.named_parameters():
            expected = param.grad
            got = dict(stack.named_parameters())[name].grad[k]
            torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(
    "criterion, targets",
    [
        (SoftmaxLogLoss(), lambda rng: torch.from_numpy(rng.integers(0, 4, (3, 6)))),
        (BinaryLogLoss(), lambda rng: torch.from_numpy(rng.integers(0, 2, (3, 6, 4)))),
        (HalfSquaredError(), lambda rng: torch.from_numpy(rng.normal(size=(3, 6, 4)))),
    ],
    ids=["softmax", "binary", "squared"],
)
def test_a_stacked_loss_is_each_batchs_own_with_padding_and_weights(
    criterion, targets, weighted
):
    # Three models' batches of 6, 4 and 2 rows, padded to 6 with rows of
    # garbage that must weigh nothing; each loss and its gradient is the
    # criterion's own on the model's rows.
    rng = np.random.default_rng(0)
    outputs = torch.from_numpy(rng.normal(size=(3, 6, 4))).requires_grad_()
    y = targets(rng)
    counts = [6, 4, 2]
    sample_weight = torch.from_numpy(rng.uniform(0.5, 2.0, (3, 6)))
    weights = torch.ones(3, 6) if not weighted else sample_weight.clone()
    weights = weights.double()
    for k, count in enumerate(counts):
        weights[k, count:] = 0.0
    with torch.no_grad():
        outputs[1, 4:] = 1e3  # padding far from any real row
    losses = criterion.stacked(outputs, y, weights)
    losses.sum().backward()
    for k, count in enumerate(counts):
        mine = outputs.detach()[k, :count].clone().requires_grad_()
        own = criterion(
            mine, y[k, :count], sample_weight[k, :count] if weighted else None
        )
        own.backward()
        torch.testing.assert_close(losses[k], own, rtol=1e-12, atol=0)
        torch.testing.assert_close(
            outputs.grad[k, :count], mine.grad, rtol=1e-12, atol=1e-15
        )
        assert torch.all(outputs.grad[k, count:] == 0)


def test_a_second_forward_before_backward_is_refused():
    stack = StackedSoftMaskedMLP(_members((6, (5,), 3), torch.float64))
    X = torch.from_numpy(np.random.RandomState(0).normal(size=(4, 9, 6)))
    first = stack(X)
    stack(X * 2)  # overwrites the hidden layer's output
    with pytest.raises(RuntimeError, match="modified inplace"):
        first.sum().backward()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("weight_gradient", ["masked", "full"])
def test_the_stacked_mask_node_is_each_pools_own_bit_for_bit(dtype, weight_gradient):
    # Small pools (the compiled stacked route): thresholds, masks and the
    # gradients of w, r and tau equal each pool's own node's exactly, at a
    # first step and at a second one that starts from the first's windows;
    # a row not soft passes through, a ratio of 0 prunes nothing.
    rng = np.random.default_rng(0)
    K, n, sizes = 5, 7400, [6400, 1000]
    weights = torch.from_numpy(rng.normal(0, 0.1, (K, n))).to(dtype)
    ratios = torch.tensor([0.0, 0.3, 0.6, 0.9, 0.5], dtype=dtype)
    temperatures = torch.tensor([1e-3, 2e-3, 1e-4, 5e-3, 1e-3], dtype=dtype)
    soft = [True, True, True, True, False]
    grads = [torch.from_numpy(rng.normal(size=(K, size))).to(dtype) for size in sizes]
    stacked_scratches = [Scratch() for _ in range(K)]
    single_scratches = [Scratch() for _ in range(K)]
    workspace = Scratch()
    for step in range(2):
        stack = [t.clone().requires_grad_() for t in (weights, ratios, temperatures)]
        parts = pruned_weights(
            *stack,
            1024,
            stacked_scratches,
            weight_gradient,
            soft,
            sizes,
            None,
            workspace,
        )
        values = [part.detach().clone() for part in parts]  # (the buffer is reused)
        torch.autograd.backward(parts, grads)
        for k in range(K):
            single = [
                t[k].clone().requires_grad_() for t in (weights, ratios, temperatures)
            ]
            if soft[k]:
                mine = pruned_weight(
                    *single, 1024, single_scratches[k], weight_gradient, sizes
                )
            else:
                mine = single[0].split(sizes)
            for value, own in zip(values, mine):
                assert torch.equal(value[k], own), (step, k)
            torch.autograd.backward(mine, [grad[k] for grad in grads])
            assert torch.equal(stack[0].grad[k], single[0].grad), (step, k)
            for t, own in zip(stack[1:], single[1:]):
                expected = own.grad if soft[k] else torch.zeros((), dtype=dtype)
                assert torch.equal(t.grad[k], expected), (step, k)
        weights = weights + 1e-3 * torch.from_numpy(rng.normal(size=(K, n))).to(dtype)
        ratios = ratios + 0.01 * torch.tensor(soft, dtype=dtype)


def test_a_member_whose_weights_are_not_finite_fails_alone():
    stack = StackedSoftMaskedMLP(_members((64, (100,), 10), torch.float64))
    with torch.no_grad():
        stack.members[1].weights[5] = float("nan")
    X = torch.from_numpy(np.random.RandomState(0).normal(size=(4, 20, 64)))
    outputs = stack(X)
    assert stack.failed == [1]
    assert torch.isfinite(outputs[[0, 2, 3]]).all()
    # Without the list of failures the error reaches the caller.
    with pytest.raises(ValueError, match="NaN or infinity"):
        pruned_weights(
            stack.weights,
            stack.ratio,
            stack.temperature,
            1024,
            [m.scratch for m in stack.members],
            "masked",
            [True] * 4,
        )


def _adams(weight_decay=0.0):
    """A stack of 3 models' parameters with its StackedAdam, and each model's
    copy with its own FusedAdam."""
    torch.manual_seed(0)
    params = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    singles = [torch.nn.Parameter(params.detach()[k].clone()) for k in range(3)]
    stacked = StackedAdam(
        {"weights": ([params], {"lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-8})}
    )
    optimizers = [FusedAdam([p], lr=0.1, weight_decay=weight_decay) for p in singles]
    return params, stacked, singles, optimizers


def test_stacked_adam_steps_only_the_models_it_is_given():
    params, stacked, singles, optimizers = _adams()
    for step, models in enumerate(([0, 1, 2], [0, 2], [0, 1, 2])):
        grads = torch.randn(3, 5, dtype=torch.float64)
        params.grad = grads.clone()
        before = params.detach().clone()
        decay = {k: 0.01 * (k + 1) for k in models}
        stacked.step({"weights": models}, decay)
        for k in range(3):
            if k not in models:  # a resting model does not move
                assert torch.equal(params[k], before[k])
                continue
            optimizers[k].param_groups[0]["weight_decay"] = decay[k]
            singles[k].grad = grads[k].clone()
            optimizers[k].step()
            assert torch.equal(params[k], singles[k]), (step, k)


def test_stacked_adam_steps_all_models_at_once_as_each_alone():
    # Every model at one count and decay (one call over the stacked
    # tensors), then one resting, then all again at unequal counts.
    params, stacked, singles, optimizers = _adams(weight_decay=0.01)
    for models in ([0, 1, 2], [0, 1, 2], [0, 2], [0, 1, 2], [0, 1, 2]):
        grads = torch.randn(3, 5, dtype=torch.float64)
        params.grad = grads.clone()
        stacked.step({"weights": models}, dict.fromkeys(models, 0.01))
        for k in models:
            singles[k].grad = grads[k].clone()
            optimizers[k].step()
        for k in range(3):
            assert torch.equal(params[k], singles[k])


def _fits(make, X, y, lambdas, subsets, sample_weight=None):
    """(stacked, single) fitted estimators for every lambda_ and subset."""
    pairs = []
    for lam in lambdas:
        for rows in subsets:
            weights = None if sample_weight is None else sample_weight[rows]
            stacked = make(lam)
            pending = stacked._begin_fit(X[rows], y[rows], weights, None, False)
            single = make(lam).fit(X[rows], y[rows], sample_weight=weights)
            pairs.append((stacked, pending, single))
    train_stacked([(model, pending) for model, pending, _ in pairs])
    return [(stacked, single) for stacked, _, single in pairs]


def _assert_same_fit(stacked, single):
    """The same fit to round-off: batched products may reduce in another
    order than the single ones (which order depends on the BLAS and the
    processor), and the same discrete decisions (epochs, sparsity)."""
    parts = zip(
        stacked.coefs_ + stacked.intercepts_, single.coefs_ + single.intercepts_
    )
    assert stacked.n_iter_ == single.n_iter_
    double = single.coefs_[0].dtype == np.float64
    close = dict(rtol=1e-9, atol=1e-12) if double else dict(rtol=1e-4, atol=1e-6)
    for mine, theirs in parts:
        np.testing.assert_allclose(mine, theirs, **close)
    np.testing.assert_allclose(stacked.loss_curve_, single.loss_curve_, **close)
    assert stacked.learned_sparsity_ == single.learned_sparsity_
    if single.validation_scores_ is not None:
        np.testing.assert_allclose(
            stacked.validation_scores_, single.validation_scores_, **close
        )
    for name, values in single.pruning_history_.items():
        np.testing.assert_allclose(stacked.pruning_history_[name], values, **close)


@pytest.mark.end_to_end
@pytest.mark.parametrize(
    "params",
    [
        dict(max_iter=25, n_iter_no_change=2, tol=0.05),
        dict(max_iter=25, early_stopping=True, n_iter_no_change=1, tol=0.01),
        dict(max_iter=15, batch_size=64, alpha=1e-2, weight_gradient="full"),
        dict(max_iter=20, prune="neurons", n_iter_no_change=2, tol=0.05),
    ],
    ids=["stopping", "early stopping", "uneven batches", "neurons"],
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_stacked_fits_are_the_single_fits(digits_split, params, dtype):
    X, _, y, _ = digits_split
    X = X[:500].astype(dtype)
    y = y[:500]
    # Subsets of different sizes: their last batches differ, and some
    # models stop before others.
    subsets = [np.arange(0, 400), np.arange(100, 500), np.arange(0, 499)]
    pairs = _fits(
        lambda lam: AdaptivePrunedMLPClassifier(lambda_=lam, random_state=0, **params),
        X,
        y,
        [0.3, 30.0],
        subsets,
    )
    for stacked, single in pairs:
        _assert_same_fit(stacked, single)
    if "n_iter_no_change" in params:
        assert len({single.n_iter_ for _, single in pairs}) > 1


def test_stacked_fits_of_different_batch_sizes_are_the_single_fits(digits_split):
    # batch_size="auto" is min(200, rows): 150 and 180 rows, one batch each
    # of its own size; with 64, batches of 64 and a last one of 22 or 52.
    X, _, y, _ = digits_split
    for batch_size in ("auto", 64):
        pairs = _fits(
            lambda lam, size=batch_size: AdaptivePrunedMLPClassifier(
                lambda_=lam, max_iter=8, batch_size=size, random_state=0
            ),
            X,
            y,
            [1.0],
            [np.arange(0, 150), np.arange(20, 200)],
        )
        for stacked, single in pairs:
            _assert_same_fit(stacked, single)


def test_a_net_whose_batch_start_is_its_own_is_notified(digits_split, monkeypatch):
    # The stacked loop writes a batch's row itself only where the net's
    # on_batch_begin is skorch's own and no callback listens; otherwise it
    # notifies, every step of every model, and the fits are the same.
    calls = []

    def on_batch_begin(self, net, **kwargs):
        calls.append(kwargs["training"])
        NeuralNet.on_batch_begin(self, net, **kwargs)

    monkeypatch.setattr(PruningNet, "on_batch_begin", on_batch_begin)
    X, _, y, _ = digits_split
    pairs = _fits(
        lambda lam: AdaptivePrunedMLPClassifier(
            lambda_=lam, max_iter=3, random_state=0
        ),
        X,
        y,
        [1.0],
        [np.arange(0, 450), np.arange(50, 500)],
    )
    for stacked, single in pairs:
        _assert_same_fit(stacked, single)
    # 3 epochs of 3 training batches, for the two stacked fits and the two
    # single ones.
    assert calls.count(True) == 4 * 3 * 3


@pytest.mark.end_to_end
def test_stacked_fits_with_sample_weight_binary_labels_and_regression():
    # One output and 30 inputs: the batched products reduce in another order
    # than the single ones; equal to round-off.
    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    weights = np.random.RandomState(0).uniform(0.2, 2.0, len(y))
    subsets = [np.arange(0, 400), np.arange(150, 569)]
    pairs = _fits(
        lambda lam: AdaptivePrunedMLPClassifier(
            lambda_=lam, max_iter=10, random_state=0
        ),
        X,
        y,
        [1.0, 100.0],
        subsets,
        sample_weight=weights,
    )
    X, y = load_diabetes(return_X_y=True)
    pairs += _fits(
        lambda lam: AdaptivePrunedMLPRegressor(
            lambda_=lam, max_iter=10, random_state=0
        ),
        X,
        y,
        [1.0, 100.0],
        [np.arange(0, 300), np.arange(100, 442)],
    )
    for stacked, single in pairs:
        _assert_same_fit(stacked, single)


def test_a_stacked_fit_that_diverges_at_once_fails_as_fit_does():
    X = np.random.RandomState(0).normal(size=(60, 3))
    y = np.arange(60) % 2
    model = AdaptivePrunedMLPClassifier(learning_rate_init=1e6, max_iter=3)
    with pytest.warns(UserWarning, match="unscaled features"):
        pending = model._begin_fit(X * 1e10, y, None, None, False)
    with pytest.raises(ValueError, match="non-finite parameter weights"):
        train_stacked([(model, pending)])


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(rows=np.array([4], dtype=np.int64)), "row 4 is not among"),
        (dict(ranks=np.full(2, 10, dtype=np.int64)), "ranks must be in"),
        (dict(stats=np.zeros((2, 6))), "stats must hold 14"),
        (dict(n=3), "K rows of n = 3"),
    ],
)
def test_the_stacked_kernels_refuse_bad_buffers(change, message):
    arguments = dict(
        weights=np.zeros((2, 10)),
        magnitudes=np.zeros((2, 10)),
        n=10,
        rows=np.array([0, 1], dtype=np.int64),
        ranks=np.array([1, 2], dtype=np.int64),
        windows=np.zeros((2, 2)),
        stats=np.zeros((2, 7)),
        threads=1,
    )
    arguments.update(change)
    with pytest.raises(ValueError, match=message):
        _kernels.stacked_select(*arguments.values())


@pytest.mark.parametrize("bound", ["_STACK_WEIGHTS", "_STACKED_MODEL_WEIGHTS"])
def test_fits_past_the_stacks_bounds_train_in_chunks_or_alone(
    digits_split, monkeypatch, bound
):
    from sk_adaprune import _base

    stacks = []
    monkeypatch.setattr(_base, bound, 2 * 7400 if bound == "_STACK_WEIGHTS" else 7399)
    original = _base.fit_stacked
    monkeypatch.setattr(
        _base,
        "fit_stacked",
        lambda nets, data: stacks.append(len(nets)) or original(nets, data),
    )
    X, _, y, _ = digits_split
    pairs = _fits(
        lambda lam: AdaptivePrunedMLPClassifier(
            lambda_=lam, max_iter=4, random_state=0
        ),
        X[:300],
        y[:300],
        [0.3, 3.0, 30.0],
        [np.arange(300)],
    )
    # 7,400 weights a model: two to a stack, or (past the model bound) none.
    assert stacks == ([2] if bound == "_STACK_WEIGHTS" else [])
    for stacked, single in pairs:
        _assert_same_fit(stacked, single)


def test_the_stack_holds_each_folds_rows_once():
    from sk_adaprune._training.stacked import StackedData, _offset_of

    X = torch.zeros(5, 2)
    rows = StackedData(X, torch.arange(5), None, None)
    copy = StackedData(X.clone(), torch.arange(5), None, None)
    other = StackedData(X[:4], torch.arange(4), None, None)
    relabelled = StackedData(X, torch.arange(5) % 2, None, None)
    distinct = []
    offsets = [_offset_of(r, distinct) for r in (rows, copy, other, rows, relabelled)]
    assert offsets == [0, 0, 5, 0, 9]
    assert len(distinct) == 3
