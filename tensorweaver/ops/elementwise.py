"""Elementwise ops: arithmetic, activations, comparisons, selection.

Binary ops broadcast like NumPy; their backward sums the gradient back to each
input's shape (``unbroadcast``). Python scalars are constants, never widened:
``float32_tensor * 2.0`` stays float32, as in torch.
"""
from __future__ import annotations

import math

from tensorweaver import backend, dtypes
from tensorweaver.autograd import function as _fn
from tensorweaver.autograd.function import Function
from tensorweaver.autograd.grad_mode import _enabled as _grad_enabled
from tensorweaver.tensor import Tensor, _make_tensor

xp = backend.xp
_as_array = backend.as_array


def unbroadcast(grad, shape):
    """Sum ``grad`` down to ``shape``: the adjoint of broadcasting."""
    gshape = grad.shape
    if gshape == shape:
        return grad
    extra = len(gshape) - len(shape)
    if extra > 0 and gshape[extra:] == shape:
        # Only leading dims were added (a bias over a batch): one sum, nothing to keep.
        grad = grad.sum(axis=0) if extra == 1 else grad.sum(axis=tuple(range(extra)))
        return grad if shape else backend.as_array(grad)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return backend.as_array(grad).reshape(shape)


def sum_to(t, shape):
    """``unbroadcast`` on Tensors (recorded, so it can be differentiated again)."""
    shape = tuple(shape)
    if t.shape == shape:
        return t
    extra = t.ndim - len(shape)
    if extra:
        t = t.sum(dim=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and t.shape[i] != 1)
    if axes:
        t = t.sum(dim=axes, keepdim=True)
    return t if t.shape == shape else t.reshape(shape)


_ndarray = backend.ndarray       # bound once: the backend is chosen per process, at import


def _shape_of(x):
    return x.shape if isinstance(x, _ndarray) else ()


def as_tensor_operand(x):
    """Tensors pass through; Python numbers stay scalars; arrays/lists become tensors."""
    if isinstance(x, (Tensor, int, float, bool)):
        return x
    return Tensor(x)


def _keeps_dtype(t, scalar) -> bool:
    """``t op scalar`` needs no cast: a float with a float tensor, an int with any but a bool
    one (the common ``x * 2.0``, ``loss / n``; checked first because promote's general path
    costs more than the op)."""
    kind = t._data.dtype.kind
    cls = type(scalar)
    return (cls is float and kind == "f") or (cls is int and kind != "b")


def promote(a, b):
    """Cast two operands to torch's common dtype (only when they differ)."""
    if isinstance(a, Tensor):
        if (b._data.dtype is a._data.dtype) if isinstance(b, Tensor) else _keeps_dtype(a, b):
            return a, b
    elif isinstance(b, Tensor) and _keeps_dtype(b, a):
        return a, b
    a, b = as_tensor_operand(a), as_tensor_operand(b)
    ta, tb = isinstance(a, Tensor), isinstance(b, Tensor)
    if ta and tb:
        da, db = a._data.dtype, b._data.dtype
        if da is db or da == db:
            return a, b
        target = dtypes.result_type(da, not a.shape, db, not b.shape)
        return cast(a, target), cast(b, target)
    if ta:
        target = dtypes.scalar_result_type(a._data.dtype, b)
        return (a if target is a._data.dtype else cast(a, target)), b
    if tb:
        target = dtypes.scalar_result_type(b._data.dtype, a)
        return a, (b if target is b._data.dtype else cast(b, target))
    return Tensor(a), b


# ---------------------------------------------------------------- arithmetic
class Add(Function):
    def forward(self, a, b):
        self.shapes = (_shape_of(a), _shape_of(b))
        return a + b

    def backward(self, grad):
        sa, sb = self.shapes
        need_a, need_b = self.needs_input_grad
        return (unbroadcast(grad, sa) if need_a else None,
                unbroadcast(grad, sb) if need_b else None)

    def tensor_backward(self, grad):
        sa, sb = self.shapes
        need_a, need_b = self.needs_input_grad
        return (sum_to(grad, sa) if need_a else None,
                sum_to(grad, sb) if need_b else None)


class Sub(Function):
    def forward(self, a, b):
        self.shapes = (_shape_of(a), _shape_of(b))
        return a - b

    def backward(self, grad):
        sa, sb = self.shapes
        need_a, need_b = self.needs_input_grad
        return (unbroadcast(grad, sa) if need_a else None,
                unbroadcast(-grad, sb) if need_b else None)

    def tensor_backward(self, grad):
        sa, sb = self.shapes
        need_a, need_b = self.needs_input_grad
        return (sum_to(grad, sa) if need_a else None,
                sum_to(-grad, sb) if need_b else None)


class Mul(Function):
    def forward(self, a, b):
        # Save only what a gradient needs (as torch does): changing ``x`` in place after
        # ``c * x`` (c a constant) must not make backward refuse.
        # (The edges, not needs_input_grad: building that tuple in every forward is per-op cost.)
        edge_a, edge_b = self._edges
        if edge_a is None and edge_b is None:
            return a * b                  # not recorded (``lr * p.grad`` in an update): nothing to save
        self.shapes = (_shape_of(a), _shape_of(b))
        self.save_for_backward(a if edge_b is not None else None, b if edge_a is not None else None)
        return a * b

    def backward(self, grad):
        a, b = self.saved_tensors
        need_a, need_b = self.needs_input_grad
        ga = unbroadcast(grad * b, self.shapes[0]) if need_a else None
        gb = unbroadcast(grad * a, self.shapes[1]) if need_b else None
        return ga, gb

    def tensor_backward(self, grad, a, b):
        need_a, need_b = self.needs_input_grad
        sa, sb = _operand_shapes(self, a, b)
        return (sum_to(grad * b, sa) if need_a else None,
                sum_to(grad * a, sb) if need_b else None)


class Div(Function):
    def forward(self, a, b):
        self.shapes = (_shape_of(a), _shape_of(b))
        self.save_for_backward(a if self._edges[1] is not None else None, b)   # what torch saves
        return a / b

    def backward(self, grad):
        a, b = self.saved_tensors
        need_a, need_b = self.needs_input_grad
        ga = unbroadcast(grad / b, self.shapes[0]) if need_a else None
        gb = unbroadcast(-grad * a / (b * b), self.shapes[1]) if need_b else None
        return ga, gb

    def tensor_backward(self, grad, a, b):
        need_a, need_b = self.needs_input_grad
        sa, sb = _operand_shapes(self, a, b)
        ga = sum_to(grad / b, sa) if need_a else None
        gb = sum_to(-grad * a / (b * b), sb) if need_b else None
        return ga, gb


class Neg(Function):
    def forward(self, a):
        return -a

    def backward(self, grad):
        return -grad

    def tensor_backward(self, grad):
        return -grad


class Pow(Function):
    """``a ** b`` where either side may be a constant scalar."""

    def forward(self, a, b):
        out = a ** b
        # The output is needed only for the exponent's gradient (torch saves it only then).
        self.save_for_backward(a, b, out if self._edges[1] is not None else None)
        return out

    def backward(self, grad):
        a, b, out = self.saved_tensors
        need_a, need_b = self.needs_input_grad
        ga = gb = None
        if need_a:
            ga = unbroadcast(grad * b * a ** (b - 1), _shape_of(a))
        if need_b:
            # d(a^b)/db = a^b log(a); 0 where a == 0 (the limit torch uses too).
            log_a = xp.log(xp.where(a > 0, a, 1)) if isinstance(a, backend.ndarray) else (math.log(a) if a > 0 else math.nan)
            gb = unbroadcast(grad * out * log_a, _shape_of(b))
        return ga, gb

    def tensor_backward(self, grad, a, b, out):
        need_a, need_b = self.needs_input_grad
        ga = gb = None
        if need_a:
            ga = sum_to(grad * b * a ** (b - 1), _shape_of_t(a))
        if need_b:
            log_a = log(where(a > 0, a, 1.0)) if isinstance(a, Tensor) else (math.log(a) if a > 0 else math.nan)
            gb = sum_to(grad * out * log_a, _shape_of_t(b))
        return ga, gb


class Cast(Function):
    def forward(self, a, dtype):
        self.src = a.dtype
        return a.astype(dtype)

    def backward(self, grad):
        return grad.astype(self.src) if self.src.kind == "f" else None

    def tensor_backward(self, grad):
        return cast(grad, self.src) if self.src.kind == "f" else None


class Clone(Function):
    def forward(self, a):
        return a.copy()

    def backward(self, grad):
        return grad

    def tensor_backward(self, grad):
        return grad


# ---------------------------------------------------------------- unary math
class Exp(Function):
    def forward(self, a):
        out = xp.exp(a)
        self.save_for_backward(out)
        return out

    def backward(self, grad):
        (out,) = self.saved_tensors
        return grad * out

    def tensor_backward(self, grad, out):
        return grad * out


class Log(Function):
    def forward(self, a):
        self.save_for_backward(a)
        return xp.log(a)

    def backward(self, grad):
        (a,) = self.saved_tensors
        return grad / a

    def tensor_backward(self, grad, a):
        return grad / a


class Sqrt(Function):
    def forward(self, a):
        out = xp.sqrt(a)
        self.save_for_backward(out)
        return out

    def backward(self, grad):
        (out,) = self.saved_tensors
        return grad / (2 * out)

    def tensor_backward(self, grad, out):
        return grad / (2 * out)


class Abs(Function):
    def forward(self, a):
        self.save_for_backward(a)
        return xp.abs(a)

    def backward(self, grad):
        (a,) = self.saved_tensors
        return grad * xp.sign(a)

    def tensor_backward(self, grad, a):
        return grad * sign(a)


class Sin(Function):
    def forward(self, a):
        self.save_for_backward(a)
        return xp.sin(a)

    def backward(self, grad):
        (a,) = self.saved_tensors
        return grad * xp.cos(a)

    def tensor_backward(self, grad, a):
        return grad * cos(a)


class Cos(Function):
    def forward(self, a):
        self.save_for_backward(a)
        return xp.cos(a)

    def backward(self, grad):
        (a,) = self.saved_tensors
        return -grad * xp.sin(a)

    def tensor_backward(self, grad, a):
        return -grad * sin(a)


class Erf(Function):
    """The error function (GELU's exact form needs it differentiable at every order)."""

    def forward(self, a):
        self.save_for_backward(a)
        return backend.erf(a)

    def backward(self, grad):
        (a,) = self.saved_tensors
        return grad * _TWO_OVER_SQRT_PI * xp.exp(-a * a)

    def tensor_backward(self, grad, a):
        return grad * _TWO_OVER_SQRT_PI * exp(-a * a)


# ---------------------------------------------------------------- activations
class Tanh(Function):
    def forward(self, a):
        out = xp.tanh(a)
        self.save_for_backward(out)
        return out

    def backward(self, grad):
        (out,) = self.saved_tensors
        return grad * (1 - out * out)

    def tensor_backward(self, grad, out):
        return grad * (1 - out * out)


class Sigmoid(Function):
    def forward(self, a):
        # Split by sign so exp never overflows: exp(-|a|) <= 1.
        e = xp.exp(-xp.abs(a))
        out = xp.where(a >= 0, 1 / (1 + e), e / (1 + e))
        self.save_for_backward(out)
        return out

    def backward(self, grad):
        (out,) = self.saved_tensors
        return grad * out * (1 - out)

    def tensor_backward(self, grad, out):
        return grad * out * (1 - out)


class ReLU(Function):
    def forward(self, a):
        out = xp.maximum(a, 0)
        self.save_for_backward(out)
        return out

    def backward(self, grad):
        (out,) = self.saved_tensors
        return grad * (out > 0)

    def tensor_backward(self, grad, out):
        return where(out > 0, grad, 0.0)


class LeakyReLU(Function):
    def forward(self, a, negative_slope):
        self.slope = negative_slope
        self.save_for_backward(a)
        return xp.where(a > 0, a, a * negative_slope)

    def backward(self, grad):
        (a,) = self.saved_tensors
        return xp.where(a > 0, grad, grad * self.slope)

    def tensor_backward(self, grad, a):
        return where(a > 0, grad, grad * self.slope)


_SQRT_2 = math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


class GELU(Function):
    """``x * Phi(x)``; ``approximate="tanh"`` uses torch's tanh formula."""

    def forward(self, a, approximate="none"):
        self.approximate = approximate
        self.save_for_backward(a)
        if approximate == "tanh":
            return 0.5 * a * (1 + xp.tanh(_SQRT_2_OVER_PI * (a + 0.044715 * a ** 3)))
        return 0.5 * a * (1 + backend.erf(a / _SQRT_2))

    def backward(self, grad):
        (a,) = self.saved_tensors
        if self.approximate == "tanh":
            inner = _SQRT_2_OVER_PI * (a + 0.044715 * a ** 3)
            t = xp.tanh(inner)
            d_inner = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * a * a)
            return grad * (0.5 * (1 + t) + 0.5 * a * (1 - t * t) * d_inner)
        cdf = 0.5 * (1 + backend.erf(a / _SQRT_2))
        pdf = _INV_SQRT_2PI * xp.exp(-0.5 * a * a)
        return grad * (cdf + a * pdf)

    def tensor_backward(self, grad, a):
        if self.approximate == "tanh":
            t = tanh(_SQRT_2_OVER_PI * (a + 0.044715 * a ** 3))
            d_inner = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * a * a)
            return grad * (0.5 * (1 + t) + 0.5 * a * (1 - t * t) * d_inner)
        cdf = 0.5 * (1 + Erf.apply(a / _SQRT_2))
        pdf = _INV_SQRT_2PI * exp(-0.5 * a * a)
        return grad * (cdf + a * pdf)


# ---------------------------------------------------------------- selection
class Clamp(Function):
    def forward(self, a, lo, hi):
        self.save_for_backward(a)
        self.lo, self.hi = lo, hi
        out = a
        if lo is not None:
            out = xp.maximum(out, lo)
        if hi is not None:
            out = xp.minimum(out, hi)
        return out if out is not a else a.copy()

    def backward(self, grad):
        (a,) = self.saved_tensors
        keep = xp.ones(a.shape, dtype=bool)
        if self.lo is not None:
            keep = keep & (a >= self.lo)
        if self.hi is not None:
            keep = keep & (a <= self.hi)
        return grad * keep

    def tensor_backward(self, grad, a):
        keep = xp.ones(a.shape, dtype=bool)
        if self.lo is not None:
            keep = keep & (a.data >= self.lo)
        if self.hi is not None:
            keep = keep & (a.data <= self.hi)
        return where(_make_tensor(keep, False, None), grad, 0.0)


class Where(Function):
    def forward(self, cond, a, b):
        self.save_for_backward(cond)
        self.shapes = (_shape_of(a), _shape_of(b))
        return xp.where(cond, a, b)

    def backward(self, grad):
        (cond,) = self.saved_tensors
        _, need_a, need_b = self.needs_input_grad
        zero = xp.zeros((), dtype=grad.dtype)
        ga = unbroadcast(xp.where(cond, grad, zero), self.shapes[0]) if need_a else None
        gb = unbroadcast(xp.where(cond, zero, grad), self.shapes[1]) if need_b else None
        return None, ga, gb

    def tensor_backward(self, grad, cond):
        _, need_a, need_b = self.needs_input_grad
        ga = sum_to(where(cond, grad, 0.0), self.shapes[0]) if need_a else None
        gb = sum_to(where(cond, 0.0, grad), self.shapes[1]) if need_b else None
        return None, ga, gb


class Maximum(Function):
    """Ties split the gradient evenly, as torch does."""

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return xp.maximum(a, b)

    def backward(self, grad):
        a, b = self.saved_tensors
        return _split_by_winner(grad, a > b, a == b, a, b)

    def tensor_backward(self, grad, a, b):
        x, y = _data(a), _data(b)
        return _split_by_winner_t(self, grad, x > y, x == y, a, b)


class Minimum(Function):
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return xp.minimum(a, b)

    def backward(self, grad):
        a, b = self.saved_tensors
        return _split_by_winner(grad, a < b, a == b, a, b)

    def tensor_backward(self, grad, a, b):
        x, y = _data(a), _data(b)
        return _split_by_winner_t(self, grad, x < y, x == y, a, b)


def _split_by_winner(grad, a_wins, tie, a, b):
    share_a = xp.where(tie, 0.5, a_wins.astype(grad.dtype)).astype(grad.dtype)
    return unbroadcast(grad * share_a, _shape_of(a)), unbroadcast(grad * (1 - share_a), _shape_of(b))


def _split_by_winner_t(fn, grad, a_wins, tie, a, b):
    # Who wins is piecewise constant in the inputs: a constant of the recorded gradient.
    share = xp.where(tie, 0.5, backend.as_array(a_wins).astype(grad.dtype)).astype(grad.dtype)
    share_a = _make_tensor(backend.as_array(share), False, None)
    need_a, need_b = fn.needs_input_grad
    return (sum_to(grad * share_a, _shape_of_t(a)) if need_a else None,
            sum_to(grad * (1 - share_a), _shape_of_t(b)) if need_b else None)


def _shape_of_t(x):
    """A saved operand's shape: a Tensor's, or () for a Python scalar."""
    return x.shape if isinstance(x, Tensor) else ()


def _operand_shapes(fn, a, b):
    """The two operands' shapes: noted in forward, or read from the saved operands (an op
    may save None for an operand whose value no gradient needs)."""
    shapes = getattr(fn, "shapes", None)
    return shapes if shapes is not None else (_shape_of_t(a), _shape_of_t(b))


def _data(x):
    return x.data if isinstance(x, Tensor) else x


_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


# ---------------------------------------------------------------- public functions
def add(a, b):
    if isinstance(a, Tensor) and isinstance(b, Tensor) and a._data.dtype is b._data.dtype:
        return Add.apply(a, b)        # the common case, without promote's calls (per-op overhead)
    a, b = promote(a, b)
    return Add.apply(a, b)


def sub(a, b):
    if isinstance(a, Tensor) and isinstance(b, Tensor) and a._data.dtype is b._data.dtype \
            and a._data.dtype.kind != "b":
        return Sub.apply(a, b)        # the common case, without promote's calls (per-op overhead)
    for x in (a, b):                  # as torch: `-` on booleans is almost always a mask bug
        if type(x) is bool or (isinstance(x, Tensor) and x._data.dtype.kind == "b"):
            raise RuntimeError("Subtraction, the `-` operator, with a bool tensor is not supported. "
                               "If you are trying to invert a mask, use the `~` or `logical_not()` "
                               "operator instead.")
    a, b = promote(a, b)
    return Sub.apply(a, b)


def mul(a, b):
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            if a._data.dtype is b._data.dtype:
                return Mul.apply(a, b)    # the common case, without promote's calls (per-op overhead)
        elif type(b) is float and _scaled_unrecorded(a):
            return _make_tensor(_as_array(a._data * b), False, None)
    elif type(a) is float and isinstance(b, Tensor) and _scaled_unrecorded(b):
        return _make_tensor(_as_array(a * b._data), False, None)
    a, b = promote(a, b)
    return Mul.apply(a, b)


def _scaled_unrecorded(t) -> bool:
    """``t * 0.1`` needs no node: ``t`` is a float tensor that starts no graph (``lr * p.grad``
    in an update), and no profiler, anomaly mode or tracer watches the ops. The product is
    then the plain array product, without ``Function.apply`` (this runs once per parameter
    per step in hand-written updates)."""
    return (t._data.dtype.kind == "f" and not (t.requires_grad and _grad_enabled[0])
            and not _fn.ops_observed())


def div(a, b):
    a, b = promote(a, b)
    # True division of integers gives floats, as in torch.
    if _dtype_of(a).kind != "f" and _dtype_of(b).kind != "f":
        a = cast(a, dtypes.get_default_dtype()) if isinstance(a, Tensor) else float(a)
        b = cast(b, dtypes.get_default_dtype()) if isinstance(b, Tensor) else float(b)
    return Div.apply(a, b)


def _dtype_of(x):
    if isinstance(x, Tensor):
        return x._data.dtype
    return dtypes.float64 if isinstance(x, float) else dtypes.int64


def pow(a, b):  # noqa: A001
    a, b = promote(a, b)
    return Pow.apply(a, b)


def neg(a):
    return Neg.apply(a)


def cast(a, dtype):
    if a._data.dtype == dtype:
        return a
    return Cast.apply(a, dtype)


def clone(a):
    return Clone.apply(a)


def _float_input(a):
    """Integer and bool inputs of float-valued math become the default float type (as in torch)."""
    if not isinstance(a, Tensor):
        a = Tensor(a)
    if a._data.dtype.kind != "f":
        return cast(a, dtypes.get_default_dtype())
    return a


def exp(a): return Exp.apply(_float_input(a))
def log(a): return Log.apply(_float_input(a))
def sqrt(a): return Sqrt.apply(_float_input(a))
def sin(a): return Sin.apply(_float_input(a))
def cos(a): return Cos.apply(_float_input(a))
def tanh(a): return Tanh.apply(_float_input(a))
def sigmoid(a): return Sigmoid.apply(_float_input(a))
def abs(a): return Abs.apply(a)  # noqa: A001
def relu(a): return ReLU.apply(a)


def leaky_relu(a, negative_slope=0.01):
    return LeakyReLU.apply(a, negative_slope)


def gelu(a, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return GELU.apply(_float_input(a), approximate)


def clamp(a, min=None, max=None):  # noqa: A002
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        out = a
        if min is not None:
            out = maximum(out, min)
        if max is not None:
            out = minimum(out, max)
        return out
    return Clamp.apply(a, min, max)


def _condition(cond, op):
    c = cond if isinstance(cond, Tensor) else Tensor(cond)
    if c.data.dtype.kind != "b":
        raise TypeError(f"{op}: the condition/mask must be a bool tensor, got {c.data.dtype}; "
                        "build it with a comparison such as x > 0, or call .bool()")
    return c


def where(condition, a, b):
    cond = _condition(condition, "where")
    a, b = promote(a, b)
    return Where.apply(cond, a, b)


def masked_fill(a, mask, value):
    """``a`` with ``value`` wherever ``mask`` is True (mask broadcasts to ``a``)."""
    mask = _condition(mask, "masked_fill")
    if isinstance(value, Tensor):
        value = value.item()
    return Where.apply(mask, value, a)


def maximum(a, b):
    a, b = promote(a, b)
    return Maximum.apply(a, b)


def minimum(a, b):
    a, b = promote(a, b)
    return Minimum.apply(a, b)


# ---------------------------------------------------------------- comparisons (no grad)
class Compare(Function):
    """A comparison or logical op (``rule`` names it): a recorded node with no gradient, so the
    ONNX tracer sees a mask computed in forward (Equal, Less, ...) instead of a constant."""
    differentiable = False
    RULES = {"lt": lambda x, y: x < y, "le": lambda x, y: x <= y, "gt": lambda x, y: x > y,
             "ge": lambda x, y: x >= y, "eq": lambda x, y: x == y, "ne": lambda x, y: x != y,
             "logical_and": xp.logical_and, "logical_or": xp.logical_or}

    def forward(self, a, b, rule):
        return backend.as_array(Compare.RULES[rule](a, b))


def _compare(rule):
    def compare(a, b):
        a, b = promote(a, b)
        return Compare.apply(a, b, rule)
    compare.__name__ = compare.__qualname__ = rule
    return compare


lt, le, gt, ge, eq, ne = (_compare(r) for r in ("lt", "le", "gt", "ge", "eq", "ne"))
logical_and, logical_or = _compare("logical_and"), _compare("logical_or")


def logical_not(a):
    return _make_tensor(xp.logical_not(a.data), False, None)


def isnan(a):
    return _make_tensor(xp.isnan(a.data), False, None)


def isfinite(a):
    return _make_tensor(xp.isfinite(a.data), False, None)


def sign(a):
    return _make_tensor(xp.sign(a.data), False, None)
