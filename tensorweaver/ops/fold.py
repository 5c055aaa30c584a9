"""``Unfold`` (im2col) and ``Fold`` (col2im): each is the other's adjoint.

Unfold extracts every sliding ``kH x kW`` block of a padded (N, C, H, W) input as a
column: (N, C * kH * kW, L), L = OH * OW blocks, rows ordered (c, i, j) as torch's.
Fold adds such columns back into an (N, C, H, W) image, summing where blocks overlap.
The windows are the convolution's (``ops/conv.py``): one strided slice per kernel
offset, so the loops run over kernel offsets, never over pixels.
"""
from __future__ import annotations

from tensorweaver import backend
from tensorweaver.autograd.function import Function
from tensorweaver.ops.conv import add_into, gather_windows, output_size, pad_hw, window_slices

xp = backend.xp


def blocks(h, w, kernel, dilation, padding, stride):
    """(OH, OW): how many blocks fit along each axis."""
    return (output_size(h, kernel[0], stride[0], padding[0], padding[0], dilation[0]),
            output_size(w, kernel[1], stride[1], padding[1], padding[1], dilation[1]))


def im2col(x, kernel, dilation, padding, stride):
    n, c, h, w = x.shape
    out_hw = blocks(h, w, kernel, dilation, padding, stride)
    slices = window_slices(kernel, stride, dilation, out_hw)
    xpad = pad_hw(x, (padding[0], padding[0], padding[1], padding[1]))
    cols = gather_windows(xpad, slices, axis=2)                     # (N, C, K, OH, OW)
    return cols.reshape(n, c * len(slices), out_hw[0] * out_hw[1])


def col2im(cols, hw, kernel, dilation, padding, stride):
    n = cols.shape[0]
    h, w = hw
    out_hw = blocks(h, w, kernel, dilation, padding, stride)
    slices = window_slices(kernel, stride, dilation, out_hw)
    c = cols.shape[1] // len(slices)
    cols = cols.reshape(n, c, len(slices), out_hw[0], out_hw[1])
    ph, pw = padding
    out = xp.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    for k, (r, s) in enumerate(slices):
        add_into(out, (slice(None), slice(None), r, s), cols[:, :, k])
    return out[:, :, ph:ph + h, pw:pw + w]


class Unfold(Function):
    """``x`` (N, C, H, W) -> (N, C * kH * kW, L). ``kernel``, ``dilation``, ``padding``,
    ``stride`` are pairs."""

    def forward(self, x, kernel, dilation, padding, stride):
        self.args = (x.shape[2:], kernel, dilation, padding, stride)
        return im2col(x, kernel, dilation, padding, stride)

    def backward(self, grad):
        return col2im(grad, *self.args)


class Fold(Function):
    """``cols`` (N, C * kH * kW, L) -> (N, C, *output_size), overlapping blocks summed."""

    def forward(self, cols, output_size, kernel, dilation, padding, stride):
        self.args = (kernel, dilation, padding, stride)
        return col2im(cols, output_size, kernel, dilation, padding, stride)

    def backward(self, grad):
        return im2col(grad, *self.args)
