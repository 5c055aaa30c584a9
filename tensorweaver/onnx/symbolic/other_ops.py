"""Other Operations (``ops/other_ops.py``, ``ops/linalg_more.py``): flip as Slice with step -1,
einsum as Einsum; a clear error for roll and the counting ops (bincount, histc, searchsorted,
bucketize), which have no ONNX operator. The rest are written from recorded ops that export."""
from __future__ import annotations

from tensorweaver.onnx.registry import register
from tensorweaver.ops import linalg_more as lm
from tensorweaver.ops import other_ops as oo

_INT64_MIN = -(2 ** 63)


@register(oo.Flip)
def flip(g, n):
    dims = list(n.fn.dims)
    if not dims:
        return g.op("Identity", n.input(0))
    return g.slice(n.input(0), [-1] * len(dims), [_INT64_MIN] * len(dims), dims, [-1] * len(dims))


@register(lm.Einsum)
def einsum(g, n):
    equation = ",".join(n.fn.subs) + "->" + n.fn.rhs
    return g.op("Einsum", *[n.input(i) for i in range(len(n.fn.subs))], equation=equation)


@register(oo.Roll)
def roll(g, n):
    raise n.fail("roll has no ONNX operator in opset 17 and is not exported; write it as a cat of "
                 "two slices in the model's forward to export it")


@register(oo.Counting)
def counting(g, n):
    raise n.fail(f"{n.fn.op} has no ONNX operator in opset 17 and is not exported; compute it "
                 "outside the exported model")
