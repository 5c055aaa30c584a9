"""Resampling and rearranging pixels: ``interpolate``/``upsample``, ``pixel_shuffle``,
``pixel_unshuffle``, ``unfold`` and ``fold``."""
from __future__ import annotations

import warnings

from tensorweaver import backend
from tensorweaver.nn import functional as F
from tensorweaver.ops import fold as _fold
from tensorweaver.ops import resample as _resample

_SPATIAL = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}
_MODES = ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear", "area")


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize the spatial dims (all dims after the first two) of ``input`` (N, C, *spatial).

    Give exactly one of ``size`` (int or one value per spatial dim) and ``scale_factor``
    (float or one per dim; the output is ``floor(in * scale_factor)``). ``mode``:
    'nearest', 'nearest-exact', 'linear' (3-D input), 'bilinear'/'bicubic' (4-D),
    'trilinear' (5-D) or 'area' (adaptive average). ``align_corners`` (linear modes
    only) maps the corner pixels' centres onto each other instead of their edges.
    With a ``scale_factor`` and ``recompute_scale_factor`` not True, the source
    positions use ``1 / scale_factor`` as torch's do.
    """
    if mode not in _MODES:
        raise NotImplementedError(f"interpolate: unknown mode {mode!r}; expected one of {_MODES}")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported by tensorweaver; resample "
                                  "without it (antialias=False) or blur first")
    if input.ndim < 3:
        raise ValueError(f"interpolate: expected an input of shape (N, C, *spatial) with 1 to 3 spatial dims, "
                         f"got shape {input.shape}")
    dim = input.ndim - 2
    if mode in _SPATIAL and _SPATIAL[mode] != dim:
        raise NotImplementedError(f"interpolate: mode {mode!r} needs a {_SPATIAL[mode] + 2}-D input "
                                  f"(N, C, {_SPATIAL[mode]} spatial dims), got shape {input.shape}")
    if align_corners is not None and mode not in _SPATIAL:
        raise ValueError("align_corners option can only be set with the interpolating modes: "
                         "linear | bilinear | bicubic | trilinear")
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give either size or scale_factor, not both (and not neither)")
    if size is not None:
        size = [size] * dim if isinstance(size, int) else list(size)
        if len(size) != dim:
            raise ValueError(f"interpolate: size {size} must have {dim} values for an input of shape {input.shape}")
        scales = [None] * dim
    else:
        scales = [float(scale_factor)] * dim if isinstance(scale_factor, (int, float)) else \
            [float(s) for s in scale_factor]
        if len(scales) != dim:
            raise ValueError(f"interpolate: scale_factor {scale_factor} must have {dim} values for an input "
                             f"of shape {input.shape}")
    if mode in _SPATIAL and align_corners is None:
        align_corners = False
    spatial = input.shape[2:]
    out = _resample.output_sizes(spatial, size, scales)
    if min(out) < 1:
        raise ValueError(f"interpolate: the output size {out} must be positive (input {input.shape})")
    if recompute_scale_factor or mode == "area":
        scales = [None] * dim            # source positions from the sizes alone
    mats = []
    for d, o, s in zip(spatial, out, scales):
        m = _resample.resample_matrix(mode, d, o, align_corners, s, _host_dtype(input))
        mats.append(backend.from_host(m))
    return _resample.Resample.apply(input, mats)


def _host_dtype(t):
    if t.dtype.kind != "f":
        raise TypeError(f"interpolate: expected a floating-point input, got {t.dtype}")
    return backend.host_numpy().dtype(t.dtype.name)


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """Deprecated alias of ``interpolate`` (warns, as torch's)."""
    warnings.warn("nn.functional.upsample is deprecated. Use nn.functional.interpolate instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode, align_corners)


def pixel_shuffle(input, upscale_factor):
    """(*, C * r^2, H, W) -> (*, C, H * r, W * r): channel blocks become r x r pixel blocks."""
    r = upscale_factor
    if input.ndim < 3:
        raise ValueError(f"pixel_shuffle expects input to have at least 3 dimensions, but got input with "
                         f"{input.ndim} dimension(s)")
    *lead, c, h, w = input.shape
    if c % (r * r):
        raise RuntimeError(f"pixel_shuffle expects its input's 'channel' dimension to be divisible by the square "
                           f"of upscale_factor, but input.size(-3)={c} is not divisible by {r * r}")
    n = len(lead)
    x = input.reshape(*lead, c // (r * r), r, r, h, w)
    x = x.permute(*range(n), n, n + 3, n + 1, n + 4, n + 2)
    return x.reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(input, downscale_factor):
    """(*, C, H * r, W * r) -> (*, C * r^2, H, W): the inverse of ``pixel_shuffle``."""
    r = downscale_factor
    if input.ndim < 3:
        raise ValueError(f"pixel_unshuffle expects input to have at least 3 dimensions, but got input with "
                         f"{input.ndim} dimension(s)")
    *lead, c, h, w = input.shape
    if h % r or w % r:
        raise RuntimeError(f"pixel_unshuffle expects height ({h}) and width ({w}) to be divisible by "
                           f"downscale_factor ({r})")
    n = len(lead)
    x = input.reshape(*lead, c, h // r, r, w // r, r)
    x = x.permute(*range(n), n, n + 2, n + 4, n + 1, n + 3)
    return x.reshape(*lead, c * r * r, h // r, w // r)


def _fold_args(kernel_size, dilation, padding, stride):
    args = tuple(F._pair(v, name) for v, name in ((kernel_size, "kernel_size"), (dilation, "dilation"),
                                                 (padding, "padding"), (stride, "stride")))
    if min(args[0]) < 1 or min(args[1]) < 1 or min(args[3]) < 1 or min(args[2]) < 0:
        raise ValueError(f"kernel_size {args[0]}, dilation {args[1]} and stride {args[3]} must be positive and "
                         f"padding {args[2]} non-negative")
    return args


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Extract sliding blocks (im2col): (N, C, H, W) or (C, H, W) -> (N, C * kH * kW, L),
    L the number of blocks, ``prod((d + 2 * padding - dilation * (k - 1) - 1) // stride + 1)``."""
    x, unbatched = F._batched_4d(input, "unfold")
    args = _fold_args(kernel_size, dilation, padding, stride)
    blocks = _fold.blocks(x.shape[2], x.shape[3], *args)
    if min(blocks) < 1:
        raise RuntimeError(f"unfold: the input {x.shape} is too small for kernel_size {args[0]} with dilation "
                           f"{args[1]} and padding {args[2]}: the blocks grid would be {blocks}")
    out = _fold.Unfold.apply(x, *args)
    return out.squeeze(0) if unbatched else out


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Sum sliding blocks into an image (col2im): (N, C * kH * kW, L) or (C * kH * kW, L)
    -> (N, C, *output_size); overlapping values add up."""
    if input.ndim == 2:
        input, unbatched = input.unsqueeze(0), True
    elif input.ndim == 3:
        unbatched = False
    else:
        raise ValueError(f"fold: expected a 2-D or 3-D input (N, C * kH * kW, L), got shape {input.shape}")
    output_size = F._pair(output_size, "output_size")
    args = _fold_args(kernel_size, dilation, padding, stride)
    k = args[0][0] * args[0][1]
    if input.shape[1] % k:
        raise RuntimeError(f"fold: expected size of input's dimension 1 to be divisible by the product of "
                           f"kernel_size, but got input.size(1)={input.shape[1]} and kernel_size={args[0]}")
    blocks = _fold.blocks(output_size[0], output_size[1], *args)
    if blocks[0] * blocks[1] != input.shape[2]:
        raise RuntimeError(f"fold: given output_size={output_size}, kernel_size={args[0]}, dilation={args[1]}, "
                           f"padding={args[2]}, stride={args[3]}, expected size of input's dimension 2 to match "
                           f"the calculated number of sliding blocks {blocks[0]} * {blocks[1]} = "
                           f"{blocks[0] * blocks[1]}, but got input.size(2)={input.shape[2]}")
    out = _fold.Fold.apply(input, output_size, *args)
    return out.squeeze(0) if unbatched else out

