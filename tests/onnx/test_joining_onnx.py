"""Indexing/joining ops (ops/joining.py) in ONNX: nonzero as NonZero, the composed ops through the
ops they are made of; each runs in ONNX Runtime at two batch sizes."""
import pytest

import tensorweaver as tw

pytestmark = pytest.mark.onnx


def x(n):
    return tw.randn(n, 6)


def x3(n):
    return tw.randn(n, 3, 4)


CASES = [
    ("index_select", lambda a: tw.index_select(a, 1, tw.tensor([4, 0, 4])), x),
    ("narrow", lambda a: tw.narrow(a, 1, 1, 3), x), ("movedim", lambda a: tw.movedim(a, 2, 1), x3),
    ("swapaxes", lambda a: tw.swapaxes(a, 1, 2), x3), ("tile", lambda a: tw.tile(a, (1, 2)), x),
    ("repeat", lambda a: a.repeat(1, 1, 2), x3), ("hstack", lambda a: tw.hstack([a, a * 2]), x),
    ("dstack", lambda a: tw.dstack([a, a + 1]), x3),
    ("unbind", lambda a: tw.unbind(a, 1)[2] * 2, x),
]


@pytest.mark.parametrize("fn, make", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_round_trip(roundtrip, fn, make):
    roundtrip(fn, make)


def test_nonzero_exports_as_nonzero(tmp_path):
    import numpy as np
    import onnxruntime as ort
    from tensorweaver.onnx import export
    a = tw.tensor([[0.0, 1.0, 2.0], [3.0, 0.0, 0.0]])
    model = export(lambda t: tw.nonzero(t), a, str(tmp_path / "nonzero.onnx"))
    assert "NonZero" in [node.op_type for node in model.graph.node]
    session = ort.InferenceSession(model.SerializeToString())
    (got,) = session.run(None, {session.get_inputs()[0].name: a.numpy()})
    np.testing.assert_array_equal(got, tw.nonzero(a).numpy())
