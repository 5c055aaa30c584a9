"""The convolution family beyond Conv2d: ConvTranspose2d -> ConvTranspose, Pad -> Pad
(or Gather for circular), Resample -> MatMuls, Unfold/Fold -> Conv/ConvTranspose with
one-hot kernels, AdaptiveMaxPool2d -> GlobalMaxPool, MaxPool or Gather + ReduceMax.

1-D convolutions and pools need nothing here: they are traced as their 2-D forms
between an Unsqueeze and a Squeeze.
"""
from __future__ import annotations

import numpy as np

from tensorweaver import backend
from tensorweaver.onnx.registry import register
from tensorweaver.ops import adaptive_pool, conv_transpose, fold, padding, resample


@register(conv_transpose.ConvTranspose2d)
def conv_transpose2d(g, n):
    """``x`` (N, C_in, H, W), ``weight`` (C_in, C_out/groups, kH, kW), optional ``bias``."""
    stride, pad, output_padding, dilation, groups = n.args[3:8]
    return g.op("ConvTranspose", n.input(0), n.input(1), n.input(2),
                kernel_shape=list(n.in_shape(1)[2:]), strides=list(stride), dilations=list(dilation),
                pads=[pad[0], pad[1], pad[0], pad[1]], output_padding=list(output_padding), group=groups)


_ONNX_PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge"}


@register(padding.Pad)
def pad(g, n):
    """ONNX's Pad lists all begins, then all ends; its 'wrap' mode needs opset 19, so
    circular padding gathers with the engine's index maps instead."""
    widths, mode, value = n.args[1:4]
    x = n.input(0)
    rank = len(n.in_shape(0))
    first = rank - len(widths)
    if mode == "circular":
        for k, src in enumerate(n.fn.maps):
            x = g.op("Gather", x, g.initializer(backend.to_host(src).astype(np.int64)), axis=first + k)
        return x
    begins = [0] * first + [b for b, _ in widths]
    ends = [0] * first + [a for _, a in widths]
    inputs = [x, g.ints(begins + ends)]
    if mode == "constant":
        inputs.append(g.const(value, n.dtype))
    return g.op("Pad", *inputs, mode=_ONNX_PAD_MODES[mode])


@register(resample.Resample)
def resample_(g, n):
    """Each axis's (out, in) matrix ``M`` as a MatMul with ``M^T`` on the last axis (the
    axis is moved there and back with Transposes)."""
    x = n.input(0)
    rank = len(n.in_shape(0))
    mats = n.fn.mats
    for i, m in enumerate(mats):
        axis = rank - len(mats) + i
        mt = g.initializer(np.ascontiguousarray(backend.to_host(m).T))
        if axis == rank - 1:
            x = g.op("MatMul", x, mt)
            continue
        perm = list(range(rank))
        perm[axis], perm[-1] = perm[-1], perm[axis]
        x = g.op("Transpose", g.op("MatMul", g.op("Transpose", x, perm=perm), mt), perm=perm)
    return x


def _one_hot_kernel(c, kernel, dtype):
    """(C * kH * kW, 1, kH, kW): output channel (c, i, j) picks kernel offset (i, j) of channel c."""
    k = kernel[0] * kernel[1]
    eye = np.eye(k, dtype=dtype).reshape(k, 1, kernel[0], kernel[1])
    return np.ascontiguousarray(np.tile(eye, (c, 1, 1, 1)))


@register(fold.Unfold)
def unfold_(g, n):
    """A grouped Conv whose one-hot kernel copies each block element to its own channel."""
    kernel, dilation, pad, stride = n.args[1:5]
    c = n.in_shape(0)[1]
    w = g.initializer(_one_hot_kernel(c, kernel, np.dtype(n.dtype)))
    y = g.op("Conv", n.input(0), w, kernel_shape=list(kernel), strides=list(stride), dilations=list(dilation),
             pads=[pad[0], pad[1], pad[0], pad[1]], group=c)
    return g.op("Reshape", y, g.ints([0, n.shape[1], -1]))


@register(fold.Fold)
def fold_(g, n):
    """The adjoint: a grouped ConvTranspose with the same one-hot kernel sums the blocks."""
    output_size, kernel, dilation, pad, stride = n.args[1:6]
    ck = n.in_shape(0)[1]
    c = ck // (kernel[0] * kernel[1])
    oh, ow = fold.blocks(output_size[0], output_size[1], kernel, dilation, pad, stride)
    cols = g.op("Reshape", n.input(0), g.ints([0, ck, oh, ow]))
    w = g.initializer(_one_hot_kernel(c, kernel, np.dtype(n.dtype)))
    reach = [(o - 1) * s - 2 * p + d * (k - 1) + 1 for o, s, p, d, k in zip((oh, ow), stride, pad, dilation, kernel)]
    extra = [size - r for size, r in zip(output_size, reach)]
    return g.op("ConvTranspose", cols, w, kernel_shape=list(kernel), strides=list(stride),
                dilations=list(dilation), pads=[pad[0], pad[1], pad[0], pad[1]], output_padding=extra, group=c)


@register(adaptive_pool.AdaptiveMaxPool2d)
def adaptive_max_pool2d(g, n):
    out_hw = n.args[1]
    shape = n.in_shape(0)
    h, w = shape[-2:]
    x = n.input(0)
    if len(shape) == 4 and tuple(out_hw) == (1, 1):
        return g.op("GlobalMaxPool", x)
    if len(shape) == 4 and h % out_hw[0] == 0 and w % out_hw[1] == 0:
        k = [h // out_hw[0], w // out_hw[1]]
        return g.op("MaxPool", x, kernel_shape=k, strides=k)
    # Uneven bins: gather every bin's elements from the flattened plane, then reduce.
    lead = len(shape) - 2
    flat = g.op("Reshape", x, g.ints([0] * lead + [-1]))
    table = g.initializer(adaptive_pool.window_table(h, w, out_hw))
    windows = g.op("Gather", flat, table, axis=lead)                 # (*, OH, OW, K)
    return g.reduce("ReduceMax", windows, [lead + 2], keepdims=False)
