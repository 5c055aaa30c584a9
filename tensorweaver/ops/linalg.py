"""Matrix products: ``matmul`` (1-D, 2-D and batched with broadcasting) and the
fused ``linear`` (``x @ W.T + b``) that ``nn.Linear`` uses."""
from __future__ import annotations

from tensorweaver import backend
from tensorweaver.autograd.function import Function
from tensorweaver.ops.elementwise import sum_to, unbroadcast
from tensorweaver.ops.shape import Permute, Reshape
from tensorweaver.tensor import Tensor

xp = backend.xp


def _check_matmul(a, b, op="matmul"):
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"{op}: both arguments need at least 1 dimension, got shapes {tuple(a.shape)} and {tuple(b.shape)}")
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise ValueError(
            f"{op}: shapes {tuple(a.shape)} and {tuple(b.shape)} are not aligned: the last dim of the "
            f"first ({k_a}) must equal the {'only' if b.ndim == 1 else 'second-to-last'} dim of the second ({k_b})")
    if a.dtype != b.dtype:
        raise TypeError(f"{op}: both operands must have the same dtype, got {a.dtype} and {b.dtype}; "
                        "convert one with .float() or .double()")
    if a.dtype.kind == "b":
        raise TypeError(f"{op}: bool tensors are not supported; convert with .float() or .long()")


class MatMul(Function):
    def forward(self, a, b):
        _check_matmul(a, b)
        self.save_for_backward(a, b)
        return a @ b

    def backward(self, grad):
        a, b = self.saved_tensors
        need_a, need_b = self.needs_input_grad
        if a.ndim == 2 and b.ndim == 2:        # the common case, without reshaping
            # Each gradient is made in its input's layout (as torch's mm backward does): for
            # ``x @ W.T`` the gradient of ``W.T`` is column-major, so the transpose's backward
            # hands ``W`` a row-major gradient, and the update ``W -= lr * W.grad`` runs over
            # two arrays in one order instead of one of them against the grain.
            ga = gb = None
            if need_a:
                ga = (b @ grad.T).T if backend.is_column_major(a) else grad @ b.T
            if need_b:
                gb = (grad.T @ a).T if backend.is_column_major(b) else a.T @ grad
            return ga, gb
        # Promote vectors to matrices, then reduce broadcast batch dims back.
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g = grad
        if b.ndim == 1:                        # restore the dropped trailing n=1 first...
            g = xp.expand_dims(g, -1)
        if a.ndim == 1:                        # ...then the dropped m=1
            g = xp.expand_dims(g, -2)
        ga = gb = None
        if need_a:
            ga = unbroadcast(g @ xp.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
        if need_b:
            gb = unbroadcast(xp.swapaxes(a2, -1, -2) @ g, b2.shape).reshape(b.shape)
        return ga, gb

    def tensor_backward(self, grad, a, b):
        need_a, need_b = self.needs_input_grad
        if a.ndim == 2 and b.ndim == 2:
            return (MatMul.apply(grad, _mT(b)) if need_a else None), (MatMul.apply(_mT(a), grad) if need_b else None)
        a2 = Reshape.apply(a, (1,) + a.shape) if a.ndim == 1 else a
        b2 = Reshape.apply(b, b.shape + (1,)) if b.ndim == 1 else b
        g = grad
        if b.ndim == 1:
            g = Reshape.apply(g, g.shape + (1,))
        if a.ndim == 1:
            g = Reshape.apply(g, g.shape[:-1] + (1,) + g.shape[-1:])
        ga = gb = None
        if need_a:
            ga = Reshape.apply(sum_to(MatMul.apply(g, _mT(b2)), a2.shape), a.shape)
        if need_b:
            gb = Reshape.apply(sum_to(MatMul.apply(_mT(a2), g), b2.shape), b.shape)
        return ga, gb


class Linear(Function):
    """``x @ weight.T + bias`` for ``x`` of shape (*, in), ``weight`` (out, in), ``bias`` (out,)."""

    def forward(self, x, weight, bias=None):
        if x.ndim == 0 or x.shape[-1] != weight.shape[-1]:
            raise ValueError(f"linear: input of shape {tuple(x.shape)} does not match weight of shape "
                             f"{tuple(weight.shape)}: the input's last dim must be in_features={weight.shape[-1]}")
        if x.dtype != weight.dtype:
            raise TypeError(f"linear: input dtype {x.dtype} differs from weight dtype {weight.dtype}; "
                            "convert the input (e.g. x.float()) or the module (model.double())")
        self.save_for_backward(x, weight)
        out = x @ weight.T
        if bias is not None:
            out += bias                        # our own fresh array: safe to update in place
        return out

    def backward(self, grad):
        x, weight = self.saved_tensors
        need_x, need_w = self.needs_input_grad[:2]
        need_b = len(self.needs_input_grad) > 2 and self.needs_input_grad[2]
        g2 = grad.reshape(-1, grad.shape[-1])
        gx = (grad @ weight) if need_x else None
        gw = (g2.T @ x.reshape(-1, x.shape[-1])) if need_w else None
        gb = g2.sum(axis=0) if need_b else None
        return gx, gw, gb

    def tensor_backward(self, grad, x, weight):
        need_x, need_w = self.needs_input_grad[:2]
        need_b = len(self.needs_input_grad) > 2 and self.needs_input_grad[2]
        g2 = Reshape.apply(grad, (-1, grad.shape[-1]))
        gx = MatMul.apply(grad, weight) if need_x else None
        gw = MatMul.apply(_mT(g2), Reshape.apply(x, (-1, x.shape[-1]))) if need_w else None
        gb = g2.sum(dim=0) if need_b else None
        return gx, gw, gb


def _mT(t):
    """``t`` with its last two dims swapped (recorded)."""
    dims = list(range(t.ndim))
    dims[-1], dims[-2] = dims[-2], dims[-1]
    return Permute.apply(t, tuple(dims))


def matmul(a, b):
    if not isinstance(a, Tensor):
        a = Tensor(a)
    if not isinstance(b, Tensor):
        b = Tensor(b)
    return MatMul.apply(a, b)


def linear(x, weight, bias=None):
    if bias is None:
        return Linear.apply(x, weight)
    return Linear.apply(x, weight, bias)
