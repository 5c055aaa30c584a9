"""Writes at indices and unique in ONNX: scatter_reduce (sum, prod) as ScatterElements with a
reduction, sorted unique as Unique, einsum with '...' as Einsum, the composed new ops through
the ops they are made of; each runs in ONNX Runtime at two batch sizes. The ops with no ONNX
operator in opset 17 refuse with an error naming the op."""
import pytest

import tensorweaver as tw

pytestmark = pytest.mark.onnx

IDX = tw.tensor([[0, 2, 0, 3], [1, 1, 1, 0]])


def x(n):
    return tw.randn(n, 6)


CASES = [
    ("scatter_reduce_sum", lambda a: tw.scatter_reduce(a[:2] * 1, 1, IDX, a[:2, 1:5] * 2, "sum"), x),
    ("scatter_reduce_prod", lambda a: a[:2].scatter_reduce(1, IDX, a[:2, 2:], "prod"), x),
    ("unique", lambda a: tw.unique(a.sign()), x),
    ("unique_dim", lambda a: tw.unique(tw.cat([a[:1].sign(), a[:1].sign()]), dim=0), x),
    ("einsum_ellipsis", lambda a: tw.einsum("...i,ij->...j", a, tw.ones(6, 2)), x),
    ("as_strided", lambda a: tw.as_strided(a[:2], (3, 4), (2, 1), 1), x),
    ("narrow_copy", lambda a: tw.narrow_copy(a, 1, 2, 3), x),
    ("heaviside", lambda a: tw.heaviside(a.round(), tw.tensor(0.5)), x),
    ("renorm", lambda a: tw.renorm(a, 2, 0, 1.0), x),
    ("cov", lambda a: tw.cov(a[:2].T), x),
    ("vander", lambda a: tw.vander(a[0], 3), x),
    ("block_diag", lambda a: tw.block_diag(a[:2, :2], a[0, :3]), x),
]


@pytest.mark.parametrize("fn, make", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_round_trip(roundtrip, fn, make):
    roundtrip(fn, make, batch_out=False)


@pytest.mark.parametrize("fn, name", [
    (lambda a: tw.scatter_reduce(a[:2] * 1, 1, IDX, a[:2] * 2, "mean"), "scatter_reduce with reduce='mean'"),
    (lambda a: tw.scatter_reduce(a[:2] * 1, 1, IDX, a[:2] * 2, "sum", include_self=False),
     "scatter_reduce with include_self=False"),
    (lambda a: tw.index_copy(a, 1, tw.tensor([0]), a[:, :1] * 2), "index_copy"),
    (lambda a: tw.slice_scatter(a, a[:, :2] * 2, 1, 0, 2), "slice_scatter"),
    (lambda a: tw.unique_consecutive(a.round()), "unique_consecutive"),
    (lambda a: tw.histogram(a, 4)[0], "histogram"),
    (lambda a: tw.gcd(a.long(), a.long()), "gcd"),
])
def test_ops_without_an_onnx_operator_say_so(fn, name):
    from tensorweaver.onnx import ExportError, export
    with pytest.raises(ExportError, match=name.replace("(", r"\(").replace(")", r"\)") + " has no ONNX operator"):
        export(fn, tw.rand(2, 6), None)
