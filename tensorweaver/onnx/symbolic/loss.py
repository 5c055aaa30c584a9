"""Losses, decomposed into standard ops with torch's exact semantics (ignore_index,
class weights, weighted mean, label smoothing, clamped logs, pos_weight)."""
from __future__ import annotations

from tensorweaver.ops import loss
from tensorweaver.onnx.graph import onnx_dtype
from tensorweaver.onnx.registry import register


def _reduce(g, n, per_item, reduction, denom=None):
    """'none' keeps the per-item values; 'sum' sums them; 'mean' divides by ``denom``
    (default: the number of items, counted at run time)."""
    if reduction == "none":
        return per_item
    if reduction == "mean" and denom is None:
        return g.op("ReduceMean", per_item, keepdims=0)         # no axes: over everything
    total = g.op("ReduceSum", per_item, keepdims=0)
    return total if reduction == "sum" else g.op("Div", total, denom)


def _class_terms(g, n, logp, ignore_index):
    """(-logp[y] per row, w[y] * valid per row) for class-index targets (M,)."""
    target, weight = n.input(1), n.input(2)
    valid = g.op("Not", g.op("Equal", target, g.const(ignore_index, n.in_dtype(1))))
    safe = g.op("Where", valid, target, g.const(0, n.in_dtype(1)))
    picked = g.op("GatherElements", logp, g.unsqueeze(safe, [1]), axis=1)
    nll = g.op("Neg", g.squeeze(picked, [1]))
    w_y = g.op("Cast", valid, to=onnx_dtype(n.dtype))
    if weight:
        w_y = g.op("Mul", g.op("Gather", weight, safe, axis=0), w_y)
    return nll, w_y


@register(loss.CrossEntropy)
def cross_entropy(g, n):
    ignore_index, reduction, smoothing = n.args[3:6]
    logp = g.op("LogSoftmax", n.input(0), axis=1)
    nll, w_y = _class_terms(g, n, logp, ignore_index)
    per_item = g.op("Mul", w_y, nll)
    if smoothing > 0:
        # + ls/C * sum_c w_c * -logp_c, on the rows that are not ignored
        weighted = g.op("Mul", logp, n.input(2)) if n.args[2] is not None else logp
        smooth = g.op("Neg", g.reduce("ReduceSum", weighted, [1], False))
        valid = g.op("Cast", g.op("Not", g.op("Equal", n.input(1), g.const(ignore_index, n.in_dtype(1)))),
                     to=onnx_dtype(n.dtype))
        per_item = g.op("Add", g.op("Mul", g.const(1 - smoothing, n.dtype), per_item),
                        g.op("Mul", g.const(smoothing / n.in_shape(0)[1], n.dtype), g.op("Mul", smooth, valid)))
    return _reduce(g, n, per_item, reduction, g.op("ReduceSum", w_y, keepdims=0))


@register(loss.NLLLoss)
def nll_loss(g, n):
    ignore_index, reduction = n.args[3:5]
    nll, w_y = _class_terms(g, n, n.input(0), ignore_index)
    return _reduce(g, n, g.op("Mul", w_y, nll), reduction, g.op("ReduceSum", w_y, keepdims=0))


@register(loss.CrossEntropyProbs)
def cross_entropy_probs(g, n):
    reduction, smoothing = n.args[3:5]
    t = n.input(1)
    if smoothing > 0:
        c = n.in_shape(0)[1]
        t = g.op("Add", g.op("Mul", t, g.const(1 - smoothing, n.dtype)), g.const(smoothing / c, n.dtype))
    if n.args[2] is not None:
        t = g.op("Mul", t, n.input(2))
    logp = g.op("LogSoftmax", n.input(0), axis=1)
    per_item = g.op("Neg", g.reduce("ReduceSum", g.op("Mul", logp, t), [1], False))
    return _reduce(g, n, per_item, reduction)


@register(loss.BinaryCrossEntropy)
def binary_cross_entropy(g, n):
    """-(t log p + (1 - t) log(1 - p)), logs clamped at -100 as torch does."""
    p, t, reduction = n.input(0), n.input(1), n.args[3]
    floor = g.const(-100.0, n.dtype)
    one = g.const(1.0, n.dtype)
    log_p = g.op("Max", g.op("Log", p), floor)
    log_1mp = g.op("Max", g.op("Log", g.op("Sub", one, p)), floor)
    loss_ = g.op("Neg", g.op("Add", g.op("Mul", t, log_p), g.op("Mul", g.op("Sub", one, t), log_1mp)))
    if n.args[2] is not None:
        loss_ = g.op("Mul", loss_, n.input(2))
    return _reduce(g, n, loss_, reduction)


@register(loss.BinaryCrossEntropyWithLogits)
def binary_cross_entropy_with_logits(g, n):
    """(1 - t) x - lw log(sigmoid(x)), log(sigmoid(x)) = min(x, 0) - log(1 + exp(-|x|))."""
    x, t, reduction = n.input(0), n.input(1), n.args[4]
    one = g.const(1.0, n.dtype)
    log_sig = g.op("Sub", g.op("Min", x, g.const(0.0, n.dtype)),
                   g.op("Log", g.op("Add", one, g.op("Exp", g.op("Neg", g.op("Abs", x))))))
    if n.args[3] is not None:   # lw = (pos_weight - 1) t + 1
        lw = g.op("Add", g.op("Mul", g.op("Sub", n.input(3), one), t), one)
        log_sig = g.op("Mul", lw, log_sig)
    loss_ = g.op("Sub", g.op("Mul", g.op("Sub", one, t), x), log_sig)
    if n.args[2] is not None:
        loss_ = g.op("Mul", loss_, n.input(2))
    return _reduce(g, n, loss_, reduction)


