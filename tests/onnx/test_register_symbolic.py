"""The public way to export an op of one's own: ``tw.onnx.register_symbolic``.

A Function subclass written outside the engine (forward/backward on arrays, as lab 02
teaches) is traced as one call; without a symbolic its export fails naming the op and
the function to call, with one it exports and ONNX Runtime agrees with the engine."""
import numpy as np
import pytest

import tensorweaver as tw
import tensorweaver.onnx as twonnx
from tensorweaver import backend, nn
from tensorweaver.autograd import Function

onnx = pytest.importorskip("onnx", reason="ONNX export needs the 'onnx' extra (pip install -e '.[onnx]')")
ort = pytest.importorskip("onnxruntime", reason="needs onnxruntime (extra 'onnx')")
pytestmark = pytest.mark.onnx

xp = backend.xp


class HardSwishOp(Function):
    """x * clip(x + 3, 0, 6) / 6, an op the exporter has never heard of."""

    def forward(self, x):
        self.save_for_backward(x)
        return x * xp.clip(x + 3, 0, 6) / 6

    def backward(self, grad):
        (x,) = self.saved_tensors
        return grad * xp.where(x < -3, 0, xp.where(x > 3, 1, (2 * x + 3) / 6))


def hardswish_symbolic(g, n):
    x, dt = n.input(0), n.dtype
    gate = g.op("Clip", g.op("Add", x, g.const(3, dt)), g.const(0, dt), g.const(6, dt))
    return g.op("Div", g.op("Mul", x, gate), g.const(6, dt))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(5, 4)

    def forward(self, x):
        return HardSwishOp.apply(self.fc(x))


@pytest.fixture
def clean():
    yield
    twonnx.unregister_symbolic(HardSwishOp)


def _run(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]


def test_unregistered_op_names_the_op_and_the_public_function(tmp_path, clean):
    tw.manual_seed(0)
    with pytest.raises(twonnx.UnsupportedOperatorError, match=r"HardSwishOp.*register_symbolic\(HardSwishOp") as info:
        twonnx.export(Net(), tw.randn(3, 5), tmp_path / "never.onnx")
    assert info.value.op == "HardSwishOp" and info.value.scope == ""
    assert not (tmp_path / "never.onnx").exists()


@pytest.mark.parametrize("dtype", [tw.float32, tw.float64])
def test_registered_op_exports_and_onnxruntime_agrees(tmp_path, clean, dtype):
    tw.manual_seed(0)
    model = Net().to(dtype)
    assert twonnx.register_symbolic(HardSwishOp, hardswish_symbolic) is hardswish_symbolic
    path = tmp_path / "m.onnx"
    twonnx.export(model, tw.randn(3, 5, dtype=dtype) * 4, path, dynamic_axes={"input": [0], "output": [0]})
    x = tw.randn(7, 5, dtype=dtype) * 4          # both sides of the clip's corners
    with tw.no_grad():
        expected = model(x).numpy()
    got = _run(path, x)
    assert got.dtype == expected.dtype
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    assert "Clip" in [node.op_type for node in onnx.load(str(path)).graph.node]


def test_decorator_form_replace_and_unregister(tmp_path, clean):
    tw.manual_seed(0)
    model, x = Net(), tw.randn(4, 5) * 4

    @twonnx.register_symbolic(HardSwishOp)
    def wrong(g, n):                 # a first, wrong version, then the fixed one (a re-run cell)
        return g.op("Relu", n.input(0))

    assert wrong.__name__ == "wrong"             # the decorator hands the function back
    twonnx.export(model, x, tmp_path / "a.onnx")
    with tw.no_grad():
        expected = model(x).numpy()
    assert np.abs(_run(tmp_path / "a.onnx", x) - expected).max() > 1e-3
    twonnx.register_symbolic(HardSwishOp, hardswish_symbolic)
    twonnx.export(model, x, tmp_path / "b.onnx")
    np.testing.assert_allclose(_run(tmp_path / "b.onnx", x), expected, rtol=1e-5, atol=1e-6)
    assert twonnx.unregister_symbolic(HardSwishOp) is True
    assert twonnx.unregister_symbolic(HardSwishOp) is False
    with pytest.raises(twonnx.UnsupportedOperatorError):
        twonnx.export(model, x, tmp_path / "c.onnx")


def test_refusals():
    from tensorweaver.ops.elementwise import Exp

    class TorchStyle(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return grad * 2

    with pytest.raises(ValueError, match="engine's ops"):
        twonnx.register_symbolic(Exp, hardswish_symbolic)
    with pytest.raises(ValueError, match="engine's ops"):
        twonnx.unregister_symbolic(Exp)
    with pytest.raises(TypeError, match="PyTorch-style"):
        twonnx.register_symbolic(TorchStyle, hardswish_symbolic)
    with pytest.raises(TypeError, match="subclass of tensorweaver.autograd.Function"):
        twonnx.register_symbolic(nn.ReLU, hardswish_symbolic)
    with pytest.raises(TypeError, match="callable"):
        twonnx.register_symbolic(HardSwishOp, "Relu")
    assert twonnx.unregister_symbolic(HardSwishOp) is False
