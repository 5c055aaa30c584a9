"""Bitwise/logical ops (``ops/bitwise.py``), more pointwise math (``ops/pointwise_more.py``) and
the special functions (``ops/pointwise_special.py``) in ONNX.

ONNX operators exist for: logical ops on bool (And, Or, Xor, Not), bitwise ops on integers
(BitwiseAnd/Or/Xor/Not, opset 18 on), shifts of unsigned integers (BitShift), ``logit``
(Log of a ratio, with Clip for ``eps``). ``ldexp``, ``deg2rad``, ``rad2deg``, ``gradient``
and ``mvlgamma``'s sum are built from other ops and export through them. The rest have no
ONNX operator and refuse with an error naming the op.
"""
from __future__ import annotations

import numpy as np

from tensorweaver.onnx.registry import register
from tensorweaver.ops import bitwise as bw
from tensorweaver.ops import pointwise_more as pwm
from tensorweaver.ops import pointwise_special as pws

_LOGICAL = {"and": "And", "or": "Or", "xor": "Xor"}
_BITWISE = {"and": "BitwiseAnd", "or": "BitwiseOr", "xor": "BitwiseXor"}


def _truth(g, value, dtype):
    """A value as bool (nonzero is true), for And/Or/Xor/Not."""
    if np.dtype(dtype) == np.bool_:
        return value
    return g.op("Not", g.op("Equal", value, g.const(0, dtype)))


@register(bw.Bitwise)
def bitwise(g, n):
    rule = n.args[2]
    dtype = n.in_dtype(0) or n.in_dtype(1)
    a, b = n.input(0, dtype), n.input(1, dtype)
    if np.dtype(dtype) == np.bool_ and rule in _LOGICAL:
        return g.op(_LOGICAL[rule], a, b)
    if rule in _BITWISE:
        if g.opset < 18:
            raise n.fail(f"bitwise_{rule} on integers needs ONNX opset 18 or newer (BitwiseAnd/Or/Xor); "
                         "export with opset_version=18")
        return g.op(_BITWISE[rule], a, b)
    if np.dtype(dtype).kind != "u":
        raise n.fail(f"bitwise_{rule} of signed integers has no ONNX operator (BitShift takes unsigned "
                     "integers only); multiply or floor-divide by a power of two in the model's forward")
    return g.op("BitShift", a, b, direction="LEFT" if rule == "left_shift" else "RIGHT")


@register(bw.BitwiseNot)
def bitwise_not(g, n):
    if np.dtype(n.in_dtype(0)) == np.bool_:
        return g.op("Not", n.input(0))
    if g.opset < 18:
        raise n.fail("bitwise_not on integers needs ONNX opset 18 or newer (BitwiseNot); export with "
                     "opset_version=18")
    return g.op("BitwiseNot", n.input(0))


@register(bw.LogicalXor)
def logical_xor(g, n):
    dtype = n.in_dtype(0) or n.in_dtype(1)
    return g.op("Xor", _truth(g, n.input(0, dtype), dtype), _truth(g, n.input(1, dtype), dtype))


@register(pwm.Logit)
def logit(g, n):
    x = n.input(0)
    eps = n.args[1]
    if eps is not None:
        x = g.op("Clip", x, g.const(eps, n.dtype), g.const(1.0 - eps, n.dtype))
    return g.op("Log", g.op("Div", x, g.op("Sub", g.const(1.0, n.dtype), x)))


_NO_OPERATOR = {
    pwm.Copysign: "copysign", pwm.FloorDivide: "floor_divide (Python's floor rounding)",
    pwm.FrexpMantissa: "frexp", pwm.NextAfter: "nextafter", pwm.Signbit: "signbit (the sign of -0.0)",
    pwm.Sinc: "sinc", pws.Lgamma: "lgamma", pws.Polygamma: "digamma/polygamma", pws.I0: "i0",
    pws.Igamma: "igamma", pws.Igammac: "igammac",
}


@register(*_NO_OPERATOR)
def no_operator(g, n):
    raise n.fail(f"{_NO_OPERATOR[type(n.fn)]} has no ONNX operator and is not exported; write it "
                 "from exported ops in the model's forward if you need it")
