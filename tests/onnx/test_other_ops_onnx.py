"""Other Operations (ops/other_ops.py, ops/linalg_more.py) in ONNX: flip as Slice, einsum as
Einsum, the composed ops through the ops they are made of; each runs in ONNX Runtime at two
batch sizes. roll and the counting ops refuse with an error naming the op."""
import pytest

import tensorweaver as tw

pytestmark = pytest.mark.onnx

W = tw.randn(6, 4)
V = tw.randn(6)


def x(n):
    return tw.randn(n, 6)


def x3(n):
    return tw.randn(n, 3, 3)


CASES = [
    ("flip", lambda a: tw.flip(a, (1,)), x), ("flip_batch", lambda a: tw.flip(a, (0, 1)), x),
    ("fliplr", tw.fliplr, x), ("flipud", tw.flipud, x), ("rot90", lambda a: tw.rot90(a, 1, (1, 2)), x3),
    ("diff", lambda a: tw.diff(a, 2, dim=1), x), ("diagonal", lambda a: tw.diagonal(a, 0, 1, 2), x3),
    ("einsum", lambda a: tw.einsum("bi,ij->bj", a, W), x), ("einsum_batch", lambda a: tw.einsum("bij,bjk->bik", a, a), x3),
    ("mv", lambda a: tw.mv(a, V), x), ("bmm", lambda a: tw.bmm(a, a), x3),
    ("addmm", lambda a: tw.addmm(tw.ones(4), a, W, beta=0.5, alpha=2.0), x),
    ("baddbmm", lambda a: tw.baddbmm(a, a, a, beta=2.0), x3),
    ("tensordot", lambda a: tw.tensordot(a, W, dims=([1], [0])), x),
    ("cross", lambda a: tw.cross(a, a * 2 + 1, dim=2), x3),
    ("cdist", lambda a: tw.cdist(a, a * 0.5), x3),
]


@pytest.mark.parametrize("fn, make", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_round_trip(roundtrip, fn, make):
    roundtrip(fn, make)


@pytest.mark.parametrize("fn, name", [
    (lambda a: tw.roll(a, 1, 1), "roll"), (lambda a: tw.histc(a, 4) + a.sum(), "histc"),
    (lambda a: tw.searchsorted(tw.tensor([0.0, 0.5]), a) + 1, "searchsorted"),
])
def test_ops_without_an_onnx_operator_say_so(fn, name):
    from tensorweaver.onnx import ExportError, export
    with pytest.raises(ExportError, match=name + " has no ONNX operator"):
        export(fn, tw.rand(2, 6), None)
