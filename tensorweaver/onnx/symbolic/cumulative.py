"""Products, running reductions and the statistics of ``ops/cumulative.py`` and
``ops/statistics.py``: ReduceProd, CumSum, ReduceL1/ReduceL2 (and Reduce{Max,Min} of Abs for the
inf norms), IsNaN + Where + ReduceSum for the NaN-ignoring sum and mean; a clear error for the
ops ONNX has no operator for (cumprod, cummax/cummin, logcumsumexp, median, mode, quantile)."""
from __future__ import annotations

import math

import numpy as np

from tensorweaver.onnx.graph import onnx_dtype
from tensorweaver.onnx.registry import register
from tensorweaver.ops import cumulative as cum
from tensorweaver.ops import statistics as st


@register(cum.Prod)
def prod(g, n):
    if not n.fn.axes:                   # a 0-d tensor: nothing to reduce
        return g.op("Identity", n.input(0))
    return g.reduce("ReduceProd", n.input(0), n.fn.axes, n.fn.keepdim)


@register(cum.CumSum)
def cumsum(g, n):
    axis = g.initializer(np.asarray(n.fn.dim, dtype=np.int64))
    return g.op("CumSum", n.input(0), axis, reverse=int(n.fn.reverse))


@register(st.Norm)
def norm(g, n):
    x, p, axes, keepdim = n.input(0), n.fn.p, n.fn.axes, n.fn.keepdim
    if not axes:
        return g.op("Abs", x) if p != 0 else g.op("Cast", g.op("Not", g.op("Equal", x, g.const(0, n.dtype))),
                                                   to=onnx_dtype(n.dtype))
    if p == 2:
        return g.reduce("ReduceL2", x, axes, keepdim)
    if p == 1:
        return g.reduce("ReduceL1", x, axes, keepdim)
    if math.isinf(p):
        return g.reduce("ReduceMax" if p > 0 else "ReduceMin", g.op("Abs", x), axes, keepdim)
    raise n.fail(f"norm with p={p} has no ONNX operator (ReduceL1/ReduceL2 cover p=1 and p=2); "
                 "write it as pow(abs(x), p).sum(dim) ** (1 / p) in the model's forward to export it")


@register(st.NanSum)
def nansum(g, n):
    """sum of Where(IsNaN(x), 0, x); the mean divides by the count of non-NaN elements."""
    x, axes, keepdim = n.input(0), n.fn.axes, n.fn.keepdim
    nan = g.op("IsNaN", x)
    total = g.op("Where", nan, g.const(0, n.dtype), x)
    count = g.op("Cast", g.op("Not", nan), to=onnx_dtype(n.dtype))
    if axes:
        total = g.reduce("ReduceSum", total, axes, keepdim)
        count = g.reduce("ReduceSum", count, axes, keepdim)
    return g.op("Div", total, count) if n.fn.mean else total


@register(cum.CumProd, cum.LogCumSumExp, cum.SelectAlong)
def no_operator(g, n):
    name = n.args[3] if isinstance(n.fn, cum.SelectAlong) else type(n.fn).__name__.lower()
    raise n.fail(f"{name} has no ONNX operator in opset 17 and is not exported; compute it outside "
                 "the exported model, or from exported ops in its forward")
