"""Adaptive max pooling over the last two axes, with torch's bin edges.

Bin ``i`` of ``out`` along an axis of ``size`` covers ``[floor(i * size / out),
ceil((i + 1) * size / out))``. Bins may differ in length, so each is gathered with the
longest length, its short bins repeating their last element (which changes neither
the maximum nor which position holds it first). The gather works on the flattened
(H * W) plane: one ``take`` of a (OH, OW, K) table of flat positions.
"""
from __future__ import annotations

from tensorweaver import backend
from tensorweaver.autograd.function import Function

xp = backend.xp
_host = backend.host_numpy()


def bin_edges(size, out):
    """Host (start, end) arrays of the ``out`` adaptive bins of an axis of ``size``."""
    i = _host.arange(out)
    return (i * size) // out, -(-((i + 1) * size) // out)


def _bin_positions(size, out):
    """Host (out, K) input positions of each bin, K the longest bin, short bins padded
    with their last position."""
    start, end = bin_edges(size, out)
    k = int((end - start).max())
    return _host.minimum(start[:, None] + _host.arange(k)[None, :], end[:, None] - 1)


def window_table(h, w, out_hw):
    """Host (OH, OW, Kh * Kw) flat positions ``row * W + col`` of every bin's elements."""
    rows = _bin_positions(h, out_hw[0])                   # (OH, Kh)
    cols = _bin_positions(w, out_hw[1])                   # (OW, Kw)
    flat = rows[:, None, :, None] * w + cols[None, :, None, :]    # (OH, OW, Kh, Kw)
    return flat.reshape(out_hw[0], out_hw[1], -1).astype(_host.int64)


class AdaptiveMaxPool2d(Function):
    """``x`` (*, H, W) -> (*, OH, OW), the maximum of each adaptive bin. ``self.indices``
    holds the flat ``row * W + col`` position of each maximum (torch's ``return_indices``)."""

    def forward(self, x, out_hw):
        h, w = x.shape[-2:]
        table = backend.from_host(window_table(h, w, out_hw))
        flat = x.reshape(x.shape[:-2] + (h * w,))
        windows = xp.take(flat, table, axis=-1)                     # (*, OH, OW, K)
        which = windows.argmax(axis=-1)
        out = windows.max(axis=-1)
        # The first NaN wins, as in torch.
        nan = xp.isnan(windows)
        if bool(nan.any()):
            which = xp.where(nan.any(axis=-1), nan.argmax(axis=-1), which)
            out = xp.where(nan.any(axis=-1), xp.nan, out)
        k = table.shape[-1]
        self.indices = xp.take(table.reshape(-1), (xp.arange(out_hw[0] * out_hw[1]) * k).reshape(out_hw)
                               + which)
        self.shape = x.shape
        return out

    def backward(self, grad):
        lead = int(_host.prod(self.shape[:-2], dtype=_host.int64))
        h, w = self.shape[-2:]
        idx = self.indices.reshape(lead, -1)
        rows = xp.arange(lead).reshape(-1, 1)
        g = backend.scatter_add((lead, h * w), (rows, idx), grad.reshape(lead, -1), grad.dtype)
        return g.reshape(self.shape)
