"""Pooling: MaxPool2d -> MaxPool, AvgPool2d -> AveragePool, AdaptiveAvgPool2d ->
GlobalAveragePool (1x1 output), AveragePool (evenly dividing bins) or two MatMuls.

``ceil_mode`` windows follow torch's rule (the last window must start inside the
input or its left padding); runtimes differ on it, so for ``ceil_mode`` the input is
padded explicitly (``pool_geometry``) and pooled with ``ceil_mode=0``.
"""
from __future__ import annotations

import numpy as np

from tensorweaver import backend
from tensorweaver.ops import pooling
from tensorweaver.onnx.registry import register


def _as_4d(g, n, x):
    """ONNX pools need (N, C, H, W); an unbatched (C, H, W) input gets a batch of 1."""
    return (g.unsqueeze(x, [0]), True) if len(n.in_shape(0)) == 3 else (x, False)


def _explicit_pads(g, n, x, kernel, stride, padding, dilation, ceil_mode, value):
    """Pad like the engine (``pool_geometry``) so the floor-mode pool gives its windows."""
    h, w = n.in_shape(0)[-2:]
    _, (top, bottom, left, right) = pooling.pool_geometry(h, w, kernel, stride, padding, dilation, ceil_mode)
    pads = [0, 0, top, left, 0, 0, bottom, right]
    return g.op("Pad", x, g.ints(pads), g.const(value, n.dtype))


@register(pooling.MaxPool2d)
def max_pool2d(g, n):
    kernel, stride, padding, dilation, ceil_mode = n.args[1:6]
    x, unbatched = _as_4d(g, n, n.input(0))
    attrs = dict(kernel_shape=list(kernel), strides=list(stride), dilations=list(dilation))
    if ceil_mode:
        x = _explicit_pads(g, n, x, kernel, stride, padding, dilation, True, -np.inf)
        y = g.op("MaxPool", x, **attrs)
    else:
        y = g.op("MaxPool", x, pads=[padding[0], padding[1]] * 2, **attrs)
    return g.squeeze(y, [0]) if unbatched else y


@register(pooling.AvgPool2d)
def avg_pool2d(g, n):
    """torch's divisor (kernel area, real-element counts, or an override) is exact: the
    common case is one AveragePool; otherwise a zero-padded sum pool times 1/divisor."""
    kernel, stride, padding, ceil_mode, divisor = n.args[1:6]
    x, unbatched = _as_4d(g, n, n.input(0))
    area = kernel[0] * kernel[1]
    attrs = dict(kernel_shape=list(kernel), strides=list(stride))
    if not ceil_mode and isinstance(divisor, (int, float)) and divisor == area:
        y = g.op("AveragePool", x, pads=[padding[0], padding[1]] * 2, count_include_pad=1, **attrs)
    else:
        x = _explicit_pads(g, n, x, kernel, stride, padding, (1, 1), ceil_mode, 0.0)
        mean = g.op("AveragePool", x, **attrs)                  # window sum / area
        scale = area / (divisor if isinstance(divisor, (int, float)) else backend.to_host(divisor))
        y = g.op("Mul", mean, g.const(scale, n.dtype))
    return g.squeeze(y, [0]) if unbatched else y


@register(pooling.AdaptiveAvgPool2d)
def adaptive_avg_pool2d(g, n):
    (oh, ow), (h, w) = n.args[1], n.in_shape(0)[-2:]
    x = n.input(0)
    if len(n.in_shape(0)) == 4 and (oh, ow) == (1, 1):
        return g.op("GlobalAveragePool", x)
    if len(n.in_shape(0)) == 4 and h % oh == 0 and w % ow == 0:
        k = [h // oh, w // ow]
        return g.op("AveragePool", x, kernel_shape=k, strides=k)
    # Uneven bins: Ph @ x @ Pw.T with the engine's averaging matrices.
    ph, pw = (backend.to_host(m) for m in n.fn.mats)
    y = g.op("MatMul", x, g.initializer(np.ascontiguousarray(pw.T)))
    return g.op("MatMul", g.initializer(ph), y)
