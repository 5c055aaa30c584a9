"""NAdam: Adam with Nesterov momentum (and optional decoupled weight decay)."""
from __future__ import annotations

from tensorweaver import backend
from tensorweaver.autograd.grad_mode import no_grad
from tensorweaver.ops.inplace import bump_version
from tensorweaver.optim.optimizer import Optimizer, lerp_, scalar_state
from tensorweaver.tensor import _make_tensor

xp = backend.xp


class NAdam(Optimizer):
    r"""NAdam, as ``torch.optim.NAdam`` (single-tensor CPU path, same operation order):

    .. code-block:: text

        t += 1
        g = grad (+ weight_decay * p)            (decoupled: p *= 1 - lr * weight_decay instead)
        mu_t = beta1 * (1 - 0.5 * 0.96^(t * momentum_decay)),  mu_{t+1} likewise
        prod *= mu_t                                           (mu_product)
        m = lerp(m, g, 1 - beta1);  v = beta2 * v + (1 - beta2) * g * g
        denom = sqrt(v / (1 - beta2^t)) + eps
        p -= lr * (1 - mu_t) / (1 - prod) * g / denom
        p -= lr * mu_{t+1} / (1 - prod * mu_{t+1}) * m / denom

    ``mu_product`` is rounded to float32 (float64 when that is the default dtype), as
    torch stores it, so the two trajectories stay identical.

    Args:
        params: parameters or parameter groups to optimize
        lr: learning rate. Default: 2e-3
        betas: coefficients for the running averages of the gradient and its square. Default: (0.9, 0.999)
        eps: term added to the denominator for numerical stability. Default: 1e-8
        weight_decay: weight decay. Default: 0
        momentum_decay: the momentum schedule's decay. Default: 4e-3
        decoupled_weight_decay: decay the weights directly, as AdamW (NAdamW). Default: False
        maximize: maximize the objective instead of minimizing. Default: False
    """

    def __init__(self, params, lr: float = 2e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0,
                 momentum_decay: float = 4e-3, decoupled_weight_decay: bool = False, *, maximize: bool = False):
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
        if momentum_decay < 0.0:
            raise ValueError(f"Invalid momentum_decay value: {momentum_decay}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      momentum_decay=momentum_decay, decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize))

    @no_grad()
    def step(self, closure=None):
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
            weight_decay, momentum_decay = group["weight_decay"], group["momentum_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["mu_product"] = 1.0
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
                mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))
                mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
                state["mu_product"] = mu_product = scalar_state(state["mu_product"] * scalar_state(mu))
                exp_avg, exp_avg_sq = state["exp_avg"].data, state["exp_avg_sq"].data
                lerp_(exp_avg, g, 1 - beta1)
                exp_avg_sq *= beta2
                exp_avg_sq += (1 - beta2) * (g * g)
                denom = xp.sqrt(exp_avg_sq / (1 - beta2 ** step)) + eps
                p.data += (-lr * (1.0 - mu) / (1.0 - mu_product)) * (g / denom)
                p.data += (-lr * mu_next / (1.0 - mu_product * mu_next)) * (exp_avg / denom)
                bump_version(p)      # a graph built before this step now refuses to backward
        return loss

    def _restore(self, name, value, param):
        if name == "mu_product":                 # a 0-d tensor in torch's state_dict
            return scalar_state(value)
        return super()._restore(name, value, param)
