"""Elementwise ops: arithmetic, unary math, activations, selection, casts."""
from __future__ import annotations

import math

from tensorweaver.ops import elementwise as ew
from tensorweaver.onnx.graph import onnx_dtype
from tensorweaver.onnx.registry import register

_SAME_NAME = {
    ew.Add: "Add", ew.Sub: "Sub", ew.Mul: "Mul", ew.Div: "Div", ew.Pow: "Pow",
    ew.Maximum: "Max", ew.Minimum: "Min",
    ew.Neg: "Neg", ew.Exp: "Exp", ew.Log: "Log", ew.Sqrt: "Sqrt", ew.Abs: "Abs",
    ew.Sin: "Sin", ew.Cos: "Cos", ew.Tanh: "Tanh", ew.Sigmoid: "Sigmoid", ew.ReLU: "Relu",
}


@register(*_SAME_NAME)
def same_name(g, n):
    """Ops with a one-to-one ONNX counterpart; Python scalars become constants of the output dtype."""
    return g.op(_SAME_NAME[type(n.fn)], *(n.input(i) for i in range(len(n.args))))


@register(ew.Clone)
def clone(g, n):
    return g.op("Identity", n.input(0))


@register(ew.Cast)
def cast(g, n):
    return g.op("Cast", n.input(0), to=onnx_dtype(n.dtype))


@register(ew.LeakyReLU)
def leaky_relu(g, n):
    return g.op("LeakyRelu", n.input(0), alpha=float(n.fn.slope))


@register(ew.GELU)
def gelu(g, n):
    """``Gelu`` from opset 20; before that the same formula from Erf (or Tanh)."""
    x, approximate = n.input(0), n.fn.approximate
    if g.opset >= 20:
        return g.op("Gelu", x, approximate=approximate)
    half = g.const(0.5, n.dtype)
    one = g.const(1.0, n.dtype)
    if approximate == "tanh":
        # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        cube = g.op("Mul", g.op("Mul", x, x), x)
        inner = g.op("Add", x, g.op("Mul", g.const(0.044715, n.dtype), cube))
        phi = g.op("Tanh", g.op("Mul", g.const(math.sqrt(2.0 / math.pi), n.dtype), inner))
    else:
        # 0.5 x (1 + erf(x / sqrt(2)))
        phi = g.op("Erf", g.op("Div", x, g.const(math.sqrt(2.0), n.dtype)))
    return g.op("Mul", g.op("Mul", half, x), g.op("Add", one, phi))


@register(ew.Clamp)
def clamp(g, n):
    x = n.input(0)
    if n.in_dtype(0) != n.dtype:           # e.g. an int tensor clamped to float bounds
        x = g.op("Cast", x, to=onnx_dtype(n.dtype))
    lo = None if n.fn.lo is None else g.const(n.fn.lo, n.dtype)
    hi = None if n.fn.hi is None else g.const(n.fn.hi, n.dtype)
    return g.op("Clip", x, lo, hi)


@register(ew.Where)
def where(g, n):
    """``where(cond, a, b)``, and ``masked_fill`` (``b`` is then the fill value)."""
    return g.op("Where", n.input(0), n.input(1), n.input(2))
