"""Convolution: Conv2d -> Conv."""
from __future__ import annotations

from tensorweaver.ops import conv
from tensorweaver.onnx.registry import register


@register(conv.Conv2d)
def conv2d(g, n):
    """``x`` (N, C, H, W), ``weight`` (O, C/groups, kH, kW), optional ``bias`` (O,)."""
    stride, padding, dilation, groups = n.args[3:7]
    top, bottom, left, right = padding
    y = g.op("Conv", n.input(0), n.input(1), n.input(2),
             kernel_shape=list(n.in_shape(1)[2:]), strides=list(stride),
             pads=[top, left, bottom, right], dilations=list(dilation), group=groups)
    # Conv + ReLU (+ a tiling max-pool) run as one node (nn.Sequential); ONNX has them apart.
    activation = n.args[7] if len(n.args) > 7 else None
    pool = n.args[8] if len(n.args) > 8 else None
    y = y if activation is None else g.op("Relu", y)
    return y if pool is None else g.op("MaxPool", y, kernel_shape=list(pool), strides=list(pool))
