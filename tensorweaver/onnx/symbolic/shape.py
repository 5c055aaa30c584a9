"""Shape ops: Reshape, Transpose, Expand, Concat, Slice (narrow/split), Trilu.

Traced shapes are concrete numbers; a dim that follows a dynamic input axis must
not be frozen. Reshape therefore copies such a dim from its input (``0``) or infers
it (``-1``), and Expand keeps it by broadcasting (``1``).
"""
from __future__ import annotations

import numpy as np

from tensorweaver.ops import shape as sh
from tensorweaver.onnx.registry import register


@register(sh.Reshape)
def reshape(g, n):
    target = []
    for i, size in enumerate(n.shape):
        if i not in n.dynamic:
            target.append(size)
        elif i < len(n.in_shape(0)) and n.same_size(0, i, i):
            target.append(0)            # ONNX Reshape: 0 copies the input's dim i
        else:
            target.append(-1)
    if target.count(-1) > 1:
        raise n.fail(f"reshaping {n.in_shape(0)} to {n.shape} gives {target.count(-1)} dims that "
                     "depend on dynamic axes and are not copied from the input; ONNX can infer "
                     "only one. Keep such dims in place (e.g. reshape(B, ...) on a leading batch "
                     "dim), or make fewer axes dynamic.")
    return g.op("Reshape", n.input(0), g.ints(target))


@register(sh.Permute)
def permute(g, n):
    return g.op("Transpose", n.input(0), perm=list(n.fn.dims))


@register(sh.Expand)
def expand(g, n):
    in_shape = n.in_shape(0)
    lead = len(n.shape) - len(in_shape)
    target = []
    for i, size in enumerate(n.shape):
        if i >= lead and n.same_size(0, i - lead, i):
            target.append(1)            # bidirectional broadcast keeps the input's own size
        elif i in n.dynamic:
            raise n.fail(f"expanding {in_shape} to {n.shape} creates dim {i}, which depends on a "
                         "dynamic axis, from a size-1 dim; expand it with traced ops instead "
                         "(e.g. add a zeros tensor of the wanted shape), or leave the axis static.")
        else:
            target.append(size)
    return g.op("Expand", n.input(0), g.ints(target))


@register(sh.Cat)
def cat(g, n):
    return g.op("Concat", *(n.input(i) for i in range(len(n.args))), axis=n.fn.dim)


@register(sh.Narrow)
def narrow(g, n):
    if n.fn.dim in n.dynamic:
        raise n.fail("narrow/split/chunk along a dynamic axis keeps a size that depends on it; "
                     "split along a static axis, or leave that axis static.")
    start = n.fn.start
    return g.slice(n.input(0), [start], [start + n.fn.length], [n.fn.dim])


@register(sh.Triangle)
def triangle(g, n):
    k = g.const(n.fn.diagonal, np.int64) if n.fn.diagonal else None     # a 0-d int64
    return g.op("Trilu", n.input(0), k, upper=int(n.fn.upper))
