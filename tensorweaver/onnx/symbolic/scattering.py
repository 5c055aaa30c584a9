"""Writes at indices (``ops/scattering.py``, the ``*_scatter`` ops of ``ops/joining.py``) and
``unique`` (``ops/unique.py``): ``scatter_reduce`` with ``sum``/``prod`` (and ``include_self``)
as ScatterElements with reduction ``add``/``mul``; sorted ``unique`` as Unique. The rest have
no ONNX operator in opset 17 and refuse with the op's name: ``mean``, ``amax``/``amin``
(ScatterElements' max/min arrive in opset 18), ``include_self=False``, ``index_copy`` and
``select``/``slice``/``diagonal_scatter`` (an indexed assignment), ``unique_consecutive``."""
from __future__ import annotations

import numpy as np

from tensorweaver import backend
from tensorweaver.onnx.registry import register
from tensorweaver.ops import joining, scattering, unique

_NO_OPERATOR = " has no ONNX operator in opset 17 and is not exported"


def _constant_index(n, index, twin, op):
    index, twin = backend.to_host(index), backend.to_host(twin)
    if index.shape != twin.shape or not np.array_equal(index, twin):
        raise n.fail(f"the {op} index depends on the input's dynamic size, so it cannot be a constant of "
                     "the graph; export with a fixed batch size")
    return index.astype(np.int64)


@register(scattering.ScatterReduce)
def scatter_reduce(g, n):
    reduce = n.fn.reduce
    if reduce not in ("sum", "prod") or not n.fn.include_self:
        what = f"reduce={reduce!r}" if reduce not in ("sum", "prod") else "include_self=False"
        raise n.fail(f"scatter_reduce with {what}{_NO_OPERATOR} (ScatterElements reduces by add or mul "
                     "into the input); use reduce='sum' or 'prod' with include_self=True to export")
    index = _constant_index(n, n.args[2], n.twin.args[2], "scatter_reduce")
    src = n.input(1)
    if tuple(n.in_shape(1)) != index.shape:         # only src's leading block is used
        src = g.slice(src, [0] * index.ndim, list(index.shape), list(range(index.ndim)), [1] * index.ndim)
    return g.op("ScatterElements", n.input(0), g.initializer(index), src, axis=n.args[3],
                reduction="add" if reduce == "sum" else "mul")


@register(joining.ScatterInto)
def scatter_into(g, n):
    raise n.fail(f"{n.fn.op}{_NO_OPERATOR} (it is an indexed assignment); build the result out of place "
                 "with tw.cat or tw.where in the model's forward to export it")


@register(unique.Unique)
def unique_values(g, n):
    if not n.fn.sort:
        raise n.fail(f"unique_consecutive{_NO_OPERATOR} (ONNX Unique sorts or keeps first occurrences "
                     "of all values); compute it outside the exported model")
    attrs = {"sorted": 1} if n.fn.dim is None else {"sorted": 1, "axis": n.fn.dim}
    values, *_ = g.op("Unique", n.input(0), outputs=4, **attrs)
    return values
