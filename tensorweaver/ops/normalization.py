"""Batch and layer normalization, each one fused Function with a closed-form backward.

Both compute ``xhat = (x - mean) * invstd`` over some axes and ``y = xhat * w + b``.
When the statistics come from the batch itself, the backward of ``xhat`` is

    dx = invstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)),   dxhat = dy * w

(means over the normalized axes); with fixed statistics it is ``dxhat * invstd``.
"""
from __future__ import annotations

import math

from tensorweaver import backend
from tensorweaver.autograd.function import Function

xp = backend.xp


def _count(shape, axes):
    return math.prod(shape[a] for a in axes)


class BatchNorm(Function):
    """``x`` (N, C, *) normalized per channel C; ``weight``/``bias`` (C,) or None.

    Training (or without running stats): batch statistics over every axis but 1,
    and, when ``running_mean``/``running_var`` are given, they are updated in place
    with ``momentum`` (the unbiased variance, as torch does). Eval: the running
    statistics are used as constants.
    """

    def forward(self, x, weight, bias, running_mean, running_var, training, momentum, eps):
        axes = (0,) + tuple(range(2, x.ndim))
        shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        if training:
            n = _count(x.shape, axes)
            mean = x.mean(axis=axes)
            centered = x - mean.reshape(shape)
            var = (centered * centered).mean(axis=axes)
            if running_mean is not None:
                running_mean *= 1 - momentum
                running_mean += momentum * mean
            if running_var is not None:
                running_var *= 1 - momentum
                running_var += momentum * var * (n / (n - 1))
            invstd = 1.0 / xp.sqrt(var + eps)
            xhat = centered * invstd.reshape(shape)
        else:
            invstd = 1.0 / xp.sqrt(running_var + eps)
            xhat = (x - running_mean.reshape(shape)) * invstd.reshape(shape)
        self.save_for_backward(xhat, invstd.reshape(shape), weight, x)   # x: for tensor_backward (torch saves it)
        self.axes, self.shape, self.batch_stats, self.eps = axes, shape, training, eps
        out = xhat * weight.reshape(shape) if weight is not None else xhat.copy()
        if bias is not None:
            out += bias.reshape(shape)
        return out

    def backward(self, grad):
        xhat, invstd, weight = self.saved_tensors[:3]
        need_x, need_w, need_b = self.needs_input_grad[:3]
        axes = self.axes
        ### BEGIN SOLUTION
        gw = (grad * xhat).sum(axis=axes) if need_w else None
        gb = grad.sum(axis=axes) if need_b else None
        gx = None
        if need_x:
            dxhat = grad * weight.reshape(self.shape) if weight is not None else grad
            if self.batch_stats:
                gx = invstd * (dxhat - dxhat.mean(axis=axes, keepdims=True)
                               - xhat * (dxhat * xhat).mean(axis=axes, keepdims=True))
            else:
                gx = dxhat * invstd
        return gx, gw, gb
        ### END SOLUTION

    def tensor_backward(self, grad, xhat, invstd, weight, x):
        from tensorweaver.tensor import _make_tensor
        axes = self.axes
        if self.batch_stats:               # the statistics again, as recorded ops of x
            centered = x - x.mean(dim=axes, keepdim=True)
            invstd = ((centered * centered).mean(dim=axes, keepdim=True) + self.eps).sqrt() ** -1
            xhat = centered * invstd
        else:                              # running statistics: xhat is affine in x
            xhat = xhat + (x - _make_tensor(x.data, False, None)) * invstd
        need_x, need_w, need_b = self.needs_input_grad[:3]
        gw = (grad * xhat).sum(dim=axes) if need_w else None
        gb = grad.sum(dim=axes) if need_b else None
        gx = None
        if need_x:
            dxhat = grad * weight.reshape(self.shape) if weight is not None else grad
            if self.batch_stats:
                gx = invstd * (dxhat - dxhat.mean(dim=axes, keepdim=True)
                               - xhat * (dxhat * xhat).mean(dim=axes, keepdim=True))
            else:
                gx = dxhat * invstd
        return gx, gw, gb


class LayerNorm(Function):
    """``x`` (*, *normalized_shape) normalized over its last ``n_dims`` axes;
    ``weight``/``bias`` have ``normalized_shape`` (or are None)."""

    def forward(self, x, weight, bias, n_dims, eps):
        axes = tuple(range(x.ndim - n_dims, x.ndim))
        mean = x.mean(axis=axes, keepdims=True)
        centered = x - mean
        var = (centered * centered).mean(axis=axes, keepdims=True)
        invstd = 1.0 / xp.sqrt(var + eps)
        xhat = centered * invstd
        self.save_for_backward(xhat, invstd, weight, x)   # x: for tensor_backward (torch saves it)
        self.axes, self.eps = axes, eps
        out = xhat * weight if weight is not None else xhat.copy()
        if bias is not None:
            out += bias
        return out

    def backward(self, grad):
        xhat, invstd, weight = self.saved_tensors[:3]
        need_x, need_w, need_b = self.needs_input_grad[:3]
        ### BEGIN SOLUTION
        lead = tuple(range(grad.ndim - len(self.axes)))
        gw = (grad * xhat).sum(axis=lead) if need_w else None
        gb = grad.sum(axis=lead) if need_b else None
        gx = None
        if need_x:
            dxhat = grad * weight if weight is not None else grad
            gx = invstd * (dxhat - dxhat.mean(axis=self.axes, keepdims=True)
                           - xhat * (dxhat * xhat).mean(axis=self.axes, keepdims=True))
        return gx, gw, gb
        ### END SOLUTION

    def tensor_backward(self, grad, _xhat, _invstd, weight, x):
        # The statistics again, as recorded ops of x (the saved ones are constants here).
        centered = x - x.mean(dim=self.axes, keepdim=True)
        invstd = ((centered * centered).mean(dim=self.axes, keepdim=True) + self.eps).sqrt() ** -1
        xhat = centered * invstd
        need_x, need_w, need_b = self.needs_input_grad[:3]
        lead = tuple(range(grad.ndim - len(self.axes)))
        gw = (grad * xhat).sum(dim=lead) if need_w else None
        gb = grad.sum(dim=lead) if need_b else None
        gx = None
        if need_x:
            dxhat = grad * weight if weight is not None else grad
            gx = invstd * (dxhat - dxhat.mean(dim=self.axes, keepdim=True)
                           - xhat * (dxhat * xhat).mean(dim=self.axes, keepdim=True))
        return gx, gw, gb
