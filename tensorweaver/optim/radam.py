"""RAdam: Adam with a rectified (variance-corrected) adaptive learning rate."""
from __future__ import annotations

from tensorweaver import backend
from tensorweaver.autograd.grad_mode import no_grad
from tensorweaver.ops.inplace import bump_version
from tensorweaver.optim.optimizer import Optimizer, lerp_
from tensorweaver.tensor import _make_tensor

xp = backend.xp


class RAdam(Optimizer):
    r"""RAdam, as ``torch.optim.RAdam`` (single-tensor CPU path, same operation order):

    .. code-block:: text

        t += 1
        g = grad (+ weight_decay * p)            (decoupled: p *= 1 - lr * weight_decay instead)
        m = lerp(m, g, 1 - beta1);  v = beta2 * v + (1 - beta2) * g * g
        rho_inf = 2 / (1 - beta2) - 1;  rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)
        if rho_t > 5: p -= m / (1 - beta1^t) * lr * sqrt(1 - beta2^t) / (sqrt(v) + eps) * r_t
                      with r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
        else:         p -= m / (1 - beta1^t) * lr       (the first steps: plain momentum SGD)

    Args:
        params: parameters or parameter groups to optimize
        lr: learning rate. Default: 1e-3
        betas: coefficients for the running averages of the gradient and its square. Default: (0.9, 0.999)
        eps: term added to the denominator for numerical stability. Default: 1e-8
        weight_decay: weight decay. Default: 0
        decoupled_weight_decay: decay the weights directly, as AdamW. Default: False
        maximize: maximize the objective instead of minimizing. Default: False
    """

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0,
                 decoupled_weight_decay: bool = False, *, maximize: bool = False):
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
                                      decoupled_weight_decay=decoupled_weight_decay, maximize=maximize))

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
                    state["exp_avg_sq"] = _make_tensor(xp.zeros(p.shape, dtype=p.dtype), False, None)
                state["step"] += 1
                step = state["step"]
                g = -p.grad.data if group["maximize"] else p.grad.data
                if weight_decay != 0:
                    if group["decoupled_weight_decay"]:
                        p.data *= 1 - lr * weight_decay
                    else:
                        g = g + weight_decay * p.data
                exp_avg, exp_avg_sq = state["exp_avg"].data, state["exp_avg_sq"].data
                lerp_(exp_avg, g, 1 - beta1)
                exp_avg_sq *= beta2
                exp_avg_sq += (1 - beta2) * (g * g)
                bias_correction1 = 1 - beta1 ** step
                bias_correction2 = 1 - beta2 ** step
                bias_corrected_exp_avg = exp_avg / bias_correction1
                rho_inf = 2 / (1 - beta2) - 1
                rho_t = rho_inf - 2 * step * (beta2 ** step) / bias_correction2
                if rho_t > 5.0:
                    # the variance of the adaptive rate is tractable: rectify it
                    rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
                    adaptive_lr = (bias_correction2 ** 0.5) / (xp.sqrt(exp_avg_sq) + eps)
                    p.data -= bias_corrected_exp_avg * lr * adaptive_lr * rect
                else:
                    p.data -= bias_corrected_exp_avg * lr
                bump_version(p)      # a graph built before this step now refuses to backward
        return loss
