"""RNN, LSTM, GRU (and the cells) exported to ONNX's RNN/LSTM/GRU operators with dynamic
batch and sequence axes, checked, and run in ONNX Runtime at two batch sizes and two
sequence lengths against the engine (float32: atol 1e-5)."""
import numpy as np
import pytest

import tensorweaver as tw
import tensorweaver.onnx as twonnx
from tensorweaver import nn
from tensorweaver.onnx.errors import ExportError
from tensorweaver.nn.utils import rnn as rnn_utils

onnx = pytest.importorskip("onnx", reason="ONNX export needs the 'onnx' extra (pip install -e '.[onnx]')")
ort = pytest.importorskip("onnxruntime", reason="needs onnxruntime (extra 'onnx')")
pytestmark = pytest.mark.onnx


class Seq(nn.Module):
    """Flat outputs: the sequence output and every final state."""

    def __init__(self, rnn, with_state=False):
        super().__init__()
        self.rnn, self.with_state = rnn, with_state

    def forward(self, x, *state):
        if not self.with_state:
            state = None
        elif isinstance(self.rnn, nn.LSTM):
            state = tuple(state)
        else:
            state = state[0]
        out, hn = self.rnn(x, state)
        return (out, *hn) if isinstance(hn, tuple) else (out, hn)


class Cell(nn.Module):
    def __init__(self, cell):
        super().__init__()
        self.cell = cell

    def forward(self, x, h, c=None):
        out = self.cell(x, (h, c)) if c is not None else self.cell(x, h)
        return out if isinstance(out, tuple) else (out,)


def _states(m, batch):
    if not m.with_state:
        return ()
    r = m.rnn
    shape = (r.num_layers * (2 if r.bidirectional else 1), batch, r.hidden_size)
    return tuple(tw.randn(*shape) for _ in range(2 if isinstance(r, nn.LSTM) else 1))


CASES = [
    ("RNN_tanh", lambda: nn.RNN(3, 5), False),
    ("RNN_relu_2layers_bidir", lambda: nn.RNN(3, 5, num_layers=2, nonlinearity="relu", bidirectional=True), True),
    ("LSTM", lambda: nn.LSTM(3, 5), False),
    ("LSTM_2layers_bidir_state", lambda: nn.LSTM(3, 5, num_layers=2, bidirectional=True), True),
    ("LSTM_batch_first_no_bias", lambda: nn.LSTM(3, 5, bias=False, batch_first=True), True),
    ("GRU", lambda: nn.GRU(3, 5), False),
    ("GRU_2layers_bidir_state", lambda: nn.GRU(3, 5, num_layers=2, bidirectional=True), True),
    ("GRU_batch_first_no_bias", lambda: nn.GRU(3, 5, bias=False, batch_first=True), True),
]


@pytest.mark.parametrize("name,make,with_state", CASES, ids=[c[0] for c in CASES])
def test_sequence_model_roundtrip(tmp_path, name, make, with_state):
    tw.manual_seed(0)
    m = Seq(make(), with_state).eval()
    bf = m.rnn.batch_first
    b_ax, t_ax = (0, 1) if bf else (1, 0)

    def make_args(batch, steps):
        x = tw.randn(*((batch, steps, 3) if bf else (steps, batch, 3)))
        return (x, *_states(m, batch))

    args = make_args(2, 4)
    in_names = ["x"] + [f"s{i}" for i in range(len(args) - 1)]
    with tw.no_grad():
        n_out = len(m(*args))
    out_names = [f"y{i}" for i in range(n_out)]
    axes = {"x": {b_ax: "batch", t_ax: "seq"}, "y0": {b_ax: "batch", t_ax: "seq"}}
    axes.update({n: {1: "batch"} for n in in_names[1:] + out_names[1:]})
    path = str(tmp_path / "m.onnx")
    proto = twonnx.export(m, args, path, input_names=in_names, output_names=out_names, dynamic_axes=axes,
                          opset_version=17)
    onnx.checker.check_model(onnx.load(path), full_check=True)
    op_types = {node.op_type for node in proto.graph.node}
    assert name.split("_")[0] in op_types, op_types
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    for batch, steps in ((2, 4), (5, 7), (3, 1)):
        run_args = make_args(batch, steps)
        got = session.run(out_names, {k: a.numpy() for k, a in zip(in_names, run_args)})
        with tw.no_grad():
            expected = m(*run_args)
        for g, e, k in zip(got, expected, out_names):
            assert g.shape == tuple(e.shape), (k, batch, steps)
            np.testing.assert_allclose(g, e.numpy(), atol=1e-5, rtol=1e-5, err_msg=f"{k} at {batch}x{steps}")


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cell_roundtrip(roundtrip, kind):
    tw.manual_seed(1)
    m = Cell(getattr(nn, kind)(3, 4))
    n_states = 2 if kind == "LSTMCell" else 1
    roundtrip(m, lambda n: (tw.randn(n, 3), *[tw.randn(n, 4) for _ in range(n_states)]))


def test_packed_sequence_export_is_refused(tmp_path):
    class Packed(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.GRU(3, 4)

        def forward(self, x):
            out, h = self.rnn(rnn_utils.pack_padded_sequence(x, [x.shape[0]] * x.shape[1]))
            return h

    with pytest.raises(ExportError, match="PackedSequence"):
        twonnx.export(Packed(), (tw.randn(4, 2, 3),), str(tmp_path / "p.onnx"), opset_version=17)
