"""PyTorch's *Pointwise Ops* beyond the core of ``elementwise.py``: special functions,
hyperbolic and inverse trigonometric functions, rounding, remainders and the fused forms.

Each unary op is one small ``Function`` that states its value ``f`` and its derivative
``df`` once, over a math namespace ``m``: the array library (``xp``) in ``backward``, and
the differentiable Tensor functions (``_T``) in ``tensor_backward``, so the same formula
gives first and higher-order gradients::

    class Log1p(_Unary):        # y = log(1 + a),  dy/da = 1 / (1 + a)
        def f(m, a): return m.log1p(a)
        def df(m, a, out): return 1 / (1 + a)

Shapes: every op maps an input of shape ``(*)`` to an output of shape ``(*)``; binary and
ternary ops broadcast like NumPy and sum their gradients back to each operand's shape.
Integer inputs of float-valued math become the default float dtype, as in torch; rounding,
``remainder`` and ``fmod`` keep integer dtypes.
"""
from __future__ import annotations

import math
import types

from tensorweaver import backend, dtypes
from tensorweaver.autograd.function import Function
from tensorweaver.autograd.grad_mode import _enabled as _grad_enabled
from tensorweaver.ops import elementwise as ew
from tensorweaver.ops.elementwise import _float_input, promote, sum_to, unbroadcast
from tensorweaver.tensor import Tensor, _make_tensor

xp = backend.xp
_LN2 = math.log(2.0)
_LN10 = math.log(10.0)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_SQRT_PI_OVER_TWO = math.sqrt(math.pi) / 2.0


def write_out(result, out):
    """torch's ``out=``: write ``result`` into the tensor ``out`` (resized if needed)."""
    if out is None:
        return result
    if not isinstance(out, Tensor):
        raise TypeError(f"out= must be a Tensor, got {type(out).__name__}")
    if _grad_enabled[0] and (result.requires_grad or out.requires_grad):
        raise RuntimeError("functions with out=... arguments don't support automatic differentiation, "
                           "but one of the arguments requires grad; call it under tw.no_grad() or "
                           "drop out= and use the returned tensor")
    if out.shape != result.shape:
        out.data = xp.empty(result.shape, dtype=out.data.dtype)
        out.shape = result.shape
    from tensorweaver.ops import inplace
    inplace.copy_(out, result)
    return out


# ---------------------------------------------------------------- unary ops
class _Unary:
    """Mixin of the unary Functions: ``out = f(a)``; ``saves`` says which of ``a`` and ``out`` the derivative reads (as torch
    saves them), so an in-place change of the other one does not make backward refuse."""
    saves = "a"

    def forward(self, a):
        out = type(self).f(xp, a)
        self.save_for_backward(a if "a" in self.saves else None, out if "out" in self.saves else None)
        return out

    def backward(self, grad):
        a, out = self.saved_tensors
        return grad * type(self).df(xp, a, out)

    def tensor_backward(self, grad, a, out):
        return grad * type(self).df(_T, a, out)


def _sq(x):
    return x * x


class Log1p(_Unary, Function):
    def f(m, a): return m.log1p(a)
    def df(m, a, out): return 1 / (1 + a)


class Expm1(_Unary, Function):
    saves = "out"
    def f(m, a): return m.expm1(a)
    def df(m, a, out): return out + 1


class Erfc(_Unary, Function):
    def f(m, a): return backend.erfc(a)
    def df(m, a, out): return -_TWO_OVER_SQRT_PI * m.exp(-a * a)


class Erfinv(_Unary, Function):
    saves = "out"
    def f(m, a): return backend.erfinv(a)
    def df(m, a, out): return _SQRT_PI_OVER_TWO * m.exp(out * out)


class Rsqrt(_Unary, Function):
    saves = "out"
    def f(m, a): return 1 / m.sqrt(a)
    def df(m, a, out): return -0.5 * out * out * out


class Reciprocal(_Unary, Function):
    saves = "out"
    def f(m, a): return 1 / a
    def df(m, a, out): return -out * out


class Square(_Unary, Function):
    def f(m, a): return a * a
    def df(m, a, out): return 2 * a


class Log2(_Unary, Function):
    def f(m, a): return m.log2(a)
    def df(m, a, out): return 1 / (a * _LN2)


class Log10(_Unary, Function):
    def f(m, a): return m.log10(a)
    def df(m, a, out): return 1 / (a * _LN10)


class Exp2(_Unary, Function):
    saves = "out"
    def f(m, a): return m.exp2(a)
    def df(m, a, out): return out * _LN2


class Sinh(_Unary, Function):
    def f(m, a): return m.sinh(a)
    def df(m, a, out): return m.cosh(a)


class Cosh(_Unary, Function):
    def f(m, a): return m.cosh(a)
    def df(m, a, out): return m.sinh(a)


class Tan(_Unary, Function):
    saves = "out"
    def f(m, a): return m.tan(a)
    def df(m, a, out): return 1 + out * out


class Asin(_Unary, Function):
    def f(m, a): return m.arcsin(a)
    def df(m, a, out): return 1 / m.sqrt(1 - a * a)


class Acos(_Unary, Function):
    def f(m, a): return m.arccos(a)
    def df(m, a, out): return -1 / m.sqrt(1 - a * a)


class Atan(_Unary, Function):
    def f(m, a): return m.arctan(a)
    def df(m, a, out): return 1 / (1 + a * a)


class Asinh(_Unary, Function):
    def f(m, a): return m.arcsinh(a)
    def df(m, a, out): return 1 / m.sqrt(a * a + 1)


class Acosh(_Unary, Function):
    def f(m, a): return m.arccosh(a)
    def df(m, a, out): return 1 / m.sqrt(a * a - 1)


class Atanh(_Unary, Function):
    def f(m, a): return m.arctanh(a)
    def df(m, a, out): return 1 / (1 - a * a)


class Frac(_Unary, Function):
    """``a - trunc(a)``: gradient 1 (the jumps are measure zero, as in torch)."""
    saves = ""
    def f(m, a): return a - m.trunc(a)
    def df(m, a, out): return 1.0


class _Step:
    """Mixin: piecewise-constant ops (floor, ceil, round, trunc, sign): gradient 0 everywhere, as torch
    defines it. ``rule(a)`` computes the value."""

    def forward(self, a, rule):
        return rule(a)

    def backward(self, grad):
        return xp.zeros_like(grad)

    def tensor_backward(self, grad):
        return grad * 0.0


class Floor(_Step, Function): pass
class Ceil(_Step, Function): pass
class Round(_Step, Function): pass
class Trunc(_Step, Function): pass
class Sign(_Step, Function): pass


class NanToNum(Function):
    """NaN -> ``nan``, +inf -> ``posinf``, -inf -> ``neginf`` (the dtype's largest finite
    values by default); the gradient passes where the input was finite."""

    def forward(self, a, nan, posinf, neginf):
        self.save_for_backward(a)
        return xp.nan_to_num(a, nan=nan, posinf=posinf, neginf=neginf)

    def backward(self, grad):
        (a,) = self.saved_tensors
        return grad * xp.isfinite(a)

    def tensor_backward(self, grad, a):
        return grad * _make_tensor(xp.isfinite(a.data).astype(grad.dtype), False, None)


# ---------------------------------------------------------------- binary ops
class _Binary:
    """Mixin of the binary Functions: ``out = f(a, b)`` with broadcasting; ``grads(m, a, b, out)`` gives both partials."""

    def forward(self, a, b):
        out = type(self).f(xp, a, b)
        self.shapes = (ew._shape_of(a), ew._shape_of(b))
        self.save_for_backward(a, b, out)
        return out

    def backward(self, grad):
        a, b, out = self.saved_tensors
        da, db = type(self).grads(xp, a, b, out)
        need_a, need_b = self.needs_input_grad
        return (unbroadcast(grad * da, self.shapes[0]) if need_a else None,
                unbroadcast(grad * db, self.shapes[1]) if need_b else None)

    def tensor_backward(self, grad, a, b, out):
        da, db = type(self).grads(_T, a, b, out)
        need_a, need_b = self.needs_input_grad
        return (sum_to(grad * da, self.shapes[0]) if need_a else None,
                sum_to(grad * db, self.shapes[1]) if need_b else None)


class Atan2(_Binary, Function):
    def f(m, a, b): return m.arctan2(a, b)
    def grads(m, a, b, out):
        r2 = a * a + b * b
        return b / r2, -a / r2


class Hypot(_Binary, Function):
    def f(m, a, b): return m.hypot(a, b)
    def grads(m, a, b, out): return a / out, b / out


class LogAddExp(_Binary, Function):
    def f(m, a, b): return m.logaddexp(a, b)
    # exp(a - out) written as 1 / (1 + exp(b - a)): stays right when out is infinite.
    def grads(m, a, b, out): return 1 / (1 + m.exp(b - a)), 1 / (1 + m.exp(a - b))


class LogAddExp2(_Binary, Function):
    def f(m, a, b): return m.logaddexp2(a, b)
    def grads(m, a, b, out): return 1 / (1 + m.exp2(b - a)), 1 / (1 + m.exp2(a - b))


class Remainder(_Binary, Function):
    """Python's ``%``: the result has the sign of the divisor; d/db = -floor(a / b)."""
    def f(m, a, b): return m.remainder(a, b)
    def grads(m, a, b, out): return 1.0, -m.floor(a / b)


class Fmod(_Binary, Function):
    """C's ``fmod``: the result has the sign of the dividend; d/db = -trunc(a / b)."""
    def f(m, a, b): return m.fmod(a, b)
    def grads(m, a, b, out): return 1.0, -m.trunc(a / b)


class Xlogy(_Binary, Function):
    """``a * log(b)``, 0 where ``a == 0`` (unless ``b`` is NaN), as torch."""
    def f(m, a, b):
        safe_b = m.where(a == 0, 1.0, b)
        return m.where((a == 0) & ~m.isnan(b), 0.0, a * m.log(safe_b))

    def grads(m, a, b, out):
        a_zero = _const(m, _raw(a) == 0)
        return m.where(a_zero, 0.0, m.log(m.where(a_zero, 1.0, b))), a / b


class Fmax(_Binary, Function):
    def f(m, a, b): return m.fmax(a, b)
    def grads(m, a, b, out):
        x, y = _raw(a), _raw(b)
        wins = _const(m, (x >= y) | xp.isnan(y), _raw(out).dtype)
        return wins, 1 - wins


class Fmin(_Binary, Function):
    def f(m, a, b): return m.fmin(a, b)
    def grads(m, a, b, out):
        x, y = _raw(a), _raw(b)
        wins = _const(m, (x <= y) | xp.isnan(y), _raw(out).dtype)
        return wins, 1 - wins


def _raw(x):
    return x.data if isinstance(x, Tensor) else x


def _const(m, mask, dtype=None):
    """A mask as a constant of the formula (masks are piecewise constant in the inputs)."""
    arr = backend.as_array(mask)
    if dtype is not None:
        arr = arr.astype(dtype)
    return _make_tensor(arr, False, None) if m is _T else arr


# ---------------------------------------------------------------- public functions
def _unary(cls, name, float_math=True):
    def op(input, *, out=None):  # noqa: A002 (torch's argument name)
        x = _float_input(input) if float_math else _tensor(input)
        return write_out(cls.apply(x), out)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"``torch.{name}``: elementwise, shape ``(*)`` -> ``(*)``."
    return op


def _tensor(x):
    return x if isinstance(x, Tensor) else Tensor(x)


log1p = _unary(Log1p, "log1p")
expm1 = _unary(Expm1, "expm1")
erfc = _unary(Erfc, "erfc")
erfinv = _unary(Erfinv, "erfinv")
rsqrt = _unary(Rsqrt, "rsqrt")
reciprocal = _unary(Reciprocal, "reciprocal")
log2 = _unary(Log2, "log2")
log10 = _unary(Log10, "log10")
exp2 = _unary(Exp2, "exp2")
sinh = _unary(Sinh, "sinh")
cosh = _unary(Cosh, "cosh")
tan = _unary(Tan, "tan")
asin = arcsin = _unary(Asin, "asin")
acos = arccos = _unary(Acos, "acos")
atan = arctan = _unary(Atan, "atan")
asinh = arcsinh = _unary(Asinh, "asinh")
acosh = arccosh = _unary(Acosh, "acosh")
atanh = arctanh = _unary(Atanh, "atanh")
frac = _unary(Frac, "frac")


def square(input, *, out=None):  # noqa: A002
    """``input * input``; integer and bool inputs keep torch's dtype (int64 for bool)."""
    x = _tensor(input)
    if x.dtype.kind == "b":
        x = ew.cast(x, dtypes.int64)
    return write_out(Square.apply(x), out)


def erf(input, *, out=None):  # noqa: A002
    return write_out(ew.Erf.apply(_float_input(input)), out)


def _step(cls, name, rule):
    def op(input, *, out=None):  # noqa: A002
        x = _tensor(input)
        if x.dtype.kind in "iub":
            return write_out(ew.clone(x), out)          # integers are already whole numbers
        return write_out(cls.apply(x, rule), out)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"``torch.{name}``: elementwise; gradient 0 (piecewise constant)."
    return op


floor = _step(Floor, "floor", lambda a: xp.floor(a))
ceil = _step(Ceil, "ceil", lambda a: xp.ceil(a))
trunc = fix = _step(Trunc, "trunc", lambda a: xp.trunc(a))


def round(input, *, decimals=0, out=None):  # noqa: A001, A002
    """Round half to even (as torch); ``decimals`` rounds to that many decimal places."""
    x = _tensor(input)
    if x.dtype.kind in "iub" and decimals >= 0:
        return write_out(ew.clone(x), out)
    if decimals == 0:
        return write_out(Round.apply(x, xp.rint), out)
    scale = 10.0 ** decimals
    return write_out(Round.apply(x, lambda a: xp.rint(a * scale) / scale), out)


def sign(input, *, out=None):  # noqa: A002
    """-1, 0 or 1 with the input's dtype; gradient 0, as torch."""
    x = _tensor(input)
    if x.dtype.kind == "b":
        return write_out(ew.clone(x), out)
    return write_out(Sign.apply(x, xp.sign), out)


def nan_to_num(input, nan=0.0, posinf=None, neginf=None, *, out=None):  # noqa: A002
    x = _tensor(input)
    if x.dtype.kind != "f":
        return write_out(ew.clone(x), out)
    info = xp.finfo(x.dtype)
    posinf = float(info.max) if posinf is None else posinf
    neginf = float(info.min) if neginf is None else neginf
    return write_out(NanToNum.apply(x, nan, posinf, neginf), out)


def _binary(cls, name, float_math=True):
    def op(input, other, *, out=None):  # noqa: A002
        a, b = promote(input, other)
        if float_math:
            a, b = _float_operands(a, b)
        return write_out(cls.apply(a, b), out)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"``torch.{name}``: elementwise with broadcasting, ``(*)`` and ``(*)`` -> ``(*)``."
    return op


def _float_operands(a, b):
    """Integer operands of float-valued math become the default float dtype (torch)."""
    kinds = [x.dtype.kind if isinstance(x, Tensor) else ("f" if isinstance(x, float) else "i") for x in (a, b)]
    if "f" in kinds:
        return a, b
    target = dtypes.get_default_dtype()
    return tuple(ew.cast(x, target) if isinstance(x, Tensor) else float(x) for x in (a, b))


atan2 = arctan2 = _binary(Atan2, "atan2")
hypot = _binary(Hypot, "hypot")
logaddexp = _binary(LogAddExp, "logaddexp")
logaddexp2 = _binary(LogAddExp2, "logaddexp2")
xlogy = _binary(Xlogy, "xlogy")
fmax = _binary(Fmax, "fmax", float_math=False)
fmin = _binary(Fmin, "fmin", float_math=False)
remainder = _binary(Remainder, "remainder", float_math=False)
fmod = _binary(Fmod, "fmod", float_math=False)


def lerp(input, end, weight, *, out=None):  # noqa: A002
    """``input + weight * (end - input)``; ``weight`` a number or a broadcastable tensor."""
    return write_out(ew.add(input, ew.mul(weight, ew.sub(end, input))), out)


def addcmul(input, tensor1, tensor2, *, value=1, out=None):  # noqa: A002
    """``input + value * tensor1 * tensor2`` (broadcasting)."""
    return write_out(ew.add(input, ew.mul(ew.mul(tensor1, tensor2), value)), out)


def addcdiv(input, tensor1, tensor2, *, value=1, out=None):  # noqa: A002
    """``input + value * tensor1 / tensor2`` (broadcasting)."""
    return write_out(ew.add(input, ew.mul(ew.div(tensor1, tensor2), value)), out)


def clamp_min(input, min, *, out=None):  # noqa: A002
    return write_out(ew.clamp(input, min=min), out)


def clamp_max(input, max, *, out=None):  # noqa: A002
    return write_out(ew.clamp(input, max=max), out)


def float_power(input, exponent, *, out=None):  # noqa: A002
    """``input ** exponent`` computed in float64, as torch."""
    a = ew.cast(_tensor(input), dtypes.float64)
    b = ew.cast(exponent, dtypes.float64) if isinstance(exponent, Tensor) else float(exponent)
    return write_out(ew.pow(a, b), out)


def positive(input):  # noqa: A002
    return input


# Aliases torch documents in the same section.
def absolute(input, *, out=None): return write_out(ew.abs(input), out)  # noqa: A002, E704
def negative(input, *, out=None): return write_out(ew.neg(input), out)  # noqa: A002, E704
def multiply(input, other, *, out=None): return write_out(ew.mul(input, other), out)  # noqa: A002, E704
def subtract(input, other, *, alpha=1, out=None):  # noqa: A002
    return write_out(ew.sub(input, ew.mul(other, alpha) if alpha != 1 else other), out)
def divide(input, other, *, rounding_mode=None, out=None):  # noqa: A002
    """``input / other``; ``rounding_mode='trunc'`` or ``'floor'`` rounds the quotient."""
    q = ew.div(input, other)
    if rounding_mode is None:
        return write_out(q, out)
    if rounding_mode not in ("trunc", "floor"):
        raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found {rounding_mode!r}")
    a, b = promote(input, other)
    ints = all(x.dtype.kind in "iu" if isinstance(x, Tensor) else isinstance(x, int) for x in (a, b))
    q = (trunc if rounding_mode == "trunc" else floor)(q)
    return write_out(ew.cast(q, a.dtype if isinstance(a, Tensor) else b.dtype) if ints else q, out)
true_divide = divide


# The Tensor methods these functions are (the function takes the tensor first, as a method).
METHODS = (
    "log1p expm1 erf erfc erfinv rsqrt reciprocal square log2 log10 exp2 sinh cosh tan asin arcsin "
    "acos arccos atan arctan asinh arcsinh acosh arccosh atanh arctanh frac floor ceil trunc fix "
    "round sign nan_to_num atan2 arctan2 hypot logaddexp logaddexp2 xlogy fmax fmin remainder fmod "
    "lerp addcmul addcdiv clamp_min clamp_max float_power positive absolute negative multiply "
    "subtract divide true_divide").split()

#: The Tensor-side math namespace the derivative formulas are written over.
_T = types.SimpleNamespace(
    exp=ew.exp, log=ew.log, sqrt=ew.sqrt, sinh=sinh, cosh=cosh, exp2=exp2, floor=floor, trunc=trunc,
    where=lambda c, x, y: ew.where(c, x, y))
