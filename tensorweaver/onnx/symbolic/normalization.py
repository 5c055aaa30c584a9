"""Normalization: BatchNorm (eval) -> BatchNormalization, LayerNorm -> LayerNormalization."""
from __future__ import annotations

import numpy as np

from tensorweaver.ops import normalization as norm
from tensorweaver.onnx.registry import register


def _affine_or_default(g, n, i, fill, size):
    """ONNX needs scale (and, for BatchNormalization, bias): ones/zeros when the layer has none."""
    return n.input(i) if n.args[i] is not None else g.initializer(np.full(size, fill, dtype=n.dtype))


@register(norm.BatchNorm)
def batch_norm(g, n):
    x, (training, eps) = n.input(0), (n.args[5], n.args[7])
    channels = n.in_shape(0)[1]
    scale = _affine_or_default(g, n, 1, 1.0, channels)
    bias = _affine_or_default(g, n, 2, 0.0, channels)
    if not training:            # eval: the running statistics are constants
        return g.op("BatchNormalization", x, scale, bias, n.input(3), n.input(4), epsilon=float(eps))
    # Batch statistics (no running stats kept): normalize with the batch's own mean/var.
    axes = [0] + list(range(2, len(n.in_shape(0))))
    shape = g.ints([1, channels] + [1] * (len(n.in_shape(0)) - 2))
    centered = g.op("Sub", x, g.reduce("ReduceMean", x, axes, True))
    var = g.reduce("ReduceMean", g.op("Mul", centered, centered), axes, True)
    xhat = g.op("Div", centered, g.op("Sqrt", g.op("Add", var, g.const(eps, n.dtype))))
    y = g.op("Mul", xhat, g.op("Reshape", scale, shape))
    return g.op("Add", y, g.op("Reshape", bias, shape))


@register(norm.LayerNorm)
def layer_norm(g, n):
    n_dims, eps = n.args[3], n.args[4]
    scale = _affine_or_default(g, n, 1, 1.0, n.in_shape(0)[-n_dims:])
    bias = n.input(2) if n.args[2] is not None else None
    return g.op("LayerNormalization", n.input(0), scale, bias, axis=-n_dims, epsilon=float(eps))
