"""Pooling beyond the 2-D max/average/adaptive-average: 1-D pools and adaptive max.

1-D pools run as 2-D ones on a height-1 image ((N, C, L) -> (N, C, 1, L)), so they
share ``ops/pooling.py``.
"""
from __future__ import annotations

from tensorweaver import dtypes
from tensorweaver.nn import functional as F
from tensorweaver.nn._functional.conv import _single
from tensorweaver.ops import adaptive_pool as _adaptive
from tensorweaver.tensor import _make_tensor


def _as_2d(input, op):
    """(N, C, L) or (C, L) -> the same with a height-1 axis before L."""
    if input.ndim not in (2, 3):
        raise ValueError(f"{op}: expected a 2-D (C, L) or 3-D (N, C, L) input, got shape {input.shape}")
    return input.unsqueeze(-2)


def _stride(stride, kernel_size):
    return kernel_size if stride is None or stride == [] or stride == () else stride


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Max over ``kernel_size`` windows: (N, C, L) or (C, L) -> (N, C, L_out),
    ``L_out = (L + 2 * padding - dilation * (k - 1) - 1) // stride + 1`` (rounded up in
    ``ceil_mode``). ``stride`` defaults to ``kernel_size``. With ``return_indices`` also
    the positions of the maxima (int64)."""
    k = _single(kernel_size, "kernel_size")
    out = F.max_pool2d(_as_2d(input, "max_pool1d"), (1, k), (1, _single(_stride(stride, k), "stride")),
                       (0, _single(padding, "padding")), (1, _single(dilation, "dilation")), ceil_mode,
                       return_indices)
    if return_indices:
        return out[0].squeeze(-2), out[1].squeeze(-2)
    return out.squeeze(-2)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Mean over ``kernel_size`` windows; shapes as ``max_pool1d``. ``count_include_pad``
    counts zero padding in the divisor."""
    k = _single(kernel_size, "kernel_size")
    return F.avg_pool2d(_as_2d(input, "avg_pool1d"), (1, k), (1, _single(_stride(stride, k), "stride")),
                        (0, _single(padding, "padding")), ceil_mode, count_include_pad).squeeze(-2)


def _out_size(output_size, n, shape, op):
    """``output_size`` as an n-tuple; None entries keep the input's size."""
    size = (output_size,) * n if isinstance(output_size, int) or output_size is None else tuple(output_size)
    if len(size) != n:
        raise ValueError(f"{op}: output_size must be an int or {n} values, got {output_size!r}")
    size = tuple(shape[len(shape) - n + i] if s is None else s for i, s in enumerate(size))
    if min(size) < 1:
        raise ValueError(f"{op}: output_size must be positive, got {output_size!r}")
    return size


def adaptive_avg_pool1d(input, output_size):
    """Average into ``output_size`` bins with torch's edges: (N, C, L) -> (N, C, output_size)."""
    (size,) = _out_size(_single(output_size, "output_size") if output_size is not None else None, 1,
                        input.shape, "adaptive_avg_pool1d")
    return F.adaptive_avg_pool2d(_as_2d(input, "adaptive_avg_pool1d"), (1, size)).squeeze(-2)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max over adaptive bins (torch's edges): (N, C, H, W) or (C, H, W) -> (N, C, *output_size);
    ``output_size`` is an int or a pair whose entries may be None (keep the input size).
    With ``return_indices`` also the flat ``h * W + w`` positions of the maxima (int64)."""
    if input.ndim not in (3, 4):
        raise ValueError(f"adaptive_max_pool2d: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, "
                         f"got shape {input.shape}")
    if min(input.shape[-2:]) < 1:
        raise ValueError(f"adaptive_max_pool2d: the input {input.shape} has an empty spatial dim")
    out_hw = _out_size(output_size, 2, input.shape, "adaptive_max_pool2d")
    out = _adaptive.AdaptiveMaxPool2d.apply(input, out_hw)
    if not return_indices:
        return out
    indices = _adaptive.AdaptiveMaxPool2d()
    indices.forward(input.data, out_hw)
    return out, _make_tensor(indices.indices.astype(dtypes.int64), False, None)


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """Max over ``output_size`` adaptive bins: (N, C, L) -> (N, C, output_size)."""
    (size,) = _out_size(_single(output_size, "output_size") if output_size is not None else None, 1,
                        input.shape, "adaptive_max_pool1d")
    out = adaptive_max_pool2d(_as_2d(input, "adaptive_max_pool1d"), (1, size), return_indices)
    if return_indices:
        return out[0].squeeze(-2), out[1].squeeze(-2)
    return out.squeeze(-2)

