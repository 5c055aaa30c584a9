"""Parity cases for PyTorch's Pointwise Ops (ops/pointwise.py): one case per op.

Imported at the end of ``parity_cases.py`` (which owns the registry), so the worker finds
them. Inputs are drawn inside the op's domain; rounding ops sample away from the integers
where they jump, so a last-bit difference between backends cannot flip a result.
"""
from __future__ import annotations

import tensorweaver as tw
from parity_cases import case, forward_backward, randn, uniform


def _in(low, high):
    return lambda *s, dtype: uniform(*s, dtype=dtype, low=low, high=high)


def _off_integers(*s, dtype):
    """Values in (k + 0.15, k + 0.85) for k in -3..2."""
    whole = tw.randint(-3, 3, s).to(getattr(tw, dtype))
    return (whole + tw.rand(*s, dtype=dtype) * 0.7 + 0.15).detach().requires_grad_()


ANY, POS, UNIT, GT1 = randn, _in(0.2, 3.0), _in(-0.9, 0.9), _in(1.2, 3.0)

UNARY = {
    "erf": (tw.erf, lambda *s, dtype: randn(*s, dtype=dtype, scale=2.0)),
    "log1p": (tw.log1p, POS), "expm1": (tw.expm1, ANY),
    "erfc": (tw.erfc, lambda *s, dtype: randn(*s, dtype=dtype, scale=2.0)),   # backend.erfc
    "erfinv": (tw.erfinv, _in(-0.99, 0.99)),                                    # backend.erfinv
    "rsqrt": (tw.rsqrt, POS), "reciprocal": (tw.reciprocal, POS), "square": (tw.square, ANY),
    "log2": (tw.log2, POS), "log10": (tw.log10, POS), "exp2": (tw.exp2, ANY),
    "sinh": (tw.sinh, ANY), "cosh": (tw.cosh, ANY), "tan": (tw.tan, UNIT), "asin": (tw.asin, UNIT),
    "acos": (tw.acos, UNIT), "atan": (tw.atan, ANY), "asinh": (tw.asinh, ANY),
    "acosh": (tw.acosh, GT1), "atanh": (tw.atanh, UNIT), "frac": (tw.frac, _off_integers),
    "floor": (lambda x: tw.floor(x) * x, _off_integers), "ceil": (lambda x: tw.ceil(x) * x, _off_integers),
    "round": (lambda x: tw.round(x) * x, _off_integers),
    "round_decimals": (lambda x: tw.round(x * 0.01, decimals=1) + x, _off_integers),
    "trunc": (lambda x: tw.trunc(x) * x, _off_integers), "sign": (lambda x: tw.sign(x) * x, _off_integers),
    "nan_to_num": (lambda x: tw.nan_to_num(tw.log(x)), _in(-1.0, 2.0)),
}

BINARY = {
    "atan2": (tw.atan2, ANY, ANY), "hypot": (tw.hypot, ANY, ANY), "logaddexp": (tw.logaddexp, ANY, ANY),
    "logaddexp2": (tw.logaddexp2, ANY, ANY), "xlogy": (tw.xlogy, ANY, POS), "fmax": (tw.fmax, ANY, ANY),
    "fmin": (tw.fmin, ANY, ANY), "remainder": (tw.remainder, ANY, POS), "fmod": (tw.fmod, ANY, POS),
    "lerp": (lambda a, b: tw.lerp(a, b, 0.3), ANY, ANY),
    "addcmul": (lambda a, b: tw.addcmul(a, a, b, value=0.5), ANY, ANY),
    "addcdiv": (lambda a, b: tw.addcdiv(a, a, b, value=-2), ANY, POS),
}


def _unary(op, fn, make):
    @case(f"pointwise.{op}")
    def run(dtype):
        return forward_backward(fn, make(4, 7, dtype=dtype))


def _binary(op, fn, make_a, make_b):
    @case(f"pointwise.{op}")
    def run(dtype):
        return forward_backward(fn, make_a(3, 1, 5, dtype=dtype), make_b(4, 1, dtype=dtype))


for _op, (_fn, _make) in UNARY.items():
    _unary(_op, _fn, _make)
for _op, (_fn, _ma, _mb) in BINARY.items():
    _binary(_op, _fn, _ma, _mb)
