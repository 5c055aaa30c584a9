"""Comparison Ops in ONNX: a mask computed inside forward exports as Equal/Less/Greater/...
(ew.Compare is a recorded node), isinf as IsInf, sorted values and topk as TopK; each runs in
ONNX Runtime at two batch sizes."""
import pytest

import tensorweaver as tw

pytestmark = pytest.mark.onnx


def x(n):
    return tw.round(tw.randn(n, 6) * 2)      # whole numbers: ties and equalities happen


def with_inf(n):
    a = tw.randn(n, 6)
    return tw.where(a > 1.0, float("inf"), tw.where(a < -1.0, float("-inf"), a))


def _pick(mask, a):
    return tw.where(mask, a, a * 0.5 - 1)


CASES = [
    ("gt", lambda a: _pick(a > 0, a), x), ("ge_tensor", lambda a: _pick(tw.ge(a, a * 0.5 + 1), a), x),
    ("lt", lambda a: _pick(a < 1, a), x), ("le", lambda a: _pick(a.le(0.0), a), x),
    ("eq", lambda a: _pick(tw.eq(a, 1.0), a), x), ("ne", lambda a: _pick(a != 0, a), x),
    ("logical_and", lambda a: _pick(tw.logical_and(a > -1, a < 2), a), x),
    ("logical_or", lambda a: _pick((a < -1) | (a > 2), a), x),
    ("isinf", lambda a: tw.where(tw.isinf(a), 0.0, a), with_inf),
    ("isposinf", lambda a: tw.where(a.isposinf(), 1.0, a), with_inf),
    ("isneginf", lambda a: tw.where(tw.isneginf(a), -1.0, a), with_inf),
    ("sort", lambda a: tw.sort(a, 1).values, x), ("sort_descending", lambda a: a.sort(dim=1, descending=True).values, x),
    ("topk", lambda a: tw.topk(a, 3).values, x), ("topk_smallest", lambda a: tw.topk(a, 2, largest=False).values, x),
    ("msort_of_transpose", lambda a: tw.msort(a.T).T, x),
]


@pytest.mark.parametrize("fn, make", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_round_trip(roundtrip, fn, make):
    roundtrip(fn, make)


def test_sort_along_the_batch_axis_says_why():
    from tensorweaver.onnx import ExportError, export
    with pytest.raises(ExportError, match="dynamic axis 0"):
        export(lambda a: tw.sort(a, 0).values, tw.rand(2, 6), None, input_names=["a"], dynamic_axes={"a": {0: "batch"}})


def test_kthvalue_says_no_operator():
    from tensorweaver.onnx import ExportError, export
    with pytest.raises(ExportError, match="kthvalue has no ONNX operator"):
        export(lambda a: tw.kthvalue(a, 2, 1).values, tw.rand(2, 6), None)
