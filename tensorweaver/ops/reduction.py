"""Reductions (sum, mean, max/min, var/std, logsumexp) and softmax along a dim.

``dim`` is ``None`` (all dims), an int or a tuple, negative allowed; ``keepdim``
keeps reduced dims as size 1, exactly as in torch.
"""
from __future__ import annotations

import builtins
from collections import namedtuple

from tensorweaver import backend, dtypes
from tensorweaver.autograd.function import Function
from tensorweaver.tensor import Tensor, _make_tensor

xp = backend.xp

ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])


def normalize_dims(dim, ndim, op="reduction"):
    """``dim`` -> sorted tuple of non-negative axes (``None`` = all)."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    out = []
    span = builtins.max(ndim, 1)
    for d in dims:
        if not -span <= d < span:
            raise IndexError(f"{op}: dim {d} is out of range for a tensor with {ndim} dimensions "
                             f"(expected a value in [{-span}, {span - 1}])")
        out.append(d % ndim if ndim else 0)
    return tuple(sorted(set(out)))


def _expand_back(grad, in_shape, axes, keepdim):
    """Re-insert reduced axes (if dropped) so ``grad`` broadcasts against the input."""
    if not keepdim and axes and len(in_shape):
        grad = xp.expand_dims(grad, axes)
    return grad


def _count(shape, axes):
    n = 1
    for a in axes:
        n *= shape[a]
    return n


class Sum(Function):
    def forward(self, a, axes, keepdim):
        self.in_shape, self.axes, self.keepdim = a.shape, axes, keepdim
        return a.sum(axis=axes, keepdims=keepdim)

    def backward(self, grad):
        g = _expand_back(grad, self.in_shape, self.axes, self.keepdim)
        return xp.broadcast_to(g, self.in_shape).copy()   # a real array, not a read-only view

    def tensor_backward(self, grad):
        return _expand_t(grad, self.in_shape, self.axes, self.keepdim)


class Mean(Function):
    def forward(self, a, axes, keepdim):
        self.in_shape, self.axes, self.keepdim = a.shape, axes, keepdim
        return a.mean(axis=axes, keepdims=keepdim)

    def backward(self, grad):
        g = _expand_back(grad, self.in_shape, self.axes, self.keepdim) / _count(self.in_shape, self.axes)
        return xp.broadcast_to(g, self.in_shape).copy()

    def tensor_backward(self, grad):
        return _expand_t(grad / _count(self.in_shape, self.axes), self.in_shape, self.axes, self.keepdim)


class AMax(Function):
    """max/min over dims; ties share the gradient evenly (torch's amax/amin rule)."""

    def forward(self, a, axes, keepdim, largest):
        out = (xp.max if largest else xp.min)(a, axis=axes, keepdims=True)    # NaN as NumPy: see backend
        self.save_for_backward(a, out)
        self.axes, self.keepdim = axes, keepdim
        return out if keepdim else out.reshape([n for i, n in enumerate(a.shape) if i not in axes])

    def backward(self, grad):
        a, out = self.saved_tensors
        hit = (a == out).astype(grad.dtype)
        share = hit / hit.sum(axis=self.axes, keepdims=True)
        return _expand_back(grad, a.shape, self.axes, self.keepdim) * share

    def tensor_backward(self, grad, a, out):
        # Which elements tie for the extreme is piecewise constant: a constant here.
        hit = (a.data == out.data).astype(grad.dtype)
        share = _make_tensor(hit / hit.sum(axis=self.axes, keepdims=True), False, None)
        return _keepdims_t(grad, a.shape, self.axes, self.keepdim) * share


class MaxDim(Function):
    """Values of max/min along one dim; the gradient goes to the returned index."""

    def forward(self, a, dim, keepdim, largest):
        idx = (xp.argmax if largest else xp.argmin)(a, axis=dim)
        idx = xp.expand_dims(idx, dim)
        positions = xp.arange(a.shape[dim]).reshape([-1 if i == dim else 1 for i in range(a.ndim)])
        self.onehot = positions == idx
        self.dim, self.keepdim, self.indices = dim, keepdim, idx if keepdim else idx.squeeze(dim)
        return (xp.max if largest else xp.min)(a, axis=dim, keepdims=keepdim)

    def backward(self, grad):
        g = grad if self.keepdim else xp.expand_dims(grad, self.dim)
        return xp.where(self.onehot, g, xp.zeros((), dtype=grad.dtype))

    def tensor_backward(self, grad):
        g = grad if self.keepdim else grad.unsqueeze(self.dim)
        return _where_t(_make_tensor(self.onehot, False, None), g, 0.0)


def _centered(a, axes):
    """``a - mean(a)`` along ``axes``, exactly 0 on slices whose values are all equal.

    Two passes on data shifted by its first element along ``axes``: a constant slice
    becomes exact zeros, whose mean is exactly 0 (``a - a.mean()`` is not: the mean of
    three 0.7s is 0.7 - 1.1e-16 in float64). For other data the shift costs nothing in
    accuracy (the rounding of ``a - first`` is of the same order as that of ``a - mean``)
    and helps when the values are large relative to their spread.
    """
    first = a[tuple(slice(0, 1) if i in axes else slice(None) for i in range(a.ndim))]
    shifted = a - first
    return shifted - shifted.mean(axis=axes, keepdims=True)


def _centered_t(a, axes):
    """``_centered`` on Tensors (recorded): the shift by the first element cancels in
    the derivative, so this is ``a - mean(a)`` to every order."""
    first = a[tuple(slice(0, 1) if i in axes else slice(None) for i in range(a.ndim))]
    shifted = a - first
    return shifted - shifted.mean(dim=axes, keepdim=True)


def _two_over(denom):
    # 2 / (N - correction); N - correction <= 0 gives inf (times 0: NaN), as torch's grads.
    return 2.0 / denom if denom > 0 else float("inf")


class Var(Function):
    """Variance; forward exactly 0 at zero variance (see ``_centered``)."""

    def forward(self, a, axes, correction, keepdim):
        centered = _centered(a, axes)
        self.denom = builtins.max(_count(a.shape, axes) - correction, 0)
        # The input too (as torch saves it): a second derivative needs centered(a) in the graph.
        self.save_for_backward(centered, a)
        self.axes, self.keepdim = axes, keepdim
        return (centered * centered).sum(axis=axes, keepdims=keepdim) / self.denom

    def backward(self, grad):
        centered = self.saved_tensors[0]
        g = _expand_back(grad, centered.shape, self.axes, self.keepdim)
        return g * _two_over(self.denom) * centered

    def tensor_backward(self, grad, _centered_const, a):
        g = _keepdims_t(grad, a.shape, self.axes, self.keepdim)
        return g * _two_over(self.denom) * _centered_t(a, self.axes)


class Std(Function):
    """sqrt(var) as one op, for torch's gradient at zero variance: 0, not 0 * inf = NaN
    (torch's std_backward masks ``grad / (2 * std)`` to 0 where ``std == 0``)."""

    def forward(self, a, axes, correction, keepdim):
        centered = _centered(a, axes)
        self.denom = builtins.max(_count(a.shape, axes) - correction, 0)
        out = xp.sqrt((centered * centered).sum(axis=axes, keepdims=keepdim) / self.denom)
        self.save_for_backward(centered, out, a)   # a: for tensor_backward (torch saves it too)
        self.axes, self.keepdim = axes, keepdim
        return out

    def backward(self, grad):
        centered, out = self.saved_tensors[:2]
        zero = out == 0
        half = xp.where(zero, xp.zeros((), dtype=grad.dtype),
                        grad / (2 * xp.where(zero, xp.ones((), dtype=out.dtype), out)))
        g = _expand_back(half, centered.shape, self.axes, self.keepdim)
        return g * _two_over(self.denom) * centered

    def tensor_backward(self, grad, _centered_const, out, a):
        zero = _make_tensor(backend.as_array(out.data == 0), False, None)
        safe = _where_t(zero, 1.0, out)
        half = _where_t(zero, 0.0, grad / (2 * safe))
        g = _keepdims_t(half, a.shape, self.axes, self.keepdim)
        return g * _two_over(self.denom) * _centered_t(a, self.axes)


class LogSumExp(Function):
    def forward(self, a, axes, keepdim):
        m = a.max(axis=axes, keepdims=True)
        m = xp.where(xp.isfinite(m), m, xp.zeros((), dtype=a.dtype))   # all -inf rows stay -inf
        out = xp.log(xp.exp(a - m).sum(axis=axes, keepdims=True)) + m
        self.save_for_backward(a, out)
        self.axes, self.keepdim = axes, keepdim
        return out if keepdim else out.reshape([n for i, n in enumerate(a.shape) if i not in axes])

    def backward(self, grad):
        a, out = self.saved_tensors
        return _expand_back(grad, a.shape, self.axes, self.keepdim) * xp.exp(a - out)

    def tensor_backward(self, grad, a, _out):
        # The saved `out` is a constant when keepdim=False (a reshaped copy): recompute it
        # as a recorded op instead, so its dependence on `a` is differentiated too.
        lse = LogSumExp.apply(a, self.axes, True)
        return _keepdims_t(grad, a.shape, self.axes, self.keepdim) * (a - lse).exp()


class Softmax(Function):
    def forward(self, a, dim):
        e = xp.exp(a - a.max(axis=dim, keepdims=True))
        out = e / e.sum(axis=dim, keepdims=True)
        self.save_for_backward(out)
        self.dim = dim
        return out

    def backward(self, grad):
        (out,) = self.saved_tensors
        return out * (grad - (grad * out).sum(axis=self.dim, keepdims=True))

    def tensor_backward(self, grad, out):
        return out * (grad - (grad * out).sum(dim=self.dim, keepdim=True))


class LogSoftmax(Function):
    def forward(self, a, dim):
        shifted = a - a.max(axis=dim, keepdims=True)
        out = shifted - xp.log(xp.exp(shifted).sum(axis=dim, keepdims=True))
        self.save_for_backward(out)
        self.dim = dim
        return out

    def backward(self, grad):
        (out,) = self.saved_tensors
        return grad - xp.exp(out) * grad.sum(axis=self.dim, keepdims=True)

    def tensor_backward(self, grad, out):
        return grad - out.exp() * grad.sum(dim=self.dim, keepdim=True)


def _keepdims_t(grad, in_shape, axes, keepdim):
    """``_expand_back`` on Tensors: re-insert the reduced axes as size 1."""
    if not keepdim and axes and len(in_shape):
        shape = list(grad.shape)
        for ax in axes:
            shape.insert(ax, 1)
        grad = grad.reshape(tuple(shape))
    return grad


def _expand_t(grad, in_shape, axes, keepdim):
    """The adjoint of a sum over ``axes``: ``grad`` broadcast back to ``in_shape`` (recorded)."""
    from tensorweaver.ops.shape import Expand
    g = _keepdims_t(grad, in_shape, axes, keepdim)
    return Expand.apply(g, tuple(in_shape)) if g.shape != tuple(in_shape) else g


def _where_t(cond, a, b):
    from tensorweaver.ops.elementwise import where
    return where(cond, a, b)


# ---------------------------------------------------------------- public functions
def _float(a):
    return a if a._data.dtype.kind == "f" else a.to(dtypes.get_default_dtype())


def sum(a, dim=None, keepdim=False, *, dtype=None):  # noqa: A001
    """Sum over ``dim`` (all dimensions when None). ``dtype``: the input is cast to it first,
    as torch does (e.g. a float16 tensor summed in float32)."""
    if dtype is None:
        if a._data.dtype.kind == "b":
            a = a.long()
        return Sum.apply(a, normalize_dims(dim, a.ndim, "sum"), keepdim)
    a = a.to(dtype)
    out = Sum.apply(a, normalize_dims(dim, a.ndim, "sum"), keepdim)
    return out if out.dtype == a.dtype else out.to(dtype)     # integer sums widen to int64


def mean(a, dim=None, keepdim=False, *, dtype=None):
    """Mean over ``dim``; ``dtype`` (floating) casts the input first, as torch does."""
    if dtype is not None:
        if dtypes.as_dtype(dtype).kind != "f":
            raise TypeError(f"mean: dtype must be a floating point dtype, got {dtype}")
        a = a.to(dtype)
    if a._data.dtype.kind != "f":
        raise TypeError(f"mean: expected a floating point tensor, got {a.data.dtype}; call .float() "
                        "first or pass dtype=tw.float32")
    return Mean.apply(a, normalize_dims(dim, a.ndim, "mean"), keepdim)


def _extreme(a, dim, keepdim, largest, op):
    if a.numel() == 0:
        raise RuntimeError(f"{op}: the tensor is empty, so it has no {op}imum")
    if dim is None:
        return AMax.apply(a, normalize_dims(None, a.ndim), False, largest)
    (d,) = normalize_dims(dim, a.ndim, op)
    values = MaxDim.apply(a, d, keepdim, largest)
    indices = (xp.argmax if largest else xp.argmin)(a.data, axis=d)
    if keepdim:
        indices = xp.expand_dims(indices, d)
    return ValuesIndices(values, _make_tensor(backend.as_array(indices), False, None))


def max(a, dim=None, keepdim=False):  # noqa: A001
    """``max(a)`` -> 0-d tensor; ``max(a, dim)`` -> ``(values, indices)``, as in torch."""
    if isinstance(dim, Tensor):
        from tensorweaver.ops.elementwise import maximum
        return maximum(a, dim)
    return _extreme(a, dim, keepdim, True, "max")


def min(a, dim=None, keepdim=False):  # noqa: A001
    if isinstance(dim, Tensor):
        from tensorweaver.ops.elementwise import minimum
        return minimum(a, dim)
    return _extreme(a, dim, keepdim, False, "min")


def amax(a, dim=None, keepdim=False):
    return AMax.apply(a, normalize_dims(dim, a.ndim, "amax"), keepdim, True)


def amin(a, dim=None, keepdim=False):
    return AMax.apply(a, normalize_dims(dim, a.ndim, "amin"), keepdim, False)


def _correction(unbiased, correction):
    if correction is not None:
        return correction
    return 0 if unbiased is False else 1


def var(a, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Variance with Bessel's correction by default (``correction=1``), like torch."""
    a = _float(a)
    return Var.apply(a, normalize_dims(dim, a.ndim, "var"), _correction(unbiased, correction), keepdim)


def std(a, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Standard deviation (``correction=1`` by default); 0, with gradient 0, on constant data."""
    a = _float(a)
    return Std.apply(a, normalize_dims(dim, a.ndim, "std"), _correction(unbiased, correction), keepdim)


def logsumexp(a, dim, keepdim=False):
    a = _float(a)
    return LogSumExp.apply(a, normalize_dims(dim, a.ndim, "logsumexp"), keepdim)


def _one_dim(a, dim, op):
    (d,) = normalize_dims(dim, a.ndim, op)
    return d


def softmax(a, dim):
    a = _float(a)
    return Softmax.apply(a, _one_dim(a, dim, "softmax"))


def log_softmax(a, dim):
    a = _float(a)
    return LogSoftmax.apply(a, _one_dim(a, dim, "log_softmax"))


def argmax(a, dim=None, keepdim=False):
    return _arg(a, dim, keepdim, xp.argmax)


def argmin(a, dim=None, keepdim=False):
    return _arg(a, dim, keepdim, xp.argmin)


class ArgExtreme(Function):
    """argmax/argmin: an op without a gradient, recorded like any other so that the ONNX
    tracer sees it (an index computed inside ``forward`` exports as ArgMax/ArgMin)."""

    differentiable = False

    def forward(self, a, dim, keepdim, largest):
        self.dim, self.keepdim, self.largest = dim, keepdim, largest
        fn = xp.argmax if largest else xp.argmin
        if dim is None:
            out = xp.asarray(fn(a.reshape(-1))).reshape((1,) * a.ndim if keepdim else ())
        else:
            out = fn(a, axis=dim)
            if keepdim:
                out = xp.expand_dims(out, dim)
        return backend.as_array(out).astype(dtypes.int64)


def _arg(a, dim, keepdim, fn):
    d = None if dim is None else _one_dim(a, dim, fn.__name__)
    return ArgExtreme.apply(a, d, keepdim, fn is xp.argmax)


def all(a, dim=None, keepdim=False):  # noqa: A001
    out = a.data.all(axis=normalize_dims(dim, a.ndim), keepdims=keepdim)
    return _make_tensor(backend.as_array(out), False, None)


def any(a, dim=None, keepdim=False):  # noqa: A001
    out = a.data.any(axis=normalize_dims(dim, a.ndim), keepdims=keepdim)
    return _make_tensor(backend.as_array(out), False, None)
