"""Dropout. The exported graph is the inference graph: in eval mode ``nn.Dropout`` is the
identity and records no op. A traced Dropout call means a random mask was drawn
(``F.dropout(x, training=True)``), which one fixed graph cannot reproduce."""
from __future__ import annotations

from tensorweaver.ops import dropout
from tensorweaver.onnx.registry import register


@register(dropout.Dropout)
def dropout_in_training(g, n):
    raise n.fail("dropout ran in training mode (a random mask), which cannot be exported: the "
                 "exporter puts modules in eval mode, so call F.dropout(..., training=self.training) "
                 "or use nn.Dropout, whose eval mode is the identity.")
