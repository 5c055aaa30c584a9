"""In-place ops recorded in a forward (``x.fill_(v)``, ``x.copy_(src)``, ``x[i] = v``).

ONNX values are immutable, so each becomes the out-of-place value it computes: a fill is
an ``Expand`` of the value to the input's shape, a copy an ``Expand`` of the cast source.
Indexed writes and random fills have no export here and say so.
"""
from __future__ import annotations

from tensorweaver.onnx.graph import onnx_dtype
from tensorweaver.onnx.registry import register
from tensorweaver.ops import inplace


@register(inplace.Fill)
def fill(g, n):
    value = g.op("Cast", n.input(1), to=onnx_dtype(n.dtype))
    return g.op("Expand", value, g.op("Shape", n.input(0)))


@register(inplace.Copy)
def copy(g, n):
    src = g.op("Cast", n.input(1), to=onnx_dtype(n.dtype))
    return g.op("Expand", src, g.op("Shape", n.input(0)))


@register(inplace.FillFrom)
def fill_random(g, n):
    raise n.fail("normal_()/uniform_() inside forward draws new random numbers at every call, "
                 "which an exported graph cannot reproduce; initialise outside forward instead")


@register(inplace.IndexPut)
def index_put(g, n):
    raise n.fail("an indexed assignment (x[i] = v) inside forward cannot be exported yet; "
                 "build the value out of place instead (tw.where, masked_fill or tw.cat)")
