"""``tensor[index]`` with ints, slices, ``None``, ``...``, bool masks and int arrays.

Basic indexing (ints/slices/None) selects each element at most once, so backward
writes the gradient into zeros. Advanced indexing with int arrays can select an
element several times (``x[[0, 0, 1]]``); those repeats must *add up*, so backward
uses the backend's scatter-add.
"""
from __future__ import annotations

from tensorweaver import backend
from tensorweaver.autograd.function import Function
from tensorweaver.ops.inplace import mark_view
from tensorweaver.tensor import Tensor, _make_tensor

xp = backend.xp


def _component(i):
    """One part of an index: Tensors, backend arrays, host NumPy arrays and lists all
    become backend arrays (``backend.to_backend``); ints, slices, None and ... stay."""
    if isinstance(i, Tensor):
        arr, kind = i.data, "tensors"
    elif isinstance(i, list) or backend.is_array(i):
        # A copy: the index is kept for backward, and the user's array may change meanwhile.
        arr = backend.to_backend(i, copy=True)
        kind = "index lists" if isinstance(i, list) else "index arrays"
        if arr.size == 0 and isinstance(i, list):
            arr = arr.astype(xp.int64)    # [] picks nothing (NumPy makes it float64)
    else:
        return i
    if arr.dtype.kind not in "iub":
        raise IndexError(f"{kind} used as indices must hold integers or bools, got {arr.dtype}; "
                         "convert them with .long() (or .astype(int) for NumPy arrays)")
    return arr


def normalize_index(index):
    """Tensor, array and list components -> backend arrays, so every kind indexes alike."""
    if isinstance(index, tuple):
        return tuple(_component(i) for i in index)
    return _component(index)


def _is_advanced(index) -> bool:
    """Does the index hold an integer array (so one element may be picked several times)?"""
    parts = index if isinstance(index, tuple) else (index,)
    return any(backend.is_array(p) and p.dtype.kind != "b" for p in parts)


def _keep_view(index):
    """``a[0]`` on NumPy gives a scalar copy; ``a[0, ...]`` the 0-d view torch gives."""
    parts = index if isinstance(index, tuple) else (index,)
    if any(p is Ellipsis or backend.is_array(p) for p in parts):
        return index
    return parts + (Ellipsis,)


class GetItem(Function):
    def forward(self, a, index):
        self.in_shape, self.index = a.shape, index
        self.advanced = _is_advanced(index)
        return backend.getitem(a, _keep_view(index))

    def backward(self, grad):
        if self.advanced:
            return backend.scatter_add(self.in_shape, self.index, grad, grad.dtype)
        out = xp.zeros(self.in_shape, dtype=grad.dtype)
        backend.setitem(out, self.index, grad)
        return out

    def tensor_backward(self, grad):
        return PutInto.apply(grad, self.in_shape, self.index, self.advanced)


class PutInto(Function):
    """Zeros of ``shape`` with ``values`` written at ``index`` (added up, for repeated
    positions, when ``accumulate``): the adjoint of ``a[index]``, recorded so that
    ``tensor_backward`` rules of indexing ops can be differentiated again."""

    def forward(self, values, shape, index, accumulate):
        self.index = index
        if accumulate:
            return backend.scatter_add(shape, index, values, values.dtype)
        out = xp.zeros(shape, dtype=values.dtype)
        backend.setitem(out, index, values)
        return out

    def backward(self, grad):
        return backend.as_array(backend.getitem(grad, self.index)).copy()

    def tensor_backward(self, grad):
        return GetItem.apply(grad, self.index)


def getitem(a, index):
    index = normalize_index(index)
    out = GetItem.apply(a, index)
    if _is_advanced(index) or _has_mask(index):
        return out                         # a copy, as in torch
    return mark_view(out, a, lambda b: GetItem.apply(b, index),
                     may_copy=backend._has_strided_slice(index))


def _has_mask(index) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return any(backend.is_array(p) and p.dtype.kind == "b" for p in parts)


# ---------------------------------------------------------------- gather / scatter / index_add
def _along(index, dim):
    """The full fancy index that picks ``a[..., index[pos], ...]`` (``index`` along ``dim``)
    for every position of ``index`` (torch's gather/scatter addressing)."""
    parts = []
    for d, n in enumerate(index.shape):
        if d == dim:
            parts.append(index)
        else:
            shape = [1] * index.ndim
            shape[d] = n
            parts.append(xp.arange(n).reshape(shape))
    return tuple(parts)


def _leading(shape, like_shape):
    """The slice of an array of ``shape`` that has ``like_shape`` (its leading block)."""
    return tuple(slice(0, n) for n in like_shape) if tuple(shape) != tuple(like_shape) else ...


class Gather(Function):
    def forward(self, a, index, dim):
        self.in_shape, self.index, self.dim = a.shape, index, dim
        self.where = _along(index, dim)
        return backend.getitem(a, self.where)

    def backward(self, grad):
        return backend.scatter_add(self.in_shape, self.where, grad, grad.dtype), None

    def tensor_backward(self, grad):
        return PutInto.apply(grad, self.in_shape, self.where, True), None


class Scatter(Function):
    """``a`` with ``src`` written at the gathered positions (``add``: added, repeats summed)."""

    def forward(self, a, src, index, dim, add):
        self.where, self.add = _along(index, dim), add
        self.src_shape = getattr(src, "shape", ())
        self.index_shape = index.shape
        values = src[_leading(src.shape, index.shape)] if self.src_shape else src
        if add:
            return a + backend.scatter_add(a.shape, self.where, values, a.dtype)
        out = a.copy()
        backend.setitem(out, self.where, values)
        return out

    def backward(self, grad):
        need_a, need_src = self.needs_input_grad[:2]
        ga = gs = None
        if need_a:
            ga = grad if self.add else grad.copy()
            if not self.add:
                backend.setitem(ga, self.where, 0)
        if need_src:
            picked = backend.getitem(grad, self.where)
            if tuple(self.src_shape) == tuple(self.index_shape):
                gs = picked
            else:
                gs = xp.zeros(self.src_shape, dtype=grad.dtype)
                gs[_leading(self.src_shape, self.index_shape)] = picked
        return ga, gs, None, None, None

    def tensor_backward(self, grad):
        need_a, need_src = self.needs_input_grad[:2]
        ga = gs = None
        if need_a:
            if self.add:
                ga = grad
            else:                           # the overwritten positions get no gradient
                keep = xp.ones(grad.shape, dtype=grad.dtype)
                backend.setitem(keep, self.where, 0)
                ga = grad * _make_tensor(keep, False, None)
        if need_src:
            picked = GetItem.apply(grad, self.where)
            if tuple(self.src_shape) == tuple(self.index_shape):
                gs = picked
            else:
                gs = PutInto.apply(picked, tuple(self.src_shape),
                                   _leading(self.src_shape, self.index_shape), False)
        return ga, gs, None, None, None


class IndexAdd(Function):
    def forward(self, a, source, index, dim, alpha):
        self.where = (slice(None),) * dim + (index,)
        self.alpha = alpha
        return a + backend.scatter_add(a.shape, self.where, source * alpha, a.dtype)

    def backward(self, grad):
        need_a, need_src = self.needs_input_grad[:2]
        gs = backend.getitem(grad, self.where) * self.alpha if need_src else None
        return (grad if need_a else None), gs, None, None, None

    def tensor_backward(self, grad):
        need_a, need_src = self.needs_input_grad[:2]
        gs = GetItem.apply(grad, self.where) * self.alpha if need_src else None
        return (grad if need_a else None), gs, None, None, None


def _index_tensor(index, op):
    arr = index.data if isinstance(index, Tensor) else backend.to_backend(index)
    if arr.dtype.kind not in "iu":
        raise RuntimeError(f"{op}(): Expected dtype int64 for index, got {arr.dtype}")
    return arr


def _dim(dim, ndim, op):
    from tensorweaver.ops.reduction import normalize_dims
    return normalize_dims(dim, ndim, op)[0]


def _check_addressing(a, index, dim, op, src=None):
    if index.ndim != a.ndim:
        raise RuntimeError(f"{op}(): Index tensor must have the same number of dimensions as input tensor "
                           f"(index has {index.ndim}, input has {a.ndim})")
    for d in range(a.ndim):
        if d != dim and index.shape[d] > a.shape[d]:
            raise RuntimeError(f"{op}(): Size does not match at dimension {d}: index has {index.shape[d]} but "
                               f"input has {a.shape[d]}")
        if src is not None and index.shape[d] > src.shape[d]:
            raise RuntimeError(f"{op}(): Size does not match at dimension {d}: index has {index.shape[d]} but "
                               f"src has {src.shape[d]}")
    if index.size and (int(index.min()) < -a.shape[dim] or int(index.max()) >= a.shape[dim]):
        raise RuntimeError(f"{op}(): index out of range for dimension {dim} of size {a.shape[dim]}")


def gather(input, dim, index, *, sparse_grad=False):  # noqa: A002  (torch's names)
    """``out[i][j] = input[index[i][j]][j]`` for ``dim=0`` (torch.gather)."""
    d = _dim(dim, input.ndim, "gather")
    idx = _index_tensor(index, "gather")
    _check_addressing(input, idx, d, "gather")
    view = input if all(idx.shape[k] == input.shape[k] for k in range(input.ndim) if k != d) else \
        input[tuple(slice(0, idx.shape[k]) if k != d else slice(None) for k in range(input.ndim))]
    return Gather.apply(view, idx % input.shape[d], d)


def _scatter(input, dim, index, src, add, op):
    from tensorweaver.ops.elementwise import cast
    d = _dim(dim, input.ndim, op)
    idx = _index_tensor(index, op)
    if isinstance(src, Tensor):
        _check_addressing(input, idx, d, op, src.data)
        if src.dtype != input.dtype:
            src = cast(src, input.dtype)
    elif not isinstance(src, (int, float, bool)):
        src = Tensor(src).to(input.dtype)
        _check_addressing(input, idx, d, op, src.data)
    else:
        if add:
            raise TypeError(f"{op}(): src must be a Tensor")
        _check_addressing(input, idx, d, op)
    return Scatter.apply(input, src, idx % input.shape[d], d, add)


def scatter(input, dim, index, src=None, *, value=None):  # noqa: A002
    """``input`` with ``src`` (or ``value``) written at ``index`` along ``dim`` (torch.scatter)."""
    if src is None:
        src = value
    if src is None:
        raise TypeError("scatter() needs src (a tensor) or value (a number)")
    return _scatter(input, dim, index, src, False, "scatter")


def scatter_add(input, dim, index, src):  # noqa: A002
    """``input`` plus ``src`` added at ``index`` along ``dim``; repeats add up."""
    return _scatter(input, dim, index, src, True, "scatter_add")


def index_add(input, dim, index, source, *, alpha=1):  # noqa: A002
    """``input`` with ``alpha * source[..., i, ...]`` added at ``input[..., index[i], ...]``."""
    from tensorweaver.ops.elementwise import cast
    d = _dim(dim, input.ndim, "index_add")
    idx = _index_tensor(index, "index_add")
    if idx.ndim != 1:
        raise IndexError(f"index_add_(): Index is supposed to be a vector, got {idx.ndim} dims")
    if not isinstance(source, Tensor):
        source = Tensor(source)
    if source.dtype != input.dtype:
        source = cast(source, input.dtype)
    expected = input.shape[:d] + (idx.shape[0],) + input.shape[d + 1:]
    if source.ndim and source.shape != expected:
        raise RuntimeError(f"index_add_(): source has shape {source.shape}, expected {expected} "
                           f"(input's shape with dim {d} of size len(index))")
    return IndexAdd.apply(input, source, idx, d, alpha)
