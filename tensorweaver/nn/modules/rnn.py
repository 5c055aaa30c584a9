"""Recurrent layers: ``RNN``, ``LSTM``, ``GRU`` and their one-step ``*Cell`` versions.

Parameters carry torch's names and shapes (``weight_ih_l0``, ``weight_hh_l0``,
``bias_ih_l0``, ``bias_hh_l0``, ``..._reverse`` for the second direction), in torch's
order and with torch's initialisation (every weight from U(-1/sqrt(H), 1/sqrt(H))), so
``load_state_dict`` moves weights between tensorweaver and torch both ways.

Each layer and direction runs as one Function over the whole sequence
(``tensorweaver/ops/rnn.py``); the modules only stack layers, directions and dropout.
``proj_size`` (LSTM with projections) is not supported and says so.
"""
from __future__ import annotations

import math
import warnings

from tensorweaver.nn import functional as F
from tensorweaver.nn import init
from tensorweaver.nn.modules._factory import empty_parameter, resolve_dtype
from tensorweaver.nn.modules.module import Module
from tensorweaver.ops import rnn as _rnn
from tensorweaver.ops.shape import cat, stack

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


class RNNBase(Module):
    """The shared machinery of ``RNN``, ``LSTM`` and ``GRU`` (torch's ``RNNBase``)."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, device=None, dtype=None):
        super().__init__()
        dtype = resolve_dtype(dtype, device)
        if not isinstance(dropout, (int, float)) or isinstance(dropout, bool) or not 0 <= dropout <= 1:
            raise ValueError("dropout should be a number in range [0, 1] representing the probability of an "
                             "element being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                          f"expects num_layers greater than 1, but got dropout={dropout} and num_layers={num_layers}",
                          stacklevel=3)
        if not isinstance(hidden_size, int) or isinstance(hidden_size, bool):
            raise TypeError(f"hidden_size should be of type int, got: {type(hidden_size).__name__}")
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if proj_size and mode != "LSTM":
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if proj_size:
            raise NotImplementedError(
                "LSTM(proj_size > 0) is not supported by tensorweaver: build the projection yourself "
                "(an LSTM with proj_size=0 followed by nn.Linear(hidden_size, proj_size, bias=False) per step) "
                "or leave proj_size at 0")
        self.mode, self.input_size, self.hidden_size = mode, input_size, hidden_size
        self.num_layers, self.bias, self.batch_first = num_layers, bias, batch_first
        self.dropout, self.bidirectional, self.proj_size = float(dropout), bidirectional, proj_size
        gate_size = _GATES[mode] * hidden_size
        directions = 2 if bidirectional else 1
        self._flat_weights_names = []
        for layer in range(num_layers):
            for direction in range(directions):
                layer_input = input_size if layer == 0 else hidden_size * directions
                suffix = "_reverse" if direction == 1 else ""
                shapes = [("weight_ih", (gate_size, layer_input)), ("weight_hh", (gate_size, hidden_size))]
                if bias:
                    shapes += [("bias_ih", (gate_size,)), ("bias_hh", (gate_size,))]
                for kind, shape in shapes:
                    name = f"{kind}_l{layer}{suffix}"
                    setattr(self, name, empty_parameter(shape, dtype))
                    self._flat_weights_names.append(name)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def flatten_parameters(self) -> None:
        """A no-op, as torch's is on the CPU (it packs weights for cuDNN)."""

    @property
    def _flat_weights(self):
        return [getattr(self, name) for name in self._flat_weights_names]

    @property
    def all_weights(self):
        """Per layer and direction, the list [w_ih, w_hh, b_ih, b_hh] (torch's layout)."""
        per = 4 if self.bias else 2
        flat = self._flat_weights
        return [flat[i:i + per] for i in range(0, len(flat), per)]

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s

    # -- running it -------------------------------------------------------------------
    def _check_input(self, input, hx_list):
        name = type(self).__name__
        if input.ndim not in (2, 3):
            raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.ndim}D input instead")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                               f"got {input.shape[-1]}")
        dtype = self.weight_ih_l0.dtype
        if input.dtype != dtype:
            raise ValueError(f"input must have the type {dtype}, got type {input.dtype} (convert the input "
                             f"with .to({dtype}) or the module with .to(dtype))")
        batched = input.ndim == 3
        for h in hx_list:
            if h is not None and h.ndim != (3 if batched else 2):
                raise RuntimeError(f"For {'batched 3' if batched else 'unbatched 2'}-D input, hx should also be "
                                   f"{3 if batched else 2}-D but got {h.ndim}-D tensor")

    def _expected_hidden(self, batch):
        return (self.num_layers * (2 if self.bidirectional else 1), batch, self.hidden_size)

    def _check_hidden(self, hx, batch, what="hidden"):
        if hx is not None and tuple(hx.shape) != self._expected_hidden(batch):
            raise RuntimeError(f"Expected {what} size {self._expected_hidden(batch)}, got {list(hx.shape)}")

    def _layers(self, x, hx, cx, lengths):
        """Run all layers on sequence-first x (T, N, I); returns (output, h_n, c_n or None)."""
        directions = 2 if self.bidirectional else 1
        lstm = self.mode == "LSTM"
        k = 2 if lstm else 1                           # final-state rows after the outputs
        h_n, c_n = [], []
        layer_input = x
        for layer in range(self.num_layers):
            outs = []
            for direction in range(directions):
                suffix = "_reverse" if direction == 1 else ""
                w = [getattr(self, f"{kind}_l{layer}{suffix}") if self.bias or kind.startswith("weight") else None
                     for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
                idx = layer * directions + direction
                h0 = None if hx is None else hx[idx]
                reverse = direction == 1
                if lstm:
                    c0 = None if cx is None else cx[idx]
                    out = _rnn.LSTMLayer.apply(layer_input, h0, c0, *w, reverse=reverse, lengths=lengths)
                    c_n.append(out[-1])
                elif self.mode == "GRU":
                    out = _rnn.GRULayer.apply(layer_input, h0, *w, reverse=reverse, lengths=lengths)
                else:
                    nonlinearity = "tanh" if self.mode == "RNN_TANH" else "relu"
                    out = _rnn.RNNLayer.apply(layer_input, h0, *w, nonlinearity=nonlinearity,
                                              reverse=reverse, lengths=lengths)
                # Negative indices keep the slices independent of T (a dynamic ONNX axis).
                outs.append(out[:-k])
                h_n.append(out[-k])
            layer_output = outs[0] if directions == 1 else cat(outs, dim=2)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_output = F.dropout(layer_output, self.dropout, training=True)
            layer_input = layer_output
        return layer_input, stack(h_n, 0), (stack(c_n, 0) if lstm else None)

    def forward(self, input, hx=None):
        from tensorweaver.nn.utils.rnn import PackedSequence, _packed_to_padded, _padded_to_packed

        lstm = self.mode == "LSTM"
        name = type(self).__name__
        if lstm and hx is not None and not (isinstance(hx, tuple) and len(hx) == 2):
            raise TypeError("LSTM: hx must be a tuple (h_0, c_0) of two tensors")
        if not lstm and isinstance(hx, tuple):
            raise TypeError(f"{name}: hx must be one tensor, not a tuple (only LSTM takes (h_0, c_0))")
        h0, c0 = hx if (lstm and hx is not None) else (hx, None)

        if isinstance(input, PackedSequence):
            x, lengths = _packed_to_padded(input)        # (T, N, I) in the packed (sorted) batch order
            self._check_input(x, [h0, c0])
            if input.sorted_indices is not None:         # the caller's hx is in its own order
                order = input.sorted_indices.data
                h0 = None if h0 is None else h0[:, order]
                c0 = None if c0 is None else c0[:, order]
            self._check_hidden(h0, x.shape[1])
            self._check_hidden(c0, x.shape[1], "cell")
            out, h_n, c_n = self._layers(x, h0, c0, lengths)
            out = PackedSequence(_padded_to_packed(out, input.batch_sizes), input.batch_sizes,
                                 input.sorted_indices, input.unsorted_indices)
            if input.unsorted_indices is not None:
                back = input.unsorted_indices.data
                h_n = h_n[:, back]
                c_n = None if c_n is None else c_n[:, back]
            return (out, (h_n, c_n)) if lstm else (out, h_n)

        self._check_input(input, [h0, c0])
        batched = input.ndim == 3
        if not batched:                                   # (L, H_in): a batch of one
            input = input.unsqueeze(1)
            h0 = None if h0 is None else h0.unsqueeze(1)
            c0 = None if c0 is None else c0.unsqueeze(1)
        elif self.batch_first:
            input = input.transpose(0, 1)
        self._check_hidden(h0, input.shape[1])
        self._check_hidden(c0, input.shape[1], "cell")
        out, h_n, c_n = self._layers(input, h0, c0, None)
        if not batched:
            out, h_n = out.squeeze(1), h_n.squeeze(1)
            c_n = None if c_n is None else c_n.squeeze(1)
        elif self.batch_first:
            out = out.transpose(0, 1)
        return (out, (h_n, c_n)) if lstm else (out, h_n)


class RNN(RNNBase):
    r"""Multi-layer Elman RNN: :math:`h_t = \tanh(x_t W_{ih}^T + b_{ih} + h_{t-1} W_{hh}^T + b_{hh})`
    (or ReLU with ``nonlinearity='relu'``).

    Args:
        input_size, hidden_size: features of the input x and of the hidden state h
        num_layers: stacked recurrent layers. Default: 1
        nonlinearity: ``'tanh'`` or ``'relu'``. Default: ``'tanh'``
        bias: use ``b_ih`` and ``b_hh``. Default: ``True``
        batch_first: input and output are (N, L, H) instead of (L, N, H). Default: ``False``
        dropout: dropout on the outputs of every layer but the last (training only). Default: 0
        bidirectional: run a second, reversed pass and concatenate. Default: ``False``

    Shapes of ``forward(input, hx=None) -> (output, h_n)``, with D = 2 if bidirectional else 1:
        - input: :math:`(L, H_{in})`, :math:`(L, N, H_{in})` or :math:`(N, L, H_{in})` with
          ``batch_first``; or a ``PackedSequence``
        - hx, h_n: :math:`(D \cdot \text{num\_layers}, N, H)` (or without N for unbatched input);
          hx defaults to zeros
        - output: :math:`(L, N, D \cdot H)` (batch first likewise), the last layer's h_t per step

    Attributes: ``weight_ih_l[k]`` (H, H_in) for k = 0, else (H, D * H); ``weight_hh_l[k]`` (H, H);
    ``bias_ih_l[k]``, ``bias_hh_l[k]`` (H,); ``..._reverse`` for the reverse direction.
    """

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if len(args) > 3:
            args = list(args)
            kwargs["nonlinearity"] = args.pop(3)
            args = tuple(args)
        self.nonlinearity = kwargs.pop("nonlinearity", "tanh")
        if self.nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif self.nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise ValueError(f"Unknown nonlinearity '{self.nonlinearity}'. Select from 'tanh' or 'relu'.")
        super().__init__(mode, *args, **kwargs)


class LSTM(RNNBase):
    r"""Multi-layer long short-term memory RNN. Per layer and step (torch's gate order i, f, g, o)::

        i = sigmoid(W_ii x + b_ii + W_hi h + b_hi)    f = sigmoid(W_if x + b_if + W_hf h + b_hf)
        g = tanh(W_ig x + b_ig + W_hg h + b_hg)       o = sigmoid(W_io x + b_io + W_ho h + b_ho)
        c' = f * c + i * g                            h' = o * tanh(c')

    Args: as ``RNN`` (without ``nonlinearity``); ``proj_size`` must stay 0 (not supported).

    Shapes of ``forward(input, (h_0, c_0)=None) -> (output, (h_n, c_n))``: as ``RNN``'s, with
    c_0/c_n shaped like h_0/h_n. Weights stack the four gates: ``weight_ih_l[k]`` (4H, H_in or D*H),
    ``weight_hh_l[k]`` (4H, H), biases (4H,).
    """

    def __init__(self, *args, **kwargs):
        super().__init__("LSTM", *args, **kwargs)


class GRU(RNNBase):
    r"""Multi-layer gated recurrent unit RNN. Per layer and step (torch's gate order r, z, n)::

        r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)    z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn)) h' = (1 - z) * n + z * h

    Args and shapes: as ``RNN`` (without ``nonlinearity``). Weights stack the three gates:
    ``weight_ih_l[k]`` (3H, H_in or D*H), ``weight_hh_l[k]`` (3H, H), biases (3H,).
    """

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", *args, **kwargs)


# ---------------------------------------------------------------- cells
class RNNCellBase(Module):
    """One step of a recurrent layer: parameters ``weight_ih`` (G*H, I), ``weight_hh`` (G*H, H),
    ``bias_ih``/``bias_hh`` (G*H,), initialised from U(-1/sqrt(H), 1/sqrt(H))."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int, device=None, dtype=None):
        super().__init__()
        dtype = resolve_dtype(dtype, device)
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self.weight_ih = empty_parameter((num_chunks * hidden_size, input_size), dtype)
        self.weight_hh = empty_parameter((num_chunks * hidden_size, hidden_size), dtype)
        if bias:
            self.bias_ih = empty_parameter((num_chunks * hidden_size,), dtype)
            self.bias_hh = empty_parameter((num_chunks * hidden_size,), dtype)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s

    def _prepare(self, input, states):
        """Checks, and the batched (1, N, I) sequence and (N, H) states of one step."""
        name = type(self).__name__
        if input.ndim not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.ndim}D instead")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"input has inconsistent input_size: got {input.shape[-1]} expected {self.input_size}")
        if input.dtype != self.weight_ih.dtype:
            raise ValueError(f"input must have the type {self.weight_ih.dtype}, got type {input.dtype}")
        batched = input.ndim == 2
        out = []
        for s in states:
            if s is not None and s.ndim != input.ndim:
                raise RuntimeError(f"{name}: Expected hidden to be {input.ndim}D for {input.ndim}D input, "
                                   f"got {s.ndim}D instead")
            out.append(s if (s is None or batched) else s.unsqueeze(0))
        x = input if batched else input.unsqueeze(0)
        for s in out:
            if s is not None and tuple(s.shape) != (x.shape[0], self.hidden_size):
                raise RuntimeError(f"hidden size {tuple(s.shape)} should be {(x.shape[0], self.hidden_size)}")
        return x.unsqueeze(0), out, batched

    def _weights(self):
        return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh


class RNNCell(RNNCellBase):
    r"""One Elman RNN step: :math:`h' = \tanh(x W_{ih}^T + b_{ih} + h W_{hh}^T + b_{hh})` (or ReLU).

    Shapes of ``forward(input, hx=None)``: input (N, H_in) or (H_in,); hx (N, H) or (H,),
    zeros by default; returns h' shaped like hx.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)

    def forward(self, input, hx=None):
        x, (h,), batched = self._prepare(input, [hx])
        out = _rnn.RNNLayer.apply(x, h, *self._weights(), nonlinearity=self.nonlinearity)
        h1 = out[-1]
        return h1 if batched else h1.squeeze(0)


class LSTMCell(RNNCellBase):
    r"""One LSTM step (gates i, f, g, o as ``LSTM``).

    Shapes of ``forward(input, (h, c)=None) -> (h', c')``: input (N, H_in) or (H_in,); h, c,
    h', c' (N, H) or (H,); the states are zeros by default.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input, hx=None):
        if hx is not None and not (isinstance(hx, tuple) and len(hx) == 2):
            raise TypeError("LSTMCell: hx must be a tuple (h, c) of two tensors")
        h, c = hx if hx is not None else (None, None)
        x, (h, c), batched = self._prepare(input, [h, c])
        out = _rnn.LSTMLayer.apply(x, h, c, *self._weights())
        h1, c1 = out[-2], out[-1]
        return (h1, c1) if batched else (h1.squeeze(0), c1.squeeze(0))


class GRUCell(RNNCellBase):
    r"""One GRU step (gates r, z, n as ``GRU``).

    Shapes of ``forward(input, hx=None)``: input (N, H_in) or (H_in,); hx (N, H) or (H,),
    zeros by default; returns h' shaped like hx.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input, hx=None):
        x, (h,), batched = self._prepare(input, [hx])
        out = _rnn.GRULayer.apply(x, h, *self._weights())
        h1 = out[-1]
        return h1 if batched else h1.squeeze(0)
