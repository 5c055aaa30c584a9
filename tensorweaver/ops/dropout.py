"""Dropout: zero each element with probability ``p`` and scale the rest by 1/(1-p).

The keep-mask is drawn on the host from the seeded generator
(``tensorweaver.random``) and moved to the backend, so a seed gives the same mask
on NumPy and cuPyNumeric.
"""
from __future__ import annotations

from tensorweaver import backend
from tensorweaver import random as _random
from tensorweaver.autograd.function import Function


def keep_mask(shape, p, dtype):
    """A host-drawn array of ``shape``: 0 with probability ``p``, else ``1/(1-p)``."""
    if p >= 1.0:
        return backend.xp.zeros(shape, dtype=dtype)
    ### BEGIN SOLUTION
    u = _random.generator().random(shape, dtype=backend.host_numpy().float32)
    scaled = (u >= p).astype(dtype) * (1.0 / (1.0 - p))
    return backend.from_host(scaled.astype(dtype))
    ### END SOLUTION


class Dropout(Function):
    """``x * mask``, where ``mask`` (from ``keep_mask``, broadcastable to ``x``) is a constant."""

    def forward(self, x, mask):
        ### BEGIN SOLUTION
        self.save_for_backward(mask)
        self.shape = x.shape
        return x * mask
        ### END SOLUTION

    def backward(self, grad):
        ### BEGIN SOLUTION
        (mask,) = self.saved_tensors
        g = grad * mask
        if g.shape != self.shape:       # a channel mask (Dropout2d) broadcast over H, W
            from tensorweaver.ops.elementwise import unbroadcast
            g = unbroadcast(g, self.shape)
        return g
        ### END SOLUTION

    def tensor_backward(self, grad, mask):
        from tensorweaver.ops.elementwise import sum_to
        return sum_to(grad * mask, self.shape)
