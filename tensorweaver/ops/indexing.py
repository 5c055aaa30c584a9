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
    """One part of an index: Tensors, backend arrays, host NumPy arrays and lists all
    become backend arrays (``backend.to_backend``); ints, slices, None and ... stay."""
    if isinstance(i, Tensor):
        arr, kind = i.data, "tensors"
    elif isinstance(i, list) or backend.is_array(i):
        arr, kind = backend.to_backend(i), ("index lists" if isinstance(i, list) else "index arrays")
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
