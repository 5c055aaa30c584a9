"""Stochastic gradient descent, with momentum, dampening, Nesterov and weight decay."""
from __future__ import annotations

from tensorweaver.ops.inplace import bump_version
from tensorweaver.autograd.grad_mode import no_grad
from tensorweaver.optim.optimizer import Optimizer
from tensorweaver.tensor import _make_tensor


class SGD(Optimizer):
    r"""Stochastic gradient descent (optionally with momentum), as ``torch.optim.SGD``:

    .. code-block:: text

        g = grad (+ weight_decay * p)
        if momentum: b = g (first step) else momentum * b + (1 - dampening) * g
                     g = g + momentum * b (nesterov) else b
        p = p - lr * g

    Args:
        params: parameters or parameter groups to optimize
        lr: learning rate. Default: 1e-3
        momentum: momentum factor. Default: 0
        dampening: dampening for momentum. Default: 0
        weight_decay: L2 penalty. Default: 0
        nesterov: enables Nesterov momentum (needs momentum > 0 and dampening = 0). Default: False
        maximize: maximize the objective instead of minimizing. Default: False
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize))

    @no_grad()
    def step(self, closure=None):
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
            weight_decay, nesterov, maximize = group["weight_decay"], group["nesterov"], group["maximize"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                ### BEGIN SOLUTION
                g = -p.grad.data if maximize else p.grad.data
                if weight_decay != 0:
                    g = g + weight_decay * p.data
                if momentum != 0:
                    state = self.state[p]
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = state["momentum_buffer"] = _make_tensor(g.copy(), False, None)
                    else:
                        buf.data *= momentum
                        buf.data += (1 - dampening) * g
                    g = g + momentum * buf.data if nesterov else buf.data
                p.data -= lr * g
                ### END SOLUTION
                bump_version(p)      # a graph built before this step now refuses to backward
        return loss
