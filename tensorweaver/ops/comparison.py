"""PyTorch's *Comparison Ops*: the elementwise comparisons with ``out=`` and their aliases
(``greater``, ``less_equal``, ``not_equal`` ...), sorting (``sort``, ``argsort``, ``msort``,
``topk``, ``kthvalue``), closeness (``isclose``, ``allclose``, ``equal``), the float class tests
(``isinf``, ``isposinf``, ``isneginf``, ``isreal``) and ``isin``.

Shapes::

    eq(input, other)                 (*) and (*) broadcast -> (*) bool
    sort(input, dim, descending)     (*) -> (values (*), indices (*) int64)
    topk(input, k, dim)              (*, n, *) -> (values (*, k, *), indices (*, k, *))
    kthvalue(input, k, dim)          (*, n, *) -> (values (*, *), indices (*, *))

Comparisons carry no gradient (they are recorded ``ew.Compare`` nodes, so masks export to
ONNX); sorted values send their gradient back to the element each came from.
"""
from __future__ import annotations

from tensorweaver import backend, dtypes
from tensorweaver.autograd.function import Function
from tensorweaver.ops import elementwise as ew
from tensorweaver.ops.cumulative import SelectAlong, ValuesIndices, _one_dim, _tensor
from tensorweaver.ops.pointwise import write_out
from tensorweaver.ops.statistics import _index_tensor, argsort_nan_last
from tensorweaver.tensor import Tensor, _make_tensor

xp = backend.xp


# ---------------------------------------------------------------- elementwise comparisons
def _with_out(rule, name):
    def op(input, other, *, out=None):  # noqa: A002 (torch's names)
        return write_out(rule(input, other), out)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"``torch.{name}``: elementwise with broadcasting, ``(*)`` and ``(*)`` -> ``(*)`` bool."
    return op


eq = _with_out(ew.eq, "eq")
ne = not_equal = _with_out(ew.ne, "ne")
lt = less = _with_out(ew.lt, "lt")
le = less_equal = _with_out(ew.le, "le")
gt = greater = _with_out(ew.gt, "gt")
ge = greater_equal = _with_out(ew.ge, "ge")


class FloatClass(Function):
    """``isinf``/``isposinf``/``isneginf``: a recorded mask (no gradient), exported as IsInf."""
    differentiable = False
    RULES = {"isinf": xp.isinf, "isposinf": lambda a: xp.isinf(a) & (a > 0),
             "isneginf": lambda a: xp.isinf(a) & (a < 0)}

    def forward(self, a, rule):
        return backend.as_array(FloatClass.RULES[rule](a))


def _float_class(rule):
    def op(input, *, out=None):  # noqa: A002
        x = _tensor(input)
        if x.dtype.kind != "f":      # integers and bools are never infinite
            return write_out(_make_tensor(xp.zeros(x.shape, dtype=dtypes.bool), False, None), out)
        return write_out(FloatClass.apply(x, rule), out)
    op.__name__ = op.__qualname__ = rule
    op.__doc__ = f"``torch.{rule}``: elementwise, ``(*)`` -> ``(*)`` bool."
    return op


isinf, isposinf, isneginf = _float_class("isinf"), _float_class("isposinf"), _float_class("isneginf")


def isreal(input):  # noqa: A002
    """True everywhere: tensorweaver has no complex dtypes."""
    x = _tensor(input)
    return _make_tensor(xp.ones(x.shape, dtype=dtypes.bool), False, None)


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):  # noqa: A002
    """``|input - other| <= atol + rtol * |other|`` elementwise (infinities equal themselves)."""
    a, b = _tensor(input), _tensor(other)
    if a.dtype != b.dtype:
        raise TypeError(f"isclose: input ({a.dtype}) and other ({b.dtype}) must have the same dtype; "
                        "convert one with .to(...)")
    x, y = a.data, b.data
    if x.dtype.kind == "b":
        return _make_tensor(backend.as_array(x == y), False, None)
    if x.dtype.kind != "f":
        return _make_tensor(backend.as_array((x == y) | (xp.abs(x - y) <= atol + rtol * xp.abs(y))), False, None)
    # Infinities and NaNs are close only to themselves (equal_nan: NaN to NaN); the tolerance
    # test runs on the finite pairs only, so inf - inf never computes a NaN (nor warns).
    finite = xp.isfinite(x) & xp.isfinite(y)
    x0, y0 = xp.where(finite, x, 0), xp.where(finite, y, 0)
    close = (x == y) | (finite & (xp.abs(x0 - y0) <= atol + rtol * xp.abs(y0)))
    if equal_nan:
        close = close | (xp.isnan(x) & xp.isnan(y))
    return _make_tensor(backend.as_array(close), False, None)


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):  # noqa: A002
    """``isclose(...).all()`` as a Python bool."""
    return bool(isclose(input, other, rtol, atol, equal_nan).data.all())


def equal(input, other):  # noqa: A002
    """True if both tensors have the same shape and the same values (a Python bool)."""
    a, b = _tensor(input), _tensor(other)
    return a.shape == b.shape and bool((a.data == b.data).all())


def isin(elements, test_elements, *, assume_unique=False, invert=False):
    """For each element of ``elements``, whether it occurs in ``test_elements`` (bool, the shape
    of ``elements``). Compares every pair: O(len(elements) * len(test_elements))."""
    a = elements.data if isinstance(elements, Tensor) else xp.asarray(elements)
    b = test_elements.data if isinstance(test_elements, Tensor) else xp.asarray(test_elements)
    found = (a.reshape(a.shape + (1,)) == b.reshape(-1)).any(axis=-1)
    return _make_tensor(backend.as_array(~found if invert else found), False, None)


# ---------------------------------------------------------------- sorting
class Sort(SelectAlong):
    """``sort``'s values: the input gathered in sorted order (exported as TopK over the dim);
    ``largest`` says the order is descending."""

    def forward(self, a, index, dim, op, largest):
        self.largest = largest
        return super().forward(a, index, dim, op)


class TopK(Sort):
    """``topk``'s values: the first ``k`` of the sorted order (exported as TopK)."""


def _order(a, d, descending):
    """Stable sort order along ``d``; NaN counts as the largest value, as in torch."""
    if a.dtype.kind == "b":
        a = a.astype(xp.int8)
    if not descending:
        return argsort_nan_last(a, d)
    # Descending and stable: sort the reversed slice ascending, then reverse back, so equal
    # values keep their original order.
    n = a.shape[d]
    reversed_order = argsort_nan_last(xp.flip(a, d), d)
    return (n - 1) - xp.flip(reversed_order, d)


def _prepare(input, dim, op):
    x = _tensor(input)
    t = x.reshape(1) if x.ndim == 0 else x       # a 0-d input is one element, as torch
    return x, t, _one_dim(t, dim, op)


def _finish(x, values, index, out):
    if x.ndim == 0:
        values, index = values.reshape(()), index.reshape(())
    result = ValuesIndices(values, _index_tensor(index))
    if out is None:
        return result
    return ValuesIndices(write_out(result.values, out[0]), write_out(result.indices, out[1]))


def sort(input, dim=-1, descending=False, *, stable=False, out=None):  # noqa: A002
    """Values sorted along ``dim`` and the indices they came from: ``(values, indices)``.
    Always stable here (``stable=True`` is what torch then guarantees)."""
    x, t, d = _prepare(input, dim, "sort")
    index = _order(t.data, d, descending)
    return _finish(x, Sort.apply(t, index, d, "sort", descending), index, out)


def argsort(input, dim=-1, descending=False, stable=False):  # noqa: A002
    """The indices that sort ``input`` along ``dim`` (int64)."""
    x, t, d = _prepare(input, dim, "argsort")
    index = _order(t.data, d, descending)
    return _index_tensor(index.reshape(()) if x.ndim == 0 else index)


def msort(input, *, out=None):  # noqa: A002
    """``sort(input, dim=0).values``."""
    return write_out(sort(input, 0).values, out)


def topk(input, k, dim=-1, largest=True, sorted=True, *, out=None):  # noqa: A002
    """The ``k`` largest (``largest=False``: smallest) values along ``dim`` and their indices,
    in sorted order (returned sorted whatever ``sorted`` says)."""
    x, t, d = _prepare(input, dim, "topk")
    n = t.shape[d]
    if not 0 <= k <= n:
        raise RuntimeError(f"topk: k ({k}) is out of range for dim {dim} of size {n}; expected 0 <= k <= {n}")
    order = _order(t.data, d, largest)
    index = order[tuple(slice(0, k) if i == d else slice(None) for i in range(t.ndim))]
    return _finish(x, TopK.apply(t, index, d, "topk", largest), index, out)


def kthvalue(input, k, dim=-1, keepdim=False, *, out=None):  # noqa: A002
    """The ``k``-th smallest value (``k`` counts from 1) along ``dim`` and its index."""
    x, t, d = _prepare(input, dim, "kthvalue")
    n = t.shape[d]
    if not 1 <= k <= n:
        raise RuntimeError(f"kthvalue: k ({k}) is out of range for dim {dim} of size {n}; expected 1 <= k <= {n}")
    order = _order(t.data, d, False)
    index = order[tuple(slice(k - 1, k) if i == d else slice(None) for i in range(t.ndim))]
    values = SelectAlong.apply(t, index, d, "kthvalue")
    if not keepdim and x.ndim:
        values, index = values.squeeze(d), index.squeeze(d)
    return _finish(x, values, index, out)


isnan, isfinite = ew.isnan, ew.isfinite     # (functions in elementwise.py; methods here)


# The Tensor methods these functions are (torch has no Tensor.isin).
METHODS = ("eq ne not_equal lt less le less_equal gt greater ge greater_equal isinf isposinf "
           "isneginf isreal isnan isfinite isclose allclose equal sort argsort msort topk kthvalue").split()
