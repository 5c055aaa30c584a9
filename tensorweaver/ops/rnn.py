"""Recurrent layers: one Function runs a whole sequence for one layer and one direction.

Why one Function and not a Python loop of small ops: the loop over time then lives on
backend arrays (fast: no graph node per gate), backward is backpropagation through
time written out on arrays, and the ONNX tracer sees one call that maps to ONNX's
``RNN``/``LSTM``/``GRU`` operator, whose sequence axis stays dynamic.

Each Function takes the sequence-first input and the layer's torch-named weights::

    RNNLayer.apply(x, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity="tanh", reverse=False)
    LSTMLayer.apply(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse=False)
    GRULayer.apply(x, h0, w_ih, w_hh, b_ih, b_hh, reverse=False)

Shapes: x (T, N, I); h0, c0 (N, H) or None (zeros); w_ih (G*H, I); w_hh (G*H, H);
b_ih, b_hh (G*H,) or None, with G = 1 (RNN), 4 (LSTM: gates i, f, g, o) or 3 (GRU:
gates r, z, n), torch's order. The output stacks the per-step hidden states and the
final state(s) along the time axis, so a single array carries them all:
(T + 1, N, H) for RNN/GRU (``out[:-1]`` the outputs, ``out[-1]`` h_n) and (T + 2, N, H)
for LSTM (``out[-2]`` h_n, ``out[-1]`` c_n). ``reverse=True`` runs from the last step
to the first (the backward half of a bidirectional layer); outputs stay in time order.

``lengths`` (a host int sequence of N lengths, or None) is how packed sequences run:
steps at or past a sequence's length leave its state unchanged and output zeros, so
h_n is the state after that sequence's last real step (torch's PackedSequence rule).
"""
from __future__ import annotations

from tensorweaver import backend
from tensorweaver.autograd.function import Function

xp = backend.xp


def _sigmoid(a):
    # sigma(a) = (1 + tanh(a/2)) / 2: stable for any a, and one transcendental per element.
    return 0.5 + 0.5 * xp.tanh(0.5 * a)


def _check(name, x, h0, w_ih, w_hh, b_ih, b_hh, gates):
    """Shapes and dtypes agree (torch's errors, with the fix)."""
    if x.ndim != 3:
        raise ValueError(f"{name}: input must be 3-D (T, N, input_size), got shape {tuple(x.shape)}")
    hidden = w_hh.shape[1]
    if w_ih.shape != (gates * hidden, x.shape[2]):
        raise ValueError(f"{name}: input.size(-1) must be equal to input_size. Expected {w_ih.shape[1]}, "
                         f"got {x.shape[2]}")
    for what, a in (("weight_ih", w_ih), ("weight_hh", w_hh), ("bias_ih", b_ih), ("bias_hh", b_hh),
                    ("hx", h0)):
        if a is not None and a.dtype != x.dtype:
            raise TypeError(f"{name}: input is {x.dtype} but {what} is {a.dtype}; convert the input or "
                            f"the module (module.to(dtype) / x.to(dtype)) so that they match")
    if h0 is not None and h0.shape != (x.shape[1], hidden):
        raise ValueError(f"{name}: expected hidden size {(x.shape[1], hidden)}, got {tuple(h0.shape)}")
    return hidden


def _input_gates(x, w_ih, b_ih):
    """x @ w_ih^T + b_ih for every step at once: one (T*N, I) x (I, G*H) product."""
    t, n, i = x.shape
    g = (x.reshape(t * n, i) @ w_ih.T).reshape(t, n, w_ih.shape[0])
    return g if b_ih is None else g + b_ih


def _steps(t_len, reverse):
    return range(t_len - 1, -1, -1) if reverse else range(t_len)


def _valid_masks(lengths, t_len, dtype):
    """Per step, an (N, 1) 0/1 mask of the sequences still running (None: all of them)."""
    if lengths is None:
        return None
    import numpy as np   # host-side: the lengths are host integers (as torch keeps them on CPU)
    lengths = np.asarray(lengths).reshape(1, -1, 1)
    masks = (np.arange(t_len).reshape(-1, 1, 1) < lengths).astype(dtype)
    return backend.from_host(masks)


def _param_grads(needs, d_in, d_hh, x, h_prev, w_ih, w_hh):
    """Gradients of x, w_ih, w_hh, b_ih, b_hh from the per-step gate gradients.

    d_in, d_hh: (T, N, G*H) gradients of the input-side and hidden-side pre-activations
    (the same array for RNN/LSTM; GRU's n gate differs). h_prev: (T, N, H) the state each
    step started from. Every sum over time is one matrix product."""
    t, n, g = d_in.shape
    d_in2, d_hh2 = d_in.reshape(t * n, g), d_hh.reshape(t * n, g)
    dx = (d_in2 @ w_ih).reshape(x.shape) if needs[0] else None
    dw_ih = d_in2.T @ x.reshape(t * n, x.shape[2]) if needs[1] else None
    dw_hh = d_hh2.T @ h_prev.reshape(t * n, h_prev.shape[2]) if needs[2] else None
    db_ih = d_in2.sum(axis=0) if needs[3] else None
    db_hh = d_hh2.sum(axis=0) if needs[4] else None
    return dx, dw_ih, dw_hh, db_ih, db_hh


class RNNLayer(Function):
    """Elman RNN over a sequence: h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)."""

    def forward(self, x, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity="tanh", reverse=False, lengths=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        hidden = _check("RNN", x, h0, w_ih, w_hh, b_ih, b_hh, 1)
        self.nonlinearity, self.reverse, self.lengths = nonlinearity, reverse, lengths
        t_len, n = x.shape[0], x.shape[1]
        pre = _input_gates(x, w_ih, b_ih)
        if b_hh is not None:
            pre = pre + b_hh
        masks = _valid_masks(lengths, t_len, x.dtype)
        h = xp.zeros((n, hidden), dtype=x.dtype) if h0 is None else h0
        out = xp.zeros((t_len + 1, n, hidden), dtype=x.dtype)
        h_prev = xp.empty((t_len, n, hidden), dtype=x.dtype)
        relu = nonlinearity == "relu"
        for t in _steps(t_len, reverse):
            h_prev[t] = h
            a = pre[t] + h @ w_hh.T
            h_new = xp.maximum(a, 0) if relu else xp.tanh(a)
            if masks is None:
                h = out[t] = h_new
            else:
                out[t] = h_new * masks[t]
                h = h + masks[t] * (h_new - h)
        out[t_len] = h
        self.save_for_backward(x, h_prev, out, w_ih, w_hh, masks)
        return out

    def backward(self, grad):
        x, h_prev, out, w_ih, w_hh, masks = self.saved_tensors
        t_len = x.shape[0]
        d_pre = xp.empty((t_len,) + grad.shape[1:2] + (w_hh.shape[0],), dtype=grad.dtype)
        dh = grad[t_len]
        for t in _steps(t_len, not self.reverse):
            h_new = out[t]
            if masks is None:
                dh_new, keep = dh + grad[t], None
            else:
                dh_new, keep = masks[t] * (dh + grad[t]), (1 - masks[t]) * dh
            d = dh_new * (h_new > 0) if self.nonlinearity == "relu" else dh_new * (1 - h_new * h_new)
            d_pre[t] = d
            dh = d @ w_hh if keep is None else d @ w_hh + keep
        needs = self.needs_input_grad
        dx, dw_ih, dw_hh, db_ih, db_hh = _param_grads(needs[:1] + needs[2:], d_pre, d_pre, x, h_prev, w_ih, w_hh)
        return dx, (dh if needs[1] else None), dw_ih, dw_hh, db_ih, db_hh


class LSTMLayer(Function):
    """LSTM over a sequence (torch's gates i, f, g, o)::

        i, f, g, o = split(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh, 4)
        c_t = sigmoid(f) * c_{t-1} + sigmoid(i) * tanh(g);  h_t = sigmoid(o) * tanh(c_t)
    """

    def forward(self, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse=False, lengths=None):
        hidden = _check("LSTM", x, h0, w_ih, w_hh, b_ih, b_hh, 4)
        if c0 is not None and c0.shape != (x.shape[1], hidden):
            raise ValueError(f"LSTM: expected cell size {(x.shape[1], hidden)}, got {tuple(c0.shape)}")
        self.reverse, self.lengths = reverse, lengths
        t_len, n, hs = x.shape[0], x.shape[1], hidden
        pre = _input_gates(x, w_ih, b_ih)
        if b_hh is not None:
            pre = pre + b_hh
        masks = _valid_masks(lengths, t_len, x.dtype)
        h = xp.zeros((n, hs), dtype=x.dtype) if h0 is None else h0
        c = xp.zeros((n, hs), dtype=x.dtype) if c0 is None else c0
        out = xp.zeros((t_len + 2, n, hs), dtype=x.dtype)
        h_prev = xp.empty((t_len, n, hs), dtype=x.dtype)
        c_prev = xp.empty((t_len, n, hs), dtype=x.dtype)
        c_new_all = xp.empty((t_len, n, hs), dtype=x.dtype)
        acts = xp.empty((t_len, n, 4 * hs), dtype=x.dtype)     # i, f, g, o after their activations
        for t in _steps(t_len, reverse):
            h_prev[t], c_prev[t] = h, c
            a = pre[t] + h @ w_hh.T
            act = _sigmoid(a)                                   # i, f, o use it; g is replaced
            act[:, 2 * hs:3 * hs] = xp.tanh(a[:, 2 * hs:3 * hs])
            acts[t] = act
            c_new = act[:, hs:2 * hs] * c + act[:, :hs] * act[:, 2 * hs:3 * hs]
            c_new_all[t] = c_new
            h_new = act[:, 3 * hs:] * xp.tanh(c_new)
            if masks is None:
                h, c = h_new, c_new
                out[t] = h
            else:
                out[t] = h_new * masks[t]
                h = h + masks[t] * (h_new - h)
                c = c + masks[t] * (c_new - c)
        out[t_len], out[t_len + 1] = h, c
        self.save_for_backward(x, h_prev, c_prev, c_new_all, acts, w_ih, w_hh, masks)
        return out

    def backward(self, grad):
        x, h_prev, c_prev, c_new_all, acts, w_ih, w_hh, masks = self.saved_tensors
        t_len, hs = x.shape[0], w_hh.shape[1]
        d_pre = xp.empty(acts.shape, dtype=grad.dtype)
        dh, dc = grad[t_len], grad[t_len + 1]
        for t in _steps(t_len, not self.reverse):
            act = acts[t]
            i, f, g, o = act[:, :hs], act[:, hs:2 * hs], act[:, 2 * hs:3 * hs], act[:, 3 * hs:]
            if masks is None:
                dh_new, dc_new, keep_h, keep_c = dh + grad[t], dc, None, None
            else:
                m = masks[t]
                dh_new, dc_new = m * (dh + grad[t]), m * dc
                keep_h, keep_c = (1 - m) * dh, (1 - m) * dc
            tc = xp.tanh(c_new_all[t])
            dc_new = dc_new + dh_new * o * (1 - tc * tc)
            d = d_pre[t]
            d[:, :hs] = dc_new * g * i * (1 - i)
            d[:, hs:2 * hs] = dc_new * c_prev[t] * f * (1 - f)
            d[:, 2 * hs:3 * hs] = dc_new * i * (1 - g * g)
            d[:, 3 * hs:] = dh_new * tc * o * (1 - o)
            dh = d @ w_hh
            dc = dc_new * f
            if keep_h is not None:
                dh, dc = dh + keep_h, dc + keep_c
        needs = self.needs_input_grad
        dx, dw_ih, dw_hh, db_ih, db_hh = _param_grads(needs[:1] + needs[3:], d_pre, d_pre, x, h_prev, w_ih, w_hh)
        return dx, (dh if needs[1] else None), (dc if needs[2] else None), dw_ih, dw_hh, db_ih, db_hh


class GRULayer(Function):
    """GRU over a sequence (torch's gates r, z, n; the reset gate multiplies W_hn h + b_hn)::

        r = sigmoid(x W_ir^T + b_ir + h W_hr^T + b_hr);  z = sigmoid(x W_iz^T + b_iz + h W_hz^T + b_hz)
        n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn));  h_t = (1 - z) * n + z * h_{t-1}
    """

    def forward(self, x, h0, w_ih, w_hh, b_ih, b_hh, reverse=False, lengths=None):
        hidden = _check("GRU", x, h0, w_ih, w_hh, b_ih, b_hh, 3)
        self.reverse, self.lengths = reverse, lengths
        t_len, n, hs = x.shape[0], x.shape[1], hidden
        gi = _input_gates(x, w_ih, b_ih)
        masks = _valid_masks(lengths, t_len, x.dtype)
        h = xp.zeros((n, hs), dtype=x.dtype) if h0 is None else h0
        out = xp.zeros((t_len + 1, n, hs), dtype=x.dtype)
        h_prev = xp.empty((t_len, n, hs), dtype=x.dtype)
        acts = xp.empty((t_len, n, 3 * hs), dtype=x.dtype)     # r, z, n after their activations
        gh_n = xp.empty((t_len, n, hs), dtype=x.dtype)         # h W_hn^T + b_hn (needed for dr)
        for t in _steps(t_len, reverse):
            h_prev[t] = h
            gh = h @ w_hh.T
            if b_hh is not None:
                gh = gh + b_hh
            rz = _sigmoid(gi[t, :, :2 * hs] + gh[:, :2 * hs])
            r, z = rz[:, :hs], rz[:, hs:]
            gh_n[t] = gh[:, 2 * hs:]
            n_gate = xp.tanh(gi[t, :, 2 * hs:] + r * gh[:, 2 * hs:])
            acts[t, :, :2 * hs], acts[t, :, 2 * hs:] = rz, n_gate
            h_new = n_gate + z * (h - n_gate)
            if masks is None:
                h = out[t] = h_new
            else:
                out[t] = h_new * masks[t]
                h = h + masks[t] * (h_new - h)
        out[t_len] = h
        self.save_for_backward(x, h_prev, acts, gh_n, w_ih, w_hh, masks)
        return out

    def backward(self, grad):
        x, h_prev, acts, gh_n, w_ih, w_hh, masks = self.saved_tensors
        t_len, hs = x.shape[0], w_hh.shape[1]
        d_in = xp.empty(acts.shape, dtype=grad.dtype)
        d_hh = xp.empty(acts.shape, dtype=grad.dtype)
        dh = grad[t_len]
        for t in _steps(t_len, not self.reverse):
            act = acts[t]
            r, z, n_gate = act[:, :hs], act[:, hs:2 * hs], act[:, 2 * hs:]
            if masks is None:
                dh_new, keep = dh + grad[t], None
            else:
                dh_new, keep = masks[t] * (dh + grad[t]), (1 - masks[t]) * dh
            dn = dh_new * (1 - z) * (1 - n_gate * n_gate)
            dr = dn * gh_n[t] * r * (1 - r)
            dz = dh_new * (h_prev[t] - n_gate) * z * (1 - z)
            d_in[t, :, :hs], d_in[t, :, hs:2 * hs], d_in[t, :, 2 * hs:] = dr, dz, dn
            d_hh[t, :, :hs], d_hh[t, :, hs:2 * hs], d_hh[t, :, 2 * hs:] = dr, dz, dn * r
            dh = dh_new * z + d_hh[t] @ w_hh
            if keep is not None:
                dh = dh + keep
        needs = self.needs_input_grad
        dx, dw_ih, dw_hh, db_ih, db_hh = _param_grads(needs[:1] + needs[2:], d_in, d_hh, x, h_prev, w_ih, w_hh)
        return dx, (dh if needs[1] else None), dw_ih, dw_hh, db_ih, db_hh
