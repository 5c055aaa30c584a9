"""More losses, composed from differentiable ops (their gradients follow): smooth L1,
Huber, KL divergence, Poisson and Gaussian NLL, margin ranking, hinge embedding,
cosine embedding, triplet margin, multi-label soft margin.

Every one takes torch's ``reduction`` ('mean', 'sum' or 'none'; ``kl_div`` also
'batchmean'); the deprecated ``size_average``/``reduce`` arguments are not accepted.
"""
from __future__ import annotations

import math
import warnings

from tensorweaver.nn import functional as F
from tensorweaver.nn._functional.activation import logsigmoid
from tensorweaver.nn._functional.normalization import pairwise_distance
from tensorweaver.ops.elementwise import clamp, log, minimum, where
from tensorweaver.tensor import Tensor


def _reduce(loss, reduction):
    F._check_reduction(reduction)
    return F._reduce(loss, reduction)


def _same_shape(input, target, op):
    if input.shape != target.shape:
        warnings.warn(f"{op}: Using a target size ({target.shape}) that is different to the input size "
                      f"({input.shape}). This will likely lead to incorrect results due to broadcasting. "
                      "Please ensure they have the same size.", stacklevel=3)


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    """``0.5 * d^2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 * beta`` (d = input - target);
    ``beta=0`` is the L1 loss."""
    F._check_reduction(reduction)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    _same_shape(input, target, "smooth_l1_loss")
    d = (input - target).abs()
    if beta == 0:
        return _reduce(d, reduction)
    return _reduce(where(d < beta, d * d * (0.5 / beta), d - 0.5 * beta), reduction)


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """``0.5 * d^2`` where ``|d| <= delta``, else ``delta * (|d| - 0.5 * delta)``;
    ``weight`` (broadcasting to the input) scales each element."""
    F._check_reduction(reduction)
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    _same_shape(input, target, "huber_loss")
    d = (input - target).abs()
    loss = where(d <= delta, d * d * 0.5, (d - 0.5 * delta) * delta)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def kl_div(input, target, reduction="mean", log_target=False):
    """KL divergence with ``input`` the log-probabilities of the model and ``target`` the
    probabilities (or log-probabilities with ``log_target``): ``target * (log target - input)``
    pointwise (0 where target is 0). 'batchmean' divides the sum by the batch size, which
    is the true KL divergence; 'mean' (torch's default) averages over every element."""
    if reduction not in ("mean", "sum", "none", "batchmean"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support size."
                      "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                      "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
                      stacklevel=2)
    if log_target:
        loss = target.exp() * (target - input)
    else:
        # xlogy: 0 * log 0 = 0; the log's argument is kept positive so no NaN reaches the gradient.
        positive = target > 0
        loss = where(positive, target * log(where(positive, target, 1.0)), 0.0) - target * input
    if reduction == "batchmean":
        return loss.sum() / (input.shape[0] if input.ndim else 1)
    return _reduce(loss, reduction)


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None,
                     reduction="mean"):
    """Poisson negative log-likelihood of ``target`` counts: ``exp(input) - target * input``
    (``log_input``) or ``input - target * log(input + eps)``; ``full`` adds Stirling's
    approximation of ``log(target!)`` where ``target > 1``."""
    if size_average is not None or reduce is not None:
        raise ValueError("poisson_nll_loss: size_average and reduce are deprecated; use reduction=")
    F._check_reduction(reduction)
    loss = input.exp() - target * input if log_input else input - target * log(input + eps)
    if full:
        big = target > 1
        safe = where(big, target, 2.0)       # keeps log's argument positive (no NaN in the gradient)
        stirling = safe * log(safe) - safe + 0.5 * log(safe * (2 * math.pi))
        loss = loss + where(big, stirling, 0.0)
    return _reduce(loss, reduction)


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """Gaussian negative log-likelihood ``0.5 * (log var + (input - target)^2 / var)`` (plus
    ``0.5 * log(2 pi)`` with ``full``). ``var`` has the input's shape, or one dim fewer /
    a last dim of 1 (one variance per sample), or is a float. ``var`` is clamped to
    ``eps`` for the value but not for the gradient, as torch does."""
    F._check_reduction(reduction)
    if not isinstance(var, Tensor):
        var = F._const(F.xp.full(input.shape, float(var), dtype=input.dtype))
    if var.shape != input.shape:
        if input.shape[:-1] == var.shape:
            var = var.unsqueeze(-1)
        elif input.shape[:-1] == var.shape[:-1] and var.shape[-1] == 1:
            pass
        else:
            raise ValueError(f"gaussian_nll_loss: var of shape {var.shape} is incorrect for an input of shape "
                             f"{input.shape}: use the input's shape, drop its last dim, or make that dim 1")
    if bool((var.data < 0).any()):
        raise ValueError("var has negative entry/entries")
    clamped = var + (clamp(var.detach(), min=eps) - var.detach())      # value clamped, gradient 1
    loss = 0.5 * (log(clamped) + (input - target) ** 2 / clamped)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


def margin_ranking_loss(input1, input2, target, margin=0.0, reduction="mean"):
    """``max(0, -target * (input1 - input2) + margin)``; ``target`` is 1 (input1 should rank
    higher) or -1."""
    if not (input1.ndim == input2.ndim == target.ndim):
        raise RuntimeError(f"margin_ranking_loss : All input tensors should have same dimension but got sizes: "
                           f"input1: {input1.shape}, input2: {input2.shape}, target: {target.shape}")
    return _reduce(clamp(-target * (input1 - input2) + margin, min=0.0), reduction)


def hinge_embedding_loss(input, target, margin=1.0, reduction="mean"):
    """``input`` where ``target == 1``, ``max(0, margin - input)`` where ``target == -1``."""
    margin_part = where(target != 1, clamp(margin - input, min=0.0), 0.0)
    self_part = where(target != -1, input, 0.0)
    return _reduce(margin_part + self_part, reduction)


def cosine_embedding_loss(input1, input2, target, margin=0.0, reduction="mean"):
    """``1 - cos(x1, x2)`` where ``target == 1``, ``max(0, cos(x1, x2) - margin)`` where
    ``target == -1``; inputs (N, D) or (D,), target (N,) or ()."""
    if input1.ndim not in (1, 2) or input1.shape != input2.shape:
        raise RuntimeError(f"cosine_embedding_loss: expected 1-D or 2-D inputs of the same shape, got "
                           f"{input1.shape} and {input2.shape}")
    if target.ndim != input1.ndim - 1:
        raise RuntimeError(f"cosine_embedding_loss: expected a {input1.ndim - 1}-D target for "
                           f"{input1.ndim}-D inputs, got shape {target.shape}")
    # torch's own formula: the dot over sqrt((|x1|^2 + eps) * (|x2|^2 + eps)), eps = 1e-12.
    dim = input1.ndim - 1
    prod = (input1 * input2).sum(dim=dim)
    mag = ((input1 * input1).sum(dim=dim) + 1e-12) * ((input2 * input2).sum(dim=dim) + 1e-12)
    cos = prod / mag.sqrt()
    loss = where(target == 1, 1 - cos, 0.0) + where(target == -1, clamp(cos - margin, min=0.0), 0.0)
    return _reduce(loss, reduction)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2.0, eps=1e-6, swap=False, reduction="mean"):
    """``max(0, margin + d(a, p) - d(a, n))`` with ``d`` the ``pairwise_distance`` (p-norm);
    ``swap`` uses ``min(d(a, n), d(p, n))`` as the negative distance."""
    if not (anchor.ndim == positive.ndim == negative.ndim) or anchor.ndim not in (1, 2):
        raise RuntimeError(f"triplet_margin_loss: The anchor, positive, and negative tensors are expected to have "
                           f"the same number of dimensions (1 or 2), but got: anchor {anchor.ndim}D, positive "
                           f"{positive.ndim}D, and negative {negative.ndim}D inputs")
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = minimum(d_neg, pairwise_distance(positive, negative, p, eps))
    return _reduce(clamp(margin + d_pos - d_neg, min=0.0), reduction)


def multilabel_soft_margin_loss(input, target, weight=None, reduction="mean"):
    """Per-class logistic loss averaged over the C classes: input and target (N, C) or (C,),
    target in {0, 1}; ``weight`` (C,) scales each class."""
    F._check_reduction(reduction)
    loss = -(target * logsigmoid(input) + (1 - target) * logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    loss = loss.mean(dim=input.ndim - 1)
    return _reduce(loss, reduction)

