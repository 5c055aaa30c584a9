"""Group and instance normalization, ``normalize``, distances and ``bilinear``.

Group and instance normalization reuse the fused ``LayerNorm`` Function
(``ops/normalization.py``): viewed as (N, G, rest), a group is a row normalized over
its last axis; the per-channel affine transform follows as one multiply-add.
"""
from __future__ import annotations

from tensorweaver.nn import functional as F
from tensorweaver.ops import normalization as _norm
from tensorweaver.ops.elementwise import clamp
from tensorweaver.ops.linalg import matmul


def _channel_view(p, ndim):
    """(C,) -> (C, 1, ..., 1), broadcasting against (N, C, *spatial)."""
    return p.reshape((-1,) + (1,) * (ndim - 2))


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalize ``input`` (N, C, *) over each group of ``C / num_groups`` channels (and
    all spatial positions); ``weight``/``bias`` (C,) scale and shift each channel."""
    if input.ndim < 2:
        raise RuntimeError(f"group_norm: expected an input of shape (N, C, *), got shape {input.shape}")
    n, c = input.shape[:2]
    if num_groups < 1 or c % num_groups:
        raise RuntimeError(f"group_norm: Expected number of channels in input ({c}) to be divisible by "
                           f"num_groups ({num_groups}) (input shape {input.shape})")
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and p.shape != (c,):
            raise RuntimeError(f"group_norm: {name} must have shape ({c},) (one per channel), got {p.shape}")
    y = _norm.LayerNorm.apply(input.reshape(n, num_groups, -1), None, None, 1, eps).reshape(input.shape)
    if weight is not None:
        y = y * _channel_view(weight, input.ndim)
    if bias is not None:
        y = y + _channel_view(bias, input.ndim)
    return y


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    """Normalize each channel of each sample of ``input`` (N, C, *spatial) over its spatial
    positions. With ``use_input_stats=False`` the running statistics are used instead
    (as batch_norm in eval mode); with ``use_input_stats=True`` and running statistics
    given, they are updated in place from the batch's per-instance statistics."""
    if input.ndim < 3:
        raise ValueError(f"instance_norm: expected an input of shape (N, C, L) or (N, C, H, W), got {input.shape}")
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise ValueError("instance_norm: Expected running_mean and running_var to be defined when "
                             "use_input_stats is false")
        return F.batch_norm(input, running_mean, running_var, weight, bias, False, momentum, eps)
    n, c = input.shape[:2]
    spatial = 1
    for d in input.shape[2:]:
        spatial *= d
    if spatial <= 1:
        raise ValueError(f"Expected more than 1 spatial element when training, got input size {input.shape}")
    if running_mean is not None or running_var is not None:
        _update_running(input.detach(), running_mean, running_var, momentum, spatial)
    return group_norm(input, c, weight, bias, eps)      # one group per channel


def _update_running(x, running_mean, running_var, momentum, spatial):
    """torch's rule: the running statistics move towards the batch mean of the instances'
    means and unbiased variances."""
    from tensorweaver.ops.inplace import bump_version

    n, c = x.shape[:2]
    flat = x.data.reshape(n, c, -1)
    mean = flat.mean(axis=2)
    var = flat.var(axis=2) * (spatial / (spatial - 1))
    m = momentum
    if running_mean is not None:
        running_mean.data[...] = (1 - m) * running_mean.data + m * mean.mean(axis=0)
        bump_version(running_mean)
    if running_var is not None:
        running_var.data[...] = (1 - m) * running_var.data + m * var.mean(axis=0)
        bump_version(running_var)


def _pnorm(x, p, dim, keepdim):
    """The p-norm along ``dim`` (p = inf: the largest magnitude)."""
    if p == float("inf"):
        return x.abs().amax(dim=dim, keepdim=keepdim)
    if p == 2:
        return (x * x).sum(dim=dim, keepdim=keepdim).sqrt()
    if p == 1:
        return x.abs().sum(dim=dim, keepdim=keepdim)
    return (x.abs() ** p).sum(dim=dim, keepdim=keepdim) ** (1.0 / p)


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """``input / max(||input||_p, eps)`` along ``dim``."""
    if out is not None:
        raise ValueError("normalize: out= is not supported; use the returned tensor")
    return input / clamp(_pnorm(input, p, dim, True), min=eps)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """``sum(x1 * x2) / (max(||x1||, eps) * max(||x2||, eps))`` along ``dim`` (the inputs
    broadcast against each other).

    As torch's, the norms are clamped to ``eps`` for the value only: the gradient flows
    as if unclamped."""
    def norm(x):
        n = _pnorm(x, 2, dim, True)
        fixed = n.detach()
        return n + (clamp(fixed, min=eps) - fixed)
    return ((x1 / norm(x1)) * (x2 / norm(x2))).sum(dim=dim)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """``||x1 - x2 + eps||_p`` along the last dim: (N, D) or (D,) -> (N,) or ()."""
    d = x1 - x2 + eps
    return _pnorm(d, p, -1, keepdim)


def bilinear(input1, input2, weight, bias=None):
    """``y_k = x1^T A_k x2 + b_k``: input1 (*, in1), input2 (*, in2), weight (out, in1, in2),
    bias (out,) -> (*, out)."""
    if weight.ndim != 3:
        raise ValueError(f"bilinear: weight must be 3-D (out, in1, in2), got shape {weight.shape}")
    o, i1, i2 = weight.shape
    if input1.shape[-1] != i1 or input2.shape[-1] != i2 or input1.shape[:-1] != input2.shape[:-1]:
        raise RuntimeError(f"bilinear: input1 {input1.shape} and input2 {input2.shape} must be (*, {i1}) and "
                           f"(*, {i2}) with the same leading dims (weight {weight.shape})")
    lead = input1.shape[:-1]
    x1, x2 = input1.reshape(-1, i1), input2.reshape(-1, i2)
    # (M, in1) @ (in1, out * in2): each row's x1^T A_k for every k, then the dot with x2.
    t = matmul(x1, weight.permute(1, 0, 2).reshape(i1, o * i2)).reshape(-1, o, i2)
    y = (t * x2.unsqueeze(1)).sum(dim=-1)
    if bias is not None:
        y = y + bias
    return y.reshape(*lead, o)

