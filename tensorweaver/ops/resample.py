"""Resampling (``F.interpolate``): every mode is a separable linear map.

Nearest, linear/bilinear/trilinear, bicubic and area resampling each compute an output
sample along one axis as a fixed weighted sum of input samples along that axis, and
the modes act on each spatial axis independently. So one (out, in) matrix per axis
describes the whole operation, and the op is a few matrix products (``Resample``),
its backward the products with the transposed matrices. The matrices follow
PyTorch's source-index formulas (``area_pixel_compute_source_index``) exactly.
"""
from __future__ import annotations

import math

from tensorweaver import backend
from tensorweaver.autograd.function import Function
from tensorweaver.ops.pooling import adaptive_matrix

xp = backend.xp
_host = backend.host_numpy()

_CUBIC_A = -0.75          # PyTorch's bicubic coefficient


def _scale(size, out, align_corners, scale_factor):
    """torch's ``area_pixel_compute_scale``: source step per output step."""
    if align_corners:
        return (size - 1) / (out - 1) if out > 1 else 0.0
    return 1.0 / scale_factor if scale_factor is not None and scale_factor > 0 else size / out


def nearest_matrix(size, out, scale_factor, exact, dtype):
    """(out, size) 0/1 matrix: ``floor(i * scale)`` ('nearest') or ``floor((i + 0.5) * scale)``
    ('nearest-exact'), clipped to the input."""
    scale = _scale(size, out, False, scale_factor)
    i = _host.arange(out, dtype=_host.float64)
    # float32 arithmetic, as torch's kernels compute the source index in float.
    src = _host.floor(((i + 0.5) if exact else i).astype(_host.float32) * _host.float32(scale))
    src = _host.minimum(src.astype(_host.int64), size - 1)
    m = _host.zeros((out, size), dtype=dtype)
    m[_host.arange(out), src] = 1.0
    return m


def _source(size, out, align_corners, scale_factor, cubic=False):
    """Real-valued source coordinate of every output position."""
    scale = _scale(size, out, align_corners, scale_factor)
    i = _host.arange(out, dtype=_host.float64)
    if align_corners:
        return i * scale
    src = (i + 0.5) * scale - 0.5
    return src if cubic else _host.maximum(src, 0.0)


def linear_matrix(size, out, align_corners, scale_factor, dtype):
    """(out, size): each row mixes two neighbours with weights ``1 - t`` and ``t``."""
    src = _source(size, out, align_corners, scale_factor)
    i0 = _host.minimum(_host.floor(src).astype(_host.int64), size - 1)
    i1 = _host.minimum(i0 + 1, size - 1)
    t = src - i0
    m = _host.zeros((out, size), dtype=_host.float64)
    rows = _host.arange(out)
    _host.add.at(m, (rows, i0), 1.0 - t)
    _host.add.at(m, (rows, i1), t)
    return m.astype(dtype)


def _cubic_weights(t):
    """Keys' cubic convolution weights of the four taps at offsets -1, 0, 1, 2."""
    a = _CUBIC_A

    def near(x):      # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):       # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def cubic_matrix(size, out, align_corners, scale_factor, dtype):
    """(out, size): four taps per row, indices clamped to the input (border replicated)."""
    src = _source(size, out, align_corners, scale_factor, cubic=True)
    base = _host.floor(src).astype(_host.int64)
    weights = _cubic_weights(src - base)
    m = _host.zeros((out, size), dtype=_host.float64)
    rows = _host.arange(out)
    for k, w in enumerate(weights):
        _host.add.at(m, (rows, _host.clip(base - 1 + k, 0, size - 1)), w)
    return m.astype(dtype)


def resample_matrix(mode, size, out, align_corners, scale_factor, dtype):
    """The host (out, size) matrix of ``mode`` along one axis."""
    if mode in ("nearest", "nearest-exact"):
        return nearest_matrix(size, out, scale_factor, mode == "nearest-exact", dtype)
    if mode in ("linear", "bilinear", "trilinear"):
        return linear_matrix(size, out, bool(align_corners), scale_factor, dtype)
    if mode == "bicubic":
        return cubic_matrix(size, out, bool(align_corners), scale_factor, dtype)
    if mode == "area":
        return backend.to_host(adaptive_matrix(size, out, dtype))
    raise ValueError(f"unknown interpolation mode {mode!r}")


class Resample(Function):
    """``x`` (*, d_1, ..., d_k) -> (*, o_1, ..., o_k): the matrices ``mats`` [(o_i, d_i)]
    applied along the last ``k`` axes."""

    def forward(self, x, mats):
        self.mats = mats
        k = len(mats)
        for i, m in enumerate(mats):
            axis = x.ndim - k + i
            # tensordot puts the new axis last; move it back to where it was.
            x = xp.moveaxis(xp.tensordot(x, m, axes=([axis], [1])), -1, axis)
        return x

    def backward(self, grad):
        k = len(self.mats)
        for i, m in enumerate(self.mats):
            axis = grad.ndim - k + i
            grad = xp.moveaxis(xp.tensordot(grad, m, axes=([axis], [0])), -1, axis)
        return grad


def output_sizes(in_sizes, size, scale_factor):
    """torch's output size per spatial axis: ``size``, or ``floor(in * scale_factor)``."""
    if size is not None:
        return list(size)
    return [int(math.floor(float(d) * s)) for d, s in zip(in_sizes, scale_factor)]
