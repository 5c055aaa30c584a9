"""Bitwise and logical ops: ``bitwise_not/and/or/xor``, ``bitwise_left_shift/right_shift``,
``logical_xor``, and the ``logical_*`` Tensor methods (with their in-place forms).

Bitwise ops take integer or bool tensors (or Python ints/bools) and are not
differentiable; a float operand is refused, as torch refuses it. Operands broadcast and
promote like torch (``bool & uint8`` is uint8, ``int_tensor << 1`` keeps the tensor's
dtype). Logical ops take any dtype (nonzero is true) and give bool. Shapes: ``(*)`` and
``(*)`` broadcast to ``(*)``.

Shifts follow torch where C leaves them undefined: a shift count that is negative or at
least the dtype's width gives 0 (and -1 for a right shift of a negative number).
"""
from __future__ import annotations

from tensorweaver import backend, dtypes
from tensorweaver.autograd.function import Function
from tensorweaver.ops import elementwise as ew
from tensorweaver.ops import inplace as _inp
from tensorweaver.ops.elementwise import promote
from tensorweaver.ops.pointwise import write_out
from tensorweaver.tensor import Tensor

xp = backend.xp


def _as_arrays(a, s):
    """A Python-number operand as an array of the other's dtype (the shifts read dtypes)."""
    if not backend.is_array(a):
        a = xp.asarray(a, dtype=s.dtype)
    return a, s


def _left_shift(a, s):
    a, s = _as_arrays(a, s)
    bits = a.dtype.itemsize * 8
    ok = (s >= 0) & (s < bits)
    return xp.where(ok, xp.left_shift(a, xp.where(ok, s, 0).astype(a.dtype)), 0).astype(a.dtype)


def _right_shift(a, s):
    a, s = _as_arrays(a, s)
    bits = a.dtype.itemsize * 8
    ok = (s >= 0) & (s < bits)
    shifted = xp.right_shift(a, xp.where(ok, s, 0).astype(a.dtype))
    overflow = xp.where(a < 0, -1, 0) if a.dtype.kind == "i" else xp.zeros_like(a)
    return xp.where(ok, shifted, overflow).astype(a.dtype)


class Bitwise(Function):
    """A bitwise op (``rule`` names it); no gradient, recorded so that the ONNX tracer sees it."""
    differentiable = False
    RULES = {"and": xp.bitwise_and, "or": xp.bitwise_or, "xor": xp.bitwise_xor,
             "left_shift": _left_shift, "right_shift": _right_shift}

    def forward(self, a, b, rule):
        return backend.as_array(Bitwise.RULES[rule](a, b))


class BitwiseNot(Function):
    """``~a``: bit inversion for integers, logical not for bool."""
    differentiable = False

    def forward(self, a):
        return xp.logical_not(a) if a.dtype.kind == "b" else xp.invert(a)


class LogicalXor(Function):
    """``bool(a) != bool(b)`` for any dtype; no gradient."""
    differentiable = False

    def forward(self, a, b):
        return backend.as_array(xp.logical_xor(a, b))


def _integral(op, *operands):
    for x in operands:
        kind = x.dtype.kind if isinstance(x, Tensor) else ("f" if isinstance(x, float) else "i")
        if kind not in "iub":
            what = dtypes.torch_name(x.dtype) if isinstance(x, Tensor) else type(x).__name__
            raise TypeError(
                f"{op}: bitwise ops take integer or bool tensors, got {what} (torch: \"{op}\" not "
                "implemented for 'Float'). Convert with .long() or .bool() first, or use a logical op "
                "(logical_and, ...) for truth values.")


def _tensor(x):
    return x if isinstance(x, Tensor) else Tensor(x)


def bitwise_not(input, *, out=None):  # noqa: A002  (torch's argument name)
    """``~input``: each bit inverted (``-x - 1`` for signed integers); logical not for bool."""
    x = _tensor(input)
    _integral("bitwise_not", x)
    return write_out(BitwiseNot.apply(x), out)


def _binary(rule, name, no_bool=False):
    def op(input, other, *, out=None):  # noqa: A002
        if not isinstance(input, Tensor) and not isinstance(other, Tensor):
            input = Tensor(input)
        _integral(name, input, other)
        a, b = promote(input, other)
        if no_bool and all(x.dtype.kind == "b" if isinstance(x, Tensor) else isinstance(x, bool)
                           for x in (a, b)):
            raise TypeError(f"{name}: shifting bool by bool is not defined (torch: not implemented for "
                            "'Bool'); convert one operand with .long() first")
        return write_out(Bitwise.apply(a, b, rule), out)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = (f"``torch.{name}``: elementwise on integer or bool tensors, broadcasting; "
                  "``(*)`` and ``(*)`` -> ``(*)``; no gradient.")
    return op


bitwise_and = _binary("and", "bitwise_and")
bitwise_or = _binary("or", "bitwise_or")
bitwise_xor = _binary("xor", "bitwise_xor")
bitwise_left_shift = _binary("left_shift", "bitwise_left_shift", no_bool=True)
bitwise_right_shift = _binary("right_shift", "bitwise_right_shift", no_bool=True)


def logical_xor(input, other, *, out=None):  # noqa: A002
    """True where exactly one of ``input`` and ``other`` is nonzero; bool, broadcasting."""
    a, b = promote(input, other)
    return write_out(LogicalXor.apply(a, b), out)


def logical_and(input, other, *, out=None):  # noqa: A002
    return write_out(ew.logical_and(input, other), out)


def logical_or(input, other, *, out=None):  # noqa: A002
    return write_out(ew.logical_or(input, other), out)


def logical_not(input, *, out=None):  # noqa: A002
    return write_out(ew.logical_not(_tensor(input)), out)


# -- in-place forms (Tensor methods): the result is written in the tensor's dtype, as torch
#    (x.logical_and_(y) on a float tensor stores 1.0 and 0.0).
def _inplace(fn, name):
    def method(self, other):
        return _inp.binary_(self, other, fn, name)
    method.__name__ = method.__qualname__ = name
    return method


bitwise_and_ = _inplace(bitwise_and, "bitwise_and_")
bitwise_or_ = _inplace(bitwise_or, "bitwise_or_")
bitwise_xor_ = _inplace(bitwise_xor, "bitwise_xor_")
bitwise_left_shift_ = _inplace(bitwise_left_shift, "bitwise_left_shift_")
bitwise_right_shift_ = _inplace(bitwise_right_shift, "bitwise_right_shift_")
logical_and_ = _inplace(logical_and, "logical_and_")
logical_or_ = _inplace(logical_or, "logical_or_")
logical_xor_ = _inplace(logical_xor, "logical_xor_")


def bitwise_not_(self):
    return _inp.unary_(self, bitwise_not, "bitwise_not_")


def logical_not_(self):
    return _inp.unary_(self, logical_not, "logical_not_")


# -- Python operators, as torch defines them on tensors.
def _reflected(fn):
    return lambda self, other: fn(other, self)


OPERATORS = {
    "__invert__": bitwise_not, "__and__": bitwise_and, "__or__": bitwise_or, "__xor__": bitwise_xor,
    "__lshift__": bitwise_left_shift, "__rshift__": bitwise_right_shift,
    "__rand__": _reflected(bitwise_and), "__ror__": _reflected(bitwise_or),
    "__rxor__": _reflected(bitwise_xor), "__rlshift__": _reflected(bitwise_left_shift),
    "__rrshift__": _reflected(bitwise_right_shift),
    "__iand__": bitwise_and_, "__ior__": bitwise_or_, "__ixor__": bitwise_xor_,
    "__ilshift__": bitwise_left_shift_, "__irshift__": bitwise_right_shift_,
}

METHODS = ("bitwise_not bitwise_and bitwise_or bitwise_xor bitwise_left_shift bitwise_right_shift "
           "bitwise_not_ bitwise_and_ bitwise_or_ bitwise_xor_ bitwise_left_shift_ bitwise_right_shift_ "
           "logical_and logical_or logical_not logical_xor logical_and_ logical_or_ logical_not_ "
           "logical_xor_").split()
