"""PyTorch's Pointwise Ops (ops/pointwise.py) in ONNX: each op with an ONNX operator runs in
ONNX Runtime at two batch sizes; the others refuse with an error naming the op."""
import pytest

import tensorweaver as tw

pytestmark = pytest.mark.onnx


def x(n):
    return tw.randn(n, 6)


def unit(n):
    return tw.rand(n, 6) * 1.8 - 0.9


def pos(n):
    return tw.rand(n, 6) + 0.5


CASES = [
    ("erf", tw.erf, x), ("floor", tw.floor, x), ("ceil", tw.ceil, x), ("round", lambda a: tw.round(a * 3), x),
    ("sign", tw.sign, x), ("sinh", tw.sinh, x), ("cosh", tw.cosh, x), ("tan", tw.tan, unit),
    ("asin", tw.asin, unit), ("acos", tw.acos, unit), ("atan", tw.atan, x), ("asinh", tw.asinh, x),
    ("acosh", lambda a: tw.acosh(a + 1), pos), ("atanh", tw.atanh, unit),
    ("reciprocal", tw.reciprocal, pos), ("log1p", tw.log1p, pos), ("expm1", tw.expm1, x),
    ("rsqrt", tw.rsqrt, pos), ("square", tw.square, x), ("log2", tw.log2, pos),
    ("log10", tw.log10, pos), ("exp2", tw.exp2, x), ("fmod", lambda a: tw.fmod(a * 5, 1.5), x),
    ("lerp", lambda a: tw.lerp(a, a * 2, 0.25), x),
    ("addcmul", lambda a: tw.addcmul(a, a, a, value=0.5), x),
]


@pytest.mark.parametrize("fn, make", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_round_trip(roundtrip, fn, make):
    roundtrip(fn, make)


@pytest.mark.parametrize("fn, name", [
    (tw.erfc, "Erfc"), (tw.erfinv, "Erfinv"), (lambda a: tw.atan2(a, a + 3), "Atan2"),
    (lambda a: tw.remainder(a, 1.5), "Remainder"), (lambda a: tw.round(a, decimals=2), "Round"),
])
def test_ops_without_an_onnx_operator_say_so(fn, name):
    from tensorweaver.onnx import ExportError, export
    with pytest.raises(ExportError, match=name + ".*(no ONNX operator|decimals)"):
        export(fn, tw.rand(2, 6) * 0.5, None)
