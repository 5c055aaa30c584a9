"""Products, running sums, norms and NaN-ignoring reductions (ops/cumulative.py,
ops/statistics.py) in ONNX: each op with an ONNX operator runs in ONNX Runtime at two batch
sizes; the others refuse with an error naming the op."""
import math

import pytest

import tensorweaver as tw

pytestmark = pytest.mark.onnx


def x(n):
    return tw.randn(n, 6)


def with_nan(n):
    a = tw.randn(n, 6)
    return tw.where(a > 1.0, float("nan"), a)


CASES = [
    ("prod_all", lambda a: tw.prod(a) * a, x), ("prod_dim", lambda a: tw.prod(a, 1), x),
    ("prod_keepdim", lambda a: a.prod(dim=1, keepdim=True), x),
    ("cumsum", lambda a: tw.cumsum(a, 1), x), ("cumsum_batch", lambda a: tw.cumsum(a, 0), x),
    ("norm_fro", lambda a: tw.norm(a, dim=1), x), ("norm_1", lambda a: tw.norm(a, 1, dim=1, keepdim=True), x),
    ("norm_inf", lambda a: a.norm(math.inf, dim=1), x), ("norm_minus_inf", lambda a: a.norm(-math.inf, dim=1), x),
    ("nansum", lambda a: tw.nansum(a, 1), with_nan), ("nanmean", lambda a: tw.nanmean(a, 1, keepdim=True), with_nan),
    ("logsumexp", lambda a: tw.logsumexp(a, 1), x),
]


@pytest.mark.parametrize("fn, make", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_round_trip(roundtrip, fn, make):
    roundtrip(fn, make)


def test_reverse_cumsum_exports_with_the_reverse_attribute(roundtrip):
    """CumSum's backward direction (recorded when differentiating with create_graph)."""
    from tensorweaver.ops.cumulative import CumSum
    model = roundtrip(lambda a: CumSum.apply(a, 1, True), x)
    assert [a.i for node in model.graph.node if node.op_type == "CumSum" for a in node.attribute] == [1]


@pytest.mark.parametrize("fn, name", [
    (lambda a: tw.cumprod(a, 1), "cumprod"), (lambda a: tw.cummax(a, 1).values, "cummax"),
    (lambda a: tw.logcumsumexp(a, 1), "logcumsumexp"), (lambda a: tw.median(a, 1).values, "median"),
    (lambda a: tw.quantile(a, 0.3, dim=1), "quantile"), (lambda a: tw.mode(a, 1).values, "mode"),
    (lambda a: tw.norm(a, 3, dim=1), "norm with p=3"),
])
def test_ops_without_an_onnx_operator_say_so(fn, name):
    from tensorweaver.onnx import ExportError, export
    with pytest.raises(ExportError, match=name + ".*no ONNX operator"):
        export(fn, tw.rand(2, 6), None)
