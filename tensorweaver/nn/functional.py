"""``tensorweaver.nn.functional``: the stateless form of every layer and loss, as
``torch.nn.functional``.

These functions check their arguments (naming the expected shapes), then call the
differentiable ops in ``tensorweaver/ops``. Modules in ``tensorweaver.nn`` hold the
parameters and call these.
"""
from __future__ import annotations

import math
import warnings

from tensorweaver import backend, dtypes
from tensorweaver.ops import conv as _conv
from tensorweaver.ops import dropout as _dropout
from tensorweaver.ops import embedding as _embedding
from tensorweaver.ops import loss as _loss
from tensorweaver.ops import normalization as _norm
from tensorweaver.ops import pooling as _pool
from tensorweaver.ops import elementwise as _ew
from tensorweaver.ops import inplace as _inplace
from tensorweaver.ops.elementwise import gelu, sigmoid, tanh  # noqa: F401  (re-exported)
from tensorweaver.ops.inplace import bump_version as _bump_version
from tensorweaver.ops.linalg import linear  # noqa: F401  (re-exported)
from tensorweaver.ops.reduction import log_softmax as _log_softmax
from tensorweaver.ops.reduction import softmax as _softmax
from tensorweaver.tensor import Tensor, _make_tensor

xp = backend.xp


def _pair(value, name="value"):
    if isinstance(value, int):
        return (value, value)
    value = tuple(value)
    if len(value) == 1:
        return (value[0], value[0])
    if len(value) != 2 or not all(isinstance(v, int) for v in value):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    return value


def _const(array):
    return _make_tensor(array, False, None)


def _cast(array, dtype):
    return array if array.dtype == dtype else array.astype(dtype)


def _broadcastable(small, big) -> bool:
    """Whether ``small`` broadcasts to exactly ``big``."""
    if len(small) > len(big):
        return False
    return all(s in (1, b) for s, b in zip(small[::-1], big[::-1]))


def _batched_4d(input, op):
    """(C, H, W) inputs are treated as a batch of one, as in torch."""
    if input.ndim == 4:
        return input, False
    if input.ndim == 3:
        return input.unsqueeze(0), True
    raise ValueError(f"{op}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape {input.shape}")


# ---------------------------------------------------------------- activations
def silu(input):
    """``x * sigmoid(x)``."""
    return input * sigmoid(input)


def _softmax_dim(name, ndim, stacklevel=3):
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to include "
                  "dim=X as an argument.", stacklevel=stacklevel)
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input, dim=None, dtype=None):
    """Softmax along ``dim``; ``dtype`` casts the input first."""
    if dtype is not None:
        input = input.to(dtype)
    if dim is None:
        dim = _softmax_dim("softmax", input.ndim)
    return _softmax(input, dim)


def log_softmax(input, dim=None, dtype=None):
    if dtype is not None:
        input = input.to(dtype)
    if dim is None:
        dim = _softmax_dim("log_softmax", input.ndim)
    return _log_softmax(input, dim)


# ---------------------------------------------------------------- convolution and pooling
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation, as in torch).

    Shapes:
        input (N, C_in, H, W) or (C_in, H, W); weight (C_out, C_in / groups, kH, kW);
        bias (C_out,); output (N, C_out, H_out, W_out) with
        ``H_out = (H + pad_top + pad_bottom - dilation * (kH - 1) - 1) // stride + 1``.

    ``padding`` is an int, a pair, ``"valid"`` (none) or ``"same"`` (output size =
    input size; stride 1 only).
    """
    return _conv2d(input, weight, bias, stride, padding, dilation, groups)


def _conv2d(input, weight, bias, stride, padding, dilation, groups, activation=None, pool=None):
    """``conv2d``, followed by ``activation`` ("relu") and a max-pool over ``pool`` =
    (kH, kW) windows (stride == kernel, no padding) in the same graph node (used by
    ``nn.Sequential`` for a Conv2d followed by a ReLU and/or a MaxPool2d; see
    ``ops/conv.py``). A pool whose windows do not tile the output runs as its own node."""
    x, unbatched = _batched_4d(input, "conv2d")
    if weight.ndim != 4:
        raise ValueError(f"conv2d: weight must be 4-D (C_out, C_in/groups, kH, kW), got shape {weight.shape}")
    n, c, h, w = x.shape
    o, cg, kh, kw = weight.shape
    if groups < 1 or c % groups or o % groups:
        raise ValueError(f"conv2d: groups={groups} must divide both in_channels ({c}) and out_channels ({o})")
    if cg * groups != c:
        raise RuntimeError(
            f"Given groups={groups}, weight of size {list(weight.shape)}, expected input{list(x.shape)} to have "
            f"{cg * groups} channels, but got {c} channels instead (expected input shape (N, {cg * groups}, H, W))")
    if x.dtype != weight.dtype:
        raise TypeError(f"conv2d: input dtype {x.dtype} differs from weight dtype {weight.dtype}; "
                        "convert the input (e.g. x.float()) or the module (model.double())")
    stride, dilation = _pair(stride, "stride"), _pair(dilation, "dilation")
    if isinstance(padding, str):
        if padding == "valid":
            pads = (0, 0, 0, 0)
        elif padding == "same":
            if stride != (1, 1):
                raise ValueError("padding='same' is not supported for strided convolutions")
            th, tw = dilation[0] * (kh - 1), dilation[1] * (kw - 1)
            pads = (th // 2, th - th // 2, tw // 2, tw - tw // 2)
        else:
            raise ValueError(f"Invalid padding string {padding!r}, should be one of 'valid', 'same'")
    else:
        ph, pw = _pair(padding, "padding")
        pads = (ph, ph, pw, pw)
    if min(stride) < 1 or min(dilation) < 1 or min(pads) < 0:
        raise ValueError(f"conv2d: stride {stride} and dilation {dilation} must be >= 1, padding >= 0")
    oh = _conv.output_size(h, kh, stride[0], pads[0], pads[1], dilation[0])
    ow = _conv.output_size(w, kw, stride[1], pads[2], pads[3], dilation[1])
    if oh < 1 or ow < 1:
        raise RuntimeError(f"conv2d: the input of shape {x.shape} is too small for a {kh}x{kw} kernel with "
                           f"dilation {dilation} and padding {pads}: the output would be {oh}x{ow}")
    args = (x, weight) + ((bias,) if bias is not None else (None,))
    # (A student's copy of ops/conv.py from before the pooled node has no pooled_conv_fits.)
    fits = getattr(_conv, "pooled_conv_fits", None)
    fused_pool = pool if pool is not None and fits is not None and fits((oh, ow), pool) else None
    if fused_pool is not None:
        out = _conv.Conv2d.apply(*args, stride, pads, dilation, groups, activation, fused_pool)
    elif activation is None:
        out = _conv.Conv2d.apply(*args, stride, pads, dilation, groups)
    else:
        out = _conv.Conv2d.apply(*args, stride, pads, dilation, groups, activation)
    if pool is not None and fused_pool is None:
        out = max_pool2d(out, pool)
    return out.squeeze(0) if unbatched else out


def _pool_args(input, kernel_size, stride, padding, dilation, op):
    kernel = _pair(kernel_size, "kernel_size")
    stride = kernel if stride is None or stride == [] or stride == () else _pair(stride, "stride")
    padding, dilation = _pair(padding, "padding"), _pair(dilation, "dilation")
    if min(kernel) < 1 or min(stride) < 1 or min(dilation) < 1:
        raise ValueError(f"{op}: kernel_size {kernel}, stride {stride} and dilation {dilation} must be positive")
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2 or min(padding) < 0:
        raise ValueError(f"{op}: pad should be at most half of effective kernel size, but got "
                         f"pad={padding} and kernel_size={kernel}")
    return kernel, stride, padding, dilation


def _check_pool_output(x, out_hw, op):
    if out_hw[0] < 1 or out_hw[1] < 1:
        c, h, w = x.shape[1:]
        raise RuntimeError(f"{op}: Given input size: ({c}x{h}x{w}). Calculated output size: "
                           f"({c}x{out_hw[0]}x{out_hw[1]}). Output size is too small")


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Max over ``kernel_size`` windows. Shapes: (N, C, H, W) or (C, H, W) -> (N, C, H_out, W_out)
    with ``H_out = (H + 2 * padding - dilation * (kH - 1) - 1) // stride + 1`` (rounded up in
    ``ceil_mode``). ``stride`` defaults to ``kernel_size``. With ``return_indices`` also the
    flat ``h * W + w`` positions of the maxima (int64)."""
    x, unbatched = _batched_4d(input, "max_pool2d")
    kernel, stride, padding, dilation = _pool_args(x, kernel_size, stride, padding, dilation, "max_pool2d")
    out_hw, _ = _pool.pool_geometry(x.shape[2], x.shape[3], kernel, stride, padding, dilation, ceil_mode)
    _check_pool_output(x, out_hw, "max_pool2d")
    out = _pool.MaxPool2d.apply(x, kernel, stride, padding, dilation, ceil_mode)
    if unbatched:
        out = out.squeeze(0)
    if not return_indices:
        return out
    idx = _pool.max_pool2d_indices(x.data, kernel, stride, padding, dilation, ceil_mode)
    return out, _const(idx[0] if unbatched else idx)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Mean over ``kernel_size`` windows; shapes as ``max_pool2d``. ``count_include_pad``
    counts zero padding in the divisor; ``divisor_override`` replaces the divisor."""
    x, unbatched = _batched_4d(input, "avg_pool2d")
    kernel, stride, padding, _ = _pool_args(x, kernel_size, stride, padding, 1, "avg_pool2d")
    h, w = x.shape[2:]
    out_hw, _ = _pool.pool_geometry(h, w, kernel, stride, padding, (1, 1), ceil_mode)
    _check_pool_output(x, out_hw, "avg_pool2d")
    if divisor_override is not None:
        if divisor_override == 0:
            raise ValueError("avg_pool2d: divisor must be not zero")
        divisor = divisor_override
    elif padding == (0, 0) and not ceil_mode:
        divisor = kernel[0] * kernel[1]
    else:
        divisor = _pool._avg_divisor(h, w, out_hw, kernel, stride, padding, count_include_pad, x.dtype)
    out = _pool.AvgPool2d.apply(x, kernel, stride, padding, ceil_mode, divisor)
    return out.squeeze(0) if unbatched else out


def adaptive_avg_pool2d(input, output_size):
    """Average into a fixed ``output_size`` grid (int, or pair whose entries may be None =
    keep the input size), with torch's bin edges. (N, C, H, W) -> (N, C, *output_size)."""
    if input.ndim not in (3, 4):
        raise ValueError(f"adaptive_avg_pool2d: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, "
                         f"got shape {input.shape}")
    size = (output_size, output_size) if isinstance(output_size, int) or output_size is None else tuple(output_size)
    out_hw = tuple(input.shape[-2 + i] if s is None else s for i, s in enumerate(size))
    if min(out_hw) < 1:
        raise ValueError(f"adaptive_avg_pool2d: output_size must be positive, got {output_size}")
    return _pool.AdaptiveAvgPool2d.apply(input, out_hw)


# ---------------------------------------------------------------- normalization, dropout, embedding
def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Normalize each channel (dim 1) of ``input`` (N, C, *).

    With ``training=True``: batch statistics, and ``running_mean``/``running_var`` (C,)
    (if given) are updated in place with ``momentum``. Otherwise the running statistics
    are used."""
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected an input of shape (N, C, *), got shape {input.shape}")
    c = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if t is not None and t.shape != (c,):
            raise RuntimeError(f"batch_norm: {name} has shape {t.shape}, but the input {input.shape} has "
                               f"{c} channels (dim 1), so it must have shape ({c},)")
    if training:
        n = input.numel() // c
        if n <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size {input.shape}")
    elif running_mean is None or running_var is None:
        raise ValueError("batch_norm: running_mean and running_var are required when training=False")
    out = _norm.BatchNorm.apply(input, weight, bias, running_mean, running_var, training, momentum, eps)
    if training:                        # the forward updated the running statistics in place
        for stat in (running_mean, running_var):
            if stat is not None:
                _bump_version(stat)
    return out


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalize over the trailing dims ``normalized_shape``; ``weight``/``bias`` have that shape."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if input.shape[input.ndim - len(shape):] != shape or input.ndim < len(shape):
        raise RuntimeError(f"layer_norm: expected the input's trailing dims to be normalized_shape {shape} "
                           f"(input of shape (*, {', '.join(map(str, shape))})), got input of shape {input.shape}")
    return _norm.LayerNorm.apply(input, weight, bias, len(shape), eps)


def relu(input, inplace=False):
    """``max(0, x)``; ``inplace=True`` writes the result into ``input`` (torch's in-place rules)."""
    return _inplace.unary_(input, _ew.relu, "relu_") if inplace else _ew.relu(input)


def relu_(input):
    return _inplace.unary_(input, _ew.relu, "relu_")


def leaky_relu(input, negative_slope=0.01, inplace=False):
    if inplace:
        return _inplace.unary_(input, lambda x: _ew.leaky_relu(x, negative_slope), "leaky_relu_")
    return _ew.leaky_relu(input, negative_slope)


def _check_p(p):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero elements with probability ``p`` (mask from the seeded host generator) and
    scale the rest by ``1/(1-p)``; the identity when not training. ``inplace=True``
    writes the result into ``input`` (torch's in-place rules)."""
    _check_p(p)
    if not training or p == 0.0:
        return input
    mask = _dropout.keep_mask(input.shape, p, input.dtype)
    if inplace:
        return _inplace.unary_(input, lambda x: _dropout.Dropout.apply(x, mask), "dropout_")
    return _dropout.Dropout.apply(input, mask)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels: ``input`` (N, C, H, W) or (C, H, W), one draw per channel."""
    _check_p(p)
    if input.ndim not in (3, 4):
        raise ValueError(f"dropout2d: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape {input.shape}")
    if not training or p == 0.0:
        return input
    mask = _dropout.keep_mask(input.shape[:-2] + (1, 1), p, input.dtype)
    if inplace:
        return _inplace.unary_(input, lambda x: _dropout.Dropout.apply(x, mask), "dropout2d_")
    return _dropout.Dropout.apply(input, mask)


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0):
    """Rows of ``weight`` (V, D) at integer ``input`` (*) -> (*, D).

    ``padding_idx`` rows get no gradient. ``max_norm`` renormalizes (in place) the
    looked-up rows whose ``norm_type``-norm exceeds it, as torch does."""
    if not isinstance(input, Tensor):
        input = Tensor(input)
    if input.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be an integer tensor (e.g. tw.int64), got {input.dtype}")
    v = weight.shape[0]
    if input.numel():
        lo, hi = int(input.data.min()), int(input.data.max())
        if lo < 0 or hi >= v:
            bad = lo if lo < 0 else hi
            raise IndexError(f"embedding: index {bad} is out of range for a table with {v} rows (valid: 0..{v - 1})")
    if padding_idx is not None and padding_idx < 0:
        padding_idx += v
    if max_norm is not None:
        _renorm_rows(weight, input.data, max_norm, norm_type)
    return _embedding.Embedding.apply(weight, input.data, padding_idx)


def _renorm_rows(weight, indices, max_norm, norm_type):
    rows = xp.unique(indices.reshape(-1))
    picked = weight.data[rows]
    norms = (xp.abs(picked) ** norm_type).sum(axis=1) ** (1.0 / norm_type)
    scale = xp.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0).astype(weight.dtype)
    weight.data[rows] = picked * scale[:, None]


def one_hot(tensor, num_classes=-1):
    """int64 (*, num_classes) with a 1 at each index of the integer ``tensor`` (*)."""
    if tensor.dtype.kind not in "iu":
        raise TypeError(f"one_hot is only applicable to index tensors (integer dtype), got {tensor.dtype}")
    if num_classes == -1:
        num_classes = int(tensor.data.max()) + 1 if tensor.numel() else 0
    if tensor.numel() and (int(tensor.data.min()) < 0 or int(tensor.data.max()) >= num_classes):
        raise RuntimeError(f"one_hot: class values must be in [0, {num_classes - 1}]")
    return _const((tensor.data[..., None] == xp.arange(num_classes)).astype(dtypes.int64))


# ---------------------------------------------------------------- losses
def _check_reduction(reduction):
    _loss.check_reduction(reduction)


def _warn_shape(input, target, name):
    if input.shape != target.shape:
        warnings.warn(f"Using a target size ({target.shape}) that is different to the input size ({input.shape}). "
                      "This will likely lead to incorrect results due to broadcasting. Please ensure they have "
                      "the same size.", stacklevel=3)


def _reduce(loss, reduction):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def mse_loss(input, target, reduction="mean"):
    """Mean squared error ``(input - target)^2``, reduced ('mean', 'sum' or 'none')."""
    _check_reduction(reduction)
    _warn_shape(input, target, "mse_loss")
    d = input - target
    return _reduce(d * d, reduction)


def l1_loss(input, target, reduction="mean"):
    """Mean absolute error ``|input - target|``."""
    _check_reduction(reduction)
    _warn_shape(input, target, "l1_loss")
    return _reduce((input - target).abs(), reduction)


def _class_weight(weight, c, dtype, op):
    if weight is None:
        return None
    if weight.shape != (c,):
        raise ValueError(f"{op}: weight should be a 1D tensor of size C={c} (one per class), got shape {weight.shape}")
    return _cast(weight.data, dtype)


def _classes_last(input, target, op):
    """(N, C, d1, ...) logits and (N, d1, ...) targets -> (M, C) and (M,); also (C,) with ()."""
    if input.ndim == 0:
        raise ValueError(f"{op}: input must have a class dimension, got a 0-d tensor")
    if input.ndim == 1:
        expected = ()
    else:
        expected = (input.shape[0],) + input.shape[2:]
    if target.shape != expected:
        raise ValueError(f"{op}: expected target of shape {expected} (the input {input.shape} without its class "
                         f"dim 1), got {target.shape}")
    c = input.shape[0] if input.ndim == 1 else input.shape[1]
    if input.ndim == 1:
        x = input.unsqueeze(0)
    elif input.ndim == 2:
        x = input
    else:
        x = input.permute((0,) + tuple(range(2, input.ndim)) + (1,)).reshape(-1, c)
    # A traced reshape (not ``target.data``) keeps the targets connected for ONNX export.
    return x, (target if target.ndim == 1 else target.reshape(-1)), expected, c


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Cross-entropy between logits and targets.

    Shapes:
        input: (C,), (N, C) or (N, C, d1, ...) unnormalized logits.
        target: class indices (), (N,) or (N, d1, ...) of an integer dtype, in [0, C)
        or equal to ``ignore_index``; or class probabilities with the input's shape.
        output: a scalar, or the target's shape (indices) / the input without dim 1
        (probabilities) for ``reduction='none'``.

    ``weight`` (C,) rescales each class. With indices, 'mean' divides by the summed
    weights of the targets that are not ignored. ``label_smoothing`` mixes the target
    with the uniform distribution.
    """
    _check_reduction(reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    if not isinstance(target, Tensor):
        target = Tensor(target)
    if (weight is None and len(input.shape) == 2 and target.shape == input.shape[:1]
            and target._data.dtype.kind in "iu"):
        # The common call, (N, C) logits against (N,) class indices: no reshaping to do.
        return _loss.CrossEntropy.apply(input, target, None, ignore_index, reduction, label_smoothing)
    if target.shape == input.shape and input.ndim >= 1 and target.dtype.kind == "f":
        c = input.shape[0] if input.ndim == 1 else input.shape[1]
        if ignore_index >= 0:
            raise ValueError("ignore_index is not supported for floating point (probability) targets")
        w = _class_weight(weight, c, input.dtype, "cross_entropy")
        perm = (0,) + tuple(range(2, input.ndim)) + (1,)
        x = input.unsqueeze(0) if input.ndim == 1 else input if input.ndim == 2 else input.permute(perm).reshape(-1, c)
        t = target.unsqueeze(0) if input.ndim == 1 else target if input.ndim == 2 else target.permute(perm).reshape(-1, c)
        out = _loss.CrossEntropyProbs.apply(x, t.to(input.dtype), w, reduction, label_smoothing)
        out_shape = () if input.ndim == 1 else (input.shape[0],) + input.shape[2:]
        return out.reshape(out_shape) if reduction == "none" else out
    if target.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: class-index targets must be an integer tensor (e.g. tw.int64), got "
                        f"{target.dtype} of shape {target.shape}; for class probabilities the target must be a "
                        f"float tensor of the input's shape {input.shape}")
    x, t, out_shape, c = _classes_last(input, target, "cross_entropy")
    out = _loss.CrossEntropy.apply(x, t, _class_weight(weight, c, input.dtype, "cross_entropy"), ignore_index,
                                   reduction, label_smoothing)
    return out.reshape(out_shape) if reduction == "none" else out


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of log-probabilities ``input`` ((C,), (N, C) or (N, C, d1, ...))
    at integer class indices ``target`` ((), (N,) or (N, d1, ...)): ``-weight[t] * input[t]``."""
    _check_reduction(reduction)
    if not isinstance(target, Tensor):
        target = Tensor(target)
    if target.dtype.kind not in "iu":
        raise TypeError(f"nll_loss: targets must be an integer tensor of class indices (e.g. tw.int64), "
                        f"got {target.dtype}")
    x, t, out_shape, c = _classes_last(input, target, "nll_loss")
    out = _loss.NLLLoss.apply(x, t, _class_weight(weight, c, input.dtype, "nll_loss"), ignore_index, reduction)
    return out.reshape(out_shape) if reduction == "none" else out


def _elementwise_weight(weight, input, op):
    if weight is None:
        return None
    if not _broadcastable(weight.shape, input.shape):
        raise ValueError(f"{op}: weight of shape {weight.shape} cannot be broadcast to the input's "
                         f"shape {input.shape}")
    # Not broadcast here: the loss broadcasts it, and an un-broadcast weight stays a
    # constant of its own shape when the model is exported with a dynamic batch.
    return _cast(weight.data, input.dtype)


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """BCE between probabilities ``input`` (*) in [0, 1] and ``target`` (*) of the same
    shape; ``weight`` broadcasts to the input's shape."""
    _check_reduction(reduction)
    if target.shape != input.shape:
        raise ValueError(f"Using a target size ({target.shape}) that is different to the input size "
                         f"({input.shape}) is deprecated. Please ensure they have the same size.")
    return _loss.BinaryCrossEntropy.apply(input, target.to(input.dtype),
                                          _elementwise_weight(weight, input, "binary_cross_entropy"), reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):
    """BCE on logits, computed stably: ``input`` (*) and ``target`` (*) of the same shape;
    ``weight`` broadcasts to the input's shape; ``pos_weight`` (C,) weights the positive
    term of each class along the last dim."""
    _check_reduction(reduction)
    if target.shape != input.shape:
        raise ValueError(f"Target size ({target.shape}) must be the same as input size ({input.shape})")
    pw = None
    if pos_weight is not None:
        if not _broadcastable(pos_weight.shape, input.shape):
            raise ValueError(f"binary_cross_entropy_with_logits: pos_weight of shape {pos_weight.shape} must "
                             f"broadcast along the input's last dim (input shape {input.shape})")
        pw = _cast(pos_weight.data, input.dtype)
    return _loss.BinaryCrossEntropyWithLogits.apply(
        input, target.to(input.dtype), _elementwise_weight(weight, input, "binary_cross_entropy_with_logits"),
        pw, reduction)
from tensorweaver.nn._functional.attention import (  # noqa: E402,F401  (attention family)
    _canonical_mask, multi_head_attention_forward, scaled_dot_product_attention,
)


# ---------------------------------------------------------------- convolution family (nn/_functional/)
from tensorweaver.nn._functional.conv import conv1d, conv_transpose1d, conv_transpose2d, pad  # noqa: E402,F401
from tensorweaver.nn._functional.pooling import (  # noqa: E402,F401
    adaptive_avg_pool1d, adaptive_max_pool1d, adaptive_max_pool2d, avg_pool1d, max_pool1d,
)
from tensorweaver.nn._functional.resample import (  # noqa: E402,F401
    fold, interpolate, pixel_shuffle, pixel_unshuffle, unfold, upsample,
)

# ---------------------------------------------------------------- more layers and losses (nn/_functional/)
from tensorweaver.nn._functional.activation import (  # noqa: E402,F401
    celu, elu, glu, hardsigmoid, hardswish, hardtanh, logsigmoid, mish, prelu, relu6, selu, softplus, softsign,
    threshold,
)
from tensorweaver.nn._functional.normalization import (  # noqa: E402,F401
    bilinear, cosine_similarity, group_norm, instance_norm, normalize, pairwise_distance,
)
from tensorweaver.nn._functional.loss import (  # noqa: E402,F401
    cosine_embedding_loss, gaussian_nll_loss, hinge_embedding_loss, huber_loss, kl_div, margin_ranking_loss,
    multilabel_soft_margin_loss, poisson_nll_loss, smooth_l1_loss, triplet_margin_loss,
)
