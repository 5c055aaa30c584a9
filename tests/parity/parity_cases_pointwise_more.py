"""Parity cases for bitwise/logical ops, copysign ... sinc, gradient and the special functions
(ops/bitwise.py, ops/pointwise_more.py, ops/pointwise_special.py): one case per op.

Imported at the end of ``parity_cases.py`` (which owns the registry). The special functions
run SciPy on NumPy and whole-array formulas on cuPyNumeric (tensorweaver/_special_functions.py),
so these cases compare the two implementations. Inputs stay away from poles.
"""
from __future__ import annotations

import numpy as np

import tensorweaver as tw
from parity_cases import case, forward_backward, randn, uniform


def _in(low, high):
    return lambda *s, dtype: uniform(*s, dtype=dtype, low=low, high=high)


def _off_poles(*s, dtype):
    """Values in (k + 0.1, k + 0.9) for k in -4..5: no pole of the gamma family is near."""
    whole = tw.randint(-4, 6, s).to(getattr(tw, dtype))
    return (whole + tw.rand(*s, dtype=dtype) * 0.8 + 0.1).detach().requires_grad_()


UNARY = {
    "lgamma": (tw.lgamma, _off_poles), "digamma": (tw.digamma, _off_poles),
    "polygamma1": (lambda x: tw.polygamma(1, x), _off_poles),
    "polygamma3": (lambda x: tw.polygamma(3, x), _off_poles),
    "mvlgamma": (lambda x: tw.mvlgamma(x, 3), _in(1.2, 9.0)),
    "i0": (tw.i0, lambda *s, dtype: randn(*s, dtype=dtype, scale=12.0)),   # both sides of |x| = 20
    "sinc": (tw.sinc, lambda *s, dtype: randn(*s, dtype=dtype, scale=2.0)),
    "logit": (tw.logit, _in(0.05, 0.95)), "logit_eps": (lambda x: tw.logit(x, eps=0.2), _in(0.05, 0.95)),
    "deg2rad": (tw.deg2rad, randn), "rad2deg": (tw.rad2deg, randn),
    "frexp": (lambda x: tw.frexp(x * 50).mantissa, randn),
    "ldexp": (lambda x: tw.ldexp(x, tw.tensor([[-2, 0, 1, 3, 5, -1, 2]])), randn),
    "gradient": (lambda x: tw.gradient(x, spacing=0.5, edge_order=2)[0] * tw.gradient(x, dim=1)[0], randn),
    "gradient_coordinates": (lambda x: tw.gradient(x, spacing=[tw.tensor([0.0, 0.5, 1.5, 1.75, 3.0, 4.0, 4.2])],
                                                   dim=1, edge_order=2)[0], randn),
}


def _unary(op, fn, make):
    @case(f"pointwise_more.{op}")
    def run(dtype):
        return forward_backward(fn, make(4, 7, dtype=dtype))


for _op, (_fn, _make) in UNARY.items():
    _unary(_op, _fn, _make)


@case("pointwise_more.incomplete_gamma")
def incomplete_gamma(dtype):
    a = (tw.rand(3, 1, 6, dtype=dtype) * 12 + 0.2).detach()
    x = (tw.rand(4, 1, dtype=dtype) * 15 + 0.05).detach().requires_grad_()
    return forward_backward(lambda v: tw.igamma(a, v) + 2 * tw.igammac(a * 0.5, v), x)


@case("pointwise_more.copysign")
def copysign(dtype):
    a, b = randn(3, 1, 5, dtype=dtype), randn(4, 1, dtype=dtype)
    return forward_backward(tw.copysign, a, b)


@case("pointwise_more.no_gradient_ops")
def no_gradient(dtype):
    """floor_divide, nextafter, signbit: values only (no gradient, as torch)."""
    a, b = randn(4, 6, dtype=dtype, scale=5.0).detach(), randn(6, dtype=dtype).detach()
    ints = tw.randint(-50, 50, (4, 6))
    return {"floor_divide": tw.floor_divide(a, b).numpy(), "floor_divide_int": (ints // 7).numpy(),
            "nextafter": tw.nextafter(a, b).numpy(), "signbit": tw.signbit(a * -0.0 + b).numpy(),
            "exponent": tw.frexp(a).exponent.numpy()}


@case("pointwise_more.bitwise", dtypes=("int64", "int8", "uint8"))
def bitwise(dtype):
    low = 0 if dtype == "uint8" else -100
    a = tw.randint(low, 100, (4, 6)).to(getattr(tw, dtype))
    b = tw.randint(0, 100, (6,)).to(getattr(tw, dtype))
    s = tw.randint(0, 12, (4, 6)).to(getattr(tw, dtype))          # some beyond int8's width
    mask = a > b
    return {"and": (a & b).numpy(), "or": (a | b).numpy(), "xor": (a ^ b).numpy(), "not": (~a).numpy(),
            "left": (a << s).numpy(), "right": (a >> s).numpy(), "bool_ops": (mask & ~(b > 3) | mask).numpy(),
            "logical_xor": tw.logical_xor(a, b).numpy(), "shift_scalar": tw.bitwise_left_shift(a, 2).numpy()}


@case("pointwise_more.create_graph")
def create_graph(dtype):
    """Second derivatives through lgamma/digamma/polygamma, copysign, logit, sinc, frexp, igamma."""
    x = _off_poles(2, 5, dtype=dtype)
    p = uniform(2, 5, dtype=dtype, low=0.1, high=0.9)

    def f(v, q):
        return (tw.lgamma(v) + tw.polygamma(2, v) * 0.1 + tw.copysign(v, q - 0.5) * v + tw.logit(q) * v
                + tw.sinc(v) + tw.frexp(v * 3).mantissa * v + tw.igamma(q.detach() * 4, tw.abs(v) + 0.1))
    gx, gp = tw.autograd.grad(f(x, p).sum(), (x, p), create_graph=True)
    (gx * gx + gp).sum().backward()
    return {"gx": gx.detach().numpy(), "gp": gp.detach().numpy(), "x.grad": x.grad.numpy(),
            "p.grad": p.grad.numpy()}
