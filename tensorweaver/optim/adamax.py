"""Adamax: Adam with the infinity norm in place of the squared-gradient average."""
from __future__ import annotations

from tensorweaver import backend
from tensorweaver.autograd.grad_mode import no_grad
from tensorweaver.ops.inplace import bump_version
from tensorweaver.optim.optimizer import Optimizer, lerp_
from tensorweaver.tensor import _make_tensor

xp = backend.xp


class Adamax(Optimizer):
    r"""Adamax, as ``torch.optim.Adamax`` (single-tensor CPU path, same operation order):

    .. code-block:: text

        t += 1
        g = grad (+ weight_decay * p)
        m = lerp(m, g, 1 - beta1)                              (exp_avg)
        u = max(beta2 * u, |g| + eps)                          (exp_inf)
        p -= lr / (1 - beta1^t) * m / u

    Args:
        params: parameters or parameter groups to optimize
        lr: learning rate. Default: 2e-3
        betas: coefficients of the gradient average and of the infinity norm. Default: (0.9, 0.999)
        eps: term added to the norm for numerical stability. Default: 1e-8
        weight_decay: L2 penalty. Default: 0
        maximize: maximize the objective instead of minimizing. Default: False
    """

    def __init__(self, params, lr: float = 2e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0,
                 *, maximize: bool = False):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if eps < 0.0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      maximize=maximize))

    @no_grad()
    def step(self, closure=None):
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr, (beta1, beta2), eps, weight_decay = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = _make_tensor(xp.zeros(p.shape, dtype=p.dtype), False, None)
                    state["exp_inf"] = _make_tensor(xp.zeros(p.shape, dtype=p.dtype), False, None)
                state["step"] += 1
                g = -p.grad.data if group["maximize"] else p.grad.data
                if weight_decay != 0:
                    g = g + weight_decay * p.data
                exp_avg, exp_inf = state["exp_avg"].data, state["exp_inf"].data
                lerp_(exp_avg, g, 1 - beta1)
                exp_inf *= beta2
                xp.maximum(exp_inf, xp.abs(g) + eps, out=exp_inf)
                clr = lr / (1 - beta1 ** state["step"])
                p.data -= clr * (exp_avg / exp_inf)
                bump_version(p)      # a graph built before this step now refuses to backward
        return loss
