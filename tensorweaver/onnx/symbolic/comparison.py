"""Comparison Ops (``ew.Compare``, ``ops/comparison.py``): Equal, Less, LessOrEqual, Greater,
GreaterOrEqual, Not(Equal), And, Or; IsInf; sorted values and ``topk`` as TopK."""
from __future__ import annotations

import numpy as np

from tensorweaver.onnx.registry import register
from tensorweaver.ops import comparison as cmp
from tensorweaver.ops import elementwise as ew

_OPS = {"eq": "Equal", "lt": "Less", "le": "LessOrEqual", "gt": "Greater", "ge": "GreaterOrEqual",
        "ne": "Equal", "logical_and": "And", "logical_or": "Or"}


@register(ew.Compare)
def compare(g, n):
    """A Python number operand becomes a constant of the other operand's dtype."""
    rule = n.args[2]
    dtype = n.in_dtype(0) or n.in_dtype(1)
    a, b = n.input(0, dtype), n.input(1, dtype)
    if rule in ("logical_and", "logical_or"):       # And/Or take booleans: nonzero is true
        a, b = (x if np.dtype(dtype) == np.bool_ else g.op("Not", g.op("Equal", x, g.const(0, dtype)))
                for x in (a, b))
    out = g.op(_OPS[rule], a, b)
    return g.op("Not", out) if rule == "ne" else out


@register(cmp.FloatClass)
def float_class(g, n):
    rule = n.args[1]
    return g.op("IsInf", n.input(0), detect_negative=int(rule != "isposinf"),
                detect_positive=int(rule != "isneginf"))


@register(cmp.Sort, cmp.TopK)
def sort_values(g, n):
    """TopK along the dim (k = its size for sort); the values output. ONNX's TopK does not
    promise torch's order among equal values, but the values are the same."""
    dim = n.fn.dim
    if dim in n.in_dynamic(0):
        raise n.fail(f"{n.args[3]} along the dynamic axis {dim} is not exported (TopK needs k); "
                     "sort along a fixed-size dim")
    k = n.shape[dim]           # the dim size for sort, k for topk
    values, _ = g.op("TopK", n.input(0), g.ints([k]), outputs=2, axis=dim,
                     largest=int(n.fn.largest), sorted=1)
    return values
