"""Matrix products: MatMul, and the fused linear as Gemm (2-D input) or MatMul + Add."""
from __future__ import annotations

from tensorweaver.ops import linalg as la
from tensorweaver.onnx.registry import register


@register(la.MatMul)
def matmul(g, n):
    return g.op("MatMul", n.input(0), n.input(1))


@register(la.Linear)
def linear(g, n):
    """``x @ W.T + b``; ``W`` stays in its (out, in) layout under its own name."""
    x, w = n.input(0), n.input(1)
    b = n.input(2) if len(n.args) > 2 else None
    if len(n.in_shape(0)) == 2:
        return g.op("Gemm", x, w, b, transB=1)
    y = g.op("MatMul", x, g.op("Transpose", w, perm=[1, 0]))
    return g.op("Add", y, b) if b else y
