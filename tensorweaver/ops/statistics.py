"""PyTorch's *Reduction Ops* beyond ``reduction.py``: norms, NaN-ignoring sums and means, order
statistics (``median``, ``nanmedian``, ``mode``, ``quantile``, ``nanquantile``), ``count_nonzero``,
``std_mean``/``var_mean`` and ``aminmax``.

Shapes: ``dim=None`` reduces everything to ``()``; ``dim`` removes that dim (kept as size 1 with
``keepdim=True``). ``median``/``nanmedian``/``mode`` with a dim return ``(values, indices)``.
``quantile(input, q)`` with a 1-D tensor ``q`` of Q values puts Q first: ``(Q, *reduced)``.

Order statistics are *picked* elements: their gradient goes to the element picked (for
``quantile``, to the two it interpolates between), through ``cumulative.SelectAlong``.
"""
from __future__ import annotations

import math
from collections import namedtuple

import numpy as _host_np   # host side only: the q values of quantile

from tensorweaver import backend, dtypes
from tensorweaver.autograd.function import Function
from tensorweaver.ops import elementwise as ew
from tensorweaver.ops import reduction as red
from tensorweaver.ops.cumulative import SelectAlong, ValuesIndices, _accumulating, _one_dim, _tensor, torch_aliases
from tensorweaver.ops.pointwise import write_out
from tensorweaver.ops.reduction import _expand_back, _expand_t, _keepdims_t, normalize_dims
from tensorweaver.tensor import Tensor, _make_tensor

xp = backend.xp
MinMax = namedtuple("aminmax", ["min", "max"])


def _reduced_shape(shape, axes, keepdim):
    return tuple(1 if i in axes else n for i, n in enumerate(shape)) if keepdim else \
        tuple(n for i, n in enumerate(shape) if i not in axes)


def _float_only(x, op):
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating point tensor, got {x.dtype}; call .float() first")
    return x


# ---------------------------------------------------------------- norm
class Norm(Function):
    """Vector p-norm over ``axes``: ``(sum |a|^p)^(1/p)``; ``p=inf``/``-inf``: max/min of ``|a|``;
    ``p=0``: the number of nonzeros (gradient 0).

    d/da = sign(a) |a|^(p-1) / out^(p-1) (0 where out = 0, as torch); for inf norms the gradient
    is shared evenly between the elements that tie for the extreme.
    """

    def forward(self, a, p, axes, keepdim):
        self.p, self.axes, self.keepdim = p, axes, keepdim
        mag = xp.abs(a)
        if p == math.inf:
            out = mag.max(axis=axes, keepdims=True)
        elif p == -math.inf:
            out = mag.min(axis=axes, keepdims=True)
        elif p == 0:
            out = (a != 0).sum(axis=axes, keepdims=True).astype(a.dtype)
        elif p == 1:
            out = mag.sum(axis=axes, keepdims=True)
        elif p == 2:
            out = xp.sqrt((a * a).sum(axis=axes, keepdims=True))
        else:
            out = ((mag ** p).sum(axis=axes, keepdims=True)) ** (1.0 / p)
        self.save_for_backward(a, out)
        return out if keepdim else out.reshape(_reduced_shape(a.shape, axes, False))

    def backward(self, grad):
        a, out = self.saved_tensors
        g, p = _expand_back(grad, a.shape, self.axes, self.keepdim), self.p
        if p == 0:
            return xp.zeros_like(a)
        if p == 1:
            return g * xp.sign(a)
        if math.isinf(p):
            hit = (xp.abs(a) == out).astype(a.dtype)
            return g * xp.sign(a) * hit / hit.sum(axis=self.axes, keepdims=True)
        zero = out == 0
        safe = xp.where(zero, 1, out)
        if p == 2:
            return xp.where(zero, 0, g * a / safe)
        return xp.where(zero, 0, g * xp.sign(a) * (xp.abs(a) / safe) ** (p - 1))

    def tensor_backward(self, grad, a, out):
        # The same formulas on Tensors; the norm is recomputed as a recorded op (the saved one
        # has the reduced dims kept, so it is not the graph's output).
        g, p = _keepdims_t(grad, a.shape, self.axes, self.keepdim), self.p
        sign = _make_tensor(xp.sign(a.data), False, None)
        if p == 0:
            return g * 0.0 * a.detach()
        if p == 1:
            return g * sign
        if math.isinf(p):
            hit = (xp.abs(a.data) == out.data).astype(a.data.dtype)
            return g * sign * _make_tensor(hit / hit.sum(axis=self.axes, keepdims=True), False, None)
        out = Norm.apply(a, p, self.axes, True)
        zero = _make_tensor(out.data == 0, False, None)
        safe = ew.where(zero, 1.0, out)
        if p == 2:
            return ew.where(zero, 0.0, g * a / safe)
        return ew.where(zero, 0.0, g * sign * (ew.abs(a) / safe) ** (p - 1))


@torch_aliases
def norm(input, p="fro", dim=None, keepdim=False, out=None, dtype=None):  # noqa: A002
    """``torch.norm``: the vector p-norm over ``dim`` (all dims by default). ``p`` is a number,
    ``inf``, ``-inf`` or ``'fro'`` (= 2 over the given dims)."""
    x = _tensor(input)
    if dtype is not None:
        x = ew.cast(x, dtype)
    _float_only(x, "norm")
    if p == "fro":
        p = 2
    elif isinstance(p, str):
        raise NotImplementedError(f"norm: p={p!r} (a matrix norm from singular values) is not supported; "
                                  "use p='fro' or a number")
    axes = normalize_dims(dim, x.ndim, "norm")
    return write_out(Norm.apply(x, float(p), axes, keepdim), out)


def dist(input, other, p=2):  # noqa: A002
    """The p-norm of ``input - other`` (broadcast), over all elements."""
    return norm(ew.sub(_tensor(input), other), float(p))


# ---------------------------------------------------------------- NaN-ignoring sum and mean
class NanSum(Function):
    """Sum (``mean``: mean) over ``axes`` of the non-NaN elements; NaNs get gradient 0."""

    def forward(self, a, axes, keepdim, mean):
        self.in_shape, self.axes, self.keepdim = a.shape, axes, keepdim
        self.keep = ~xp.isnan(a)
        out = xp.where(self.keep, a, 0).sum(axis=axes, keepdims=keepdim)
        if mean:
            self.count = self.keep.sum(axis=axes, keepdims=True).astype(a.dtype)
            out = out / (self.count if keepdim else self.count.reshape(out.shape))
        self.mean = mean
        return out

    def backward(self, grad):
        g = _expand_back(grad, self.in_shape, self.axes, self.keepdim)
        if self.mean:
            g = g / self.count
        return xp.where(self.keep, g, 0).astype(grad.dtype)

    def tensor_backward(self, grad):
        g = _expand_t(grad, self.in_shape, self.axes, self.keepdim)
        scale = self.keep / self.count if self.mean else self.keep
        return g * _make_tensor(backend.as_array(scale).astype(grad.dtype), False, None)


@torch_aliases
def nansum(input, dim=None, keepdim=False, *, dtype=None, out=None):  # noqa: A002
    """Sum treating NaN as 0."""
    x = _accumulating(_tensor(input), dtype)
    return write_out(NanSum.apply(x, normalize_dims(dim, x.ndim, "nansum"), keepdim, False), out)


@torch_aliases
def nanmean(input, dim=None, keepdim=False, *, dtype=None, out=None):  # noqa: A002
    """Mean of the non-NaN elements (NaN where there are none)."""
    x = _tensor(input) if dtype is None else ew.cast(_tensor(input), dtype)
    _float_only(x, "nanmean")
    return write_out(NanSum.apply(x, normalize_dims(dim, x.ndim, "nanmean"), keepdim, True), out)


# ---------------------------------------------------------------- order statistics
def _index_tensor(index):
    return _make_tensor(backend.as_array(index).astype(dtypes.int64), False, None)


def _pick(x, dim, op, positions):
    """The shared frame of median/nanmedian/mode: ``positions(a, d) -> index`` (keepdims shape)."""
    t = x.reshape(1) if x.ndim == 0 else x
    d = _one_dim(t, dim, op)
    if t.shape[d] == 0:
        raise IndexError(f"{op}: dim {dim} has size 0, so there is nothing to take the {op} of")
    index = positions(t.data, d)
    return t, d, index, SelectAlong.apply(t, index, d, op)


def argsort_nan_last(a, d):
    """Stable ``argsort`` along ``d`` with NaNs last (in their original order), as NumPy and
    torch sort. cuPyNumeric's sort does not place NaNs last, so sort with NaN as +inf, then
    stably move the NaNs behind every number (a real +inf included)."""
    if a.dtype.kind != "f":
        return xp.argsort(a, axis=d, kind="stable")
    nan = xp.isnan(a)
    order = xp.argsort(xp.where(nan, xp.inf, a), axis=d, kind="stable")
    behind = xp.argsort(xp.take_along_axis(nan, order, axis=d).astype(xp.int8), axis=d, kind="stable")
    return xp.take_along_axis(order, behind, axis=d)


def _median_positions(ignore_nan):
    def positions(a, d):
        order = argsort_nan_last(a, d)
        valid = (~xp.isnan(a)).sum(axis=d, keepdims=True) if a.dtype.kind == "f" else \
            xp.full(_reduced_shape(a.shape, (d,), True), a.shape[d])
        if ignore_nan:                  # the lower middle of the non-NaN values
            pos = xp.maximum(valid - 1, 0) // 2
        else:                           # a slice with a NaN has median NaN (its first NaN)
            pos = xp.where(valid < a.shape[d], valid, (a.shape[d] - 1) // 2)
        return xp.take_along_axis(order, pos, axis=d)
    return positions


def _median(input, dim, keepdim, out, ignore_nan, op):
    x = _tensor(input)
    if dim is None:
        if x.numel() == 0:
            raise RuntimeError(f"{op}: the tensor is empty, so it has no {op}")
        _, _, _, values = _pick(x.reshape(-1), 0, op, _median_positions(ignore_nan))
        return write_out(values.reshape(()), out)
    t, d, index, values = _pick(x, dim, op, _median_positions(ignore_nan))
    return _values_indices(x, t, d, index, values, keepdim, out)


def _values_indices(x, t, d, index, values, keepdim, out):
    if x.ndim == 0:
        values, index = values.reshape(()), index.reshape(())
    elif not keepdim:
        values, index = values.squeeze(d), index.squeeze(d)
    result = ValuesIndices(values, _index_tensor(index))
    if out is None:
        return result
    return ValuesIndices(write_out(result.values, out[0]), write_out(result.indices, out[1]))


@torch_aliases
def median(input, dim=None, keepdim=False, *, out=None):  # noqa: A002
    """The lower median: of all elements (``dim=None``, a 0-d tensor) or along ``dim``
    (``(values, indices)``). NaN if the slice has a NaN."""
    return _median(input, dim, keepdim, out, False, "median")


@torch_aliases
def nanmedian(input, dim=None, keepdim=False, *, out=None):  # noqa: A002
    """``median`` of the non-NaN elements (NaN only where all are NaN)."""
    return _median(input, dim, keepdim, out, True, "nanmedian")


def _mode_positions(a, d):
    """Most frequent value along ``d`` (the smallest among ties), at its last occurrence, as
    torch. Counts every pair of elements: O(n^2) memory per slice."""
    m = xp.moveaxis(a, d, -1)
    counts = (m[..., :, None] == m[..., None, :]).sum(axis=-1)
    top = counts == counts.max(axis=-1, keepdims=True)
    value = xp.where(top, m, m.max(axis=-1, keepdims=True)).min(axis=-1, keepdims=True)
    where = xp.where(m == value, xp.arange(m.shape[-1]), -1).max(axis=-1, keepdims=True)
    return xp.moveaxis(where, -1, d)


@torch_aliases
def mode(input, dim=-1, keepdim=False, *, out=None):  # noqa: A002
    """The most frequent value along ``dim`` and an index of it: ``(values, indices)``."""
    x = _tensor(input)
    t, d, index, values = _pick(x, dim, "mode", _mode_positions)
    return _values_indices(x, t, d, index, values, keepdim, out)


_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(input, q, dim, keepdim, interpolation, out, ignore_nan, op):
    x = _float_only(_tensor(input), op)
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(f"{op}: interpolation must be one of {', '.join(_INTERPOLATIONS)}, got {interpolation!r}")
    scalar = not isinstance(q, Tensor) or q.ndim == 0
    qs = _host_np.atleast_1d(_host_np.asarray(backend.to_host(q.data) if isinstance(q, Tensor) else q,
                                              dtype=_host_np.float64))
    if qs.ndim != 1:
        raise ValueError(f"{op}: q must be a number or a 0-D or 1-D tensor, got {qs.ndim} dimensions")
    if ((qs < 0) | (qs > 1)).any():
        raise ValueError(f"{op}: q values must be in the range [0, 1], got {qs.tolist()}")
    t = x.reshape(-1) if dim is None else (x.reshape(1) if x.ndim == 0 else x)
    d = 0 if dim is None else _one_dim(t, dim, op)
    if t.shape[d] == 0:
        raise IndexError(f"{op}: the input is empty along dim {dim}")
    a, n = t.data, t.shape[d]
    order = argsort_nan_last(a, d)
    valid = (~xp.isnan(a)).sum(axis=d, keepdims=True)
    q_shape = [1] * a.ndim
    q_shape[d] = len(qs)
    qv = backend.from_host(qs.reshape(q_shape))
    pos = qv * (xp.maximum(valid, 1) - 1) if ignore_nan else qv * (n - 1) + 0 * valid
    if not ignore_nan:      # a slice with a NaN has quantile NaN: pick the (last, NaN) element
        pos = xp.where(valid < n, n - 1, pos)
    lo, hi = xp.floor(pos), xp.ceil(pos)
    weight = pos - lo
    if interpolation == "lower":
        hi = lo
    elif interpolation == "higher":
        lo = hi
    elif interpolation == "nearest":
        lo = hi = xp.rint(pos)          # half to even, as torch
    elif interpolation == "midpoint":
        weight = xp.where(hi > lo, 0.5, 0.0)
    pick = [SelectAlong.apply(t, xp.take_along_axis(order, i.astype(dtypes.int64), axis=d), d, op)
            for i in (lo, hi)]
    if interpolation in ("linear", "midpoint"):
        w = _make_tensor(backend.as_array(weight).astype(a.dtype), False, None)
        result = pick[0] + (pick[1] - pick[0]) * w
    else:
        result = pick[0]
    # (Q at dim d) -> (Q, *reduced): Q first, as torch.
    result = result.permute((d,) + tuple(i for i in range(t.ndim) if i != d))
    if dim is None:
        rest = (1,) * x.ndim if keepdim else ()
    else:
        rest = _reduced_shape(x.shape, (d,) if x.ndim else (), keepdim)
    result = result.reshape(rest if scalar else (len(qs),) + rest)
    return write_out(result, out)


@torch_aliases
def quantile(input, q, dim=None, keepdim=False, *, interpolation="linear", out=None):  # noqa: A002
    """The q-th quantiles (``q`` in [0, 1], a number or a 1-D tensor) of all elements or along
    ``dim``; ``interpolation`` between the two nearest order statistics as NumPy/torch."""
    return _quantile(input, q, dim, keepdim, interpolation, out, False, "quantile")


@torch_aliases
def nanquantile(input, q, dim=None, keepdim=False, *, interpolation="linear", out=None):  # noqa: A002
    """``quantile`` of the non-NaN elements."""
    return _quantile(input, q, dim, keepdim, interpolation, out, True, "nanquantile")


# ---------------------------------------------------------------- counts, pairs
@torch_aliases
def count_nonzero(input, dim=None):  # noqa: A002
    """The number of nonzero elements (over ``dim``: an int or a tuple), as int64."""
    x = _tensor(input)
    n = (x.data != 0).sum(axis=normalize_dims(dim, x.ndim, "count_nonzero"))
    return _make_tensor(backend.as_array(n).astype(dtypes.int64), False, None)


@torch_aliases
def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):  # noqa: A002
    """``(var, mean)`` in one call (``correction=1`` by default, as ``var``)."""
    x = red._float(_tensor(input))
    return red.var(x, dim, unbiased, keepdim, correction=correction), red.mean(x, dim, keepdim)


@torch_aliases
def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):  # noqa: A002
    """``(std, mean)`` in one call (``correction=1`` by default, as ``std``)."""
    x = red._float(_tensor(input))
    return red.std(x, dim, unbiased, keepdim, correction=correction), red.mean(x, dim, keepdim)


@torch_aliases
def aminmax(input, *, dim=None, keepdim=False, out=None):  # noqa: A002
    """``(min, max)`` over all elements or along ``dim``."""
    x = _tensor(input)
    if x.numel() == 0:
        raise RuntimeError("aminmax: the tensor is empty, so it has no minimum or maximum")
    result = MinMax(red.amin(x, dim, keepdim), red.amax(x, dim, keepdim))
    if out is None:
        return result
    return MinMax(write_out(result.min, out[0]), write_out(result.max, out[1]))


# The Tensor methods these functions are (torch has no Tensor.var_mean/std_mean).
METHODS = ("norm dist nansum nanmean median nanmedian mode quantile nanquantile count_nonzero "
           "aminmax").split()
