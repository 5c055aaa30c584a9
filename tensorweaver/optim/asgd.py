"""ASGD: averaged stochastic gradient descent (Polyak-Ruppert averaging)."""
from __future__ import annotations

from tensorweaver import backend
from tensorweaver.autograd.grad_mode import no_grad
from tensorweaver.ops.inplace import bump_version
from tensorweaver.optim.optimizer import Optimizer, scalar_state
from tensorweaver.tensor import _make_tensor

xp = backend.xp


class ASGD(Optimizer):
    r"""Averaged SGD, as ``torch.optim.ASGD`` (single-tensor CPU path, same operation order):

    .. code-block:: text

        t += 1
        g = grad (+ weight_decay * p)
        p = p * (1 - lambd * eta) - eta * g
        ax = ax + mu * (p - ax)  if mu != 1  else  p           (the running average)
        eta = lr / (1 + lambd * lr * t)^alpha;  mu = 1 / max(1, t - t0)

    The averaged parameters are in ``optimizer.state[p]["ax"]``. ``eta`` and ``mu`` are
    rounded to float32 (float64 when that is the default dtype), as torch stores them.

    Args:
        params: parameters or parameter groups to optimize
        lr: learning rate. Default: 1e-2
        lambd: decay term. Default: 1e-4
        alpha: power for the eta update. Default: 0.75
        t0: the step at which averaging starts. Default: 1e6
        weight_decay: L2 penalty. Default: 0
        maximize: maximize the objective instead of minimizing. Default: False
    """

    def __init__(self, params, lr: float = 1e-2, lambd: float = 1e-4, alpha: float = 0.75, t0: float = 1e6,
                 weight_decay: float = 0, *, maximize: bool = False):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        super().__init__(params, dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay,
                                      maximize=maximize))

    @no_grad()
    def step(self, closure=None):
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr, lambd, alpha, t0 = group["lr"], group["lambd"], group["alpha"], group["t0"]
            weight_decay = group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["eta"] = scalar_state(lr)
                    state["mu"] = 1.0
                    state["ax"] = _make_tensor(xp.zeros(p.shape, dtype=p.dtype), False, None)
                state["step"] += 1
                step = state["step"]
                g = -p.grad.data if group["maximize"] else p.grad.data
                if weight_decay != 0:
                    g = g + weight_decay * p.data
                eta = state["eta"]
                p.data *= 1 - lambd * eta
                p.data -= eta * g
                ax = state["ax"].data
                if state["mu"] != 1:
                    ax += (p.data - ax) * state["mu"]
                else:
                    ax[...] = p.data
                state["eta"] = scalar_state(lr / ((1 + lambd * lr * step) ** alpha))
                state["mu"] = scalar_state(1 / max(1, step - t0))
                bump_version(p)      # a graph built before this step now refuses to backward
        return loss

    def _restore(self, name, value, param):
        if name in ("eta", "mu"):                # 0-d tensors in torch's state_dict
            return scalar_state(value)
        return super()._restore(name, value, param)
