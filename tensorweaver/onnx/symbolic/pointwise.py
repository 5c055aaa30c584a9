"""PyTorch's Pointwise Ops of ``ops/pointwise.py``: the ONNX operator where one exists (or a
two-node identity such as ``Log(1 + x)``); a clear error for the rest."""
from __future__ import annotations

import math

from tensorweaver.backend import xp
from tensorweaver.onnx.registry import register
from tensorweaver.ops import elementwise as ew
from tensorweaver.ops import pointwise as pw

_SAME_NAME = {
    pw.Floor: "Floor", pw.Ceil: "Ceil", pw.Sign: "Sign", pw.Sinh: "Sinh", pw.Cosh: "Cosh",
    pw.Tan: "Tan", pw.Asin: "Asin", pw.Acos: "Acos", pw.Atan: "Atan", pw.Asinh: "Asinh",
    pw.Acosh: "Acosh", pw.Atanh: "Atanh", pw.Reciprocal: "Reciprocal",
    ew.Erf: "Erf",   # tw.erf (GELU's Erf, public here)
}


@register(*_SAME_NAME)
def same_name(g, n):
    return g.op(_SAME_NAME[type(n.fn)], n.input(0))


@register(pw.Round)
def round_(g, n):
    if n.args[1] is not xp.rint:
        raise n.fail("round(decimals=...) has no ONNX operator; round(x * 10**d) / 10**d in the "
                     "model's forward exports")
    return g.op("Round", n.input(0))     # half to even, as torch


@register(pw.Log1p)
def log1p(g, n):
    return g.op("Log", g.op("Add", n.input(0), g.const(1.0, n.dtype)))


@register(pw.Expm1)
def expm1(g, n):
    return g.op("Sub", g.op("Exp", n.input(0)), g.const(1.0, n.dtype))


@register(pw.Rsqrt)
def rsqrt(g, n):
    return g.op("Reciprocal", g.op("Sqrt", n.input(0)))


@register(pw.Square)
def square(g, n):
    return g.op("Mul", n.input(0), n.input(0))


@register(pw.Log2, pw.Log10)
def log_base(g, n):
    base = math.log(2.0) if isinstance(n.fn, pw.Log2) else math.log(10.0)
    return g.op("Div", g.op("Log", n.input(0)), g.const(base, n.dtype))


@register(pw.Exp2)
def exp2(g, n):
    return g.op("Pow", g.const(2.0, n.dtype), n.input(0))


@register(pw.Fmod)
def fmod(g, n):
    return g.op("Mod", n.input(0), n.input(1), fmod=1)   # C fmod: the sign of the dividend


_NO_OPERATOR = {
    pw.Erfc: "erfc", pw.Erfinv: "erfinv", pw.Frac: "frac", pw.Trunc: "trunc",
    pw.NanToNum: "nan_to_num", pw.Atan2: "atan2", pw.Hypot: "hypot", pw.LogAddExp: "logaddexp",
    pw.LogAddExp2: "logaddexp2", pw.Xlogy: "xlogy", pw.Remainder: "remainder (on floats)",
    pw.Fmax: "fmax (NaN-ignoring)", pw.Fmin: "fmin (NaN-ignoring)",
}


@register(*_NO_OPERATOR)
def no_operator(g, n):
    raise n.fail(f"{_NO_OPERATOR[type(n.fn)]} has no ONNX operator in opset 17 and is not "
                 "exported; write it from exported ops in the model's forward if you need it")
