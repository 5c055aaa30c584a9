"""nn.TransformerEncoderLayer, TransformerEncoder and TransformerDecoderLayer exported with
dynamic batch and sequence axes, checked, and run in ONNX Runtime at two batch sizes and
two sequence lengths against the engine (float32: atol 1e-5)."""
import numpy as np
import pytest

import tensorweaver as tw
import tensorweaver.onnx as twonnx
from tensorweaver import nn

onnx = pytest.importorskip("onnx", reason="ONNX export needs the 'onnx' extra (pip install -e '.[onnx]')")
ort = pytest.importorskip("onnxruntime", reason="needs onnxruntime (extra 'onnx')")
pytestmark = pytest.mark.onnx


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.TransformerDecoderLayer(8, 2, 16, batch_first=True, norm_first=True)

    def forward(self, tgt, memory):
        return self.layer(tgt, memory)


CASES = [
    ("encoder_layer", lambda: nn.TransformerEncoderLayer(8, 2, 16), False, 1),
    ("encoder_layer_bf_gelu_prenorm", lambda: nn.TransformerEncoderLayer(8, 2, 16, activation="gelu",
                                                                         batch_first=True, norm_first=True), True, 1),
    ("encoder_stack", lambda: nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, batch_first=True), 2,
                                                    nn.LayerNorm(8), enable_nested_tensor=False), True, 1),
    ("decoder_layer", Decoder, True, 2),
]


@pytest.mark.parametrize("name,make,batch_first,n_in", CASES, ids=[c[0] for c in CASES])
def test_transformer_roundtrip(tmp_path, name, make, batch_first, n_in):
    tw.manual_seed(0)
    m = make().eval()
    b_ax, t_ax = (0, 1) if batch_first else (1, 0)

    def make_args(batch, steps):
        shape = (batch, steps, 8) if batch_first else (steps, batch, 8)
        return tuple(tw.randn(*shape) for _ in range(n_in))

    names = [f"x{i}" for i in range(n_in)]
    axes = {n: {b_ax: "batch", t_ax: f"seq{i}"} for i, n in enumerate(names)}
    axes["y"] = {b_ax: "batch", t_ax: "seq0"}
    path = str(tmp_path / "m.onnx")
    twonnx.export(m, make_args(2, 5), path, input_names=names, output_names=["y"], dynamic_axes=axes,
                  opset_version=17)
    onnx.checker.check_model(onnx.load(path), full_check=True)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    for batch, steps in ((2, 5), (4, 3), (1, 9)):
        args = make_args(batch, steps)
        (got,) = session.run(["y"], {n: a.numpy() for n, a in zip(names, args)})
        with tw.no_grad():
            expected = m(*args).numpy()
        np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-5, err_msg=f"{batch}x{steps}")
