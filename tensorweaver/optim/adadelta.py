"""Adadelta: step sizes from running averages of squared gradients and squared updates."""
from __future__ import annotations

from tensorweaver import backend
from tensorweaver.autograd.grad_mode import no_grad
from tensorweaver.ops.inplace import bump_version
from tensorweaver.optim.optimizer import Optimizer
from tensorweaver.tensor import _make_tensor

xp = backend.xp


class Adadelta(Optimizer):
    r"""Adadelta, as ``torch.optim.Adadelta`` (single-tensor CPU path, same operation order):

    .. code-block:: text

        g = grad (+ weight_decay * p)
        v = rho * v + (1 - rho) * g * g                        (square_avg)
        delta = sqrt(u + eps) / sqrt(v + eps) * g
        u = rho * u + (1 - rho) * delta * delta                (acc_delta)
        p -= lr * delta

    Args:
        params: parameters or parameter groups to optimize
        lr: coefficient that scales delta before it is applied. Default: 1.0
        rho: coefficient of the running averages. Default: 0.9
        eps: term added inside the square roots for numerical stability. Default: 1e-6
        weight_decay: L2 penalty. Default: 0
        maximize: maximize the objective instead of minimizing. Default: False
    """

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6, weight_decay: float = 0,
                 *, maximize: bool = False):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        if eps < 0.0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize))

    @no_grad()
    def step(self, closure=None):
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr, rho, eps, weight_decay = group["lr"], group["rho"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["square_avg"] = _make_tensor(xp.zeros(p.shape, dtype=p.dtype), False, None)
                    state["acc_delta"] = _make_tensor(xp.zeros(p.shape, dtype=p.dtype), False, None)
                state["step"] += 1
                g = -p.grad.data if group["maximize"] else p.grad.data
                if weight_decay != 0:
                    g = g + weight_decay * p.data
                square_avg, acc_delta = state["square_avg"].data, state["acc_delta"].data
                square_avg *= rho
                square_avg += (1 - rho) * (g * g)
                std = xp.sqrt(square_avg + eps)
                delta = xp.sqrt(acc_delta + eps) / std * g
                acc_delta *= rho
                acc_delta += (1 - rho) * (delta * delta)
                p.data -= lr * delta
                bump_version(p)      # a graph built before this step now refuses to backward
        return loss
