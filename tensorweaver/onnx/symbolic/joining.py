"""Indexing/joining ops of ``ops/joining.py``: ``nonzero`` as ONNX NonZero (transposed to torch's
``(N, ndim)``); the others are written from recorded ops that export."""
from __future__ import annotations

from tensorweaver.onnx.registry import register
from tensorweaver.ops import joining as jn


@register(jn.NonZero)
def nonzero(g, n):
    return g.op("Transpose", g.op("NonZero", n.input(0)), perm=[1, 0])
