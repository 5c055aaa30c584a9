"""Padding the trailing axes: constant, reflect, replicate and circular (``F.pad``).

Every mode is one index map per padded axis: output position ``i`` reads input
position ``source[i]`` (reflect mirrors without repeating the edge, replicate repeats
the edge, circular wraps around). Forward gathers with ``take`` along each axis in
turn; backward is the adjoint, adding each output gradient back into its source
(``backend.scatter_add``). Constant padding is a plain ``pad``/slice pair, and also
accepts negative widths (cropping), as torch does.
"""
from __future__ import annotations

from tensorweaver import backend
from tensorweaver.autograd.function import Function

xp = backend.xp
_host = backend.host_numpy()

#: torch's names -> NumPy's ``pad`` modes (used for the index maps).
MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def source_index(size, before, after, mode):
    """Host int64 array: for each of the ``before + size + after`` outputs, its input index."""
    return _host.pad(_host.arange(size), (before, after), mode=MODES[mode]).astype(_host.int64)


class Pad(Function):
    """``x`` (*, d_k, ..., d_1) padded by ``widths`` [(before, after), ...] on its last
    ``len(widths)`` axes (listed from the first padded axis to the last) -> a larger array.
    ``mode`` is one of 'constant', 'reflect', 'replicate', 'circular'."""

    def forward(self, x, widths, mode, value):
        first = x.ndim - len(widths)
        self.shape, self.first, self.widths, self.mode = x.shape, first, widths, mode
        if mode == "constant":
            crop = tuple(slice(max(-b, 0), x.shape[first + k] - max(-a, 0)) for k, (b, a) in enumerate(widths))
            x = x[(Ellipsis,) + crop]
            pads = [(0, 0)] * first + [(max(b, 0), max(a, 0)) for b, a in widths]
            return xp.pad(x, pads, mode="constant", constant_values=value)
        self.maps = []
        for k, (b, a) in enumerate(widths):
            axis = first + k
            src = backend.from_host(source_index(x.shape[axis], b, a, mode))
            self.maps.append(src)
            x = xp.take(x, src, axis=axis)
        return x

    def backward(self, grad):
        first = self.first
        if self.mode == "constant":
            inner = tuple(slice(max(b, 0), grad.shape[first + k] - max(a, 0)) for k, (b, a) in enumerate(self.widths))
            g = grad[(Ellipsis,) + inner]
            pads = [(0, 0)] * first + [(max(-b, 0), max(-a, 0)) for b, a in self.widths]
            return xp.pad(g, pads, mode="constant") if any(p != (0, 0) for p in pads) else g
        g = grad
        for k in range(len(self.widths) - 1, -1, -1):       # undo the gathers, last axis first
            axis = first + k
            moved = xp.moveaxis(g, axis, -1)
            lead = moved.shape[:-1]
            size = self.shape[axis]
            flat = moved.reshape(-1, moved.shape[-1])
            rows = xp.arange(flat.shape[0]).reshape(-1, 1)
            summed = backend.scatter_add((flat.shape[0], size), (rows, self.maps[k].reshape(1, -1)), flat, g.dtype)
            g = xp.moveaxis(summed.reshape(lead + (size,)), -1, axis)
        return g
