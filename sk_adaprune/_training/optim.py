"""Adam on torch's fused kernel, without ``torch.optim``.

``torch.optim.Optimizer`` imports ``torch._dynamo`` the first time an
optimizer is built in a process (its methods are wrapped by
``torch._disable_dynamo``), which can take longer than a whole fit of a
small network. :class:`FusedAdam` makes the same step as
``torch.optim.Adam(fused=True)``, bit for bit (tests/test_adam.py): the
step counts of every group counted up by one (one call), then one
``torch._fused_adam_`` call per group, device and dtype.
"""

from collections import defaultdict

import torch

__all__ = ["FusedAdam", "StackedAdam"]


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
        calls, steps_of_all = [], []
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
            for lists in by_kind.values():
                calls.append((group, lists))
                steps_of_all.extend(lists[4])
        # Every group's step counts up in one call; each group's step reads
        # only its own counts.
        if steps_of_all:
            torch._foreach_add_(steps_of_all, 1)
        for group, (params, grads, exp_avgs, exp_avg_sqs, steps) in calls:
            beta1, beta2 = group["betas"]
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


class StackedAdam:
    """:class:`FusedAdam` for the models of a stacked module, model by model.

    A stacked module (``StackedSoftMaskedMLP``) holds ``K`` models' parameters
    along a leading axis. Each model keeps its own Adam state (the moments
    are rows of stacked buffers, the step counts entries of a ``(K,)``
    tensor per parameter), and :meth:`step` moves only the models it is
    given: one ``torch._fused_adam_`` call per parameter group and weight
    decay, over those models' rows (over the stacked tensors whole when
    every model steps, all at one step count). Each row therefore takes the step
    ``FusedAdam`` makes on one model's parameter, bit for bit, and a model
    that does not step (it has stopped, or its epoch has fewer batches) is
    left exactly as it is.

    Parameters
    ----------
    groups : dict of str to (list of tensors, dict)
        Per group name, the stacked parameters and their settings
        (``lr``, ``betas``, ``eps``), as a net's optimizer groups them.
    """

    def __init__(self, groups):
        self.groups = groups
        # Each stacked tensor's rows (views of zeroed buffers, made once): the
        # models' parameters, Adam's moments, and each model's step count;
        # the stacked buffers themselves, for a step of every model at once.
        self._whole, self._rows = {}, {}
        for params, _ in groups.values():
            for param in params:
                whole = (
                    param.detach(),
                    torch.zeros_like(param),
                    torch.zeros_like(param),
                    torch.zeros(
                        param.shape[0], dtype=torch.float32, device=param.device
                    ),
                )
                self._whole[param] = whole
                self._rows[param] = tuple(tensor.unbind(0) for tensor in whole)
        # Host copies of the step counts: whether all models are at one step.
        self._counts = {
            name: [0] * len(params[0]) for name, (params, _) in groups.items()
        }

    def zero_grad(self) -> None:
        for params, _ in self.groups.values():
            for param in params:
                param.grad = None

    @torch.no_grad()
    def step(self, models: dict[str, list[int]], weight_decay: dict) -> None:
        """One step of the models ``models[group]`` in each group (the
        others' rows get none), ``weight_decay[k]`` the weights group's
        decay of model ``k`` (the other groups have none)."""
        for name, (params, settings) in self.groups.items():
            chosen = models.get(name, ())
            if not chosen:
                continue
            decays = [weight_decay[k] if name == "weights" else 0.0 for k in chosen]
            beta1, beta2 = settings["betas"]
            counts = self._counts[name]
            for k in chosen:
                counts[k] += 1
            for decay in dict.fromkeys(decays):
                ks = [k for k, d in zip(chosen, decays) if d == decay]
                if len(ks) == len(counts) and min(counts) == max(counts):
                    lists = self._whole_lists(params)  # every model, one step
                else:
                    lists = self._row_lists(params, ks)
                torch._fused_adam_(
                    *lists[:4],
                    [],
                    lists[4],
                    amsgrad=False,
                    lr=settings["lr"],
                    beta1=beta1,
                    beta2=beta2,
                    weight_decay=decay,
                    eps=settings["eps"],
                    maximize=False,
                    grad_scale=None,
                    found_inf=None,
                )

    def _whole_lists(self, params) -> tuple[list, ...]:
        """The arguments of ``_fused_adam_`` for every model of ``params``,
        all at one step count: the stacked tensors, one each (the step count
        of the first model stands for all)."""
        lists = ([], [], [], [], [])
        for param in params:
            values, exp_avgs, exp_avg_sqs, steps = self._whole[param]
            steps.add_(1)
            for out, tensor in zip(
                lists, (values, param.grad, exp_avgs, exp_avg_sqs, steps[0])
            ):
                out.append(tensor)
        return lists

    def _row_lists(self, params, ks: list[int]) -> tuple[list, ...]:
        """The arguments of ``_fused_adam_`` for the models ``ks``: their rows
        of ``params``, their step counts moved on."""
        lists = ([], [], [], [], [])
        for param in params:
            values, exp_avgs, exp_avg_sqs, steps = self._rows[param]
            grads = param.grad.unbind(0)
            for out, rows in zip(lists, (values, grads, exp_avgs, exp_avg_sqs, steps)):
                out.extend(rows[k] for k in ks)
        torch._foreach_add_(lists[4], 1)
        return lists
