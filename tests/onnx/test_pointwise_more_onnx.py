"""Bitwise/logical ops, logit and the composite ops (ldexp, deg2rad, gradient, mvlgamma's sum)
in ONNX: round trips in ONNX Runtime; the ops without an ONNX operator refuse, naming the op."""
import pytest

import tensorweaver as tw

pytestmark = pytest.mark.onnx


def x(n):
    return tw.randn(n, 6)


def unit(n):
    return tw.rand(n, 6) * 0.9 + 0.05


CASES = [
    ("logit", tw.logit, unit, 17), ("logit_eps", lambda a: tw.logit(a, eps=0.1), unit, 17),
    ("deg2rad", tw.deg2rad, x, 17), ("rad2deg", tw.rad2deg, x, 17),
    ("ldexp", lambda a: tw.ldexp(a, tw.tensor([1.0, -2.0, 0.0, 3.0, 1.0, 2.0])), x, 17),
    ("gradient", lambda a: tw.gradient(a, dim=1, edge_order=2)[0], x, 17),
    ("logical_xor", lambda a: tw.logical_xor(a > 0, a < 0.5), x, 17),
    ("logical_xor_floats", lambda a: tw.logical_xor(a, a - 0.5), x, 17),
    ("bool_and_or_not", lambda a: ((a > 0) & ~(a > 1)) | (a < -1) ^ (a > 0.5), x, 17),
    ("int_bitwise", lambda a: ((a * 10).long() & 6) | (~(a * 3).long()) ^ 5, x, 18),
    ("uint8_shift", lambda a: ((a.abs() * 10).to(tw.uint8) << 2) >> 1, x, 18),
]


@pytest.mark.parametrize("fn, make, opset", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_round_trip(roundtrip, fn, make, opset):
    roundtrip(fn, make, opset=opset)


@pytest.mark.parametrize("fn, name", [
    (lambda a: tw.copysign(a, -1.0), "copysign"), (lambda a: tw.floor_divide(a, 0.3), "floor_divide"),
    (lambda a: tw.frexp(a).mantissa, "frexp"), (lambda a: tw.nextafter(a, 0.0), "nextafter"),
    (lambda a: tw.signbit(a).float(), "signbit"), (tw.sinc, "sinc"), (tw.lgamma, "lgamma"),
    (tw.digamma, "digamma"), (lambda a: tw.polygamma(2, a), "polygamma"), (tw.i0, "i0"),
    (lambda a: tw.igamma(a + 1, a + 1), "igamma"), (lambda a: tw.igammac(a + 1, a + 1), "igammac"),
    (lambda a: (a * 10).long() & 6, "bitwise_and on integers needs ONNX opset 18"),
    (lambda a: (a * 10).long() << 2, "bitwise_left_shift of signed integers"),
])
def test_ops_without_an_onnx_operator_say_so(fn, name):
    from tensorweaver.onnx import ExportError, export
    with pytest.raises(ExportError, match=name):
        export(fn, tw.rand(2, 6) * 0.5, None)
