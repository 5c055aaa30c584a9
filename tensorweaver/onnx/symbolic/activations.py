"""More activations (``ops/activations.py``): Elu, Selu, Softplus, Clip, HardSigmoid,
HardSwish, PRelu where ONNX has the op at opset 17; compositions otherwise (CELU,
Mish, LogSigmoid, Threshold, softplus with beta/threshold)."""
from __future__ import annotations

import numpy as np

from tensorweaver.nn._functional.activation import SELU_ALPHA, SELU_SCALE
from tensorweaver.onnx.registry import register
from tensorweaver.ops import activations


def _softplus(g, x):
    return g.op("Softplus", x)


@register(activations.ELU)
def elu(g, n):
    alpha, scale, input_scale = n.args[1:4]
    x = n.input(0)
    if scale == 1 and input_scale == 1:
        return g.op("Elu", x, alpha=float(alpha))
    if np.isclose(alpha, SELU_ALPHA) and np.isclose(scale, SELU_SCALE) and input_scale == 1:
        return g.op("Selu", x, alpha=float(alpha), gamma=float(scale))
    # CELU: Elu on x / alpha' ... written out: scale * where(x > 0, x, alpha * (exp(x * s) - 1))
    dt = n.dtype
    neg = g.op("Mul", g.op("Sub", g.op("Exp", g.op("Mul", x, g.const(input_scale, dt))), g.const(1.0, dt)),
               g.const(alpha, dt))
    y = g.op("Where", g.op("Greater", x, g.const(0.0, dt)), x, neg)
    return y if scale == 1 else g.op("Mul", y, g.const(scale, dt))


@register(activations.Softplus)
def softplus(g, n):
    beta, threshold = n.args[1:3]
    x, dt = n.input(0), n.dtype
    bx = x if beta == 1 else g.op("Mul", x, g.const(beta, dt))
    soft = _softplus(g, bx)
    if beta != 1:
        soft = g.op("Div", soft, g.const(beta, dt))
    return g.op("Where", g.op("Greater", bx, g.const(threshold, dt)), x, soft)


@register(activations.Hardtanh)
def hardtanh(g, n):
    lo, hi = n.args[1:3]
    return g.op("Clip", n.input(0), g.const(lo, n.dtype), g.const(hi, n.dtype))


@register(activations.Hardsigmoid)
def hardsigmoid(g, n):
    return g.op("HardSigmoid", n.input(0), alpha=1.0 / 6.0, beta=0.5)


@register(activations.Hardswish)
def hardswish(g, n):
    return g.op("HardSwish", n.input(0))


@register(activations.Mish)
def mish(g, n):
    """ONNX's Mish needs opset 18: x * tanh(softplus(x))."""
    x = n.input(0)
    return g.op("Mul", x, g.op("Tanh", _softplus(g, x)))


@register(activations.LogSigmoid)
def logsigmoid(g, n):
    """-softplus(-x)."""
    return g.op("Neg", _softplus(g, g.op("Neg", n.input(0))))


@register(activations.Threshold)
def threshold(g, n):
    th, value = n.args[1:3]
    x, dt = n.input(0), n.dtype
    return g.op("Where", g.op("Greater", x, g.const(th, dt)), x, g.const(value, dt))


@register(activations.PReLU)
def prelu(g, n):
    """ONNX's PRelu broadcasts the slope from the right: a per-channel slope becomes (C, 1, ..., 1)."""
    x, w = n.input(0), n.input(1)
    rank, count = len(n.in_shape(0)), n.in_shape(1)[0]
    if count > 1 and rank > 2:
        w = g.op("Reshape", w, g.ints([count] + [1] * (rank - 2)))
    return g.op("PRelu", x, w)
