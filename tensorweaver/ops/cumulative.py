"""Products and running reductions along a dim: ``prod``, ``cumsum``, ``cumprod``, ``cummax``,
``cummin``, ``logcumsumexp`` (PyTorch's *Reduction Ops* and the cumulative *Other Operations*).

Shapes::

    prod(input)                 (*)  -> ()
    prod(input, dim, keepdim)   (*, n, *) -> (*, *)   (size 1 kept at dim with keepdim=True)
    cumsum(input, dim) ...      (*)  -> (*):  out[..., i, ...] combines input[..., :i+1, ...]
    cummax(input, dim)          (*)  -> (values (*), indices (*) int64)

The gradients are exact where the naive formulas are not: ``prod`` and ``cumprod`` divide by
nothing (a zero in the input is fine), ``cummax``/``cummin`` send the gradient to the element
each running extreme came from. Integer and bool inputs of ``prod``/``cumsum``/``cumprod`` give
int64, as in torch; ``dtype=`` casts first.
"""
from __future__ import annotations

import functools
from collections import namedtuple

import numpy as _host_np   # host side only: constant 0/1 masks

from tensorweaver import backend, dtypes
from tensorweaver.autograd.function import Function
from tensorweaver.ops import elementwise as ew
from tensorweaver.ops.indexing import Gather
from tensorweaver.ops.pointwise import write_out
from tensorweaver.ops.reduction import _expand_back, normalize_dims
from tensorweaver.tensor import Tensor, _make_tensor

xp = backend.xp

ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])


def torch_aliases(fn):
    """Accept torch's keyword aliases ``axis=`` (for ``dim``) and ``keepdims=`` (for ``keepdim``)."""
    @functools.wraps(fn)
    def call(*args, **kwargs):
        for alias, name in (("axis", "dim"), ("keepdims", "keepdim")):
            if alias in kwargs:
                if name in kwargs:
                    raise TypeError(f"{fn.__name__}() got both {name}= and its alias {alias}=; pass one")
                kwargs[name] = kwargs.pop(alias)
        return fn(*args, **kwargs)
    return call


def _tensor(x):
    return x if isinstance(x, Tensor) else Tensor(x)


def _accumulating(x, dtype):
    """torch's dtype rule for sums and products: ``dtype=`` wins, integers and bools become int64."""
    if dtype is not None:
        return ew.cast(x, dtype)
    if x.dtype.kind in "iub":
        return ew.cast(x, dtypes.int64)
    return x


def _one_dim(x, dim, op):
    if dim is None:
        raise TypeError(f"{op}() missing the required argument 'dim' (the dimension to run along)")
    (d,) = normalize_dims(dim, x.ndim, op)
    return d


# ---------------------------------------------------------------- array helpers
def _cumsum(a, dim, reverse):
    if not reverse:
        return xp.cumsum(a, axis=dim)
    return xp.flip(xp.cumsum(xp.flip(a, dim), axis=dim), dim)


def _along_last(fn, a, axes):
    """Apply ``fn`` (which works along the last axis) to ``a`` viewed as (rest..., prod of ``axes``)."""
    rest = [i for i in range(a.ndim) if i not in axes]
    perm = tuple(rest) + tuple(axes)
    moved = xp.transpose(a, perm)
    flat = moved.reshape(moved.shape[:len(rest)] + (-1,))
    out = fn(flat).reshape(moved.shape)
    return xp.transpose(out, tuple(perm.index(i) for i in range(a.ndim)))


def _exclusive_products(a):
    """For each element along the last axis, the product of all the *other* elements: the
    running product from the left times the one from the right, each excluding the element
    itself (no division, so zeros are exact)."""
    ones = xp.ones(a.shape[:-1] + (1,), dtype=a.dtype)
    left = xp.cumprod(xp.concatenate([ones, a[..., :-1]], axis=-1), axis=-1)
    right = xp.flip(xp.cumprod(xp.flip(xp.concatenate([a[..., 1:], ones], axis=-1), -1), axis=-1), -1)
    return left * right


# ---------------------------------------------------------------- Functions
class Prod(Function):
    """Product over ``axes``; d out / d a_i = product of the other elements."""

    def forward(self, a, axes, keepdim):
        self.save_for_backward(a)
        self.axes, self.keepdim = axes, keepdim
        return a.prod(axis=axes, keepdims=keepdim)

    def backward(self, grad):
        (a,) = self.saved_tensors
        if not self.axes:
            return grad * xp.ones_like(a)
        g = _expand_back(grad, a.shape, self.axes, self.keepdim)
        return g * _along_last(_exclusive_products, a, self.axes)

    def tensor_backward(self, grad, a):
        # The same rule on Tensors (products of the other elements, no division), so a
        # second derivative through a zero is exact too.
        if not self.axes:
            return grad * _make_tensor(xp.ones(a.shape, dtype=grad.dtype), False, None)
        g = grad if self.keepdim or not a.ndim else grad.reshape(
            tuple(1 if i in self.axes else n for i, n in enumerate(a.shape)))
        return g * _exclusive_products_t(a, self.axes)


class CumSum(Function):
    """Running sum along ``dim`` (``reverse``: from the end). Its adjoint is the running sum the
    other way, so backward is this op again, reversed (to every order)."""

    def forward(self, a, dim, reverse):
        self.dim, self.reverse = dim, reverse
        return _cumsum(a, dim, reverse)

    def backward(self, grad):
        return _cumsum(grad, self.dim, not self.reverse)

    def tensor_backward(self, grad):
        return CumSum.apply(grad, self.dim, not self.reverse)


class CumProd(Function):
    """Running product along ``dim``.

    d out_j / d a_k = out_j / a_k for j >= k, so the gradient is the reverse running sum of
    ``grad * out`` divided by ``a`` -- when no element is 0. Slices with a zero take the exact
    form: a_k's gradient is (product before k) * (g_k + sum_{j>k} g_j * prod_{k<i<=j} a_i).
    """

    def forward(self, a, dim):
        out = xp.cumprod(a, axis=dim)
        self.save_for_backward(a, out)
        self.dim = dim
        return out

    def backward(self, grad):
        a, out = self.saved_tensors
        if not bool((a == 0).any()):
            return _cumsum(grad * out, self.dim, True) / a
        return xp.moveaxis(_cumprod_grad_exact(xp.moveaxis(a, self.dim, -1),
                                               xp.moveaxis(grad, self.dim, -1)), -1, self.dim)

    def tensor_backward(self, grad, a, _out):
        # d out_j / d a_k = (product of a_i, i < k) * (product of a_i, k < i <= j) for j >= k.
        # The second factor, for every (k, j) pair, is a running product along j of a with
        # the entries i <= k replaced by 1, masked to j >= k: an (n, n) table per slice, made
        # of recorded ops (CumProd again), exact at zeros and differentiable to every order.
        n = a.shape[self.dim]
        a_last, g_last = a.movedim(self.dim, -1), grad.movedim(self.dim, -1)
        j_after_k = _host_np.arange(n)[None, :] > _host_np.arange(n)[:, None]
        table = ew.where(_const(j_after_k), a_last.unsqueeze(-2), 1.0)        # (*, k, j)
        between = CumProd.apply(table, table.ndim - 1) * _const(_host_np.triu(_host_np.ones((n, n), a.dtype)))
        after = (between * g_last.unsqueeze(-2)).sum(-1)                        # (*, k)
        return (_exclusive_cumprod_t(a_last) * after).movedim(-1, self.dim)


def _cumprod_grad_exact(a, g):
    """``CumProd``'s gradient along the last axis without dividing (n steps of O(n) work)."""
    n = a.shape[-1]
    ones = xp.ones(a.shape[:-1] + (1,), dtype=a.dtype)
    before = xp.cumprod(xp.concatenate([ones, a[..., :-1]], axis=-1), axis=-1)
    cols = []
    for k in range(n):
        after = g[..., k]
        if k + 1 < n:
            after = after + (g[..., k + 1:] * xp.cumprod(a[..., k + 1:], axis=-1)).sum(axis=-1)
        cols.append(before[..., k] * after)
    return xp.stack(cols, axis=-1)


def _const(host_array):
    return _make_tensor(backend.from_host(host_array), False, None)


def _exclusive_cumprod_t(a):
    """Tensor ``[1, a_0, a_0 a_1, ...]`` along the last dim (the product of the elements before)."""
    from tensorweaver.ops import shape as sh
    ones = _make_tensor(xp.ones(a.shape[:-1] + (1,), dtype=a.dtype), False, None)
    return CumProd.apply(sh.cat([ones, a[..., :-1]], -1), a.ndim - 1)


def _exclusive_products_t(a, axes):
    """Tensor form of ``_along_last(_exclusive_products, a, axes)``: for each element, the
    product of the other elements over ``axes`` (running products from both ends)."""
    rest = [i for i in range(a.ndim) if i not in axes]
    perm = tuple(rest) + tuple(axes)
    moved = a.permute(perm)
    flat = moved.reshape(moved.shape[:len(rest)] + (-1,))
    left = _exclusive_cumprod_t(flat)
    right = _exclusive_cumprod_t(flat.flip(-1)).flip(-1)
    out = (left * right).reshape(moved.shape)
    return out.permute(tuple(perm.index(i) for i in range(a.ndim)))


class SelectAlong(Gather):
    """The values an op picked along ``dim`` at positions it computed (``cummax``'s running
    extremes; ``median``, ``mode``, ``kthvalue``, ``quantile``'s order statistics): a gather
    whose gradient goes back to the picked elements. ``op`` names the op (for errors)."""

    def forward(self, a, index, dim, op):
        self.op = op
        return super().forward(a, index, dim)


def _running_extreme(a, dim, largest):
    """Indices of the running max (min) along ``dim``. As torch: a later equal value takes
    the index, and a NaN, once seen, is the extreme from then on."""
    moved = xp.moveaxis(a, dim, 0)
    best = moved[0]
    at = xp.zeros(best.shape, dtype=dtypes.int64)
    out = [at]
    for i in range(1, moved.shape[0]):
        x = moved[i]
        better = (x >= best) if largest else (x <= best)
        take = xp.isnan(x) | (better & ~xp.isnan(best))
        best = xp.where(take, x, best)
        at = xp.where(take, i, at)
        out.append(at)
    return xp.moveaxis(xp.stack(out, axis=0), 0, dim)


class LogCumSumExp(Function):
    """``log(cumsum(exp(a)))`` along ``dim``, shifted by the slice's max so exp cannot overflow.

    d out_j / d a_i = exp(a_i - out_j) for i <= j: the gradient is the reverse running sum of
    ``grad * exp(ref - out)`` times ``exp(a - ref)``, with ``ref`` the slice's last (largest)
    output, so neither exponential overflows for out_j <= ref.
    """

    def forward(self, a, dim):
        m = xp.max(a, axis=dim, keepdims=True) if a.shape[dim] else xp.zeros((), dtype=a.dtype)
        m = xp.where(xp.isfinite(m), m, 0)
        out = xp.log(xp.cumsum(xp.exp(a - m), axis=dim)) + m
        self.save_for_backward(a, out)
        self.dim = dim
        return out

    def _last(self, out):
        n = out.shape[self.dim]
        return out[tuple(slice(n - 1, n) if i == self.dim else slice(None) for i in range(out.ndim))]

    def backward(self, grad):
        a, out = self.saved_tensors
        ref = self._last(out)
        return xp.exp(a - ref) * _cumsum(grad * xp.exp(ref - out), self.dim, True)

    def tensor_backward(self, grad, a, out):
        ref = self._last(out).detach()       # any constant shift gives the same value
        return ew.exp(a - ref) * CumSum.apply(grad * ew.exp(ref - out), self.dim, True)


# ---------------------------------------------------------------- public functions
@torch_aliases
def prod(input, dim=None, keepdim=False, *, dtype=None, out=None):  # noqa: A002 (torch's names)
    """Product of all elements (``dim=None``) or along ``dim``; int and bool give int64."""
    x = _accumulating(_tensor(input), dtype)
    axes = normalize_dims(None if dim is None else (dim,) if isinstance(dim, int) else dim, x.ndim, "prod")
    return write_out(Prod.apply(x, axes, keepdim if dim is not None else False), out)


def _cumulative(x, dim, op, run):
    """Run ``run(x, d)`` along ``dim``; a 0-d input is treated as one element, as torch."""
    if x.ndim == 0:
        _one_dim(x.reshape(1), dim, op)
        return run(x.reshape(1), 0).reshape(())
    return run(x, _one_dim(x, dim, op))


@torch_aliases
def cumsum(input, dim, *, dtype=None, out=None):  # noqa: A002
    """Running sum along ``dim``: ``out[i] = input[0] + ... + input[i]``."""
    x = _accumulating(_tensor(input), dtype)
    return write_out(_cumulative(x, dim, "cumsum", lambda t, d: CumSum.apply(t, d, False)), out)


@torch_aliases
def cumprod(input, dim, *, dtype=None, out=None):  # noqa: A002
    """Running product along ``dim``: ``out[i] = input[0] * ... * input[i]``."""
    x = _accumulating(_tensor(input), dtype)
    return write_out(_cumulative(x, dim, "cumprod", lambda t, d: CumProd.apply(t, d)), out)


def _cum_extreme(input, dim, out, largest, op):
    x = _tensor(input)
    t = x.reshape(1) if x.ndim == 0 else x       # a 0-d input is one element, as torch
    d = _one_dim(t, dim, op)
    index = _running_extreme(t.data, d, largest)
    values = SelectAlong.apply(t, index, d, op)
    if x.ndim == 0:
        values, index = values.reshape(()), index.reshape(())
    result = ValuesIndices(values, _make_tensor(backend.as_array(index), False, None))
    if out is None:
        return result
    return ValuesIndices(write_out(result.values, out[0]), write_out(result.indices, out[1]))


@torch_aliases
def cummax(input, dim, *, out=None):  # noqa: A002
    """Running maximum along ``dim`` and the index it came from: ``(values, indices)``."""
    return _cum_extreme(input, dim, out, True, "cummax")


@torch_aliases
def cummin(input, dim, *, out=None):  # noqa: A002
    """Running minimum along ``dim`` and the index it came from: ``(values, indices)``."""
    return _cum_extreme(input, dim, out, False, "cummin")


@torch_aliases
def logcumsumexp(input, dim, *, out=None):  # noqa: A002
    """``log(cumsum(exp(input)))`` along ``dim``, computed without overflow."""
    x = ew._float_input(input)
    return write_out(_cumulative(x, dim, "logcumsumexp", lambda t, d: LogCumSumExp.apply(t, d)), out)


# The Tensor methods these functions are (the function takes the tensor first, as a method).
METHODS = "prod cumsum cumprod cummax cummin logcumsumexp".split()
