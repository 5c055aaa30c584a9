"""Convolutions beyond ``conv2d``: ``conv1d``, ``conv_transpose1d``, ``conv_transpose2d``,
and ``pad``.

1-D convolutions run as 2-D ones on a height-1 image (a (N, C, L) input becomes
(N, C, 1, L), a (O, C, k) weight (O, C, 1, k)), so they share the im2col code of
``ops/conv.py`` and its speed.
"""
from __future__ import annotations

from tensorweaver.nn import functional as F
from tensorweaver.ops import conv_transpose as _convt
from tensorweaver.ops import padding as _padding


def _single(value, name):
    if isinstance(value, int):
        return value
    value = tuple(value)
    if len(value) != 1 or not isinstance(value[0], int):
        raise ValueError(f"{name} must be an int or a 1-tuple of ints, got {value!r}")
    return value[0]


def _batched_3d(input, op):
    """(C, L) inputs are treated as a batch of one, as in torch."""
    if input.ndim == 3:
        return input, False
    if input.ndim == 2:
        return input.unsqueeze(0), True
    raise ValueError(f"{op}: expected a 2-D (C, L) or 3-D (N, C, L) input, got shape {input.shape}")


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution (cross-correlation, as in torch).

    Shapes:
        input (N, C_in, L) or (C_in, L); weight (C_out, C_in / groups, k); bias (C_out,);
        output (N, C_out, L_out), ``L_out = (L + 2 * padding - dilation * (k - 1) - 1) // stride + 1``.

    ``padding`` is an int, ``"valid"`` or ``"same"`` (stride 1 only).
    """
    x, unbatched = _batched_3d(input, "conv1d")
    if weight.ndim != 3:
        raise ValueError(f"conv1d: weight must be 3-D (C_out, C_in/groups, k), got shape {weight.shape}")
    pad = padding if isinstance(padding, str) else (0, _single(padding, "padding"))
    out = F.conv2d(x.unsqueeze(2), weight.unsqueeze(2), bias, (1, _single(stride, "stride")), pad,
                   (1, _single(dilation, "dilation")), groups)
    out = out.squeeze(2)
    return out.squeeze(0) if unbatched else out


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """2-D transposed convolution (the adjoint of ``conv2d``, sometimes called deconvolution).

    Shapes:
        input (N, C_in, H, W) or (C_in, H, W); weight (C_in, C_out / groups, kH, kW);
        bias (C_out,); output (N, C_out, H_out, W_out) with
        ``H_out = (H - 1) * stride - 2 * padding + dilation * (kH - 1) + output_padding + 1``.

    ``output_padding`` (smaller than ``stride`` or ``dilation``) picks among the output
    sizes that a strided ``conv2d`` maps to the same input size.
    """
    x, unbatched = F._batched_4d(input, "conv_transpose2d")
    if weight.ndim != 4:
        raise ValueError(f"conv_transpose2d: weight must be 4-D (C_in, C_out/groups, kH, kW), got shape "
                         f"{weight.shape}")
    stride, padding = F._pair(stride, "stride"), F._pair(padding, "padding")
    output_padding, dilation = F._pair(output_padding, "output_padding"), F._pair(dilation, "dilation")
    n, c, h, w = x.shape
    if groups < 1 or c % groups:
        raise ValueError(f"conv_transpose2d: groups={groups} must divide in_channels ({c})")
    if weight.shape[0] != c:
        raise RuntimeError(f"conv_transpose2d: weight of size {list(weight.shape)} expects {weight.shape[0]} "
                           f"input channels (its dim 0), but the input {list(x.shape)} has {c}")
    if x.dtype != weight.dtype:
        raise TypeError(f"conv_transpose2d: input dtype {x.dtype} differs from weight dtype {weight.dtype}; "
                        "convert the input (e.g. x.float()) or the module (model.double())")
    if min(stride) < 1 or min(dilation) < 1 or min(padding) < 0 or min(output_padding) < 0:
        raise ValueError(f"conv_transpose2d: stride {stride} and dilation {dilation} must be >= 1, padding "
                         f"{padding} and output_padding {output_padding} >= 0")
    for op, s, d in zip(output_padding, stride, dilation):
        if op >= max(s, d):
            raise ValueError(f"conv_transpose2d: output_padding {output_padding} must be smaller than either "
                             f"stride {stride} or dilation {dilation}")
    kh, kw = weight.shape[2:]
    size = [_convt.output_size(s, k, st, p, 0, d) for s, k, st, p, d in zip((h, w), (kh, kw), stride, padding,
                                                                             dilation)]
    if min(size) < 1:
        raise RuntimeError(f"conv_transpose2d: the input of shape {list(x.shape)} with padding {padding} gives "
                           f"an empty output ({size[0]}x{size[1]} before output_padding); reduce the padding")
    out = _convt.ConvTranspose2d.apply(x, weight, bias, stride, padding, output_padding, dilation, groups)
    return out.squeeze(0) if unbatched else out


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """1-D transposed convolution. Shapes: input (N, C_in, L) or (C_in, L); weight
    (C_in, C_out / groups, k); output (N, C_out, L_out) with
    ``L_out = (L - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1``."""
    x, unbatched = _batched_3d(input, "conv_transpose1d")
    if weight.ndim != 3:
        raise ValueError(f"conv_transpose1d: weight must be 3-D (C_in, C_out/groups, k), got shape {weight.shape}")
    # The height axis gets stride 1 and output_padding 0: output_padding < max(stride, dilation) holds there.
    out = conv_transpose2d(x.unsqueeze(2), weight.unsqueeze(2), bias, (1, _single(stride, "stride")),
                           (0, _single(padding, "padding")), (0, _single(output_padding, "output_padding")),
                           groups, (1, _single(dilation, "dilation")))
    out = out.squeeze(2)
    return out.squeeze(0) if unbatched else out


_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def pad(input, pad, mode="constant", value=None):
    """Pad the trailing dims of ``input``.

    ``pad`` lists (before, after) widths from the *last* dim backwards:
    ``(left, right)`` pads the last dim, ``(left, right, top, bottom)`` the last two, and
    so on. ``mode``: 'constant' (``value``, default 0; negative widths crop),
    'reflect' (mirror, edge not repeated), 'replicate' (edge repeated) or 'circular'
    (wrap around). The non-constant modes pad the last 1, 2 or 3 dims of a batched or
    unbatched input, as torch's.
    """
    pad = tuple(pad)
    if len(pad) % 2 or not all(isinstance(p, int) for p in pad):
        raise ValueError(f"pad: expected an even number of int widths (left, right, top, bottom, ...), got {pad}")
    k = len(pad) // 2
    if k > input.ndim:
        raise ValueError(f"pad: padding {pad} covers {k} dims but the input has only {input.ndim} "
                         f"(shape {input.shape})")
    if mode not in _PAD_MODES:
        raise NotImplementedError(f"pad: unrecognised padding mode {mode!r}; expected one of {_PAD_MODES}")
    widths = [(pad[2 * i], pad[2 * i + 1]) for i in range(k)][::-1]     # first padded dim first
    if mode != "constant":
        if value not in (None, 0, 0.0):
            raise ValueError(f"pad: padding mode {mode!r} doesn't take in value argument (value={value})")
        if input.ndim not in (k + 1, k + 2) or k > 3:
            raise NotImplementedError(
                f"pad: {mode} padding of {k} dim(s) needs a {k + 1}-D or {k + 2}-D input (unbatched or "
                f"batched), got shape {input.shape}; only the last 1, 2 or 3 dims can be padded this way")
        dims = input.shape[input.ndim - k:]
        for d, (b, a) in zip(dims, widths):
            if min(b, a) < 0:
                raise ValueError(f"pad: negative widths {pad} are only supported in 'constant' mode")
            if mode == "reflect" and (b >= d or a >= d):
                raise ValueError(f"pad: Padding size should be less than the corresponding input dimension, but "
                                 f"got: padding ({b}, {a}) at dimension of size {d} (input {input.shape})")
            if mode == "circular" and (b > d or a > d):
                raise ValueError(f"pad: Padding value causes wrapping around more than once (padding ({b}, {a}) "
                                 f"at a dimension of size {d})")
        if all(w == (0, 0) for w in widths):
            return input
    else:
        for d, (b, a) in zip(input.shape[input.ndim - k:], widths):
            if d + b + a < 0:
                raise ValueError(f"pad: widths {pad} would make a dimension of size {d} negative")
    fill = 0.0 if value is None else value
    return _padding.Pad.apply(input, widths, mode, fill)
