"""Embedding lookup: rows of a (V, D) table picked by integer indices.

The backward adds each picked row's gradient back into its table row. An index
can appear many times in a batch, so that is a scatter-add
(``backend.scatter_add``: NumPy's ``add.at``; cuPyNumeric has no ``ufunc.at``).
"""
from __future__ import annotations

from tensorweaver import backend
from tensorweaver.autograd.function import Function

xp = backend.xp


class Embedding(Function):
    """``weight`` (V, D) indexed by ``indices`` (*) -> (*, D). The row
    ``padding_idx`` (or None) receives no gradient."""

    def forward(self, weight, indices, padding_idx):
        self.save_for_backward(indices)
        self.table_shape, self.padding_idx = weight.shape, padding_idx
        return weight[indices]

    def backward(self, grad):
        (indices,) = self.saved_tensors
        flat = indices.reshape(-1)
        rows = grad.reshape(flat.shape[0], self.table_shape[1])
        if self.padding_idx is not None:
            rows = rows * (flat != self.padding_idx)[:, None]
        return backend.scatter_add(self.table_shape, flat, rows, grad.dtype), None

    def tensor_backward(self, grad, indices):
        from tensorweaver.ops.indexing import PutInto
        from tensorweaver.tensor import _make_tensor
        flat = indices.data.reshape(-1)
        rows = grad.reshape(flat.shape[0], self.table_shape[1])
        if self.padding_idx is not None:
            rows = rows * _make_tensor((flat != self.padding_idx)[:, None].astype(grad.dtype), False, None)
        return PutInto.apply(rows, self.table_shape, flat, True), None
