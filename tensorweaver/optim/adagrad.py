"""Adagrad: per-coordinate learning rates from the running sum of squared gradients."""
from __future__ import annotations

from tensorweaver import backend
from tensorweaver.autograd.grad_mode import no_grad
from tensorweaver.ops.inplace import bump_version
from tensorweaver.optim.optimizer import Optimizer
from tensorweaver.tensor import _make_tensor

xp = backend.xp


class Adagrad(Optimizer):
    r"""Adagrad, as ``torch.optim.Adagrad`` (single-tensor CPU path, same operation order):

    .. code-block:: text

        t += 1
        g = grad (+ weight_decay * p)
        clr = lr / (1 + (t - 1) * lr_decay)
        sum += g * g
        p -= clr * g / (sqrt(sum) + eps)

    Like torch, the state (``step`` and ``sum``, filled with ``initial_accumulator_value``)
    is created when the optimizer is built, so ``state_dict()`` lists every parameter
    from the start.

    Args:
        params: parameters or parameter groups to optimize
        lr: learning rate. Default: 1e-2
        lr_decay: learning-rate decay per step. Default: 0
        weight_decay: L2 penalty. Default: 0
        initial_accumulator_value: starting value of the sum of squares. Default: 0
        eps: term added to the denominator for numerical stability. Default: 1e-10
        maximize: maximize the objective instead of minimizing. Default: False
    """

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, *, maximize: bool = False):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if lr_decay < 0.0:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if initial_accumulator_value < 0.0:
            raise ValueError(f"Invalid initial_accumulator_value value: {initial_accumulator_value}")
        if eps < 0.0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, maximize=maximize))
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, group)

    def _init_state(self, p, group) -> None:
        state = self.state[p]
        if not state:
            state["step"] = 0
            state["sum"] = _make_tensor(xp.full(p.shape, group["initial_accumulator_value"], dtype=p.dtype),
                                        False, None)

    @no_grad()
    def step(self, closure=None):
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr, lr_decay, eps, weight_decay = group["lr"], group["lr_decay"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                self._init_state(p, group)          # a group added later with add_param_group
                state = self.state[p]
                state["step"] += 1
                g = -p.grad.data if group["maximize"] else p.grad.data
                if weight_decay != 0:
                    g = g + weight_decay * p.data
                clr = lr / (1 + (state["step"] - 1) * lr_decay)
                state_sum = state["sum"].data
                state_sum += g * g
                std = xp.sqrt(state_sum) + eps
                p.data -= clr * (g / std)
                bump_version(p)      # a graph built before this step now refuses to backward
        return loss
