"""Parity cases for PyTorch's Comparison Ops (ops/comparison.py, ew.Compare): one case per op.

Imported at the end of ``parity_cases.py`` (which owns the registry), so the worker finds them.
Sorting draws distinct values, plus a case with ties and NaNs for the stable order; comparisons
use whole numbers so equality is exact on both backends.
"""
from __future__ import annotations

import numpy as np

import tensorweaver as tw
from parity_cases import case, forward_backward
from parity_cases_reductions import distinct


def whole(*s, dtype):
    return tw.round(tw.randn(*s, dtype=dtype) * 2)


def ties_and_nan(*s, dtype):
    x = tw.round(tw.randn(*s, dtype=dtype))
    x = tw.where(tw.rand(*s) < 0.15, float("nan"), x)
    return tw.where(tw.rand(*s) < 0.1, float("inf"), x).detach().requires_grad_()


SORTING = {
    "sort": lambda x: tw.sort(x, 1), "sort_descending": lambda x: tw.sort(x, 0, descending=True),
    "topk": lambda x: tw.topk(x, 3), "topk_smallest": lambda x: tw.topk(x, 2, dim=0, largest=False),
    "kthvalue": lambda x: tw.kthvalue(x, 3, 1), "msort": lambda x: (tw.msort(x), tw.argsort(x, 0)),
}


def _sorting(op, fn):
    @case(f"comparison.{op}")
    def run(dtype):
        x = distinct(5, 7, dtype=dtype)
        result = fn(x.detach())
        indices = result[1].numpy()
        return forward_backward(lambda t: fn(t)[0], x, indices=indices)


for _op, _fn in SORTING.items():
    _sorting(_op, _fn)


@case("comparison.stable_sort_ties_nan")
def stable_sort(dtype):
    x = ties_and_nan(4, 9, dtype=dtype)
    up, down = tw.sort(x, 1, stable=True), tw.sort(x, 1, descending=True, stable=True)
    return forward_backward(lambda t: tw.nan_to_num(tw.sort(t, 1, stable=True).values, posinf=9.0), x,
                            up=up.values.detach().numpy(), up_indices=up.indices.numpy(),
                            down_indices=down.indices.numpy(), argsort=tw.argsort(x, 1).numpy())


@case("comparison.compare")
def compare(dtype):
    a, b = whole(4, 6, dtype=dtype), whole(6, dtype=dtype)
    masks = {name: getattr(tw, name)(a, b).numpy() for name in ("eq", "ne", "lt", "le", "gt", "ge")}
    masks["and"] = tw.logical_and(a > 0, b < 1).numpy()
    masks["or"] = (a.lt(-1) | b.ge(2)).numpy()
    x = tw.randn(4, 6, dtype=dtype).requires_grad_()
    return forward_backward(lambda t: tw.where(a > b, t, t * 3), x, **masks)


@case("comparison.closeness")
def closeness(dtype):
    a = tw.where(tw.rand(3, 5) < 0.2, float("nan"), tw.randn(3, 5, dtype=dtype))
    b = a + tw.where(tw.rand(3, 5) < 0.5, 0.0, 1.0).to(a.dtype)
    c = tw.where(tw.rand(3, 5) < 0.3, float("inf"), a)
    return {"isclose": tw.isclose(a, b).numpy(), "isclose_nan": tw.isclose(a, b, equal_nan=True).numpy(),
            "allclose": np.array(tw.allclose(a, a, equal_nan=True)), "equal": np.array(tw.equal(b, b)),
            "isinf": tw.isinf(c).numpy(), "isposinf": tw.isposinf(-c).numpy(), "isneginf": tw.isneginf(-c).numpy(),
            "isreal": tw.isreal(a).numpy(), "isin": tw.isin(tw.round(b), tw.tensor([0.0, 1.0])).numpy()}
