"""2-D pooling: max, average and adaptive average, over the last two axes.

Max and average pooling gather the ``kH * kW`` window offsets as strided slices
(the same windows as the convolution's im2col), so the Python loop runs over kernel
offsets, never over pixels. Their backward adds each offset's share of the gradient
back into a zero (padded) input.
"""
from __future__ import annotations

from tensorweaver import backend
from tensorweaver.autograd import grad_mode
from tensorweaver.autograd.function import Function
from tensorweaver.ops.conv import (
    add_into, gather_windows, memory_order, output_size, pad_hw, window_slices, zeros_in_order,
)

xp = backend.xp
_host = backend.host_numpy()


def pool_geometry(h, w, kernel, stride, padding, dilation, ceil_mode):
    """(OH, OW) and the (top, bottom, left, right) padding that makes every window fit.

    In ``ceil_mode`` the last window may hang past the padded input; the extra
    bottom/right padding covers it.
    """
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    oh = output_size(h, kh, sh, ph, ph, dh, ceil_mode)
    ow = output_size(w, kw, sw, pw, pw, dw, ceil_mode)
    bottom = max(ph, (oh - 1) * sh + dh * (kh - 1) + 1 - h - ph)
    right = max(pw, (ow - 1) * sw + dw * (kw - 1) + 1 - w - pw)
    return (oh, ow), (ph, bottom, pw, right)


def _padded_grad(shape, pads, order, dtype, zero=True):
    pt, pb, pl, pr = pads
    return zeros_in_order(shape[:-2] + (shape[-2] + pt + pb, shape[-1] + pl + pr), order, dtype, zero)


def _records_graph(fn):
    """Whether backward can run on ``fn``'s output (else the forward may skip its bookkeeping)."""
    return grad_mode._enabled[0] and fn.needs_input_grad[0]


class MaxPool2d(Function):
    """Max over each window of ``x`` (..., H, W) -> (..., OH, OW); padding counts as -inf.

    The forward keeps, per output, which window offset held the maximum (the first
    one on ties, as torch; a NaN wins), and the backward routes the gradient there.
    """

    def forward(self, x, kernel, stride, padding, dilation, ceil_mode):
        h, w = x.shape[-2:]
        if (tuple(stride) == tuple(kernel) and tuple(padding) == (0, 0) and tuple(dilation) == (1, 1)
                and h % kernel[0] == 0 and w % kernel[1] == 0 and x.ndim >= 3):
            # The tiled fast path has its own backward; the labs' student copy skips it (the
            # next line becomes `out = None`), so the backward a student writes is the general one.
            ### STUDENT COPY: out = None
            out = self._tiled_forward(x, kernel)
            if out is not None:
                return out
        out_hw, pads = pool_geometry(h, w, kernel, stride, padding, dilation, ceil_mode)
        slices = window_slices(kernel, stride, dilation, out_hw)
        xpad = pad_hw(x, pads, -xp.inf)
        windows = [backend.getitem(xpad, (Ellipsis, r, c)) for r, c in slices]
        out = windows[0]
        for win in windows[1:]:
            out = xp.maximum(out, win)                   # NaN propagates, as in torch
        if out is windows[0]:
            out = out.copy()
        if not _records_graph(self):
            return out
        has_nan = bool(xp.isnan(out).any())
        which = xp.zeros(out.shape, dtype=xp.int8 if len(slices) < 128 else xp.int32)
        for k in range(len(slices) - 1, -1, -1):         # downwards: the first hit wins
            hit = windows[k] == out
            if has_nan:
                hit |= windows[k] != windows[k]
            which = xp.where(hit, k, which)
        self.save_for_backward(which)
        # Windows that never overlap can be written, not added; if they also tile the
        # padded input exactly, every gradient element is written once (no zero fill).
        eff = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
        disjoint = stride[0] >= eff[0] and stride[1] >= eff[1]
        tiled = (disjoint and tuple(stride) == tuple(eff) and dilation == (1, 1)
                 and h + pads[0] + pads[1] == out_hw[0] * stride[0] and w + pads[2] + pads[3] == out_hw[1] * stride[1])
        self.geometry = (x.shape, pads, slices, memory_order(x), disjoint, tiled)
        return out

    def _tiled_forward(self, x, kernel):
        """The windows tile ``x`` exactly (stride == kernel, no padding or dilation): view
        (..., H, W) as (..., OH, kH, OW, kW) and reduce the kW axis, then the kH axis.

        Each stage keeps the offset of its maximum (int8, the first one on ties), so
        the pair (row of the first row holding the maximum, first column in that row)
        is torch's row-major first hit; the backward routes the gradient with two
        masked products, no argmax and no scatter. Works on the input's memory order
        (conv outputs are channels-major views), so every step reads and writes
        contiguously. Returns None when the output holds a NaN (the generic path then
        records which NaN wins, as torch).
        """
        kh, kw = kernel
        order = memory_order(x)
        nd = x.ndim
        if order[-2:] != (nd - 2, nd - 1):
            order = tuple(range(nd))
        xm = x.transpose(order) if order != tuple(range(nd)) else x
        lead = xm.shape[:-2]
        oh, ow = xm.shape[-2] // kh, xm.shape[-1] // kw
        v = xm.reshape(lead + (oh, kh, ow, kw))
        rows, col_at = _first_max(v, kw, axis=-1)                         # (..., OH, kH, OW)
        out, row_at = _first_max(rows, kh, axis=-2)                       # (..., OH, OW)
        if bool(xp.isnan(out).any()):
            return None
        inverse = tuple(sorted(range(nd), key=lambda i: order[i]))
        if _records_graph(self):
            self.tiled = (order, inverse, lead, kernel, row_at, col_at)
        return out.transpose(inverse) if order != tuple(range(nd)) else out

    def backward(self, grad):
        if getattr(self, "tiled", None) is not None:
            order, inverse, lead, (kh, kw), row_at, col_at = self.tiled
            g = grad.transpose(order) if order != tuple(range(grad.ndim)) else grad
            g_rows = _route(g, row_at, kh, axis=-2)                       # (..., OH, kH, OW)
            gx = _route(g_rows, col_at, kw, axis=-1)                      # (..., OH, kH, OW, kW)
            oh, ow = g.shape[-2:]
            gx = gx.reshape(lead + (oh * kh, ow * kw))
            return gx.transpose(inverse) if order != tuple(range(grad.ndim)) else gx
        (which,) = self.saved_tensors
        shape, (pt, pb, pl, pr), slices, order, disjoint, tiled = self.geometry
        ### BEGIN SOLUTION
        gxp = _padded_grad(shape, (pt, pb, pl, pr), order, grad.dtype, zero=not tiled)
        zero = xp.zeros((), dtype=grad.dtype)
        for k, (r, c) in enumerate(slices):
            share = xp.where(which == k, grad, zero)
            if disjoint:
                backend.setitem(gxp, (Ellipsis, r, c), share)
            else:
                add_into(gxp, (Ellipsis, r, c), share)
        return gxp[..., pt:pt + shape[-2], pl:pl + shape[-1]]
        ### END SOLUTION


def _take(a, k, axis):
    """``a`` indexed with ``k`` on ``axis`` (-1 or -2)."""
    return a[..., k] if axis == -1 else a[..., k, :]


def _first_max(a, size, axis, nan_first=False):
    """Max of ``a`` over ``axis`` (-1 or -2, of length ``size``) and, as int8, the first
    offset holding it; with ``nan_first``, the first NaN's offset where there is one."""
    best = _take(a, 0, axis)
    at = None
    for k in range(1, size):
        cand = _take(a, k, axis)
        better = cand > best                  # strict: an equal later value loses (first hit)
        if nan_first:                         # (the max below is NaN from the first NaN on)
            better |= xp.isnan(cand) & ~xp.isnan(best)
        best = xp.maximum(best, cand)
        if at is None:   # offset 1 where better, else 0: the bool's bytes, read as int8 on NumPy
            at = better.view(xp.int8) if backend.is_numpy else better.astype(xp.int8)
        else:
            at = xp.where(better, xp.int8(k), at)
    if at is None:
        at = xp.zeros(best.shape, dtype=xp.int8)
        best = best.copy()
    return best, at


def _route(g, at, size, axis, out=None):
    """The adjoint of ``_first_max``: ``g`` placed at offset ``at`` of a new ``axis`` of
    length ``size``, zeros elsewhere (written into ``out`` when given; NumPy)."""
    axis = g.ndim + 1 + axis if axis == -1 else g.ndim - 1       # of the result
    if not backend.is_numpy:
        return xp.stack([g * (at == k) for k in range(size)], axis=axis)
    # Each offset's share is written straight into its (strided) place: no stack copy.
    if out is None:
        out = xp.empty(g.shape[:axis] + (size,) + g.shape[axis:], dtype=g.dtype)
    for k in range(size):
        xp.multiply(g, at == k, out=out[(slice(None),) * axis + (k,)])
    return out


def max_pool2d_indices(x, kernel, stride, padding, dilation, ceil_mode):
    """torch's ``return_indices``: the flat position ``row * W + col`` of each maximum
    in its (H, W) input plane, as an int64 array shaped like the output."""
    h, w = x.shape[-2:]
    (oh, ow), pads = pool_geometry(h, w, kernel, stride, padding, dilation, ceil_mode)
    slices = window_slices(kernel, stride, dilation, (oh, ow))
    which = gather_windows(pad_hw(x, pads, -xp.inf), slices, axis=0).argmax(axis=0)
    kw = kernel[1]
    rows = xp.arange(oh).reshape(oh, 1) * stride[0] - padding[0] + (which // kw) * dilation[0]
    cols = xp.arange(ow).reshape(1, ow) * stride[1] - padding[1] + (which % kw) * dilation[1]
    return (rows * w + cols).astype(xp.int64)


def _avg_divisor(h, w, out_hw, kernel, stride, padding, count_include_pad, dtype):
    """Per-output-position divisor (OH, OW), following torch's rules: windows are
    clipped to the padded input, and ``count_include_pad=False`` counts only real
    input positions."""
    def one_axis(size, out, k, s, p):
        start = _host.arange(out) * s - p
        end = _host.minimum(start + k, size + p)
        full = end - start
        real = _host.minimum(end, size) - _host.maximum(start, 0)
        return full, real

    full_h, real_h = one_axis(h, out_hw[0], kernel[0], stride[0], padding[0])
    full_w, real_w = one_axis(w, out_hw[1], kernel[1], stride[1], padding[1])
    div = _host.outer(real_h, real_w) if not count_include_pad else _host.outer(full_h, full_w)
    return backend.from_host(div.astype(dtype))


class AvgPool2d(Function):
    """Mean over each window of ``x`` (..., H, W) -> (..., OH, OW).

    ``divisor`` is a number or an (OH, OW) array (see ``_avg_divisor``).
    """

    def forward(self, x, kernel, stride, padding, ceil_mode, divisor):
        h, w = x.shape[-2:]
        out_hw, pads = pool_geometry(h, w, kernel, stride, padding, (1, 1), ceil_mode)
        slices = window_slices(kernel, stride, (1, 1), out_hw)
        xpad = pad_hw(x, pads)
        total = None
        for r, c in slices:
            win = backend.getitem(xpad, (Ellipsis, r, c))
            total = win.copy() if total is None else total + win
        self.geometry = (x.shape, pads, slices, divisor, memory_order(x))
        return total / divisor

    def backward(self, grad):
        shape, pads, slices, divisor, order = self.geometry
        ### BEGIN SOLUTION
        pt, pl = pads[0], pads[2]
        share = grad / divisor
        gxp = _padded_grad(shape, pads, order, grad.dtype)
        for r, c in slices:
            add_into(gxp, (Ellipsis, r, c), share)
        return gxp[..., pt:pt + shape[-2], pl:pl + shape[-1]]
        ### END SOLUTION


def adaptive_matrix(size, out, dtype):
    """(out, size) averaging matrix: row i averages input[floor(i*size/out) : ceil((i+1)*size/out)]."""
    m = _host.zeros((out, size), dtype=dtype)
    for i in range(out):
        start, end = (i * size) // out, -(-((i + 1) * size) // out)
        m[i, start:end] = 1.0 / (end - start)
    return backend.from_host(m)


class AdaptiveAvgPool2d(Function):
    """``x`` (N, C, H, W) -> (N, C, OH, OW) as two small matrix products,
    ``Ph @ x @ Pw.T``, with torch's bin edges."""

    def forward(self, x, out_hw):
        ph = adaptive_matrix(x.shape[-2], out_hw[0], x.dtype)
        pw = adaptive_matrix(x.shape[-1], out_hw[1], x.dtype)
        self.mats = (ph, pw)
        y = xp.tensordot(x, pw, axes=([x.ndim - 1], [1]))            # (..., H, OW)
        y = xp.tensordot(y, ph, axes=([x.ndim - 2], [1]))            # (..., OW, OH)
        return xp.swapaxes(y, -1, -2)

    def backward(self, grad):
        ph, pw = self.mats
        g = xp.tensordot(grad, ph, axes=([grad.ndim - 2], [0]))      # (..., OW, H)
        g = xp.tensordot(g, pw, axes=([grad.ndim - 2], [0]))         # (..., H, W)
        return g
