"""PyTorch's *Indexing, Slicing, Joining, Mutating Ops* beyond ``shape.py`` and ``indexing.py``:
``index_select``, ``masked_select``, ``narrow``, ``take``, ``take_along_dim``, ``unbind``,
``movedim``/``moveaxis``, ``swapaxes``/``swapdims``, ``hstack``/``vstack``/``dstack``/
``column_stack``/``row_stack``, ``tile``, ``repeat``, ``nonzero``/``argwhere`` and the
one-argument ``where(condition)``.

All but ``nonzero`` are written from recorded ops (indexing with an index array, narrow,
permute, reshape, expand, cat), so their gradients and ONNX export come from those.
``nonzero`` is a recorded node without gradient, exported as ONNX NonZero.

Shapes::

    index_select(input, dim, index (k))   (*, n, *) -> (*, k, *)
    masked_select(input, mask)            (*) -> (number of True,)
    take_along_dim(input, indices, dim)   gather with broadcasting
    movedim(input, source, destination)   a permutation
    tile(input, dims) / repeat(*sizes)    (*s) -> (*s * dims)
    nonzero(input)                        (*) -> (N, ndim) int64
"""
from __future__ import annotations

import itertools

import numpy as _host_np   # host side only: broadcast shapes

from tensorweaver import backend, dtypes
from tensorweaver.autograd.function import Function
from tensorweaver.ops import elementwise as ew
from tensorweaver.ops import indexing as ix
from tensorweaver.ops import shape as sh
from tensorweaver.ops.cumulative import _tensor
from tensorweaver.ops.inplace import IndexPut
from tensorweaver.ops.pointwise import write_out
from tensorweaver.ops.reduction import normalize_dims
from tensorweaver.tensor import Tensor, _make_tensor

xp = backend.xp


def _dim(dim, ndim, op):
    return normalize_dims(dim, ndim, op)[0]


def _index_array(index, op):
    data = index.data if isinstance(index, Tensor) else xp.asarray(index)
    if data.dtype.kind not in "iu":
        raise TypeError(f"{op}: the index must be an integer tensor, got {data.dtype}")
    return data


def index_select(input, dim, index, *, out=None):  # noqa: A002 (torch's names)
    """The entries of ``input`` at ``index`` (a 1-D integer tensor) along ``dim``."""
    x = _tensor(input)
    idx = _index_array(index, "index_select")
    if idx.ndim > 1:
        raise IndexError(f"index_select: the index must be 0-D or 1-D, got {idx.ndim} dims")
    d = _dim(dim, max(x.ndim, 1), "index_select")
    if x.ndim == 0:
        return write_out(x.reshape(1)[idx.reshape(-1)].reshape(()), out)
    return write_out(x[tuple(idx.reshape(-1) if i == d else slice(None) for i in range(x.ndim))], out)


def masked_select(input, mask, *, out=None):  # noqa: A002
    """A 1-D tensor of the elements where ``mask`` (broadcast with ``input``) is True."""
    x, m = _tensor(input), _tensor(mask)
    if m.dtype.kind != "b":
        raise TypeError(f"masked_select: the mask must be a bool tensor, got {m.dtype}")
    shape = _host_np.broadcast_shapes(x.shape, m.shape)
    x = x.expand(*shape) if tuple(x.shape) != tuple(shape) else x
    mask_data = xp.broadcast_to(m.data, shape)
    return write_out(x[mask_data], out)


def narrow(input, dim, start, length):  # noqa: A002
    """``input`` restricted to ``start:start + length`` along ``dim`` (``start`` may be negative)."""
    x = _tensor(input)
    d = _dim(dim, x.ndim, "narrow")
    n = x.shape[d]
    start = int(start.item() if isinstance(start, Tensor) else start)
    if start < 0:
        start += n
    if not (0 <= start <= n and 0 <= length and start + length <= n):
        raise IndexError(f"narrow: start ({start}) + length ({length}) exceeds dim {dim} of size {n}")
    return sh.Narrow.apply(x, d, start, length)


def take(input, index):  # noqa: A002
    """``input`` as if flattened, at ``index`` (any shape; the result has its shape)."""
    x = _tensor(input)
    idx = _index_array(index, "take")
    n = x.numel()
    if idx.size and (int(idx.max()) >= n or int(idx.min()) < -n):
        raise IndexError(f"take: an index is out of range for a tensor of {n} elements")
    return x.reshape(-1)[idx.reshape(-1)].reshape(tuple(idx.shape))


def take_along_dim(input, indices, dim=None, *, out=None):  # noqa: A002
    """Pick ``input``'s values at ``indices`` along ``dim`` (gather with broadcasting of the
    other dims); ``dim=None`` works on the flattened tensor."""
    x = _tensor(input)
    idx = _tensor(indices)
    if dim is None:
        return write_out(ix.gather(x.reshape(-1), 0, idx.reshape(-1)), out)
    d = _dim(dim, x.ndim, "take_along_dim")
    xs, ids = list(x.shape), list(idx.shape)
    xs[d] = ids[d] = 1
    common = list(_host_np.broadcast_shapes(tuple(xs), tuple(ids)))
    x_shape, i_shape = list(common), list(common)
    x_shape[d], i_shape[d] = x.shape[d], idx.shape[d]
    x = x.expand(*x_shape) if tuple(x.shape) != tuple(x_shape) else x
    idx = _make_tensor(xp.broadcast_to(idx.data, tuple(i_shape)).copy(), False, None)
    return write_out(ix.gather(x, d, idx), out)


def unbind(input, dim=0):  # noqa: A002
    """The slices of ``input`` along ``dim``, as a tuple (``dim`` removed)."""
    x = _tensor(input)
    d = _dim(dim, x.ndim, "unbind")
    return tuple(sh.Narrow.apply(x, d, i, 1).squeeze(d) for i in range(x.shape[d]))


def movedim(input, source, destination):  # noqa: A002
    """Move the dims ``source`` to positions ``destination`` (ints or sequences); the other
    dims keep their order."""
    x = _tensor(input)
    src = [source] if isinstance(source, int) else list(source)
    dst = [destination] if isinstance(destination, int) else list(destination)
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: source ({len(src)} dims) and destination ({len(dst)} dims) "
                           "must have the same length")
    src = [_dim(s, x.ndim, "movedim") for s in src]
    dst = [_dim(t, x.ndim, "movedim") for t in dst]
    if len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise RuntimeError("movedim: repeated dim in source or destination")
    order = [None] * x.ndim
    for s, t in zip(src, dst):
        order[t] = s
    rest = iter(i for i in range(x.ndim) if i not in src)
    order = [o if o is not None else next(rest) for o in order]
    return x.permute(tuple(order))


moveaxis = movedim


def swapaxes(input, axis0, axis1):  # noqa: A002
    """``transpose(input, axis0, axis1)``."""
    return sh.transpose(_tensor(input), axis0, axis1)


def swapdims(input, dim0, dim1):  # noqa: A002
    return sh.transpose(_tensor(input), dim0, dim1)


def _at_least(t, n):
    t = _tensor(t)
    if t.ndim >= n:
        return t
    if n == 2:
        return t.reshape((1,) * (2 - t.ndim) + t.shape)
    if n == 3:   # (n) -> (1, n, 1); (m, n) -> (m, n, 1), as NumPy's atleast_3d
        return t.reshape((1, t.numel(), 1) if t.ndim < 2 else t.shape + (1,))
    return t.reshape(1) if t.ndim == 0 else t


def hstack(tensors, *, out=None):
    """Concatenate along dim 1 (dim 0 for 1-D tensors)."""
    ts = [_at_least(t, 1) for t in tensors]
    return write_out(sh.cat(ts, 0 if ts[0].ndim == 1 else 1), out)


def vstack(tensors, *, out=None):
    """Concatenate along dim 0 after making every tensor at least 2-D."""
    return write_out(sh.cat([_at_least(t, 2) for t in tensors], 0), out)


row_stack = vstack


def dstack(tensors, *, out=None):
    """Concatenate along dim 2 after making every tensor at least 3-D."""
    return write_out(sh.cat([_at_least(t, 3) for t in tensors], 2), out)


def column_stack(tensors, *, out=None):
    """1-D and 0-D tensors become columns ``(n, 1)``; then concatenate along dim 1."""
    ts = [_tensor(t) for t in tensors]
    ts = [t.reshape(t.numel(), 1) if t.ndim < 2 else t for t in ts]
    return write_out(sh.cat(ts, 1), out)


def repeat(input, *sizes):  # noqa: A002
    """``Tensor.repeat``: tile ``input`` ``sizes[i]`` times along each dim (leading new dims
    when ``sizes`` is longer than the shape)."""
    x = _tensor(input)
    if len(sizes) == 1 and isinstance(sizes[0], (list, tuple)):
        sizes = tuple(sizes[0])
    if len(sizes) < x.ndim:
        raise RuntimeError(f"repeat: {len(sizes)} repeat counts for a tensor with {x.ndim} dims; "
                           "give at least one per dim")
    shape = (1,) * (len(sizes) - x.ndim) + tuple(x.shape)
    # (s0, s1, ...) -> (1, s0, 1, s1, ...) expanded to (r0, s0, r1, s1, ...) -> (r0*s0, r1*s1, ...)
    inter = sum(((1, n) for n in shape), ())
    big = sum(((r, n) for r, n in zip(sizes, shape)), ())
    return x.reshape(inter).expand(*big).reshape(tuple(r * n for r, n in zip(sizes, shape)))


def tile(input, dims):  # noqa: A002
    """``repeat`` with ``dims`` padded with leading 1s to the input's number of dims."""
    x = _tensor(input)
    dims = tuple(dims) if not isinstance(dims, int) else (dims,)
    return repeat(x, (1,) * (x.ndim - len(dims)) + dims)


class NonZero(Function):
    """The coordinates of the nonzero elements, ``(N, ndim)`` int64 (no gradient)."""
    differentiable = False

    def forward(self, a):
        return backend.as_array(xp.stack(xp.nonzero(a), axis=1).astype(dtypes.int64)) if a.ndim else \
            xp.zeros((int(bool(a)), 0), dtype=dtypes.int64)


def nonzero(input, *, out=None, as_tuple=False):  # noqa: A002
    """Coordinates of the nonzero elements: ``(N, ndim)``, or with ``as_tuple=True`` one 1-D
    tensor per dim."""
    x = _tensor(input)
    coords = NonZero.apply(x)
    if as_tuple:
        if x.ndim == 0:
            return (_make_tensor(xp.zeros(int(bool(x.data)), dtype=dtypes.int64), False, None),)
        return tuple(coords[:, i] for i in range(x.ndim))
    return write_out(coords, out)


def argwhere(input):  # noqa: A002
    """``nonzero(input)``: ``(N, ndim)`` int64 coordinates."""
    return nonzero(input)


def where(condition, input=None, other=None, *, out=None):  # noqa: A002
    """``where(condition, input, other)`` picks elementwise; ``where(condition)`` alone is
    ``nonzero(condition, as_tuple=True)``."""
    if input is None and other is None:
        return nonzero(condition, as_tuple=True)
    if input is None or other is None:
        raise TypeError("where: give both input and other, or neither (where(condition) is nonzero)")
    return write_out(ew.where(condition, input, other), out)


def select(input, dim, index):  # noqa: A002
    """The slice at ``index`` along ``dim``, with that dim removed (``x[:, index]`` for dim 1)."""
    x = _tensor(input)
    d = _dim(dim, x.ndim, "select")
    n = x.shape[d]
    if not -n <= index < n:
        raise IndexError(f"select: index {index} is out of range for dim {dim} of size {n}")
    return sh.Narrow.apply(x, d, index % n, 1).squeeze(d)


def tensor_split(input, indices_or_sections, dim=0):  # noqa: A002
    """Split into ``n`` nearly equal parts (an int: the first ``size % n`` parts one longer) or
    at the given indices (a list), along ``dim``; a tuple of tensors."""
    x = _tensor(input)
    d = _dim(dim, x.ndim, "tensor_split")
    size = x.shape[d]
    if isinstance(indices_or_sections, int):
        n = indices_or_sections
        if n <= 0:
            raise RuntimeError(f"tensor_split: the number of sections must be positive, got {n}")
        lengths = [size // n + (1 if i < size % n else 0) for i in range(n)]
        cuts = list(itertools.accumulate(lengths))[:-1]
    else:
        cuts = [int(i) for i in indices_or_sections]
    bounds = [0] + [min(max(c + size if c < 0 else c, 0), size) for c in cuts] + [size]
    return tuple(sh.Narrow.apply(x, d, a, max(b - a, 0)) for a, b in zip(bounds[:-1], bounds[1:]))


def _split_at(x, indices_or_sections, dim, op):
    if isinstance(indices_or_sections, int) and x.shape[dim] % indices_or_sections:
        raise RuntimeError(f"{op}: dim {dim} of size {x.shape[dim]} is not divisible into "
                           f"{indices_or_sections} equal sections")
    return tensor_split(x, indices_or_sections, dim)


def hsplit(input, indices_or_sections):  # noqa: A002
    x = _tensor(input)
    return _split_at(x, indices_or_sections, 1 if x.ndim > 1 else 0, "hsplit")


def vsplit(input, indices_or_sections):  # noqa: A002
    x = _tensor(input)
    if x.ndim < 2:
        raise RuntimeError("vsplit: the input must have at least 2 dimensions")
    return _split_at(x, indices_or_sections, 0, "vsplit")


def dsplit(input, indices_or_sections):  # noqa: A002
    x = _tensor(input)
    if x.ndim < 3:
        raise RuntimeError("dsplit: the input must have at least 3 dimensions")
    return _split_at(x, indices_or_sections, 2, "dsplit")


def ravel(input):  # noqa: A002
    """``input`` flattened to 1-D."""
    return _tensor(input).reshape(-1)


def unflatten(input, dim, sizes):  # noqa: A002
    """Split ``dim`` into the dims ``sizes`` (one may be -1)."""
    x = _tensor(input)
    d = _dim(dim, x.ndim, "unflatten")
    sizes = list(sizes)
    if sizes.count(-1) == 1:
        known = 1
        for s in sizes:
            known *= s if s != -1 else 1
        sizes[sizes.index(-1)] = x.shape[d] // known if known else 0
    total = 1
    for s in sizes:
        total *= s
    if total != x.shape[d]:
        raise RuntimeError(f"unflatten: sizes {tuple(sizes)} do not multiply to dim {dim}'s size {x.shape[d]}")
    return x.reshape(x.shape[:d] + tuple(sizes) + x.shape[d + 1:])


def t(input):  # noqa: A002
    """Transpose of a tensor of at most 2 dims."""
    x = _tensor(input)
    if x.ndim > 2:
        raise RuntimeError(f"t: expected a tensor of at most 2 dims, got {x.ndim}; use transpose(dim0, dim1)")
    return x.transpose(0, 1) if x.ndim == 2 else x


def adjoint(input):  # noqa: A002
    """The last two dims swapped (the conjugate transpose; real tensors here)."""
    return sh.transpose(_tensor(input), -2, -1)


concat = concatenate = sh.cat


# ---------------------------------------------------------------- copies, strides, unravel
def narrow_copy(input, dim, start, length):  # noqa: A002
    """``narrow`` as a new tensor (never sharing memory with ``input``)."""
    return ew.clone(narrow(input, dim, start, length))


def as_strided(input, size, stride, storage_offset=0):  # noqa: A002
    """The elements ``input.flatten()[storage_offset + sum_k i_k * stride[k]]`` for every index
    ``(i_0, ...)`` of ``size``: torch's ``as_strided`` on a contiguous tensor (sliding windows,
    overlapping patches). Tensors here expose no strides: ``input`` is read in its row-major
    (contiguous) order, whatever made it, and the result is a copy, not a view. Overlapping
    windows get the sum of their gradients, as in torch."""
    x = _tensor(input)
    size, stride = tuple(int(n) for n in size), tuple(int(n) for n in stride)
    if len(size) != len(stride):
        raise RuntimeError(f"as_strided: mismatch in length of strides ({len(stride)}) and shape ({len(size)})")
    if any(n < 0 for n in size) or any(n < 0 for n in stride) or storage_offset < 0:
        raise RuntimeError(f"as_strided: size {size}, stride {stride} and storage_offset {storage_offset} "
                           "must be non-negative")
    pos = _host_np.full(size, storage_offset, dtype=_host_np.int64)
    for k, (n, st) in enumerate(zip(size, stride)):
        pos = pos + (_host_np.arange(n) * st).reshape((1,) * k + (n,) + (1,) * (len(size) - k - 1))
    if pos.size and int(pos.max()) >= x.numel():
        raise RuntimeError(f"as_strided: size {size}, stride {stride} and storage_offset {storage_offset} "
                           f"reach element {int(pos.max())}, out of bounds for a tensor of {x.numel()} elements")
    return x.reshape(-1)[backend.from_host(pos.reshape(-1))].reshape(size)


def unravel_index(indices, shape):
    """The coordinates of flat ``indices`` in a tensor of ``shape``: a tuple of int64 tensors,
    one per dim, each shaped like ``indices`` (negative indices count from the end)."""
    shape = (shape,) if isinstance(shape, int) else tuple(int(n) for n in shape)
    idx = _tensor(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"unravel_index: expected an integer tensor of indices, got {idx.dtype}")
    if any(n < 0 for n in shape):
        raise ValueError(f"unravel_index: the shape must be non-negative, got {shape}")
    total = 1
    for n in shape:
        total *= n
    flat = idx.data.astype(dtypes.int64)
    if flat.size and (int(flat.min()) < -total or int(flat.max()) >= total):
        raise IndexError(f"unravel_index: an index is out of bounds for a tensor of shape {shape} "
                         f"({total} elements; indices must be in [{-total}, {total}))")
    flat = xp.where(flat < 0, flat + total, flat)
    out = []
    for n in reversed(shape):
        out.append(flat % n if n else flat)
        flat = flat // n if n else flat
    return tuple(_make_tensor(backend.as_array(c), False, None) for c in reversed(out))


# ---------------------------------------------------------------- *_scatter: write src into a copy
class ScatterInto(IndexPut):
    """``input`` with ``src`` written at a fixed (basic or diagonal) index, out of place:
    ``select_scatter``, ``slice_scatter``, ``diagonal_scatter``, ``index_copy``. The gradient
    of ``input`` is ``grad`` with the written positions zeroed; ``src`` gets ``grad`` there.
    ``op`` names the op (for ONNX export's error)."""

    def forward(self, a, value, index, op="index_put"):
        self.op = op
        return super().forward(a, value, index)


def _scatter_into(x, src, index, expected, op):
    src = _tensor(src)
    if tuple(src.shape) != tuple(expected):
        raise RuntimeError(f"{op}: expected src to have a size equal to the slice of self. src size = "
                           f"{list(src.shape)}, slice size = {list(expected)}")
    if src.dtype != x.dtype:
        src = ew.cast(src, x.dtype)
    return ScatterInto.apply(x, src, index, op=op)


def select_scatter(input, src, dim, index):  # noqa: A002
    """``input`` with ``src`` written into ``input.select(dim, index)`` (a new tensor)."""
    x = _tensor(input)
    d = _dim(dim, x.ndim, "select_scatter")
    n = x.shape[d]
    if not -n <= index < n:
        raise IndexError(f"select_scatter: index {index} is out of range for dim {dim} of size {n}")
    where = (slice(None),) * d + (index % n,)
    return _scatter_into(x, src, where, x.shape[:d] + x.shape[d + 1:], "select_scatter")


def slice_scatter(input, src, dim=0, start=None, end=None, step=1):  # noqa: A002
    """``input`` with ``src`` written into ``input[..., start:end:step, ...]`` along ``dim``."""
    x = _tensor(input)
    d = _dim(dim, x.ndim, "slice_scatter")
    if step is None:
        step = 1
    if step <= 0:
        raise RuntimeError(f"slice_scatter: slice step must be positive, got {step}")
    where = (slice(None),) * d + (slice(start, end, step),)
    expected = x.shape[:d] + (len(range(*slice(start, end, step).indices(x.shape[d]))),) + x.shape[d + 1:]
    return _scatter_into(x, src, where, expected, "slice_scatter")


def diagonal_scatter(input, src, offset=0, dim1=0, dim2=1):  # noqa: A002
    """``input`` with ``src`` written onto ``diagonal(input, offset, dim1, dim2)`` (whose shape is
    the other dims followed by the diagonal's length)."""
    from tensorweaver.ops.other_ops import _diagonal_index
    x = _tensor(input)
    d1, d2 = (_dim(d, x.ndim, "diagonal_scatter") for d in (dim1, dim2))
    if d1 == d2:
        raise RuntimeError(f"diagonal_scatter: dim1 and dim2 cannot be the same dim ({dim1})")
    rest = tuple(i for i in range(x.ndim) if i not in (d1, d2))
    perm = rest + (d1, d2)
    rows, cols = _diagonal_index(x.shape[d1], x.shape[d2], offset)
    index = (Ellipsis, backend.from_host(rows), backend.from_host(cols))
    moved = x.permute(perm)
    out = _scatter_into(moved, src, index, moved.shape[:-2] + (len(rows),), "diagonal_scatter")
    return out.permute(tuple(perm.index(i) for i in range(x.ndim)))


# The Tensor methods these functions are (torch has no Tensor.hstack ... : functions only).
METHODS = ("index_select masked_select narrow take take_along_dim unbind movedim moveaxis swapaxes "
           "swapdims tile repeat nonzero argwhere select tensor_split hsplit vsplit dsplit ravel "
           "unflatten adjoint narrow_copy as_strided select_scatter slice_scatter diagonal_scatter").split()
