"""Recurrent layers -> ONNX ``RNN``, ``LSTM`` and ``GRU`` (one node per layer and direction).

Each engine Function (``tensorweaver/ops/rnn.py``) returns the per-step outputs followed
by the final state(s) along the time axis; here that is ``Concat(Squeeze(Y), Y_h[, Y_c])``,
so batch and sequence axes stay dynamic. torch and ONNX stack the gates differently, so
the weights are re-ordered in the graph (a Split and a Concat on the initializers):

- LSTM: torch i, f, g, o -> ONNX i, o, f, c
- GRU: torch r, z, n -> ONNX z, r, h, with ``linear_before_reset=1`` (torch applies the
  reset gate after the hidden-side product, as ONNX does with that flag)

Packed sequences (``lengths``) are not exported: their lengths would be frozen into the graph.
"""
from __future__ import annotations

from tensorweaver.onnx.registry import register
from tensorweaver.ops import rnn

_LSTM_ORDER = (0, 3, 1, 2)       # ONNX gate k is torch gate _LSTM_ORDER[k]
_GRU_ORDER = (1, 0, 2)
_NO_ORDER = (0,)


def _gates(g, n, i, order, hidden):
    """Argument ``i`` (torch-stacked gates along axis 0) re-stacked in ONNX's gate order."""
    value = n.input(i)
    if order != _NO_ORDER:
        parts = g.op("Split", value, g.ints([hidden] * len(order)), axis=0, outputs=len(order))
        value = g.op("Concat", *[parts[k] for k in order], axis=0)
    return value


def _export(g, n, onnx_op, state_args, w_at, order, **attrs):
    if n.fn.lengths is not None:
        raise n.fail("a PackedSequence cannot be exported (its lengths would be frozen into the graph); "
                     "export the layer on a padded batch instead")
    w_ih, w_hh, b_ih, b_hh = w_at, w_at + 1, w_at + 2, w_at + 3
    hidden = n.in_shape(w_hh)[1]
    w = g.unsqueeze(_gates(g, n, w_ih, order, hidden), [0])
    r = g.unsqueeze(_gates(g, n, w_hh, order, hidden), [0])
    b = None
    if n.args[b_ih] is not None:
        b = g.unsqueeze(g.op("Concat", _gates(g, n, b_ih, order, hidden), _gates(g, n, b_hh, order, hidden),
                             axis=0), [0])
    states = [g.unsqueeze(n.input(i), [0]) if n.args[i] is not None else None for i in state_args]
    outs = g.op(onnx_op, n.input(0), w, r, b, None, *states, outputs=1 + len(state_args),
                hidden_size=hidden, direction="reverse" if n.fn.reverse else "forward", **attrs)
    y = g.squeeze(outs[0], [1])                    # (T, num_directions=1, N, H) -> (T, N, H)
    return g.op("Concat", y, *outs[1:], axis=0)    # then the final state(s): (T + k, N, H)


@register(rnn.RNNLayer)
def rnn_layer(g, n):
    return _export(g, n, "RNN", [1], 2, _NO_ORDER, activations=["Tanh" if n.fn.nonlinearity == "tanh" else "Relu"])


@register(rnn.LSTMLayer)
def lstm_layer(g, n):
    return _export(g, n, "LSTM", [1, 2], 3, _LSTM_ORDER)


@register(rnn.GRULayer)
def gru_layer(g, n):
    return _export(g, n, "GRU", [1], 2, _GRU_ORDER, linear_before_reset=1)
