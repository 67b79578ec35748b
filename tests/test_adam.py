"""FusedAdam makes torch.optim.Adam(fused=True)'s steps, bit for bit."""

import pytest
import torch

from sk_adaprune._training.optim import FusedAdam


def _parameters(seed):
    generator = torch.Generator().manual_seed(seed)
    return [
        torch.nn.Parameter(torch.randn(shape, generator=generator))
        for shape in ((50, 20), (20,), (), ())
    ]


@pytest.mark.parametrize("seed", range(3))
def test_steps_equal_torchs_fused_adam(seed):
    ours, theirs = _parameters(seed), _parameters(seed)

    def groups(params):
        weights, biases, ratio, temperature = params
        return [
            {"params": [ratio], "lr": 1e-2},
            {"params": [temperature], "lr": 1e-6},
            {"params": [weights], "weight_decay": 1e-3},
            {"params": [biases]},
        ]

    settings = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, fused=True)
    optimizers = (
        FusedAdam(groups(ours), **settings),
        torch.optim.Adam(groups(theirs), **settings),
    )
    generator = torch.Generator().manual_seed(seed + 10)
    for step in range(20):
        grads = [torch.randn(p.shape, generator=generator) for p in ours]
        for optimizer, params in zip(optimizers, (ours, theirs)):
            optimizer.zero_grad()
            for param, grad in zip(params, grads):
                # A parameter without a gradient is skipped, as torch skips it.
                param.grad = None if step % 7 == 3 and param.ndim == 0 else grad.clone()
            optimizer.step()
        for a, b in zip(ours, theirs):
            assert torch.equal(a, b)
    for a, b in zip(ours, theirs):
        ours_state, theirs_state = optimizers[0].state[a], optimizers[1].state[b]
        for key in ("step", "exp_avg", "exp_avg_sq"):
            assert torch.equal(ours_state[key], theirs_state[key])


def test_zero_grad_sets_gradients_to_none_or_zero():
    params = _parameters(0)
    optimizer = FusedAdam(params)
    for param in params:
        param.grad = torch.ones_like(param)
    optimizer.zero_grad(set_to_none=False)
    assert all(torch.equal(p.grad, torch.zeros_like(p)) for p in params)
    optimizer.zero_grad()
    assert all(p.grad is None for p in params)


def test_an_empty_parameter_list_is_refused():
    with pytest.raises(ValueError, match="empty parameter list"):
        FusedAdam([])
