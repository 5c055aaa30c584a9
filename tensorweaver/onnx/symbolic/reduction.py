"""Reductions and softmax: ReduceSum/Mean/Max/Min, variance, std, logsumexp, (Log)Softmax."""
from __future__ import annotations

from tensorweaver.ops import reduction as red
from tensorweaver.onnx.registry import register


def _reduce(g, op_type, x, axes, keepdim):
    if not axes:            # a 0-d tensor: nothing to reduce
        return g.op("Identity", x)
    return g.reduce(op_type, x, axes, keepdim)


@register(red.Sum)
def sum_(g, n):
    return _reduce(g, "ReduceSum", n.input(0), n.fn.axes, n.fn.keepdim)


@register(red.Mean)
def mean(g, n):
    return _reduce(g, "ReduceMean", n.input(0), n.fn.axes, n.fn.keepdim)


@register(red.AMax)
def amax(g, n):
    """amax/amin (and max()/min() over all dims)."""
    op_type = "ReduceMax" if n.args[3] else "ReduceMin"
    return _reduce(g, op_type, n.input(0), n.fn.axes, n.fn.keepdim)


@register(red.MaxDim)
def max_dim(g, n):
    """The values of ``max(x, dim)`` / ``min(x, dim)`` (the indices are not traced)."""
    op_type = "ReduceMax" if n.args[3] else "ReduceMin"
    return _reduce(g, op_type, n.input(0), (n.fn.dim,), n.fn.keepdim)


@register(red.Var)
def var(g, n):
    """sum((x - mean)^2) / (N - correction), N counted at run time if an axis is dynamic."""
    return _variance(g, n)


@register(red.Std)
def std(g, n):
    """sqrt of the variance."""
    return g.op("Sqrt", _variance(g, n))


def _variance(g, n):
    x, axes, correction = n.input(0), n.fn.axes, n.args[2]
    if not axes:
        return g.op("Div", g.op("Sub", x, x), g.const(max(1 - correction, 0), n.dtype))
    centered = g.op("Sub", x, g.reduce("ReduceMean", x, axes, True))
    total = g.reduce("ReduceSum", g.op("Mul", centered, centered), axes, n.fn.keepdim)
    if n.in_dynamic(0) & set(axes):
        count = g.reduce("ReduceProd", g.dim_sizes(x, axes, n.dtype), [0], False)
        denom = g.op("Max", g.op("Sub", count, g.const(correction, n.dtype)), g.const(0, n.dtype))
    else:
        denom = g.const(n.fn.denom, n.dtype)
    return g.op("Div", total, denom)


@register(red.LogSumExp)
def logsumexp(g, n):
    """log(sum(exp(x - m))) + m with m = max(x) (0 where max is +-inf), as the engine does."""
    x, axes = n.input(0), n.fn.axes
    m = g.reduce("ReduceMax", x, axes, True)
    m = g.op("Where", g.op("IsInf", m), g.const(0, n.dtype), m)
    out = g.op("Add", g.op("Log", g.reduce("ReduceSum", g.op("Exp", g.op("Sub", x, m)), axes, True)), m)
    return out if n.fn.keepdim else g.squeeze(out, axes)


@register(red.Softmax)
def softmax(g, n):
    return g.op("Softmax", n.input(0), axis=n.fn.dim)


@register(red.LogSoftmax)
def log_softmax(g, n):
    return g.op("LogSoftmax", n.input(0), axis=n.fn.dim)




@register(red.ArgExtreme)
def arg_extreme(g, n):
    """ArgMax/ArgMin (first index on ties, as NumPy and torch); all dims: flatten first."""
    op = "ArgMax" if n.fn.largest else "ArgMin"
    if n.fn.dim is None:
        flat = g.op("Reshape", n.input(0), g.ints([-1]))
        out = g.op(op, flat, axis=0, keepdims=0)
        return g.op("Reshape", out, g.ints([1] * len(n.in_shape(0)))) if n.fn.keepdim else out
    return g.op(op, n.input(0), axis=n.fn.dim, keepdims=int(n.fn.keepdim))
