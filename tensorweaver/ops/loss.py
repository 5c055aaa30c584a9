"""Fused losses: each is one Function with a closed-form backward.

Fusing avoids a chain of small graph nodes and is numerically stable (cross-entropy
works from ``log_softmax``; BCE-with-logits never forms ``sigmoid`` then ``log``).
Semantics follow torch exactly, including the ``mean`` over non-ignored targets
weighted by the class weights.

All class-dimension losses take a 2-D (M, C) input here; ``nn.functional`` moves
the class dim of (N, C, d1, ...) inputs last and flattens them first.
"""
from __future__ import annotations

from tensorweaver import backend
from tensorweaver.autograd.function import Function

xp = backend.xp


def check_reduction(reduction):
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction!r} is not a valid value for reduction; use 'none', 'mean' or 'sum'")


def _log_softmax(x):
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))


def _reduce(per_item, reduction, denom):
    if reduction == "none":
        return per_item
    total = per_item.sum()
    return total if reduction == "sum" else total / denom


def _row_scale(grad, reduction, denom):
    """The incoming gradient as a per-row factor: (M, 1) for 'none', else a scalar."""
    if reduction == "none":
        return grad[:, None]
    return grad / denom if reduction == "mean" else grad


def _all_class_indices(target, n_classes, ignore_index):
    """Whether every target is a class index in [0, C) and none can be ``ignore_index``:
    a reduction or two instead of the masks the general path builds (which also says which
    target is out of range when one is)."""
    if target.shape[0] == 0 or 0 <= ignore_index < n_classes:
        return False
    return backend.all_below(target, n_classes)


def check_targets(target, valid, n_classes):
    """Class indices must lie in [0, C) unless they are the ignore_index."""
    bad = valid & ((target < 0) | (target >= n_classes))
    if bool(bad.any()):
        first = int(backend.to_host(target[bad].reshape(-1)[:1])[0])
        raise IndexError(f"Target {first} is out of bounds: class indices must be in [0, {n_classes - 1}] "
                         "(or equal to ignore_index)")


class CrossEntropy(Function):
    """Cross-entropy of logits (M, C) against class indices (M,).

    Per row: ``(1 - ls) * w[y] * -logp[y] + ls / C * sum_c w[c] * -logp[c]`` (0 where
    ``y == ignore_index``); ``mean`` divides by the sum of ``w[y]`` over the rows
    that are not ignored, as torch does.
    """

    def forward(self, x, target, weight, ignore_index, reduction, label_smoothing):
        m, c = x.shape
        if weight is None and not label_smoothing and _all_class_indices(target, c, ignore_index):
            # The common case (every target a class, no weights, no smoothing) in a few
            # passes: the mean of -logp[y]. (w_y and valid are then all ones: not saved.)
            logp = _log_softmax(x)
            self.save_for_backward(logp, target, None, None, None)
            self.reduction, self.ls, self.denom = reduction, 0.0, m
            return _reduce(-logp[xp.arange(m), target], reduction, m)
        valid = target != ignore_index
        check_targets(target, valid, c)
        safe = xp.where(valid, target, 0)
        logp = _log_softmax(x)
        rows = xp.arange(m)
        picked = logp[rows, safe]
        w_y = (weight[safe] if weight is not None else xp.ones(m, dtype=x.dtype)) * valid
        per_item = -w_y * picked
        denom = w_y.sum()
        if label_smoothing > 0:
            smooth = -(logp * weight).sum(axis=1) if weight is not None else -logp.sum(axis=1)
            per_item = (1 - label_smoothing) * per_item + (label_smoothing / c) * (smooth * valid)
        # The targets themselves, not ``safe``: their version is then checked at backward,
        # as torch does (an ignored row's gradient is 0 through w_y whatever its target).
        self.save_for_backward(logp, target, w_y, valid, weight)
        self.reduction, self.ls, self.denom = reduction, label_smoothing, denom
        return _reduce(per_item, reduction, denom)

    def backward(self, grad):
        logp, target, w_y, valid, weight = self.saved_tensors
        m, c = logp.shape
        ls = self.ls
        scale = _row_scale(grad, self.reduction, self.denom)
        if w_y is None:                                  # forward's common case: p - onehot
            gx = xp.exp(logp)
            gx[xp.arange(m), target] -= 1           # every target is a class here
            gx *= scale                             # (gx is this call's own array)
            return gx, None
        p = xp.exp(logp)
        onehot = target[:, None] == xp.arange(c)
        # d/dx of (1-ls) * w_y * -logp[y]  is  (1-ls) * w_y * (p - onehot)
        nll_w = ((1 - ls) * w_y)[:, None]
        gx = nll_w * (p - onehot)
        if ls > 0:
            # d/dx of ls/C * sum_c w_c * -logp_c  is  ls/C * (sum(w) * p - w)
            v = (ls / c) * valid[:, None]
            if weight is None:
                gx = gx + v * (c * p - 1)
            else:
                gx = gx + v * (weight.sum() * p - weight)
        return gx * scale, None

    def tensor_backward(self, grad, logp, target, w_y, valid, weight):
        # logp was computed in forward, so it comes back as a constant: re-attach it to the
        # graph as the output of a log_softmax of the logits (no recomputation).
        logp = _as_log_softmax_of_input(self, logp.data)
        m, c = logp.shape
        ls = self.ls
        if w_y is None:                                  # forward's common case: no weights
            w_y = _const(xp.ones(m, dtype=logp.dtype))
        scale = _row_scale_t(grad, self.reduction, self.denom)
        onehot = _const((target.data[:, None] == xp.arange(c)).astype(logp.dtype))
        gx = _const(((1 - ls) * w_y.data)[:, None]) * (logp.exp() - onehot)
        if ls > 0:
            v = _const((ls / c) * valid.data[:, None])
            p = logp.exp()
            gx = gx + (v * (c * p - 1) if weight is None else v * (weight.sum() * p - weight))
        return gx * scale, None


class CrossEntropyProbs(Function):
    """Cross-entropy of logits (M, C) against class probabilities (M, C).

    Per row: ``-sum_c w[c] * t[c] * logp[c]`` with ``t`` smoothed towards uniform by
    ``label_smoothing``; ``mean`` divides by M (torch ignores the weights there).
    """

    def forward(self, x, target, weight, reduction, label_smoothing):
        m, c = x.shape
        t = target * (1 - label_smoothing) + label_smoothing / c if label_smoothing > 0 else target
        logp = _log_softmax(x)
        wt = t * weight if weight is not None else t
        per_item = -(logp * wt).sum(axis=1)
        self.save_for_backward(logp, wt, weight)
        self.reduction, self.ls, self.denom = reduction, label_smoothing, m
        return _reduce(per_item, reduction, m)

    def backward(self, grad):
        logp, wt, weight = self.saved_tensors
        scale = _row_scale(grad, self.reduction, self.denom)
        need_x, need_t = self.needs_input_grad[:2]
        gx = gt = None
        if need_x:
            gx = (xp.exp(logp) * wt.sum(axis=1, keepdims=True) - wt) * scale
        if need_t:
            wl = logp * weight if weight is not None else logp
            gt = -(1 - self.ls) * wl * scale
        return gx, gt


class NLLLoss(Function):
    """Negative log-likelihood of log-probabilities (M, C) at class indices (M,):
    ``-w[y] * x[y]``, with ``ignore_index`` and torch's weighted mean."""

    def forward(self, x, target, weight, ignore_index, reduction):
        m, c = x.shape
        valid = target != ignore_index
        check_targets(target, valid, c)
        safe = xp.where(valid, target, 0)
        w_y = (weight[safe] if weight is not None else xp.ones(m, dtype=x.dtype)) * valid
        per_item = -w_y * x[xp.arange(m), safe]
        denom = w_y.sum()
        self.save_for_backward(target, w_y)      # (the targets: their version is checked, as torch)
        self.reduction, self.denom, self.c = reduction, denom, c
        return _reduce(per_item, reduction, denom)

    def backward(self, grad):
        target, w_y = self.saved_tensors
        scale = _row_scale(grad, self.reduction, self.denom)
        onehot = target[:, None] == xp.arange(self.c)
        return xp.where(onehot, -w_y[:, None], xp.zeros((), dtype=w_y.dtype)) * scale, None

    def tensor_backward(self, grad, target, w_y):
        scale = _row_scale_t(grad, self.reduction, self.denom)
        onehot = target.data[:, None] == xp.arange(self.c)
        coef = xp.where(onehot, -w_y.data[:, None], xp.zeros((), dtype=w_y.dtype))
        return _const(coef) * scale, None


def _row_scale_t(grad, reduction, denom):
    """``_row_scale`` on Tensors."""
    if reduction == "none":
        return grad.reshape(-1, 1)
    return grad / float(denom) if reduction == "mean" else grad


def _const(array):
    """A constant Tensor (no gradient flows into it)."""
    from tensorweaver.tensor import _make_tensor
    return _make_tensor(backend.as_array(array), False, None)


def _as_log_softmax_of_input(fn, logp):
    """``logp`` (the log_softmax over dim 1 of ``fn``'s first input, computed in forward) as a
    Tensor whose grad_fn is a LogSoftmax node on that input: differentiable again, at the
    cost of no recomputation."""
    from tensorweaver.autograd.function import _OUTPUT
    from tensorweaver.ops.reduction import LogSoftmax
    from tensorweaver.tensor import _make_tensor
    if not fn.needs_input_grad[0]:
        return _const(logp)
    node = LogSoftmax.__new__(LogSoftmax)
    node.dim = 1
    node.needs_input_grad = (True,)
    node._edges = [fn._edges[0]]
    node._saved = (logp,)
    node._saved_meta = ((0, [0], 0, _OUTPUT),)
    return _make_tensor(logp, True, node)


def _per_element_scale(grad, reduction, n):
    if reduction == "none":
        return grad
    return grad / n if reduction == "mean" else grad


#: torch's BCE backward guards the division with a float32 1e-12 (also for float64 inputs).
_BCE_EPS = 9.999999960041972e-13


def _clamped_log(a):
    """``max(log(a), -100)`` for ``a`` in [0, 1], without a log(0) warning."""
    positive = a > 0
    return xp.where(positive, xp.maximum(xp.log(xp.where(positive, a, 1.0)), -100.0), -100.0)


class BinaryCrossEntropy(Function):
    """``-w * (t * log(p) + (1 - t) * log(1 - p))`` for probabilities ``p`` and targets of
    the same shape; the logs are clamped at -100 and the backward divides by
    ``max(p * (1 - p), 1e-12)``, as torch does."""

    def forward(self, p, target, weight, reduction):
        if bool(((p < 0) | (p > 1)).any()):
            raise ValueError("binary_cross_entropy: all elements of input should be between 0 and 1 "
                             "(apply sigmoid first, or use binary_cross_entropy_with_logits)")
        log_p, log_1mp = _clamped_log(p), _clamped_log(1 - p)
        loss = -(target * log_p + (1 - target) * log_1mp)
        if weight is not None:
            loss = loss * weight
        self.save_for_backward(p, target, weight, log_p, log_1mp)
        self.reduction, self.n = reduction, p.size
        return _reduce(loss, reduction, p.size)

    def backward(self, grad):
        p, target, weight, log_p, log_1mp = self.saved_tensors
        g = _per_element_scale(grad, self.reduction, self.n)
        if weight is not None:
            g = g * weight
        need_p, need_t = self.needs_input_grad[:2]
        gp = g * (p - target) / xp.maximum((1 - p) * p, _BCE_EPS) if need_p else None
        gt = g * (log_1mp - log_p) if need_t else None
        return gp, gt

    def tensor_backward(self, grad, p, target, weight, _log_p, _log_1mp):
        from tensorweaver.ops.elementwise import clamp, log, where
        g = _per_element_scale(grad, self.reduction, self.n)
        if weight is not None:
            g = g * weight
        need_p, need_t = self.needs_input_grad[:2]
        gp = g * (p - target) / clamp((1 - p) * p, min=_BCE_EPS) if need_p else None
        gt = None
        if need_t:
            def clamped_log(a):
                positive = a > 0
                return where(positive, clamp(log(where(positive, a, 1.0)), min=-100.0), -100.0)
            gt = g * (clamped_log(1 - p) - clamped_log(p))
        return gp, gt


def _log_sigmoid(x):
    return xp.minimum(x, 0) - xp.log1p(xp.exp(-xp.abs(x)))


class BinaryCrossEntropyWithLogits(Function):
    """``w * ((1 - t) * x - lw * log(sigmoid(x)))`` with ``lw = (pos_weight - 1) * t + 1``
    (``pos_weight`` broadcasts along the last dim); never overflows."""

    def forward(self, x, target, weight, pos_weight, reduction):
        log_sig = _log_sigmoid(x)
        lw = (pos_weight - 1) * target + 1 if pos_weight is not None else None
        loss = (1 - target) * x - (lw * log_sig if lw is not None else log_sig)
        if weight is not None:
            loss = loss * weight
        self.save_for_backward(x, target, weight, pos_weight, log_sig)
        self.reduction, self.n = reduction, loss.size
        return _reduce(loss, reduction, loss.size)

    def backward(self, grad):
        x, target, weight, pos_weight, log_sig = self.saved_tensors
        from tensorweaver.ops.elementwise import unbroadcast
        g = _per_element_scale(grad, self.reduction, self.n)
        if weight is not None:
            g = g * weight
        need_x, need_t = self.needs_input_grad[:2]
        gx = gt = None
        if need_x:
            sig_neg = xp.exp(_log_sigmoid(-x))                        # 1 - sigmoid(x), stable
            lw = (pos_weight - 1) * target + 1 if pos_weight is not None else 1
            gx = unbroadcast(g * ((1 - target) - lw * sig_neg), x.shape)
        if need_t:
            dt = -x - (pos_weight - 1) * log_sig if pos_weight is not None else -x
            gt = unbroadcast(g * dt, target.shape)
        return gx, gt

    def tensor_backward(self, grad, x, target, weight, pos_weight, _log_sig):
        from tensorweaver.ops.elementwise import abs, exp, log, minimum, sigmoid, sum_to
        g = _per_element_scale(grad, self.reduction, self.n)
        if weight is not None:
            g = g * weight
        need_x, need_t = self.needs_input_grad[:2]
        gx = gt = None
        if need_x:
            lw = (pos_weight - 1) * target + 1 if pos_weight is not None else 1
            gx = sum_to(g * ((1 - target) - lw * sigmoid(-x)), x.shape)
        if need_t:
            if pos_weight is not None:     # log(sigmoid(x)), stable: exp(-|x|) <= 1
                log_sig = minimum(x, 0.0) - log(1 + exp(-abs(x)))
                dt = -x - (pos_weight - 1) * log_sig
            else:
                dt = -x
            gt = sum_to(g * dt, target.shape)
        return gx, gt
