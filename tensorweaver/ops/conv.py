"""2-D convolution as im2col + one matrix product.

For every kernel offset ``(i, j)`` the padded input, sliced with the stride, lines
up with the output grid; stacking those ``kH * kW`` slices gives the column matrix
``cols`` of shape (C * kH * kW, N * OH * OW), and the convolution is the single
product ``weight.reshape(O, -1) @ cols``. The only Python loop is over kernel
offsets (9 for a 3x3 kernel), never over pixels.

Layout: the input is viewed channels-first, (C, N, H, W), so that the rows of
``cols`` come out in the order (c, i, j), matching ``weight.reshape(O, C*kH*kW)``,
and the product's (O, N*OH*OW) result is returned as an (N, O, OH, OW) *view*.
Elementwise ops keep that memory order, so the next convolution's channels-first
view of it is already contiguous.
"""
from __future__ import annotations

from tensorweaver import backend
from tensorweaver.autograd.function import Function

xp = backend.xp


def output_size(size, kernel, stride, pad_before, pad_after, dilation, ceil_mode=False):
    """Output length along one axis (torch's formula)."""
    span = size + pad_before + pad_after - dilation * (kernel - 1) - 1
    if ceil_mode:
        out = -(-span // stride) + 1
        # The last window must start inside the input or the left padding.
        if (out - 1) * stride >= size + pad_before:
            out -= 1
        return out
    return span // stride + 1


def window_slices(kernel, stride, dilation, out_hw):
    """For each kernel offset ``(i, j)``, row-major, the (rows, cols) slices of a
    padded input that line up with the ``out_hw`` output grid."""
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel, stride, dilation, out_hw
    return [(slice(i * dh, i * dh + sh * (oh - 1) + 1, sh), slice(j * dw, j * dw + sw * (ow - 1) + 1, sw))
            for i in range(kh) for j in range(kw)]


def gather_windows(a, slices, axis):
    """Stack ``a[..., rows, cols]`` for every window offset along a new ``axis``."""
    return xp.stack([backend.getitem(a, (Ellipsis, r, c)) for r, c in slices], axis=axis)


def add_into(dst, index, values):
    """``dst[index] += values`` in place (each index names distinct elements).

    cuPyNumeric has no non-unit-step slice views, so there the slice is read with
    ``backend.getitem`` and written back with ``backend.setitem``.
    """
    if backend.is_numpy or not backend._has_strided_slice(index):
        dst[index] += values
    else:
        backend.setitem(dst, index, backend.getitem(dst, index) + values)


def pad_hw(a, pads, value=0.0):
    """Pad the last two axes by ``(top, bottom, left, right)``."""
    top, bottom, left, right = pads
    if not (top or bottom or left or right):
        return a
    widths = [(0, 0)] * (a.ndim - 2) + [(top, bottom), (left, right)]
    return xp.pad(a, widths, mode="constant", constant_values=value)


class Conv2d(Function):
    """``x`` (N, C, H, W) * ``weight`` (O, C/groups, kH, kW) + ``bias`` (O,) -> (N, O, OH, OW).

    ``padding`` is (top, bottom, left, right); ``stride`` and ``dilation`` are pairs.
    """

    def forward(self, x, weight, bias, stride, padding, dilation, groups):
        n, c, h, w = x.shape
        o, _, kh, kw = weight.shape
        pt, pb, pl, pr = padding
        oh = output_size(h, kh, stride[0], pt, pb, dilation[0])
        ow = output_size(w, kw, stride[1], pl, pr, dilation[1])
        slices = window_slices((kh, kw), stride, dilation, (oh, ow))
        xt = pad_hw(x.transpose(1, 0, 2, 3), padding)                # (C, N, Hp, Wp)
        cols = gather_windows(xt, slices, axis=1).reshape(c * kh * kw, n * oh * ow)
        if groups == 1:
            out = weight.reshape(o, -1) @ cols
        else:
            out = xp.matmul(weight.reshape(groups, o // groups, -1),
                            cols.reshape(groups, -1, n * oh * ow)).reshape(o, n * oh * ow)
        if bias is not None:
            out += bias[:, None]
        self.save_for_backward(cols, weight)
        self.geometry = (x.shape, xt.shape, slices, padding, groups, (oh, ow))
        return out.reshape(o, n, oh, ow).transpose(1, 0, 2, 3)

    def backward(self, grad):
        cols, weight = self.saved_tensors
        (n, c, h, w), padded, slices, (pt, _, pl, _), groups, (oh, ow) = self.geometry
        o = weight.shape[0]
        need_x, need_w = self.needs_input_grad[:2]
        need_b = self.next_functions[2] is not None
        g = grad.transpose(1, 0, 2, 3).reshape(o, n * oh * ow)      # (O, N*OH*OW)
        gx = gw = gb = None
        if need_w:
            if groups == 1:
                gw = (g @ cols.T).reshape(weight.shape)
            else:
                gw = xp.matmul(g.reshape(groups, o // groups, -1),
                               cols.reshape(groups, -1, g.shape[1]).transpose(0, 2, 1)).reshape(weight.shape)
        if need_b:
            gb = g.sum(axis=1)
        if need_x:
            if groups == 1:
                dcols = weight.reshape(o, -1).T @ g
            else:
                dcols = xp.matmul(weight.reshape(groups, o // groups, -1).transpose(0, 2, 1),
                                  g.reshape(groups, o // groups, -1))
            dcols = dcols.reshape(c, len(slices), n, oh, ow)
            gxp = xp.zeros(padded, dtype=grad.dtype)                  # col2im: the adjoint of im2col
            for k, (r, s) in enumerate(slices):
                add_into(gxp, (slice(None), slice(None), r, s), dcols[:, k])
            gx = gxp[:, :, pt:pt + h, pl:pl + w].transpose(1, 0, 2, 3)
        return gx, gw, gb
