"""More of PyTorch's Pointwise Ops: ``copysign``, ``deg2rad``/``rad2deg``, ``floor_divide``,
``frexp``/``ldexp``, ``logit``, ``nextafter``, ``signbit``, ``sinc`` and ``gradient``.

Shapes: elementwise ops map ``(*)`` (binary: two broadcastable shapes) to ``(*)``;
``gradient`` returns one tensor of the input's shape per differentiated dim. Integer inputs
of float-valued math become the default float dtype, as in torch.

Gradients follow torch's formulas: ``copysign`` passes ``sign(out/a)`` to ``input`` (0 where
``input == 0``) and zeros to ``other``; ``frexp``'s mantissa has gradient ``2**-exponent``;
``logit(eps=...)`` clamps, so its gradient is 0 outside ``[eps, 1 - eps]``. ``floor_divide``,
``nextafter`` and ``signbit`` have no gradient (torch declares none either): their results do
not require grad. ``ldexp``, ``deg2rad``, ``rad2deg`` and ``gradient`` are written with the
engine's differentiable ops, so they have every order of gradient and export to ONNX.
"""
from __future__ import annotations

import math
import types
from collections import namedtuple
from numbers import Number

from tensorweaver import backend, dtypes
from tensorweaver.autograd.function import Function
from tensorweaver.ops import elementwise as ew
from tensorweaver.ops import inplace as _inp
from tensorweaver.ops.elementwise import _float_input, promote, sum_to, unbroadcast
from tensorweaver.ops.pointwise import _float_operands, _raw, write_out
from tensorweaver.tensor import Tensor, _make_tensor

xp = backend.xp

Frexp = namedtuple("frexp", ["mantissa", "exponent"])


def _tensor(x):
    return x if isinstance(x, Tensor) else Tensor(x)


def _const(mask):
    """A mask as a constant of a Tensor-level formula (masks are piecewise constant)."""
    return _make_tensor(backend.as_array(mask), False, None)


# ---------------------------------------------------------------- copysign
class Copysign(Function):
    """``|a|`` with the sign of ``b`` (``-0.0`` counts as negative)."""

    def forward(self, a, b):
        self.shapes = (ew._shape_of(a), ew._shape_of(b))
        out = xp.copysign(a, b)
        self.save_for_backward(a, out)
        return out

    def backward(self, grad):
        a, out = self.saved_tensors
        need_a, need_b = self.needs_input_grad
        da = None
        if need_a:
            zero = a == 0
            da = unbroadcast(grad * xp.where(zero, 0.0, out / xp.where(zero, 1.0, a)), self.shapes[0])
        db = xp.zeros(self.shapes[1], dtype=grad.dtype) if need_b else None
        return da, db

    def tensor_backward(self, grad, a, out):
        need_a, need_b = self.needs_input_grad
        da = db = None
        if need_a:
            zero = _const(_raw(a) == 0)
            da = sum_to(grad * ew.where(zero, 0.0, out / ew.where(zero, 1.0, a)), self.shapes[0])
        if need_b:
            db = _make_tensor(xp.zeros(self.shapes[1], dtype=grad.dtype), False, None)
        return da, db


def copysign(input, other, *, out=None):  # noqa: A002  (torch's argument name)
    """``|input|`` with the sign of ``other`` (broadcasting; integers become float)."""
    a, b = promote(input, other)
    a, b = _float_operands(a, b)
    return write_out(Copysign.apply(a, b), out)


# ---------------------------------------------------------------- degrees and radians
def deg2rad(input, *, out=None):  # noqa: A002
    """``input * pi / 180``."""
    return write_out(ew.mul(_float_input(input), math.pi / 180.0), out)


def rad2deg(input, *, out=None):  # noqa: A002
    """``input * 180 / pi``."""
    return write_out(ew.mul(_float_input(input), 180.0 / math.pi), out)


# ---------------------------------------------------------------- floor_divide
class FloorDivide(Function):
    """``floor(a / b)`` (Python's ``//``); no gradient, like torch."""
    differentiable = False

    def forward(self, a, b):
        return backend.as_array(xp.floor_divide(a, b))


def floor_divide(input, other, *, out=None):  # noqa: A002
    """``input // other``, rounded toward minus infinity (integers stay integers)."""
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        input = Tensor(input)
    a, b = promote(input, other)
    kinds = {x.dtype.kind if isinstance(x, Tensor) else ("b" if isinstance(x, bool) else
             ("f" if isinstance(x, float) else "i")) for x in (a, b)}
    if kinds == {"b"}:
        raise TypeError("floor_divide: bool // bool is not defined (torch: not implemented for "
                        "'Bool'); convert with .long() first")
    if "f" not in kinds and bool(xp.any(backend.as_array(_raw(b)) == 0)):
        raise ZeroDivisionError("floor_divide: integer division by zero (torch raises "
                                "RuntimeError: ZeroDivisionError); use float tensors to get inf")
    return write_out(FloorDivide.apply(a, b), out)


# ---------------------------------------------------------------- frexp / ldexp
class FrexpMantissa(Function):
    """``frexp``'s mantissa ``a * 2**-exponent`` (the exponent computed beforehand, an
    integer tensor without gradient); gradient ``2**-exponent``."""

    def forward(self, a, exponent):
        self.save_for_backward(exponent)
        return xp.ldexp(a, -exponent)

    def backward(self, grad):
        (exponent,) = self.saved_tensors
        return xp.ldexp(grad, -exponent)

    def tensor_backward(self, grad, exponent):
        return grad * _make_tensor(xp.ldexp(xp.ones(exponent.shape, dtype=grad.dtype), -exponent.data),
                                   False, None)


def frexp(input, *, out=None):  # noqa: A002
    """``(mantissa, exponent)`` with ``input = mantissa * 2**exponent``, ``0.5 <= |mantissa| < 1``
    (mantissa 0 and exponent 0 for 0); the exponent is int32, as torch."""
    x = _tensor(input)
    if x.dtype.kind != "f":
        raise TypeError(f"frexp: only floating-point tensors are supported, got "
                        f"{dtypes.torch_name(x.dtype)}; convert with .float() first")
    exponent = xp.frexp(x.data)[1].astype(xp.int32)
    result = Frexp(FrexpMantissa.apply(x, exponent), _make_tensor(exponent, False, None))
    if out is None:
        return result
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise TypeError("frexp: out= must be a (mantissa, exponent) pair of tensors")
    return Frexp(write_out(result[0], out[0]), write_out(result[1], out[1]))


def ldexp(input, other, *, out=None):  # noqa: A002
    """``input * 2**other`` (torch's definition; differentiable in both)."""
    power = ew.pow(2.0, other if isinstance(other, Tensor) else float(other))
    return write_out(ew.mul(input, power), out)


# ---------------------------------------------------------------- logit
class Logit(Function):
    """``log(z / (1 - z))`` with ``z = clamp(a, eps, 1 - eps)`` when ``eps`` is given."""

    def forward(self, a, eps):
        self.eps = eps
        self.save_for_backward(a)
        z = a if eps is None else xp.clip(a, eps, 1.0 - eps)
        return xp.log(z / (1.0 - z))

    def _outside(self, a):
        if self.eps is None:
            return None
        return (a < self.eps) | (a > 1.0 - self.eps)

    def backward(self, grad):
        (a,) = self.saved_tensors
        g = grad / (a * (1.0 - a))
        outside = self._outside(a)
        return g if outside is None else xp.where(outside, 0.0, g)

    def tensor_backward(self, grad, a):
        g = grad / (a * (1.0 - a))
        outside = self._outside(a.data)
        return g if outside is None else ew.where(_const(outside), 0.0, g)


def logit(input, eps=None, *, out=None):  # noqa: A002
    """``log(p / (1 - p))``; with ``eps``, ``p`` is clamped to ``[eps, 1 - eps]`` first."""
    if eps is not None and not isinstance(eps, Number):
        raise TypeError(f"logit: eps must be a number or None, got {type(eps).__name__}")
    return write_out(Logit.apply(_float_input(input), None if eps is None else float(eps)), out)


# ---------------------------------------------------------------- nextafter / signbit
class NextAfter(Function):
    """The next representable float after ``a`` toward ``b``; no gradient."""
    differentiable = False

    def forward(self, a, b):
        return backend.as_array(xp.nextafter(a, b))


def nextafter(input, other, *, out=None):  # noqa: A002
    """The next floating-point value after ``input`` in the direction of ``other``."""
    a, b = promote(input, other)
    for x in (a, b):
        if not isinstance(x, Tensor) and not isinstance(x, float):
            raise TypeError(f"nextafter: floating-point operands only, got {type(x).__name__}")
        if isinstance(x, Tensor) and x.dtype.kind != "f":
            raise TypeError(f"nextafter: floating-point tensors only, got {dtypes.torch_name(x.dtype)} "
                            "(torch: not implemented for 'Long'); convert with .float() first")
    dtype = (a if isinstance(a, Tensor) else b).dtype
    a, b = (x if isinstance(x, Tensor) else Tensor(xp.asarray(x, dtype=dtype)) for x in (a, b))
    return write_out(NextAfter.apply(a, b), out)


class Signbit(Function):
    """True where the sign bit is set (``-0.0`` and negative numbers); no gradient."""
    differentiable = False

    def forward(self, a):
        if a.dtype.kind in "bu":
            return xp.zeros(a.shape, dtype=bool)
        return backend.as_array(xp.signbit(a))


def signbit(input, *, out=None):  # noqa: A002
    return write_out(Signbit.apply(_tensor(input)), out)


# ---------------------------------------------------------------- sinc
class Sinc(Function):
    """``sin(pi a) / (pi a)``, 1 at 0; derivative ``(cos(pi a) - sinc(a)) / a``, 0 at 0."""

    def forward(self, a):
        self.save_for_backward(a)
        zero = a == 0
        pa = math.pi * xp.where(zero, 1.0, a)
        return xp.where(zero, 1.0, xp.sin(pa) / pa).astype(a.dtype)

    @staticmethod
    def _derivative(m, a, zero):
        safe = m.where(zero, 1.0, a)
        pa = math.pi * safe
        return m.where(zero, 0.0, (m.cos(pa) * pa - m.sin(pa)) / (pa * safe))

    def backward(self, grad):
        (a,) = self.saved_tensors
        return grad * Sinc._derivative(xp, a, a == 0)

    def tensor_backward(self, grad, a):
        return grad * Sinc._derivative(_T, a, _const(a.data == 0))


def sinc(input, *, out=None):  # noqa: A002
    """The normalised sinc function ``sin(pi x) / (pi x)`` (1 at 0)."""
    return write_out(Sinc.apply(_float_input(input)), out)


# ---------------------------------------------------------------- gradient
def _slice(x, d, start, stop):
    index = [slice(None)] * x.ndim
    index[d] = slice(start, stop)
    return x[tuple(index)]


def _along(v, d, ndim):
    """A 1-D tensor shaped to broadcast along dim ``d`` of an ``ndim``-d tensor."""
    return v.reshape((-1,) + (1,) * (ndim - 1 - d))


def _uniform_gradient(f, d, h, edge_order):
    n = f.shape[d]
    interior = (_slice(f, d, 2, n) - _slice(f, d, 0, n - 2)) / (2.0 * h)
    f0, f1, fl, fm = (_slice(f, d, 0, 1), _slice(f, d, 1, 2), _slice(f, d, n - 1, n), _slice(f, d, n - 2, n - 1))
    if edge_order == 1:
        first, last = (f1 - f0) / h, (fl - fm) / h
    else:
        f2, fk = _slice(f, d, 2, 3), _slice(f, d, n - 3, n - 2)
        first = (-1.5 * f0 + 2.0 * f1 - 0.5 * f2) / h
        last = (0.5 * fk - 2.0 * fm + 1.5 * fl) / h
    from tensorweaver.ops.shape import cat
    return cat([first, interior, last], d)


def _coordinate_gradient(f, d, x, edge_order):
    """Second-order accurate differences at unevenly spaced coordinates ``x`` (1-D)."""
    from tensorweaver.ops.shape import cat
    n, nd = f.shape[d], f.ndim
    dx = x[1:] - x[:-1]
    hl, hr = dx[:-1], dx[1:]
    a = _along(-hr / (hl * (hl + hr)), d, nd)
    b = _along((hr - hl) / (hl * hr), d, nd)
    c = _along(hl / (hr * (hl + hr)), d, nd)
    interior = a * _slice(f, d, 0, n - 2) + b * _slice(f, d, 1, n - 1) + c * _slice(f, d, 2, n)
    f0, f1, fl, fm = (_slice(f, d, 0, 1), _slice(f, d, 1, 2), _slice(f, d, n - 1, n), _slice(f, d, n - 2, n - 1))
    if edge_order == 1:
        first, last = (f1 - f0) / dx[0], (fl - fm) / dx[-1]
    else:
        f2, fk = _slice(f, d, 2, 3), _slice(f, d, n - 3, n - 2)
        h1, h2 = dx[0], dx[1]
        first = (-(2 * h1 + h2) / (h1 * (h1 + h2)) * f0 + (h1 + h2) / (h1 * h2) * f1
                 - h1 / (h2 * (h1 + h2)) * f2)
        h1, h2 = dx[-2], dx[-1]
        last = (h2 / (h1 * (h1 + h2)) * fk - (h1 + h2) / (h1 * h2) * fm
                + (2 * h2 + h1) / (h2 * (h1 + h2)) * fl)
    return cat([first, interior, last], d)


def gradient(input, *, spacing=1, dim=None, edge_order=1):  # noqa: A002
    """Estimate the derivative of ``input`` along ``dim`` (every dim by default) with central
    differences inside and one-sided differences of ``edge_order`` (1 or 2) at the ends.

    ``spacing``: a number (the step of every dim), a list of numbers (one step per dim), or a
    list of 1-D tensors (the coordinates of the samples along each dim). Returns a tuple with
    one tensor of ``input``'s shape per dim.
    """
    f = _float_input(input)
    dims = list(range(f.ndim)) if dim is None else ([dim] if isinstance(dim, int) else list(dim))
    if not dims:
        raise ValueError("gradient: dim must name at least one dimension")
    for d in dims:
        if not -f.ndim <= d < f.ndim:
            raise IndexError(f"gradient: dim {d} is out of range for a {f.ndim}-d tensor")
    dims = [d % f.ndim for d in dims]
    if len(set(dims)) != len(dims):
        raise ValueError(f"gradient: dim {dim} repeats a dimension")
    if edge_order not in (1, 2):
        raise ValueError(f"gradient: edge_order must be 1 or 2, got {edge_order}")
    if isinstance(spacing, (Number, Tensor)) and not (isinstance(spacing, Tensor) and spacing.ndim == 1):
        spacings = [spacing] * len(dims)
    else:
        spacings = list(spacing)
        if len(spacings) != len(dims):
            raise ValueError(f"gradient: spacing has {len(spacings)} entries for {len(dims)} dims; "
                             "give one number or one coordinate tensor per differentiated dim")
    results = []
    for d, s in zip(dims, spacings):
        n = f.shape[d]
        if n < edge_order + 1:
            raise ValueError(f"gradient: expected each dimension size to be at least edge_order+1 "
                             f"(dim {d} has size {n}, edge_order is {edge_order})")
        if isinstance(s, Tensor) and s.ndim == 1:
            if s.shape[0] != n:
                raise ValueError(f"gradient: the coordinates for dim {d} have {s.shape[0]} entries, "
                                 f"the dim has size {n}")
            results.append(_coordinate_gradient(f, d, ew.cast(s, f.dtype) if s.dtype != f.dtype else s,
                                                edge_order))
        else:
            h = s.item() if isinstance(s, Tensor) else s
            results.append(_uniform_gradient(f, d, float(h), edge_order))
    return tuple(results)


# ---------------------------------------------------------------- Tensor methods
def copysign_(self, other): return _inp.binary_(self, other, copysign, "copysign_")  # noqa: E704
def deg2rad_(self): return _inp.unary_(self, deg2rad, "deg2rad_")  # noqa: E704
def rad2deg_(self): return _inp.unary_(self, rad2deg, "rad2deg_")  # noqa: E704
def floor_divide_(self, other): return _inp.binary_(self, other, floor_divide, "floor_divide_")  # noqa: E704
def ldexp_(self, other): return _inp.binary_(self, other, ldexp, "ldexp_")  # noqa: E704
def logit_(self, eps=None): return _inp.unary_(self, lambda x: logit(x, eps), "logit_")  # noqa: E704
def nextafter_(self, other): return _inp.binary_(self, other, nextafter, "nextafter_")  # noqa: E704
def sinc_(self): return _inp.unary_(self, sinc, "sinc_")  # noqa: E704


OPERATORS = {
    "__floordiv__": floor_divide,
    "__rfloordiv__": lambda self, other: floor_divide(other, self),
    "__ifloordiv__": floor_divide_,
}

METHODS = ("copysign deg2rad rad2deg floor_divide frexp ldexp logit nextafter signbit sinc "
           "copysign_ deg2rad_ rad2deg_ floor_divide_ ldexp_ logit_ nextafter_ sinc_").split()

#: The Tensor-side math namespace of the derivative formulas (as in pointwise.py).
_T = types.SimpleNamespace(where=lambda c, x, y: ew.where(c, x, y), sin=ew.sin, cos=ew.cos)
