"""``tensor[index]`` with ints, slices, ``None``, ``...``, bool masks and int arrays.

Basic indexing (ints/slices/None) selects each element at most once, so backward
writes the gradient into zeros. Advanced indexing with int arrays can select an
element several times (``x[[0, 0, 1]]``); those repeats must *add up*, so backward
uses the backend's scatter-add.
"""
from __future__ import annotations

from tensorweaver import backend
from tensorweaver.autograd.function import Function
from tensorweaver.tensor import Tensor

xp = backend.xp


def _component(i):
    if isinstance(i, Tensor):
        i = i.data
        if i.dtype.kind not in "iub":
            raise IndexError(f"tensors used as indices must be integer or bool, got {i.dtype}")
        return i
    if isinstance(i, list):
        arr = xp.asarray(i)
        if arr.dtype.kind == "f":
            raise IndexError("index lists must hold ints or bools, not floats")
        return arr
    return i


def normalize_index(index):
    """Tensor and list components -> backend arrays, so the backend can index with them."""
    if isinstance(index, tuple):
        return tuple(_component(i) for i in index)
    return _component(index)


def _is_advanced(index) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(p, backend.ndarray) and p.dtype.kind != "b" for p in parts)


class GetItem(Function):
    def forward(self, a, index):
        self.in_shape, self.index = a.shape, index
        self.advanced = _is_advanced(index)
        return backend.getitem(a, index)

    def backward(self, grad):
        if self.advanced:
            return backend.scatter_add(self.in_shape, self.index, grad, grad.dtype)
        out = xp.zeros(self.in_shape, dtype=grad.dtype)
        backend.setitem(out, self.index, grad)
        return out


def getitem(a, index):
    return GetItem.apply(a, normalize_index(index))
