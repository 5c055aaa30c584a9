"""``tensor[index]``: Slice/Squeeze/Unsqueeze for ints, slices and None; Gather or
GatherND for integer arrays and bool masks, with NumPy's placement of the indexed dims."""
from __future__ import annotations

import numpy as np

from tensorweaver import backend
from tensorweaver.ops import indexing as _ix
from tensorweaver.ops.indexing import GetItem
from tensorweaver.onnx.graph import INT64_MAX, INT64_MIN, onnx_dtype
from tensorweaver.onnx.registry import register


def _parts(index):
    return list(index) if isinstance(index, tuple) else [index]


def _is_array(p):
    return isinstance(p, backend.ndarray)


def _is_int(p):
    return isinstance(p, (int, np.integer)) and not isinstance(p, (bool, np.bool_))


def _axes_of(p):
    if p is None or p is Ellipsis:
        return 0
    return p.ndim if _is_array(p) and p.dtype.kind == "b" else 1


def _expand_ellipsis(parts, twins, ndim):
    """Replace ``...`` by slices and pad with trailing ``:`` so every input axis has a part."""
    used = sum(_axes_of(p) for p in parts)
    if Ellipsis in [p for p in parts if not _is_array(p)]:
        k = next(i for i, p in enumerate(parts) if p is Ellipsis)
        fill = [slice(None)] * (ndim - used)
        return parts[:k] + fill + parts[k + 1:], twins[:k] + fill + twins[k + 1:]
    fill = [slice(None)] * (ndim - used)
    return parts + fill, twins + fill


@register(GetItem)
def getitem(g, n):
    parts, twins = _expand_ellipsis(_parts(n.fn.index), _parts(n.twin.fn.index), len(n.in_shape(0)))
    if any(_is_array(p) for p in parts):
        return _advanced(g, n, parts, twins)
    # Ints and slice bounds become constants of the graph: one that changed with the dynamic
    # axes (``table[:x.shape[1]]``) would be frozen at the example's size, a wrong answer for
    # every other size. Refuse it, as for a gather index.
    if [_key(p) for p in parts] != [_key(t) for t in twins]:
        raise n.fail("a slice or index bound depends on the input's dynamic size (e.g. "
                     "table[:x.shape[1]]), so it would be frozen at the example's size; export "
                     "without that axis dynamic, or compute the values from the input with "
                     "traced ops instead of slicing by a Python int taken from a shape")
    return _basic(g, n, parts)


def _key(p):
    return (p.start, p.stop, p.step) if isinstance(p, slice) else p


def _slice_bounds(p):
    """ONNX Slice start/end/step for a Python slice or int on ``axis``; None if it keeps all."""
    if _is_int(p):
        i = int(p)
        return i, (INT64_MAX if i == -1 else i + 1), 1
    step = 1 if p.step is None else p.step
    if p.start is None and p.stop is None and step == 1:
        return None
    start = p.start if p.start is not None else (0 if step > 0 else INT64_MAX)
    stop = p.stop if p.stop is not None else (INT64_MAX if step > 0 else INT64_MIN)
    return start, stop, step


def _apply_slices(g, x, parts_by_axis):
    starts, ends, axes, steps = [], [], [], []
    for axis, p in parts_by_axis:
        bounds = _slice_bounds(p)
        if bounds is not None:
            starts.append(bounds[0]), ends.append(bounds[1]), steps.append(bounds[2]), axes.append(axis)
    return g.slice(x, starts, ends, axes, steps) if axes else x


def _basic(g, n, parts):
    """Ints, slices and None: one Slice, then Squeeze the int axes, Unsqueeze the Nones."""
    by_axis, int_axes, none_positions = [], [], []
    axis = out_pos = 0
    for p in parts:
        if p is None:
            none_positions.append(out_pos)
            out_pos += 1
            continue
        by_axis.append((axis, p))
        if _is_int(p):
            int_axes.append(axis)
        else:
            out_pos += 1
        axis += 1
    x = _apply_slices(g, n.input(0), by_axis)
    if int_axes:
        x = g.squeeze(x, int_axes)
    if none_positions:
        x = g.unsqueeze(x, none_positions)
    return x if x != n.input(0) else g.op("Identity", x)


def _advanced(g, n, parts, twins):
    """Integer arrays / bool masks (ints count as 0-d arrays here, as in NumPy)."""
    if any(p is None for p in parts):
        raise n.fail("indexing that mixes None with integer arrays or masks cannot be exported; "
                     "unsqueeze before or after indexing instead")
    in_shape = n.in_shape(0)
    # Slices first: they keep their axes, so the advanced axes keep their numbers.
    by_axis, advanced, axis = [], [], 0
    for p, t in zip(parts, twins):
        if _is_array(p) or _is_int(p):
            advanced.append((axis, p, t))
        else:
            by_axis.append((axis, p))
        axis += _axes_of(p)
    x = _apply_slices(g, n.input(0), by_axis)
    ndim = len(in_shape)

    arrays = [(a, p, t) for a, p, t in advanced if _is_array(p)]
    if len(advanced) == 1 and arrays[0][1].dtype.kind != "b":
        a, p, t = advanced[0]       # one integer array: Gather places its dims exactly as NumPy
        return g.op("Gather", x, _int64(g, n, p, t), axis=a)

    index, idx_axes = _index_tensor(g, n, advanced)
    first = idx_axes[0]
    consecutive = idx_axes == list(range(first, first + len(idx_axes)))
    rest = [i for i in range(ndim) if i not in idx_axes]
    if idx_axes != list(range(len(idx_axes))):
        x = g.op("Transpose", x, perm=idx_axes + rest)
    y = g.op("GatherND", x, index)               # (*index dims, *rest dims)
    n_index_dims = len(n.shape) - len(rest)
    if consecutive and first > 0:               # NumPy keeps adjacent advanced dims in place
        perm = list(range(n_index_dims, n_index_dims + first)) + list(range(n_index_dims)) \
            + list(range(n_index_dims + first, len(n.shape)))
        y = g.op("Transpose", y, perm=perm)
    return y


def _index_tensor(g, n, advanced):
    """The GatherND index (*broadcast dims, k) and the k input axes it addresses."""
    if len(advanced) == 1:
        a, mask, twin = advanced[0]            # one bool mask over axes a .. a + mask.ndim
        axes = list(range(a, a + mask.ndim))
        m = n.value(mask, twin)
        if m in n.values.graph.initializers:   # a constant mask: its positions, precomputed
            positions = np.stack(np.nonzero(backend.to_host(mask)), axis=-1).astype(np.int64)
            return g.initializer(positions), axes
        return g.op("Transpose", g.op("NonZero", m), perm=[1, 0]), axes
    if any(_is_array(p) and p.dtype.kind == "b" for _, p, _ in advanced):
        raise n.fail("a bool mask together with other array indices cannot be exported; "
                     "index with the mask alone, or convert it to integer positions")
    shapes = [tuple(p.shape) if _is_array(p) else () for _, p, _ in advanced]
    target = np.broadcast_shapes(*shapes)
    columns = []
    for (_, p, t), shape in zip(advanced, shapes):
        idx = _int64(g, n, p, t) if _is_array(p) else g.const(int(p), np.int64)
        if shape != target:
            if _is_array(p) and n.values.dynamic(n.value(p, t)):
                raise n.fail("integer index arrays of different shapes with a dynamic axis cannot "
                             "be broadcast in the export; give them the same shape")
            idx = g.op("Expand", idx, g.ints(target))
        columns.append(g.unsqueeze(idx, [-1]))
    return g.op("Concat", *columns, axis=-1), [a for a, _, _ in advanced]


def _int64(g, n, p, twin):
    idx = n.value(p, twin)
    return idx if p.dtype == np.int64 else g.op("Cast", idx, to=onnx_dtype(np.int64))


@register(_ix.Gather)
def gather(g, n):
    # GatherElements is torch.gather exactly (same-rank index, positions along one axis).
    # The index is a constant of the graph: refuse one that differs between the two traces
    # (its shape or values followed the input's dynamic size), which would be frozen wrong.
    index, twin = backend.to_host(n.fn.index), backend.to_host(n.twin.fn.index)
    if index.shape != twin.shape or not np.array_equal(index, twin):
        raise n.fail("the gather index depends on the input's dynamic size (e.g. an index broadcast "
                     "over the batch), so it cannot be a constant of the graph; export with a fixed "
                     "batch size or build the index from the input inside forward")
    return g.op("GatherElements", n.input(0), g.initializer(index.astype(np.int64)), axis=n.fn.dim)


@register(_ix.Scatter, _ix.IndexAdd)
def scatter(g, n):
    raise n.fail("scatter/index_add inside forward cannot be exported yet; ONNX's ScatterElements "
                 "mapping is not written")


@register(_ix.PutInto)
def put_into(g, n):
    raise n.fail("this is the gradient of an indexing op, recorded by autograd.grad(..., "
                 "create_graph=True) inside forward; such a forward cannot be exported yet")
