"""``unique`` and ``unique_consecutive`` (PyTorch's Reduction Ops): the distinct values (or
slices along ``dim``) of a tensor, optionally with the inverse indices and the counts.

Not differentiable (as in torch). The values are one recorded node (``Unique``), exported as
ONNX ``Unique`` when sorted (``unique_consecutive`` has no ONNX operator and says so). The
work is whole-array operations on the backend (a sort, a comparison with the neighbour, a
running sum), so both NumPy and cuPyNumeric run it the same way.

Shapes::

    unique(input (*))                 -> values (u,), inverse (*), counts (u,)
    unique(input (*, n, *), dim=d)    -> values (*, u, *), inverse (n,), counts (u,)

NaNs are all distinct (NaN != NaN), as in torch; sorting puts them last.
"""
from __future__ import annotations

from tensorweaver import backend, dtypes
from tensorweaver.autograd.function import Function
from tensorweaver.ops.statistics import argsort_nan_last
from tensorweaver.ops.cumulative import _tensor
from tensorweaver.ops.reduction import normalize_dims
from tensorweaver.tensor import _make_tensor

xp = backend.xp


def _rows_order(rows):
    """The stable order that sorts the rows of a 2-D array lexicographically (a radix sort:
    one stable sort per column, last column first)."""
    order = xp.arange(rows.shape[0])
    for c in range(rows.shape[1] - 1, -1, -1):
        order = order[argsort_nan_last(rows[order, c], 0)]
    return order


def _groups(rows, sort):
    """For the rows of ``rows`` (n, m): (order, first, group) where ``rows[order]`` has equal
    rows next to each other, ``first`` marks the first row of each run and ``group`` gives
    each original row the number of its run."""
    n = rows.shape[0]
    order = _rows_order(rows) if sort and n else xp.arange(n)
    ordered = rows[order]
    first = xp.ones(n, dtype=bool)
    if n > 1:
        first[1:] = (ordered[1:] != ordered[:-1]).any(axis=1) if rows.shape[1] else False
    run = xp.cumsum(first.astype(dtypes.int64)) - 1      # (cuPyNumeric: a bool cumsum stays bool)
    group = xp.zeros(n, dtype=dtypes.int64)
    group[order] = run
    return order, first, group


class Unique(Function):
    """The distinct values (or slices along ``dim``) of ``a``: the rows ``pick`` of ``a``
    (flattened, or with ``dim`` moved first), which ``_find`` computed. ``sort`` says they are
    in ascending order (``unique``), not in order of appearance (``unique_consecutive``)."""
    differentiable = False

    def forward(self, a, pick, dim, sort):
        self.dim, self.sort = dim, sort
        if dim is None:
            return backend.as_array(a.reshape(-1)[pick])
        return xp.moveaxis(xp.moveaxis(a, dim, 0)[pick], 0, dim)


def _find(a, dim, sort):
    """(pick, inverse, counts) for the distinct values (slices along ``dim``) of array ``a``."""
    moved = a.reshape(-1) if dim is None else xp.moveaxis(a, dim, 0)
    width = 1
    for n in moved.shape[1:]:
        width *= n
    rows = moved.reshape(moved.shape[0], width)
    order, first, group = _groups(rows, sort)
    starts = xp.nonzero(first)[0]
    n = rows.shape[0]
    ends = xp.concatenate([starts[1:], xp.asarray([n], dtype=starts.dtype)])
    inverse = group.reshape(a.shape) if dim is None else group
    return order[starts], inverse, (ends - starts).astype(dtypes.int64)


def _run(input, dim, sort, return_inverse, return_counts, op):  # noqa: A002
    x = _tensor(input)
    d = None
    if dim is not None:
        if x.ndim == 0:
            raise IndexError(f"{op}: dim {dim} is out of range for a 0-d tensor (pass dim=None)")
        (d,) = normalize_dims(dim, x.ndim, op)
    pick, inverse, counts = _find(x.data, d, sort)
    values = Unique.apply(x, pick, d, sort)
    extras = [_make_tensor(backend.as_array(a), False, None)
              for a, wanted in ((inverse, return_inverse), (counts, return_counts)) if wanted]
    return (values, *extras) if extras else values


def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):  # noqa: A002
    """The distinct elements of ``input`` (flattened; with ``dim``, its distinct slices along
    ``dim``), sorted. With ``return_inverse``, also where each element (slice) of ``input``
    went in the result; with ``return_counts``, how often each distinct value occurs.
    ``sorted=False`` gives sorted results too (torch's CPU does the same)."""
    return _run(input, dim, True, return_inverse, return_counts, "unique")


def unique_consecutive(input, return_inverse=False, return_counts=False, dim=None):  # noqa: A002
    """Collapse each run of equal consecutive elements (slices along ``dim``) to one, keeping
    the order: ``[1, 1, 2, 2, 1] -> [1, 2, 1]``."""
    return _run(input, dim, False, return_inverse, return_counts, "unique_consecutive")


# The Tensor methods these functions are.
METHODS = "unique unique_consecutive".split()
