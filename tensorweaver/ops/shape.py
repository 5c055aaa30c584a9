"""Shape ops: reshape/view, transpose/permute, squeeze/unsqueeze, expand, cat/stack,
split/chunk and tril/triu. Their backward only moves gradient values around."""
from __future__ import annotations

from tensorweaver import backend, dtypes
from tensorweaver.autograd.function import Function
from tensorweaver.ops.elementwise import sum_to, unbroadcast
from tensorweaver.ops.inplace import mark_view
from tensorweaver.ops.reduction import normalize_dims
from tensorweaver.tensor import Tensor

xp = backend.xp


def _sizes(args):
    """Accept ``f(2, 3)`` and ``f((2, 3))``, like torch."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


class Reshape(Function):
    def forward(self, a, shape):
        self.in_shape = a.shape
        return a.reshape(shape)

    def backward(self, grad):
        return grad.reshape(self.in_shape)

    def tensor_backward(self, grad):
        return Reshape.apply(grad, self.in_shape)


class Permute(Function):
    def forward(self, a, dims):
        self.dims = dims
        return a.transpose(dims)

    def backward(self, grad):
        if len(self.dims) == 2:
            return grad.transpose(self.dims)   # (0, 1) or (1, 0): its own inverse (W.T)
        inverse = [0] * len(self.dims)
        for i, d in enumerate(self.dims):
            inverse[d] = i
        return grad.transpose(inverse)

    def tensor_backward(self, grad):
        inverse = [0] * len(self.dims)
        for i, d in enumerate(self.dims):
            inverse[d] = i
        return Permute.apply(grad, tuple(inverse))


class Expand(Function):
    def forward(self, a, shape):
        self.in_shape = a.shape
        return xp.broadcast_to(a, shape)

    def backward(self, grad):
        return unbroadcast(grad, self.in_shape)

    def tensor_backward(self, grad):
        return sum_to(grad, self.in_shape)


class Cat(Function):
    def forward(self, *arrays, dim):
        self.dim = dim
        self.sizes = [a.shape[dim] for a in arrays]
        return xp.concatenate(arrays, axis=dim)

    def backward(self, grad):
        grads, start = [], 0
        for size, need in zip(self.sizes, self.needs_input_grad):
            if need:
                index = [slice(None)] * grad.ndim
                index[self.dim] = slice(start, start + size)
                grads.append(grad[tuple(index)])
            else:
                grads.append(None)
            start += size
        return tuple(grads)

    def tensor_backward(self, grad, *saved):
        grads, start = [], 0
        for size, need in zip(self.sizes, self.needs_input_grad):
            grads.append(Narrow.apply(grad, self.dim, start, size) if need else None)
            start += size
        return tuple(grads)


class Narrow(Function):
    """``a`` restricted to ``start:start+length`` along ``dim`` (a split piece)."""

    def forward(self, a, dim, start, length):
        self.in_shape, self.dim, self.start, self.length = a.shape, dim, start, length
        index = [slice(None)] * a.ndim
        index[dim] = slice(start, start + length)
        self.index = tuple(index)
        return a[self.index]

    def backward(self, grad):
        out = xp.zeros(self.in_shape, dtype=grad.dtype)
        out[self.index] = grad
        return out

    def tensor_backward(self, grad):
        from tensorweaver.ops.indexing import PutInto
        return PutInto.apply(grad, self.in_shape, self.index, False)


class Triangle(Function):
    def forward(self, a, diagonal, upper):
        self.diagonal, self.upper = diagonal, upper
        return xp.triu(a, diagonal) if upper else xp.tril(a, diagonal)

    def backward(self, grad):
        return xp.triu(grad, self.diagonal) if self.upper else xp.tril(grad, self.diagonal)

    def tensor_backward(self, grad):
        return Triangle.apply(grad, self.diagonal, self.upper)


# ---------------------------------------------------------------- public functions
def reshape(a, *shape):
    shape = _sizes(shape)
    known = 1
    for s in shape:
        if s != -1:
            known *= s
    n = a.numel()
    if shape.count(-1) > 1 or (-1 in shape and (known == 0 or n % known)) or (-1 not in shape and known != n):
        raise RuntimeError(f"reshape: shape {list(shape)} is invalid for a tensor of shape "
                           f"{a.shape} ({n} elements)")
    return _reshape_view(a, shape)


def _reshape_view(a, shape):
    return mark_view(Reshape.apply(a, shape), a, lambda b: Reshape.apply(b, shape), may_copy=True)


view = reshape


def permute(a, *dims):
    dims = _sizes(dims)
    if sorted(d % max(a.ndim, 1) for d in dims) != list(range(a.ndim)):
        raise RuntimeError(f"permute: dims {list(dims)} are not a permutation of the {a.ndim} dims of a tensor of shape {a.shape}")
    return _permute_view(a, tuple(d % a.ndim for d in dims))


def _permute_view(a, dims):
    return mark_view(Permute.apply(a, dims), a, lambda b: Permute.apply(b, dims), always_a_view=True)


def transpose(a, dim0, dim1):
    d0, d1 = normalize_dims(dim0, a.ndim, "transpose")[0], normalize_dims(dim1, a.ndim, "transpose")[0]
    dims = list(range(a.ndim))
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return _permute_view(a, tuple(dims))


def squeeze(a, dim=None):
    if dim is None:
        shape = tuple(s for s in a.shape if s != 1)
    else:
        axes = normalize_dims(dim, a.ndim, "squeeze")
        shape = tuple(s for i, s in enumerate(a.shape) if not (i in axes and s == 1))
    return _reshape_view(a, shape)


def unsqueeze(a, dim):
    if not -a.ndim - 1 <= dim <= a.ndim:
        raise IndexError(f"unsqueeze: dim {dim} is out of range for a tensor with {a.ndim} dims "
                         f"(expected a value in [{-a.ndim - 1}, {a.ndim}])")
    dim = dim % (a.ndim + 1)
    return _reshape_view(a, a.shape[:dim] + (1,) + a.shape[dim:])


def expand(a, *sizes):
    sizes = _sizes(sizes)
    if len(sizes) < a.ndim:
        raise RuntimeError(f"expand: the number of sizes {len(sizes)} must be >= the tensor's {a.ndim} dims")
    lead = len(sizes) - a.ndim
    shape = tuple(a.shape[i - lead] if s == -1 and i >= lead else s for i, s in enumerate(sizes))
    for i, n in enumerate(a.shape):
        if n != 1 and n != shape[i + lead]:
            raise RuntimeError(f"expand: the tensor of shape {a.shape} cannot be expanded to {tuple(sizes)} "
                               f"(dimension {i} has size {n}, not 1)")
    return mark_view(Expand.apply(a, shape), a, lambda b: Expand.apply(b, shape))


broadcast_to = expand


def flatten(a, start_dim=0, end_dim=-1):
    if a.ndim == 0:
        return reshape(a, 1)
    s, e = start_dim % a.ndim, end_dim % a.ndim
    if s > e:
        raise RuntimeError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    n = 1
    for d in a.shape[s:e + 1]:
        n *= d
    return reshape(a, a.shape[:s] + (n,) + a.shape[e + 1:])


def cat(tensors, dim=0):
    tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    ref = tensors[0]
    d = normalize_dims(dim, ref.ndim, "cat")[0]
    for i, t in enumerate(tensors):
        if t.ndim != ref.ndim or any(t.shape[j] != ref.shape[j] for j in range(ref.ndim) if j != d):
            raise ValueError(f"cat: tensor {i} has shape {t.shape}, which does not match {ref.shape} "
                             f"outside dim {d}")
    dtype = ref.data.dtype
    for t in tensors[1:]:
        if t.data.dtype != dtype:
            dtype = dtypes.result_type(dtype, False, t.data.dtype, False)
    tensors = [t.to(dtype) for t in tensors]
    return Cat.apply(*tensors, dim=d)


concatenate = cat


def stack(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    shape = tensors[0].shape
    for i, t in enumerate(tensors):
        if t.shape != shape:
            raise ValueError(f"stack: all tensors must have the same shape; tensor 0 has {shape}, tensor {i} has {t.shape}")
    return cat([unsqueeze(t, dim) for t in tensors], dim)


def split(a, split_size_or_sections, dim=0):
    d = normalize_dims(dim, a.ndim, "split")[0]
    n = a.shape[d]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0:
            raise ValueError("split: split_size must be positive")
        sizes = [min(step, n - s) for s in range(0, n, step)]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise ValueError(f"split: sections {sizes} sum to {sum(sizes)}, but dim {d} has size {n}")
    out, start = [], 0
    for size in sizes:
        out.append(mark_view(Narrow.apply(a, d, start, size), a,
                             lambda b, start=start, size=size: Narrow.apply(b, d, start, size)))
        start += size
    return tuple(out)


def chunk(a, chunks, dim=0):
    d = normalize_dims(dim, a.ndim, "chunk")[0]
    n = a.shape[d]
    step = -(-n // chunks)
    return split(a, max(step, 1), d)


def tril(a, diagonal=0):
    return Triangle.apply(a, diagonal, False)


def triu(a, diagonal=0):
    return Triangle.apply(a, diagonal, True)
