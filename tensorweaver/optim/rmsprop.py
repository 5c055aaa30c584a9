"""RMSprop, optionally centered and with momentum."""
from __future__ import annotations

from tensorweaver.ops.inplace import bump_version
from tensorweaver import backend
from tensorweaver.autograd.grad_mode import no_grad
from tensorweaver.optim.optimizer import Optimizer, lerp_
from tensorweaver.tensor import _make_tensor

xp = backend.xp


class RMSprop(Optimizer):
    r"""RMSprop, as ``torch.optim.RMSprop``:

    .. code-block:: text

        g = grad (+ weight_decay * p)
        v = alpha * v + (1 - alpha) * g * g
        avg = sqrt(v - g_avg^2) with g_avg = lerp(g_avg, g, 1 - alpha) (centered) else sqrt(v)
        if momentum: b = momentum * b + g / (avg + eps);  p -= lr * b
        else:        p -= lr * g / (avg + eps)

    Args:
        params: parameters or parameter groups to optimize
        lr: learning rate. Default: 1e-2
        alpha: smoothing constant. Default: 0.99
        eps: term added to the denominator for numerical stability. Default: 1e-8
        weight_decay: L2 penalty. Default: 0
        momentum: momentum factor. Default: 0
        centered: normalize by an estimate of the gradient's variance. Default: False
        maximize: maximize the objective instead of minimizing. Default: False
    """

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0,
                 momentum: float = 0, centered: bool = False, *, maximize: bool = False):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if eps < 0.0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if alpha < 0.0:
            raise ValueError(f"Invalid alpha value: {alpha}")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered, maximize=maximize))

    @no_grad()
    def step(self, closure=None):
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
            weight_decay, momentum, centered = group["weight_decay"], group["momentum"], group["centered"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = -p.grad.data if group["maximize"] else p.grad.data
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["square_avg"] = _make_tensor(xp.zeros(p.shape, dtype=p.dtype), False, None)
                    if momentum > 0:
                        state["momentum_buffer"] = _make_tensor(xp.zeros(p.shape, dtype=p.dtype), False, None)
                    if centered:
                        state["grad_avg"] = _make_tensor(xp.zeros(p.shape, dtype=p.dtype), False, None)
                state["step"] += 1
                if weight_decay != 0:
                    g = g + weight_decay * p.data
                square_avg = state["square_avg"].data
                square_avg *= alpha
                square_avg += (1 - alpha) * (g * g)
                if centered:
                    grad_avg = state["grad_avg"].data
                    lerp_(grad_avg, g, 1 - alpha)
                    avg = xp.sqrt(square_avg - grad_avg * grad_avg)
                else:
                    avg = xp.sqrt(square_avg)
                avg += eps
                if momentum > 0:
                    buf = state["momentum_buffer"].data
                    buf *= momentum
                    buf += g / avg
                    p.data -= lr * buf
                else:
                    p.data -= lr * (g / avg)
                bump_version(p)      # a graph built before this step now refuses to backward
        return loss
