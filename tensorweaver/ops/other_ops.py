"""PyTorch's *Other Operations* that rearrange or index: ``flip``/``fliplr``/``flipud``, ``roll``,
``rot90``, ``diff``, ``diagonal``/``trace``/``diag``/``diag_embed``, ``meshgrid``,
``cartesian_prod``, ``combinations``, ``repeat_interleave``, ``tril_indices``/``triu_indices``,
and the counting ops ``bincount``, ``histc``, ``searchsorted``, ``bucketize``.

Most are written from recorded ops (slicing, indexing with constant index arrays, reshape,
matmul with a constant 0/1 matrix), so their gradients, higher-order gradients and ONNX export
come from those ops. ``flip`` and ``roll`` are one Function each. The counting ops return
integers (no gradient) and are recorded ``Counting`` nodes, which ONNX export refuses clearly.

Shapes::

    flip(input, dims)            (*) -> (*)
    diff(input, n, dim)          (*, m, *) -> (*, m - n, *)   (prepend/append add to m)
    diagonal(input, offset, d1, d2)  (*, a, *, b, *) -> (*, *, *, k), k the diagonal's length
    diag_embed(input, offset)    (*, n) -> (*, n + |offset|, n + |offset|)
    meshgrid(t1 (n1), ..., tk (nk))  -> k tensors of shape (n1, ..., nk)  (indexing='ij')
"""
from __future__ import annotations

import itertools
from collections import namedtuple

import numpy as _host_np   # host side only: constant index arrays and 0/1 matrices

from tensorweaver import backend, dtypes
from tensorweaver.autograd.function import Function
from tensorweaver.ops import elementwise as ew
from tensorweaver.ops import shape as sh
from tensorweaver.ops.cumulative import _tensor
from tensorweaver.ops.pointwise import write_out
from tensorweaver.ops.reduction import normalize_dims
from tensorweaver.tensor import Tensor, _make_tensor

xp = backend.xp


def _dims(dims, ndim, op):
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    out = normalize_dims(dims, ndim, op)
    if len(out) != len(dims):
        raise RuntimeError(f"{op}: dim {dims} appears multiple times in the list of dims")
    return out


def _const(host_array):
    return _make_tensor(backend.from_host(host_array), False, None)


# ---------------------------------------------------------------- flip, roll, rot90
class Flip(Function):
    """Reverse the order along ``dims``; its own adjoint."""

    def forward(self, a, dims):
        self.dims = dims
        return xp.flip(a, dims) if dims else a.copy()

    def backward(self, grad):
        return xp.flip(grad, self.dims) if self.dims else grad

    def tensor_backward(self, grad):
        return Flip.apply(grad, self.dims)


class Roll(Function):
    """Shift elements by ``shifts`` along ``dims`` (wrapping around); backward shifts back."""

    def forward(self, a, shifts, dims):
        self.shifts, self.dims = shifts, dims
        return xp.roll(a, shifts, axis=dims)

    def backward(self, grad):
        return xp.roll(grad, tuple(-s for s in self.shifts), axis=self.dims)

    def tensor_backward(self, grad):
        return Roll.apply(grad, tuple(-s for s in self.shifts), self.dims)


def flip(input, dims):  # noqa: A002 (torch's names)
    """Reverse ``input`` along each dim in ``dims`` (an int or a tuple)."""
    x = _tensor(input)
    return Flip.apply(x, _dims(dims, x.ndim, "flip") if x.ndim else ())


def fliplr(input):  # noqa: A002
    """Flip a tensor of at least 2 dims left-right (dim 1)."""
    if _tensor(input).ndim < 2:
        raise RuntimeError("fliplr: the input must have at least 2 dimensions")
    return flip(input, 1)


def flipud(input):  # noqa: A002
    """Flip a tensor of at least 1 dim up-down (dim 0)."""
    if _tensor(input).ndim < 1:
        raise RuntimeError("flipud: the input must have at least 1 dimension")
    return flip(input, 0)


def roll(input, shifts, dims=None):  # noqa: A002
    """Roll ``input`` by ``shifts`` along ``dims``; with ``dims=None`` the flattened tensor is
    rolled and the shape restored."""
    x = _tensor(input)
    shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    if dims is None:
        if len(shifts) != 1:
            raise RuntimeError(f"roll: {len(shifts)} shifts need as many dims; pass dims=")
        return Roll.apply(x.reshape(-1), shifts, (0,)).reshape(x.shape)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    if len(shifts) != len(dims):
        raise RuntimeError(f"roll: shifts ({len(shifts)}) and dims ({len(dims)}) must have the same length")
    return Roll.apply(x, shifts, tuple(normalize_dims(d, x.ndim, "roll")[0] for d in dims))


def rot90(input, k=1, dims=(0, 1)):  # noqa: A002
    """Rotate by 90 degrees ``k`` times in the plane of ``dims``, from the first toward the
    second dim (a flip and a transpose per quarter turn, as torch)."""
    x = _tensor(input)
    if len(dims) != 2:
        raise RuntimeError(f"rot90: expected exactly 2 dims, got {len(dims)}")
    d0, d1 = (d % x.ndim for d in dims) if x.ndim >= 2 else (None, None)
    if x.ndim < 2 or d0 == d1:
        raise RuntimeError(f"rot90: dims must be two different dims of a tensor with at least 2 dims, got {dims}")
    k %= 4
    if k == 1:
        return flip(x, d1).transpose(d0, d1)
    if k == 2:
        return flip(x, (d0, d1))
    if k == 3:
        return flip(x, d0).transpose(d0, d1)
    return x * 1 if x.requires_grad else ew.clone(x)


# ---------------------------------------------------------------- diff
def _slice(x, d, start, stop):
    return x[tuple(slice(start, stop) if i == d else slice(None) for i in range(x.ndim))]


def diff(input, n=1, dim=-1, prepend=None, append=None):  # noqa: A002
    """The ``n``-th forward difference along ``dim``: ``out[i] = input[i + 1] - input[i]``,
    after concatenating ``prepend`` and ``append``; bool inputs give ``!=``."""
    x = _tensor(input)
    if x.ndim == 0:
        raise RuntimeError("diff: expected a tensor with at least 1 dimension")
    (d,) = normalize_dims(dim, x.ndim, "diff")
    parts = [p if isinstance(p, Tensor) else Tensor(p) for p in (prepend, x, append) if p is not None]
    if len(parts) > 1:
        x = sh.cat(parts, d)
    for _ in range(n):
        if x.shape[d] == 0:
            break
        hi, lo = _slice(x, d, 1, None), _slice(x, d, 0, -1)
        x = ew.ne(hi, lo) if x.dtype.kind == "b" else hi - lo
    return x


# ---------------------------------------------------------------- diagonals
def _diagonal_index(rows, cols, offset):
    i = _host_np.arange(max(0, -offset), min(rows, cols - offset)) if rows and cols else _host_np.zeros(0, int)
    return i, i + offset


def diagonal(input, offset=0, dim1=0, dim2=1):  # noqa: A002
    """The diagonal of the (``dim1``, ``dim2``) planes, as a new last dim (a copy here: tensors
    do not share memory with torch's view semantics)."""
    x = _tensor(input)
    d1, d2 = (normalize_dims(d, x.ndim, "diagonal")[0] for d in (dim1, dim2))
    if d1 == d2:
        raise RuntimeError(f"diagonal: dim1 and dim2 cannot be the same dim ({dim1})")
    rest = tuple(i for i in range(x.ndim) if i not in (d1, d2))
    moved = x.permute(rest + (d1, d2))
    rows, cols = _diagonal_index(x.shape[d1], x.shape[d2], offset)
    return moved[(Ellipsis, backend.from_host(rows), backend.from_host(cols))]


def trace(input):  # noqa: A002
    """Sum of the main diagonal of a 2-D tensor."""
    x = _tensor(input)
    if x.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix (2 dims), got {x.ndim} dims")
    d = diagonal(x)
    return (d.long() if x.dtype.kind in "iub" else d).sum()


def diag_embed(input, offset=0, dim1=-2, dim2=-1):  # noqa: A002
    """Matrices with ``input``'s last dim on their ``offset`` diagonal (zeros elsewhere), in the
    (``dim1``, ``dim2``) planes of the result: ``(*, n) -> (*, m, m)``, m = n + |offset|.
    Written as a matmul with a constant 0/1 matrix, so every order of gradient follows."""
    x = _tensor(input)
    n = x.shape[-1] if x.ndim else 1
    m = n + abs(offset)
    place = _host_np.zeros((n, m * m), dtype=_host_np.dtype(x.dtype))
    rows, cols = _diagonal_index(m, m, offset)
    place[_host_np.arange(n), rows * m + cols] = 1
    out = (x.reshape(x.shape[:-1] + (1, n)) @ _const(place)).reshape(x.shape[:-1] + (m, m))
    nd = out.ndim
    d1, d2 = dim1 % nd, dim2 % nd
    if d1 == d2:
        raise RuntimeError(f"diag_embed: dim1 and dim2 cannot be the same dim ({dim1})")
    if (d1, d2) == (nd - 2, nd - 1):
        return out
    batch = list(range(nd - 2))
    perm = [None] * nd
    perm[d1], perm[d2] = nd - 2, nd - 1
    it = iter(batch)
    perm = [p if p is not None else next(it) for p in perm]
    return out.permute(tuple(perm))


def diag(input, diagonal=0, *, out=None):  # noqa: A002
    """1-D input: the square matrix with it on the ``diagonal``-th diagonal; 2-D input: that
    diagonal as a 1-D tensor."""
    x = _tensor(input)
    if x.ndim == 1:
        return write_out(diag_embed(x, diagonal), out)
    if x.ndim == 2:
        return write_out(globals()["diagonal"](x, diagonal), out)
    raise RuntimeError(f"diag: expected a 1-D or 2-D tensor, got {x.ndim} dims")


def diagflat(input, offset=0):  # noqa: A002
    """The square matrix with the flattened ``input`` on its ``offset`` diagonal."""
    return diag_embed(_tensor(input).reshape(-1), offset)


def _atleast(n, tensors):
    from tensorweaver.ops.joining import _at_least
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    out = tuple(_at_least(t, n) for t in tensors)
    return out[0] if len(out) == 1 else out


def atleast_1d(*tensors):
    """Each tensor viewed with at least 1 dim (one tensor in, one out; several: a tuple)."""
    return _atleast(1, tensors)


def atleast_2d(*tensors):
    """Each tensor with at least 2 dims (new leading dims of size 1)."""
    return _atleast(2, tensors)


def atleast_3d(*tensors):
    """Each tensor with at least 3 dims, as NumPy: ``(n) -> (1, n, 1)``, ``(m, n) -> (m, n, 1)``."""
    return _atleast(3, tensors)


def broadcast_shapes(*shapes):
    """The shape the given shapes broadcast to (a ``tuple``), or a clear error."""
    try:
        return tuple(_host_np.broadcast_shapes(*[(s,) if isinstance(s, int) else tuple(s) for s in shapes]))
    except ValueError:
        raise RuntimeError(f"broadcast_shapes: shapes {shapes} cannot be broadcast together") from None


def broadcast_tensors(*tensors):
    """The tensors expanded to their common broadcast shape."""
    ts = [_tensor(t) for t in tensors]
    shape = broadcast_shapes(*[t.shape for t in ts])
    return tuple(t.expand(*shape) if tuple(t.shape) != shape else t for t in ts)


def clone(input, *, memory_format=None):  # noqa: A002
    """A copy of ``input`` (gradients flow back to it)."""
    return ew.clone(_tensor(input))


# ---------------------------------------------------------------- grids and combinations
def meshgrid(*tensors, indexing="ij"):
    """Coordinate grids from 1-D tensors: with ``indexing='ij'`` the k-th output varies along
    dim k; ``'xy'`` swaps the first two dims (as NumPy)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    ts = [_tensor(t).reshape(-1) if _tensor(t).ndim == 0 else _tensor(t) for t in tensors]
    for i, t in enumerate(ts):
        if t.ndim != 1:
            raise RuntimeError(f"meshgrid: expected 0-D or 1-D tensors, tensor {i} has {t.ndim} dims")
    if indexing == "xy" and len(ts) >= 2:
        ts[0], ts[1] = ts[1], ts[0]
    sizes = tuple(t.shape[0] for t in ts)
    grids = []
    for k, t in enumerate(ts):
        shape = [1] * len(ts)
        shape[k] = sizes[k]
        grids.append(t.reshape(tuple(shape)).expand(*sizes))
    if indexing == "xy" and len(ts) >= 2:
        grids[0], grids[1] = grids[1], grids[0]      # shape (n2, n1, ...), as NumPy's 'xy'
    return tuple(grids)


def cartesian_prod(*tensors):
    """Every combination of one element from each 1-D tensor: ``(n1 * ... * nk, k)`` (1-D for k=1)."""
    if len(tensors) == 1:
        return _tensor(tensors[0]) * 1
    grids = meshgrid(*tensors, indexing="ij")
    return sh.stack([g.reshape(-1) for g in grids], 1)


def combinations(input, r=2, with_replacement=False):  # noqa: A002
    """The length-``r`` combinations of a 1-D tensor's elements, as rows: ``(C, r)``."""
    x = _tensor(input)
    if x.ndim != 1:
        raise RuntimeError(f"combinations: expected a 1-D tensor, got {x.ndim} dims")
    pick = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    index = _host_np.array(list(pick(range(x.shape[0]), r)), dtype=_host_np.int64).reshape(-1, r)
    if index.shape[0] == 0:
        return x[backend.from_host(_host_np.zeros(0, _host_np.int64))].reshape(0, r) if r else x[:0]
    return x[backend.from_host(index.reshape(-1))].reshape(index.shape)


def repeat_interleave(input, repeats=None, dim=None, *, output_size=None):  # noqa: A002
    """Repeat each element ``repeats`` times (an int or a 1-D tensor, one count per element)
    along ``dim`` (the flattened tensor by default). ``repeat_interleave(counts)`` alone gives
    ``arange(len(counts))`` repeated by ``counts``."""
    if repeats is None:
        counts = backend.to_host(_tensor(input).data).astype(_host_np.int64)
        return _const(_host_np.repeat(_host_np.arange(counts.shape[0]), counts))
    x = _tensor(input)
    if dim is None:
        x, d = x.reshape(-1), 0
    else:
        (d,) = normalize_dims(dim, x.ndim, "repeat_interleave")
    counts = backend.to_host(repeats.data) if isinstance(repeats, Tensor) else repeats
    counts = _host_np.broadcast_to(_host_np.asarray(counts, dtype=_host_np.int64), (x.shape[d],))
    if (counts < 0).any():
        raise RuntimeError("repeat_interleave: repeats must be non-negative")
    index = backend.from_host(_host_np.repeat(_host_np.arange(x.shape[d]), counts))
    return x[tuple(index if i == d else slice(None) for i in range(x.ndim))]


def _triangle_indices(row, col, offset, lower, dtype):
    r, c = _host_np.indices((row, col)).reshape(2, -1)
    keep = (c - r <= offset) if lower else (c - r >= offset)
    return _make_tensor(backend.from_host(_host_np.stack([r[keep], c[keep]]).astype(
        _host_np.dtype(dtype or dtypes.int64))), False, None)


def tril_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    """The (row, col) coordinates of the lower triangle of a ``row x col`` matrix: ``(2, N)``."""
    return _triangle_indices(row, col, offset, True, dtype)


def triu_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    """The (row, col) coordinates of the upper triangle of a ``row x col`` matrix: ``(2, N)``."""
    return _triangle_indices(row, col, offset, False, dtype)


# ---------------------------------------------------------------- counting (no gradient)
class Counting(Function):
    """An integer-valued op (``bincount``, ``histc``, ``searchsorted``, ``bucketize``): recorded
    so that ONNX export names it and refuses, never differentiable."""
    differentiable = False

    def forward(self, *arrays, op, rule):
        self.op = op
        return backend.as_array(rule(*arrays))


def bincount(input, weights=None, minlength=0):  # noqa: A002
    """How often each value 0..max occurs in a 1-D non-negative integer tensor (with
    ``weights``: their sums, in the weights' float dtype)."""
    x = _tensor(input)
    if x.ndim != 1 or x.dtype.kind not in "iu":
        raise RuntimeError(f"bincount: expected a 1-D integer tensor, got {x.ndim}-D {x.dtype}")
    if x.numel() and int(x.data.min()) < 0:
        raise RuntimeError("bincount: the input must be non-negative")
    size = max(int(x.data.max()) + 1 if x.numel() else 0, minlength)
    if weights is None:
        return Counting.apply(x, op="bincount", rule=lambda a: backend.scatter_add(
            (size,), (a,), xp.ones(a.shape, dtype=dtypes.int64), dtypes.int64))
    w = _tensor(weights)
    out_dtype = w.dtype if w.dtype.kind == "f" else dtypes.float64
    return Counting.apply(x, w, op="bincount", rule=lambda a, b: backend.scatter_add(
        (size,), (a,), b.astype(out_dtype), out_dtype))


def histc(input, bins=100, min=0, max=0, *, out=None):  # noqa: A002
    """Histogram with ``bins`` equal bins over [min, max] (the data's range if both are 0);
    elements outside are ignored, the last bin includes ``max``."""
    x = _tensor(input)
    if x.dtype.kind != "f":
        raise RuntimeError(f"histc: expected a floating point tensor, got {x.dtype}")
    lo, hi = float(min), float(max)
    if lo == hi and x.numel():
        lo, hi = float(x.data.min()), float(x.data.max())
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    if lo > hi:
        raise RuntimeError(f"histc: max ({max}) must be larger than min ({min})")

    def rule(a):
        flat = a.reshape(-1)
        inside = (flat >= lo) & (flat <= hi)
        pos = xp.floor((flat - lo) * (bins / (hi - lo))).astype(dtypes.int64)
        pos = xp.where(pos >= bins, bins - 1, pos)          # max itself goes in the last bin
        pos = xp.where(inside, pos, 0)
        return backend.scatter_add((bins,), (pos,), inside.astype(a.dtype), a.dtype)

    return write_out(Counting.apply(x, op="histc", rule=rule), out)


def searchsorted(sorted_sequence, input, *, out_int32=False, right=False, side=None, sorter=None):  # noqa: A002
    """For each value of ``input``, the index where it would be inserted into the sorted last
    dim of ``sorted_sequence`` to keep it sorted (``right``: after equal values)."""
    seq = _tensor(sorted_sequence)
    vals = input if isinstance(input, Tensor) else Tensor(input)
    if side is not None:
        if side not in ("left", "right"):
            raise ValueError(f"searchsorted: side must be 'left' or 'right', got {side!r}")
        right = side == "right"
    if sorter is not None:
        seq = seq.gather(-1, sorter)
    if seq.ndim > 1 and seq.shape[:-1] != vals.shape[:-1]:
        raise RuntimeError(f"searchsorted: the leading dims of sorted_sequence {seq.shape} and input "
                           f"{vals.shape} must match (or sorted_sequence must be 1-D)")
    dtype = dtypes.int32 if out_int32 else dtypes.int64

    def rule(s, v):
        # Count the sequence values below (or not above) each value: O(len(s)) per value.
        v_ = v.reshape(v.shape + (1,))
        s_ = s.reshape(s.shape[:-1] + (1,) * (v.ndim - s.ndim + 1) + s.shape[-1:]) if s.ndim == 1 else \
            s.reshape(s.shape[:-1] + (1,) + s.shape[-1:])
        return ((s_ <= v_) if right else (s_ < v_)).sum(axis=-1).astype(dtype)

    return Counting.apply(seq, vals, op="searchsorted", rule=rule)


def bucketize(input, boundaries, *, out_int32=False, right=False, out=None):  # noqa: A002
    """The index of the bucket (given by the sorted 1-D ``boundaries``) each value falls in
    (``right=False``: boundaries[i-1] < x <= boundaries[i])."""
    b = _tensor(boundaries)
    if b.ndim != 1:
        raise RuntimeError(f"bucketize: boundaries must be 1-D, got {b.ndim} dims")
    return write_out(searchsorted(b, input, out_int32=out_int32, right=right), out)


# ---------------------------------------------------------------- integer and step functions
def _integer_pair(input, other, op):
    a, b = _tensor(input), _tensor(other)
    if a.dtype.kind not in "iu" or b.dtype.kind not in "iu":
        raise RuntimeError(f"{op}: expected integer tensors, got {a.dtype} and {b.dtype} (gcd and lcm are "
                           "defined on integers; convert with .long())")
    dtype = _host_np.promote_types(a.dtype, b.dtype)
    return ew.cast(a, dtype), ew.cast(b, dtype)


def gcd(input, other, *, out=None):  # noqa: A002
    """Elementwise greatest common divisor of two integer tensors (broadcasting; always >= 0,
    ``gcd(0, 0) = 0``). Integer-valued: no gradient."""
    a, b = _integer_pair(input, other, "gcd")
    return write_out(Counting.apply(a, b, op="gcd", rule=xp.gcd), out)


def lcm(input, other, *, out=None):  # noqa: A002
    """Elementwise least common multiple of two integer tensors (>= 0; 0 when either is 0)."""
    a, b = _integer_pair(input, other, "lcm")
    return write_out(Counting.apply(a, b, op="lcm", rule=xp.lcm), out)


def heaviside(input, values, *, out=None):  # noqa: A002
    """The step function: 0 where ``input < 0``, ``values`` where ``input == 0``, 1 where
    ``input > 0``. ``input`` and ``values`` must have the same dtype, as in torch. Written
    with ``where``, so a gradient reaches ``values`` (at the zeros) and the input gets 0."""
    x, v = _tensor(input), _tensor(values)
    if x.dtype != v.dtype:
        raise RuntimeError(f"heaviside is not yet implemented for tensors with different dtypes "
                           f"({x.dtype} and {v.dtype}); convert values with .to(input.dtype)")
    zero = ew.where(ew.eq(x, 0), v, ew.cast(ew.gt(x, 0), x.dtype))
    return write_out(zero, out)


def gcd_(input, other):  # noqa: A002
    from tensorweaver.ops import inplace
    return inplace.binary_(input, other, gcd, "gcd_")


def lcm_(input, other):  # noqa: A002
    from tensorweaver.ops import inplace
    return inplace.binary_(input, other, lcm, "lcm_")


def heaviside_(input, values):  # noqa: A002
    from tensorweaver.ops import inplace
    return inplace.binary_(input, values, heaviside, "heaviside_")


# ---------------------------------------------------------------- block_diag, vander, renorm
def block_diag(*tensors):
    """The block-diagonal matrix of the tensors (0-D: 1x1, 1-D: one row, 2-D as they are),
    zeros elsewhere, in the tensors' common dtype."""
    if not tensors:
        return _const(_host_np.zeros((1, 0), dtype=dtypes.get_default_dtype()))
    ts = [_tensor(t) for t in tensors]
    for i, t in enumerate(ts):
        if t.ndim > 2:
            raise RuntimeError(f"block_diag: input {i} has {t.ndim} dims; expected tensors of at most 2 dims")
    dtype = ts[0].dtype
    for t in ts[1:]:
        dtype = _host_np.result_type(dtype, t.dtype)
    mats = [ew.cast(t.reshape(1, -1) if t.ndim < 2 else t, dtype) for t in ts]
    width = sum(m.shape[1] for m in mats)
    rows, left = [], 0
    for m in mats:
        r, c = m.shape
        parts = [_const(_host_np.zeros((r, left), dtype)), m, _const(_host_np.zeros((r, width - left - c), dtype))]
        rows.append(sh.cat(parts, 1))
        left += c
    return sh.cat(rows, 0)


def vander(x, N=None, increasing=False):  # noqa: N803 (torch's name)
    """The Vandermonde matrix of a 1-D tensor: column j is ``x ** (N - 1 - j)`` (``x ** j``
    with ``increasing=True``); ``N`` defaults to ``len(x)``. Built by repeated products, so
    the gradient is exact at zeros (and ONNX export is Mul and Concat). Integer inputs give
    int64, as in torch."""
    t = _tensor(x)
    if t.ndim != 1:
        raise RuntimeError(f"vander: x must be a 1-D tensor, got {t.ndim} dims")
    n = t.shape[0] if N is None else int(N)
    if n < 0:
        raise RuntimeError(f"vander: N must be non-negative, got {N}")
    if t.dtype.kind in "iub":
        t = ew.cast(t, dtypes.int64)
    if n == 0:
        return _const(_host_np.zeros((t.shape[0], 0), t.dtype))
    powers = [_const(_host_np.ones(t.shape[0], t.dtype))]
    for _ in range(n - 1):
        powers.append(powers[-1] * t)
    return sh.stack(powers if increasing else powers[::-1], 1)


def renorm(input, p, dim, maxnorm, *, out=None):  # noqa: A002
    """Each slice ``input.select(dim, i)`` whose ``p``-norm exceeds ``maxnorm`` scaled down to
    norm ``maxnorm`` (times ``maxnorm / (norm + 1e-7)``, as torch); the others unchanged."""
    x = _tensor(input)
    if x.dtype.kind != "f":
        raise RuntimeError(f"renorm: expected a floating point tensor, got {x.dtype}")
    if not p > 0:
        raise RuntimeError(f"renorm: non-positive norm (p={p}) not supported")
    if maxnorm < 0:
        raise RuntimeError(f"renorm: expected maxnorm to be >= 0 but got {maxnorm}")
    if x.ndim <= 1:
        raise RuntimeError(f"renorm: input needs at least 2 dimensions, got {x.ndim} dimensions")
    (d,) = normalize_dims(dim, x.ndim, "renorm")
    others = tuple(i for i in range(x.ndim) if i != d)
    total = (ew.abs(x) ** p).sum(others, keepdim=True)
    # Where nothing is scaled the norm's gradient (infinite at 0 for p > 1 roots) must not
    # reach the result, even multiplied by 0: the scaled branch only sees large norms.
    big = ew.gt(total, float(maxnorm) ** p)
    norm = ew.where(big, total, 1.0) ** (1.0 / p)
    scale = ew.where(big, maxnorm / (norm + 1e-7), 1.0)
    return write_out(x * scale, out)


def renorm_(input, p, dim, maxnorm):  # noqa: A002
    from tensorweaver.ops import inplace
    return inplace.unary_(input, lambda t: renorm(t, p, dim, maxnorm), "renorm_")


# ---------------------------------------------------------------- covariance
def cov(input, *, correction=1, fweights=None, aweights=None):  # noqa: A002
    """The covariance matrix of the variables in the rows of ``input`` (observations in the
    columns; a 1-D input is one variable): ``(v, n) -> (v, v)``, a 0-D tensor for one
    variable. ``fweights`` (integer) repeat observations, ``aweights`` weight them; the
    normalisation is ``sum(w) - correction`` (with ``aweights``, NumPy's and torch's formula)."""
    x = _tensor(input)
    if x.ndim > 2:
        raise RuntimeError(f"cov: expected input to have two or fewer dimensions but got {x.ndim}")
    if x.dtype.kind != "f":
        x = ew.cast(x, dtypes.get_default_dtype())
    if x.ndim < 2:
        x = x.reshape(1, -1)
    n = x.shape[1]
    w = None
    if fweights is not None:
        fw = _tensor(fweights)
        if fw.ndim > 1 or fw.dtype.kind not in "iu":
            raise RuntimeError("cov: fweights must be a 1-D integer tensor of one weight per observation")
        if fw.numel() != n:
            raise RuntimeError(f"cov: fweights has {fw.numel()} elements, expected {n} (one per observation)")
        if fw.numel() and int(fw.data.min()) < 0:
            raise RuntimeError("cov: fweights cannot be negative")
        w = ew.cast(fw.reshape(-1), x.dtype)
    aw = None
    if aweights is not None:
        aw = _tensor(aweights)
        if aw.ndim > 1 or aw.dtype.kind != "f":
            raise RuntimeError("cov: aweights must be a 1-D floating point tensor of one weight per observation")
        if aw.numel() != n:
            raise RuntimeError(f"cov: aweights has {aw.numel()} elements, expected {n} (one per observation)")
        if aw.numel() and float(aw.data.min()) < 0:
            raise RuntimeError("cov: aweights cannot be negative")
        aw = ew.cast(aw.reshape(-1), x.dtype)
        w = aw if w is None else w * aw
    if w is None:
        w_sum = n
        avg = x.mean(1, keepdim=True)
        norm = n - correction
    else:
        w_sum = w.sum()
        avg = (x * w).sum(1, keepdim=True) / w_sum
        norm = w_sum - correction if aw is None else w_sum - correction * (w * aw).sum() / w_sum
    if isinstance(norm, Tensor):
        norm = ew.clamp(norm, min=0.0)
    else:
        norm = max(norm, 0)
    centered = x - avg
    c = (centered * w if w is not None else centered) @ centered.transpose(0, 1)
    out = c / norm
    return out.reshape(()) if out.shape == (1, 1) else out


def corrcoef(input):  # noqa: A002
    """Pearson correlation coefficients of the rows of ``input`` (variables), clipped to
    [-1, 1]: ``cov`` divided by the outer product of the standard deviations."""
    c = cov(input)
    if c.ndim == 0:
        return c / c
    d = ew.sqrt(diagonal(c))
    return ew.clamp(c / d.reshape(-1, 1) / d.reshape(1, -1), -1.0, 1.0)


# ---------------------------------------------------------------- histograms (no gradient)
Histogram = namedtuple("histogram", ["hist", "bin_edges"])
HistogramDD = namedtuple("histogramdd", ["hist", "bin_edges"])


def _bin_edges(values, bins, lo_hi, dtype, op, axis=""):
    """The edges for one dim: a tensor of edges given as ``bins``, or ``bins + 1`` even edges
    over ``lo_hi`` (the data's range when None, widened by 0.5 on each side when it is one value)."""
    if isinstance(bins, Tensor):
        edges = bins.data.astype(dtype)
        if bins.ndim != 1 or bins.numel() < 1:
            raise RuntimeError(f"{op}: bins{axis} must be a 1-D tensor of edges (at least one), got shape {bins.shape}")
        if bins.numel() > 1 and bool((edges[1:] < edges[:-1]).any()):
            raise RuntimeError(f"{op}: the bin edges{axis} must be increasing")
        return edges
    if not isinstance(bins, int) or bins <= 0:
        raise RuntimeError(f"{op}: bins{axis} must be a positive int or a 1-D tensor of edges, got {bins!r}")
    if lo_hi is None:
        lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    else:
        lo, hi = (float(v) for v in lo_hi)
    if not lo <= hi:
        raise ValueError(f"{op}: range{axis} must be (min, max) with min <= max, got {(lo, hi)}")
    if lo_hi is None and not values.size:
        lo, hi = 0.0, 1.0
    elif lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    # torch's linspace in the data's dtype: from the start for the first half, from the end
    # for the second (so both ends are exact).
    d = _host_np.dtype(dtype)
    lo_, hi_, step = d.type(lo), d.type(hi), (d.type(hi) - d.type(lo)) / d.type(bins)
    i = _host_np.arange(bins + 1)
    edges = _host_np.where(i < (bins + 1) // 2, lo_ + step * i.astype(d), hi_ - step * (bins - i).astype(d))
    return xp.asarray(edges.astype(d))


def _bucket(values, edges):
    """The bin of each value (edges[i] <= v < edges[i + 1]; the last edge in the last bin)
    and whether it falls inside the edges at all."""
    nb = edges.shape[0] - 1
    inside = (values >= edges[0]) & (values <= edges[-1])
    pos = xp.searchsorted(edges, values, side="right") - 1
    pos = xp.where(pos >= nb, nb - 1, xp.where(pos < 0, 0, pos))
    return pos, inside


def _histogram_dd(x, bins, range_, weight, density, op):
    d = x.shape[-1]
    data = x.data.reshape(-1, d)
    bins = list(bins) if isinstance(bins, (list, tuple)) else [bins] * d
    if len(bins) != d:
        raise RuntimeError(f"{op}: {len(bins)} bin specifications for {d} dims; give one per dim")
    if range_ is not None:
        range_ = [float(v) for v in range_]
        if len(range_) != 2 * d:
            raise RuntimeError(f"{op}: range must hold 2 * {d} numbers (min, max for each dim), got {len(range_)}")
    edges = [_bin_edges(data[:, k], b, None if range_ is None else range_[2 * k: 2 * k + 2], x.dtype, op,
                        f" (dim {k})" if d > 1 else "") for k, b in enumerate(bins)]
    sizes = tuple(e.shape[0] - 1 for e in edges)
    w = None
    if weight is not None:
        w = _tensor(weight)
        if tuple(w.shape) != tuple(x.shape[:-1]):
            raise RuntimeError(f"{op}: weight must have the shape of input without its last dim "
                               f"{tuple(x.shape[:-1])}, got {tuple(w.shape)}")
        if w.dtype != x.dtype:
            w = ew.cast(w, x.dtype)

    def rule(a, *wa):
        flat = a.reshape(-1, d)
        linear = xp.zeros(flat.shape[0], dtype=dtypes.int64)
        keep = xp.ones(flat.shape[0], dtype=bool)
        for k, e in enumerate(edges):
            pos, inside = _bucket(flat[:, k], e)
            linear = linear * sizes[k] + pos
            keep = keep & inside
        mass = (wa[0].reshape(-1) if wa else xp.ones(flat.shape[0], dtype=a.dtype)) * keep
        total = 1
        for n in sizes:
            total *= n
        hist = backend.scatter_add((total,), (xp.where(keep, linear, 0),), mass.astype(a.dtype), a.dtype)
        hist = hist.reshape(sizes)
        if density:
            volume = xp.ones(sizes, dtype=a.dtype)
            for k, e in enumerate(edges):
                shape = [1] * d
                shape[k] = sizes[k]
                volume = volume * (e[1:] - e[:-1]).reshape(shape)
            hist = hist / (hist.sum() * volume)
        return hist

    hist = Counting.apply(x, *([w] if w is not None else []), op=op, rule=rule)
    return hist, tuple(_make_tensor(backend.as_array(e), False, None) for e in edges)


def histogram(input, bins=100, *, range=None, weight=None, density=False, out=None):  # noqa: A002
    """Histogram of the values of ``input``: ``bins`` equal bins over ``range`` (the data's
    min and max by default), or the edges given as a 1-D tensor. Values outside are ignored;
    each bin holds ``edges[i] <= v < edges[i + 1]``, the last one its right edge too.
    ``weight`` weighs each value; ``density`` divides by the total mass times the bin width.
    Returns ``(hist, bin_edges)``."""
    x = _tensor(input)
    if x.dtype.kind != "f":
        raise RuntimeError(f"histogram: expected a floating point tensor, got {x.dtype}; convert with .float()")
    if range is not None and len(range) != 2:
        raise RuntimeError(f"histogram: range must be (min, max), got {range!r}")
    hist, (edges,) = _histogram_dd(x.reshape(-1, 1), [bins], range,
                                   None if weight is None else _tensor(weight).reshape(-1, 1)[:, 0], density,
                                   "histogram")
    if out is not None:
        write_out(hist, out[0]), write_out(edges, out[1])
        return Histogram(out[0], out[1])
    return Histogram(hist, edges)


def histogramdd(input, bins=10, *, range=None, weight=None, density=False):  # noqa: A002
    """The D-dimensional histogram of the points in the rows of ``input`` ``(*, D)``: ``bins``
    an int (for every dim), a list of ints, or a list of 1-D edge tensors; ``range`` a flat
    list ``[min0, max0, min1, max1, ...]``. Returns ``(hist (b0, ..., bD-1), bin_edges)``."""
    x = _tensor(input)
    if x.dtype.kind != "f":
        raise RuntimeError(f"histogramdd: expected a floating point tensor, got {x.dtype}; convert with .float()")
    if x.ndim < 1:
        raise RuntimeError("histogramdd: input must have at least 1 dim (the last dim holds the coordinates)")
    return HistogramDD(*_histogram_dd(x, bins, range, weight, density, "histogramdd"))


# The Tensor methods these functions are.
METHODS = ("flip fliplr flipud roll rot90 diff diagonal trace diag diag_embed diagflat "
           "repeat_interleave bincount histc gcd gcd_ lcm lcm_ heaviside heaviside_ renorm renorm_ cov "
           "corrcoef histogram").split()
