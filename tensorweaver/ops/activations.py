"""More pointwise activations, each one Function with a closed-form backward:
ELU (and SELU, CELU), Softplus, Hardtanh (and ReLU6), Hardswish, Hardsigmoid, Mish,
LogSigmoid, Threshold and PReLU.

One pass forward and one backward each, instead of the chains of ``where``/``exp``
nodes a composition would record; the formulas are written to stay finite for large
``|x|`` (softplus and log-sigmoid through ``logaddexp``).
"""
from __future__ import annotations

from tensorweaver import backend
from tensorweaver.autograd.function import Function
from tensorweaver.ops.elementwise import unbroadcast

xp = backend.xp


def _sigmoid(x):
    """1 / (1 + exp(-x)), without overflow for large negative x."""
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


class ELU(Function):
    """``scale * (x if x > 0 else alpha * (exp(x * input_scale) - 1))`` (torch's ``elu`` kernel;
    SELU and CELU are its special cases)."""

    def forward(self, x, alpha, scale, input_scale):
        neg = xp.expm1(xp.minimum(x, 0) * input_scale) * alpha
        out = xp.where(x > 0, x, neg) * scale if scale != 1 else xp.where(x > 0, x, neg)
        self.save_for_backward(x, neg)
        self.params = (alpha, scale, input_scale)
        return out

    def backward(self, grad):
        x, neg = self.saved_tensors
        alpha, scale, input_scale = self.params
        # d/dx alpha * (exp(x s) - 1) = s * (neg + alpha)
        return grad * xp.where(x > 0, scale, scale * input_scale * (neg + alpha))


class Softplus(Function):
    """``log(1 + exp(beta * x)) / beta``, and ``x`` itself where ``beta * x > threshold``."""

    def forward(self, x, beta, threshold):
        bx = x * beta
        self.save_for_backward(bx)
        self.threshold = threshold
        return xp.where(bx > threshold, x, xp.logaddexp(0, bx) / beta)

    def backward(self, grad):
        (bx,) = self.saved_tensors
        return grad * xp.where(bx > self.threshold, 1.0, _sigmoid(bx))


class Hardtanh(Function):
    """``clamp(x, min_val, max_val)``, gradient 0 outside the open interval (as torch's)."""

    def forward(self, x, min_val, max_val):
        self.save_for_backward(x)
        self.bounds = (min_val, max_val)
        return xp.clip(x, min_val, max_val)

    def backward(self, grad):
        (x,) = self.saved_tensors
        lo, hi = self.bounds
        return xp.where((x > lo) & (x < hi), grad, 0)


class Hardsigmoid(Function):
    """``relu6(x + 3) / 6``; gradient 1/6 on (-3, 3)."""

    def forward(self, x):
        self.save_for_backward(x)
        return xp.clip(x / 6.0 + 0.5, 0.0, 1.0)

    def backward(self, grad):
        (x,) = self.saved_tensors
        return xp.where((x > -3.0) & (x < 3.0), grad / 6.0, 0)


class Hardswish(Function):
    """``x * relu6(x + 3) / 6``; torch's gradient: 0 up to -3, 1 from 3 on, ``x / 3 + 1/2``
    strictly in between."""

    def forward(self, x):
        self.save_for_backward(x)
        return x * xp.clip(x + 3.0, 0.0, 6.0) / 6.0

    def backward(self, grad):
        (x,) = self.saved_tensors
        slope = xp.where(x <= -3.0, 0.0, xp.where(x < 3.0, x / 3.0 + 0.5, 1.0))
        return grad * slope


class Mish(Function):
    """``x * tanh(softplus(x))``."""

    def forward(self, x):
        t = xp.tanh(xp.logaddexp(0, x))
        self.save_for_backward(x, t)
        return x * t

    def backward(self, grad):
        x, t = self.saved_tensors
        return grad * (t + x * (1 - t * t) * _sigmoid(x))


class LogSigmoid(Function):
    """``log(sigmoid(x)) = -softplus(-x)``, finite for any x."""

    def forward(self, x):
        self.save_for_backward(x)
        return -xp.logaddexp(0, -x)

    def backward(self, grad):
        (x,) = self.saved_tensors
        return grad * _sigmoid(-x)


class Threshold(Function):
    """``x if x > threshold else value``."""

    def forward(self, x, threshold, value):
        self.save_for_backward(x)
        self.threshold = threshold
        return xp.where(x > threshold, x, xp.asarray(value, dtype=x.dtype))

    def backward(self, grad):
        (x,) = self.saved_tensors
        return xp.where(x > self.threshold, grad, 0)


class PReLU(Function):
    """``x if x >= 0 else weight * x``; ``weight`` (num_parameters,) is one slope, or one
    per channel (dim 1 of ``x``)."""

    def forward(self, x, weight):
        w = weight.reshape((-1,) + (1,) * (x.ndim - 2)) if weight.size > 1 and x.ndim >= 2 else weight.reshape(())
        self.save_for_backward(x, w)
        self.w_shape = weight.shape
        return xp.where(x > 0, x, w * x)

    def backward(self, grad):
        x, w = self.saved_tensors
        gx = gw = None
        if self.needs_input_grad[0]:
            gx = xp.where(x > 0, grad, w * grad)
        if self.needs_input_grad[1]:
            gw = xp.where(x > 0, 0, x * grad)
            gw = unbroadcast(gw, w.shape).reshape(self.w_shape)
        return gx, gw
