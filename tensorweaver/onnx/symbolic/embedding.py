"""Embedding -> Gather of table rows."""
from __future__ import annotations

from tensorweaver.ops import embedding
from tensorweaver.onnx.registry import register


@register(embedding.Embedding)
def embedding_lookup(g, n):
    """``weight`` (V, D) at ``indices`` (*) -> (*, D); ``padding_idx`` only affects training."""
    return g.op("Gather", n.input(0), n.input(1), axis=0)
