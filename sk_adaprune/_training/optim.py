"""Adam on torch's fused kernel, without ``torch.optim``.

``torch.optim.Optimizer`` imports ``torch._dynamo`` the first time an
optimizer is built in a process (its methods are wrapped by
``torch._disable_dynamo``), which can take longer than a whole fit of a
small network. :class:`FusedAdam` makes the same step as
``torch.optim.Adam(fused=True)``, bit for bit (tests/test_adam.py): per
parameter group, the steps counted up by one, then one
``torch._fused_adam_`` call per device and dtype.
"""

from collections import defaultdict

import torch

__all__ = ["FusedAdam"]


class FusedAdam(torch.optim.Optimizer):
    """``torch.optim.Adam(fused=True)`` as far as the estimators use it.

    A ``torch.optim.Optimizer`` for skorch's bookkeeping (it registers,
    zeroes and steps the net's optimizers by that type), but without
    ``Optimizer.__init__`` and its wrapped methods: ``zero_grad`` and
    ``step`` are its own, and ``param_groups``, ``state`` and ``defaults``
    are plain attributes of the same layout.

    Parameters
    ----------
    params : iterable of tensors or of dicts
        The parameters, or parameter groups with their own settings.
    lr, betas, eps, weight_decay :
        Adam's, as in ``torch.optim.Adam``; no AMSGrad, no ``maximize``.
    fused : bool
        Accepted for ``torch.optim.Adam``'s signature; always fused.
    """

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0.0,
        fused=True,
    ):
        # No super().__init__(): it would import torch._dynamo.
        self.defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
        groups = list(params)
        if not groups:
            raise ValueError("FusedAdam got an empty parameter list.")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        self.param_groups = [
            {**self.defaults, **group, "params": list(group["params"])}
            for group in groups
        ]
        self.state = defaultdict(dict)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                if set_to_none:
                    param.grad = None
                else:
                    param.grad.detach_().zero_()

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            by_kind = defaultdict(lambda: ([], [], [], [], []))
            for param in group["params"]:
                if param.grad is None:
                    continue
                state = self.state[param]
                if not state:  # as torch.optim.Adam's fused path initialises
                    state["step"] = torch.zeros(
                        (), dtype=torch.float32, device=param.device
                    )
                    state["exp_avg"] = torch.zeros_like(
                        param, memory_format=torch.preserve_format
                    )
                    state["exp_avg_sq"] = torch.zeros_like(
                        param, memory_format=torch.preserve_format
                    )
                lists = by_kind[(param.device, param.dtype)]
                for values, tensor in zip(
                    lists,
                    (
                        param,
                        param.grad,
                        state["exp_avg"],
                        state["exp_avg_sq"],
                        state["step"],
                    ),
                ):
                    values.append(tensor)
            beta1, beta2 = group["betas"]
            for params, grads, exp_avgs, exp_avg_sqs, steps in by_kind.values():
                torch._foreach_add_(steps, 1)
                torch._fused_adam_(
                    params,
                    grads,
                    exp_avgs,
                    exp_avg_sqs,
                    [],
                    steps,
                    amsgrad=False,
                    lr=group["lr"],
                    beta1=beta1,
                    beta2=beta2,
                    weight_decay=group["weight_decay"],
                    eps=group["eps"],
                    maximize=False,
                    grad_scale=None,
                    found_inf=None,
                )
        return loss
