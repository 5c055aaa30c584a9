"""Reductions and copies into indexed positions: ``scatter_reduce`` (sum, prod, mean, amax,
amin; ``include_self``), ``index_reduce``, ``index_copy`` and their in-place forms
(``scatter_reduce_``, ``index_reduce_``, ``index_copy_``), which follow the in-place rules of
``ops/inplace.py`` (version counters, rebase, refusal on leaves that require grad).

Addressing is ``scatter``'s: ``src[i][j]`` goes to ``out[index[i][j]][j]`` for ``dim=0``.
Each output position combines the source values sent to it (and its own value, with
``include_self=True``); positions nothing is sent to keep ``input``'s value.

Shapes::

    scatter_reduce(input (*), dim, index (*'), src (*'' >= *'), reduce)   -> (*)
    index_reduce(input (*, n, *), dim, index (k), source (*, k, *), reduce) -> (*, n, *)
    index_copy(input (*, n, *), dim, index (k), source (*, k, *))         -> (*, n, *)

Gradients follow torch: ``sum`` passes the gradient through, ``mean`` divides it by the
number of values averaged, ``amax``/``amin`` share it evenly among the values equal to the
result, ``prod`` gives each value the product of the others (exact with zeros, no 0/0).
"""
from __future__ import annotations

import numpy as _host_np   # host side only: dtype limits

from tensorweaver import backend
from tensorweaver.autograd.function import Function
from tensorweaver.ops import elementwise as ew
from tensorweaver.ops import indexing as ix
from tensorweaver.ops import inplace
from tensorweaver.ops.cumulative import _tensor
from tensorweaver.tensor import Tensor, _make_tensor

xp = backend.xp

REDUCTIONS = ("sum", "prod", "mean", "amax", "amin")
_COMBINE = {"sum": xp.add, "mean": xp.add, "prod": xp.multiply, "amax": xp.maximum, "amin": xp.minimum}


def _identity(op, dtype):
    """The value a reduction starts from (never seen in a result: untouched positions keep input)."""
    if op in ("sum", "mean"):
        return 0
    if op == "prod":
        return 1
    big = _host_np.inf if dtype.kind == "f" else (_host_np.iinfo(dtype).max if dtype.kind in "iu" else True)
    small = -_host_np.inf if dtype.kind == "f" else (_host_np.iinfo(dtype).min if dtype.kind in "iu" else False)
    return small if op == "amax" else big


def segment_reduce(positions, values, size, op, generic=None):
    """Combine ``values`` (1-D) by flat target ``positions`` into an array of ``size``: returns
    ``(reduced, count)``, untouched positions holding the op's identity and count 0.

    NumPy has ``ufunc.at`` for this. cuPyNumeric has no ``ufunc.at``, so there (or with
    ``generic=True``, which the tests use to check this path on NumPy) the values are sorted
    by position and each run of equal positions is reduced as a tree: at step ``s`` the
    element of rank ``r`` (a multiple of ``2s``) takes in the one of rank ``r + s``; log2 of
    the longest run steps, each a few whole-array operations.
    """
    dtype = values.dtype
    out = xp.full((size,), _identity(op, dtype), dtype=dtype)
    count = xp.bincount(positions, minlength=size) if positions.size else xp.zeros(size, dtype=xp.int64)
    if generic is None:
        generic = not backend.is_numpy
    if not positions.size:
        return out, count
    if not generic:
        with _host_np.errstate(invalid="ignore"):      # NaN values propagate, as in torch
            _COMBINE[op].at(out, positions, values)
        return out, count
    order = xp.argsort(positions)
    pos, vals = positions[order], values[order].copy()
    n = pos.shape[0]
    first = xp.ones(n, dtype=bool)
    first[1:] = pos[1:] != pos[:-1]
    starts = xp.nonzero(first)[0]
    segment = xp.cumsum(first.astype(xp.int64)) - 1     # (cuPyNumeric: a bool cumsum stays bool)
    rank = xp.arange(n) - starts[segment]
    length = count[pos]
    combine = _COMBINE[op]
    step, longest = 1, int(length.max())
    while step < longest:
        take = xp.nonzero((rank % (2 * step) == 0) & (rank + step < length))[0]
        if take.size:
            vals[take] = combine(vals[take], vals[take + step])
        step *= 2
    out[pos[starts]] = vals[starts]
    return out, count


def _flat_positions(shape, where):
    """The flat positions in an array of ``shape`` that the fancy index ``where`` addresses."""
    return backend.getitem(xp.arange(int(_host_np.prod(shape))).reshape(shape), where).reshape(-1)


class ScatterReduce(Function):
    """``input`` with the ``src`` values sent to each position reduced into it (see module)."""

    def forward(self, a, src, index, dim, reduce, include_self):
        where = ix._along(index, dim)
        self.reduce, self.include_self = reduce, include_self
        self.in_shape, self.src_shape, self.index_shape = a.shape, src.shape, index.shape
        self.pos = _flat_positions(a.shape, where)
        vals = backend.as_array(src[ix._leading(src.shape, index.shape)]).reshape(-1)
        flat = a.reshape(-1)
        red, count = segment_reduce(self.pos, vals, flat.shape[0], reduce)
        hit = count > 0
        if reduce in ("sum", "mean"):
            total = red + flat if include_self else red
            if reduce == "mean":
                n = xp.maximum(count + int(include_self), 1).astype(a.dtype)
                total = total / n if a.dtype.kind == "f" else xp.floor_divide(total, n)
            out = xp.where(hit, total, flat)
        else:
            out = xp.where(hit, _COMBINE[reduce](flat, red) if include_self else red, flat)
        out = out.astype(a.dtype).reshape(a.shape)
        self.count = count
        self.save_for_backward(a, vals, out)
        return out

    def _weights(self, a, vals, out):
        """(weight of input, weight of each src value): d out / d input and d out / d src,
        as arrays, so that the gradients are ``grad * w_self`` and ``grad[pos] * w_src``."""
        pos, count, size = self.pos, self.count, a.size
        flat, res = a.reshape(-1), out.reshape(-1)
        hit = count > 0
        own = float(self.include_self)
        if self.reduce == "sum":
            w_self = xp.where(hit, own, 1.0)
            w_src = xp.ones(vals.shape)
        elif self.reduce == "mean":
            n = xp.maximum(count + int(self.include_self), 1)
            w_self = xp.where(hit, own / n, 1.0)
            w_src = 1.0 / n[pos]
        elif self.reduce in ("amax", "amin"):
            self_ties = (flat == res) & hit & bool(self.include_self)
            src_ties = vals == res[pos]
            n_ties, _ = segment_reduce(pos, src_ties.astype(a.dtype), size, "sum")
            n_ties = n_ties + self_ties
            w_self = xp.where(hit, self_ties / xp.maximum(n_ties, 1), 1.0)
            w_src = src_ties / xp.maximum(n_ties[pos], 1)
        else:      # prod: the product of the other members (input too with include_self)
            src_zero = vals == 0
            nz_prod, _ = segment_reduce(pos, xp.where(src_zero, 1, vals), size, "prod")
            zeros, _ = segment_reduce(pos, src_zero.astype(a.dtype), size, "sum")
            if self.include_self:
                nz_prod = nz_prod * xp.where(flat == 0, 1, flat)
                zeros = zeros + (flat == 0)

            def others(v, p_nz, p_zeros):
                safe = xp.where(v == 0, 1, v)
                return xp.where(v == 0, xp.where(p_zeros == 1, p_nz, 0), xp.where(p_zeros == 0, p_nz / safe, 0))
            w_self = xp.where(hit, others(flat, nz_prod, zeros) if self.include_self else 0.0, 1.0)
            w_src = others(vals, nz_prod[pos], zeros[pos])
        return w_self.reshape(a.shape), w_src

    def _src_grad(self, picked):
        """Gradient values for the used block of ``src`` -> ``src``'s shape (zeros elsewhere)."""
        picked = picked.reshape(self.index_shape)
        if tuple(self.src_shape) == tuple(self.index_shape):
            return picked
        out = xp.zeros(self.src_shape, dtype=picked.dtype)
        out[ix._leading(self.src_shape, self.index_shape)] = picked
        return out

    def backward(self, grad):
        a, vals, out = self.saved_tensors
        w_self, w_src = self._weights(a, vals, out)
        need_a, need_src = self.needs_input_grad[:2]
        ga = (grad * w_self).astype(grad.dtype) if need_a else None
        gs = self._src_grad((grad.reshape(-1)[self.pos] * w_src).astype(grad.dtype)) if need_src else None
        return ga, gs, None, None, None, None

    def tensor_backward(self, grad, a, vals, out):
        if self.reduce == "prod":
            raise RuntimeError("scatter_reduce(reduce='prod'): second derivatives are not supported "
                               "(the first derivative depends on the inputs); use create_graph=False, "
                               "or write the product with sum/exp/log where the values are positive")
        # For sum, mean, amax and amin the gradient is linear in grad with weights that are
        # constant (amax/amin: which values tie is piecewise constant).
        w_self, w_src = self._weights(a.data, vals.data, out.data)
        need_a, need_src = self.needs_input_grad[:2]
        ga = grad * _make_tensor(w_self.astype(grad.dtype), False, None) if need_a else None
        gs = None
        if need_src:
            picked = ix.GetItem.apply(grad.reshape(-1), self.pos) * _make_tensor(w_src.astype(grad.dtype), False, None)
            picked = picked.reshape(self.index_shape)
            gs = picked if tuple(self.src_shape) == tuple(self.index_shape) else ix.PutInto.apply(
                picked, tuple(self.src_shape), ix._leading(self.src_shape, self.index_shape), False)
        return ga, gs, None, None, None, None


def _check_reduce(reduce, allowed, op):
    if reduce not in allowed:
        raise RuntimeError(f"{op}: reduce argument must be one of {', '.join(allowed)}, got {reduce!r}")


def scatter_reduce(input, dim, index, src, reduce, *, include_self=True, out=None):  # noqa: A002
    """``input`` with ``src`` reduced into the positions ``index`` gives along ``dim``
    (``reduce``: ``'sum'``, ``'prod'``, ``'mean'``, ``'amax'`` or ``'amin'``; with
    ``include_self=False`` the positions written to forget their own value)."""
    from tensorweaver.ops.pointwise import write_out
    _check_reduce(reduce, REDUCTIONS, "scatter_reduce")
    x = _tensor(input)
    d = ix._dim(dim, x.ndim, "scatter_reduce")
    idx = ix._index_tensor(index, "scatter_reduce")
    s = src if isinstance(src, Tensor) else Tensor(src)
    if s.dtype != x.dtype:
        s = ew.cast(s, x.dtype)
    ix._check_addressing(x, idx, d, "scatter_reduce", s.data)
    return write_out(ScatterReduce.apply(x, s, idx % x.shape[d] if x.shape[d] else idx, d, reduce,
                                         bool(include_self)), out)


def _index_along(x, d, index, source, op):
    """``index`` (k) checked and broadcast to ``source``'s shape along ``dim`` (scatter's addressing)."""
    idx = ix._index_tensor(index, op)
    if idx.ndim > 1:
        raise IndexError(f"{op}: the index must be a vector (0-D or 1-D), got {idx.ndim} dims")
    idx = idx.reshape(-1)
    expected = x.shape[:d] + (idx.shape[0],) + x.shape[d + 1:]
    if tuple(source.shape) != expected:
        raise RuntimeError(f"{op}: source has shape {tuple(source.shape)}, expected {expected} "
                           f"(input's shape with dim {d} of size len(index))")
    if idx.size and (int(idx.min()) < -x.shape[d] or int(idx.max()) >= x.shape[d]):
        raise IndexError(f"{op}: index out of range for dim {d} of size {x.shape[d]}")
    return idx


def index_reduce(input, dim, index, source, reduce, *, include_self=True, out=None):  # noqa: A002
    """``input`` with ``source[..., i, ...]`` reduced into ``input[..., index[i], ...]``
    (``reduce``: ``'prod'``, ``'mean'``, ``'amax'`` or ``'amin'``)."""
    _check_reduce(reduce, ("prod", "mean", "amax", "amin"), "index_reduce")
    x, s = _tensor(input), _tensor(source)
    d = ix._dim(dim, max(x.ndim, 1), "index_reduce")
    idx = _index_along(x, d, index, s, "index_reduce")
    shape = [1] * x.ndim
    shape[d] = idx.shape[0]
    full = xp.broadcast_to(idx.reshape(shape), s.shape).copy()
    return scatter_reduce(x, d, full, s, reduce, include_self=include_self, out=out)


def index_copy(input, dim, index, source, *, out=None):  # noqa: A002
    """``input`` with ``source[..., i, ...]`` copied to ``input[..., index[i], ...]`` (with a
    repeated index, one of the copies wins)."""
    from tensorweaver.ops.joining import ScatterInto
    from tensorweaver.ops.pointwise import write_out
    x, s = _tensor(input), _tensor(source)
    d = ix._dim(dim, max(x.ndim, 1), "index_copy")
    if x.ndim == 0:
        return write_out(index_copy(x.reshape(1), 0, index, s.reshape(1)).reshape(()), out)
    idx = _index_along(x, d, index, s, "index_copy")
    if s.dtype != x.dtype:
        s = ew.cast(s, x.dtype)
    return write_out(ScatterInto.apply(x, s, (slice(None),) * d + (idx % x.shape[d],), op="index_copy"), out)


# ---------------------------------------------------------------- in place (Tensor methods)
def scatter_reduce_(input, dim, index, src, reduce, *, include_self=True):  # noqa: A002
    """``scatter_reduce`` written into ``input``."""
    return inplace.binary_(input, src, lambda x, s: scatter_reduce(x, dim, index, s, reduce,
                                                                   include_self=include_self), "scatter_reduce_")


def index_reduce_(input, dim, index, source, reduce, *, include_self=True):  # noqa: A002
    """``index_reduce`` written into ``input``."""
    return inplace.binary_(input, source, lambda x, s: index_reduce(x, dim, index, s, reduce,
                                                                    include_self=include_self), "index_reduce_")


def index_copy_(input, dim, index, source):  # noqa: A002
    """``index_copy`` written into ``input``."""
    return inplace.binary_(input, source, lambda x, s: index_copy(x, dim, index, s), "index_copy_")


# The Tensor methods these functions are (torch has no tw.scatter_reduce_ ...: methods only).
METHODS = "scatter_reduce index_reduce index_copy scatter_reduce_ index_reduce_ index_copy_".split()
