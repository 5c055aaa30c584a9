# %% [markdown]
# # Lab 11 — Sequence models: RNNs, LSTMs, a BPE tokenizer and sampling
#
# **Prerequisites:** labs 06, 09 · **Expected time:** 120 min
#
# Lab 06 ended with an LSTM language model taken off the shelf (`nn.LSTM`). Here you build
# its pieces yourself and check each one against the library, on the same sonnets
# (`data/sonnets.txt`):
#
# 1. a **vanilla RNN** written as a loop over time, equal to `nn.RNN` from the same weights,
#    outputs and gradients (exercise);
# 2. an **LSTM cell** with its four gates, equal to `nn.LSTMCell` and `nn.LSTM` (exercise);
# 3. **truncated backpropagation through time** written by hand: the state carried from
#    chunk to chunk and detached (exercise); what happens to the graph without the detach;
#    then a language model trained with your loop;
# 4. a **byte-pair-encoding tokenizer**: learning merges, encoding, decoding (exercises);
# 5. **sampling** from logits: top-k, top-p (nucleus) and temperature (exercises), checked
#    against known distributions, then used to make the model write.

# %%
# %matplotlib inline
import math
import time
from collections import Counter
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import tensorweaver as tw
from tensorweaver import nn, optim
from tensorweaver.autograd.engine import topological_order
from tensorweaver.labs import quick, record

tw.manual_seed(0)
print("backend:", tw.backend.name)

# %% [markdown]
# ## 0. The text as integers
#
# As in lab 06 the model reads characters: the vocabulary is the set of characters of the
# text, and each one becomes its index. The last 10 % of the text (most of the last sonnet)
# is kept aside for validation.

# %%
text = Path("data/sonnets.txt").read_text()
chars = sorted(set(text))
V = len(chars)
stoi = {c: i for i, c in enumerate(chars)}
data = np.array([stoi[c] for c in text], dtype=np.int64)
split = int(0.9 * len(data))
train_text, val_text = text[:split], text[split:]
train_data, val_data = data[:split], data[split:]
print(f"{len(text)} characters, {V} distinct; {len(train_data)} for training, {len(val_data)} for validation")

# %% [markdown]
# ## 1. A recurrent network, one step at a time
#
# A recurrent layer reads a sequence $x_0, x_1, \dots$ one element at a time and keeps a
# **hidden state** $h_t$ (a vector of size $H$) that summarises what it has read. The
# vanilla (Elman) RNN updates it with one affine map and a tanh:
#
# $$h_t = \tanh\left(W_{ih}\, x_t + b_{ih} + W_{hh}\, h_{t-1} + b_{hh}\right)$$
#
# The same weights serve every step — that is what lets the network read sequences of any
# length. `nn.RNN` keeps PyTorch's names and shapes: `weight_ih_l0` is $(H, I)$,
# `weight_hh_l0` is $(H, H)$, the two biases are $(H,)$, and the input is sequence-first,
# $(T, N, I)$ (time, batch, features). Its output stacks $h_1 \dots h_T$ and it also
# returns the last state $h_T$.
#
# **Exercise 1.** Write `rnn_forward(x, h0, w_ih, w_hh, b_ih, b_hh)`: `x` of shape
# `(T, N, I)`, `h0` of shape `(N, H)`; return `(output, h_n)` with `output` of shape
# `(T, N, H)` (the state after each step) and `h_n` the last one, `(N, H)`. A Python loop
# over `t` with tensor operations (`@`, `.T`, `.tanh()`), then `tw.stack(list, dim=0)`: the
# engine records every step, so the gradient through time comes for free.

# %%
def rnn_forward(x, h0, w_ih, w_hh, b_ih, b_hh):
    ### BEGIN SOLUTION
    h = h0
    outputs = []
    for t in range(x.shape[0]):
        h = (x[t] @ w_ih.T + b_ih + h @ w_hh.T + b_hh).tanh()
        outputs.append(h)
    return tw.stack(outputs, dim=0), h
    ### END SOLUTION


# %%
# CHECK (2 points): rnn_forward equals nn.RNN from the same weights: outputs, last state,
# and the gradients of the weights, the input and the initial state.
def _grads(tensors):
    """Copies of the gradients (zeros where no gradient arrived: the tensor was not used)."""
    return [np.zeros(tuple(t.shape)) if t.grad is None else t.grad.numpy().copy() for t in tensors]


rnn = nn.RNN(4, 6)
x_rnn = tw.randn(7, 3, 4, requires_grad=True)
h0_rnn = tw.randn(3, 6, requires_grad=True)
upstream = tw.randn(7, 3, 6)
ours_out, ours_h = rnn_forward(x_rnn, h0_rnn, rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0)
assert tuple(ours_out.shape) == (7, 3, 6) and tuple(ours_h.shape) == (3, 6), (ours_out.shape, ours_h.shape)
((ours_out * upstream).sum() + ours_h.sum()).backward()
ours_grads = _grads([x_rnn, h0_rnn, *rnn.all_weights[0]])
x_rnn.grad = h0_rnn.grad = None
rnn.zero_grad()
lib_out, lib_h = rnn(x_rnn, h0_rnn.unsqueeze(0))         # the library wants (layers, N, H)
((lib_out * upstream).sum() + lib_h[0].sum()).backward()
lib_grads = _grads([x_rnn, h0_rnn, *rnn.all_weights[0]])
rnn_max_error = float(max(np.abs(ours_out.detach().numpy() - lib_out.detach().numpy()).max(),
                          np.abs(ours_h.detach().numpy() - lib_h[0].detach().numpy()).max()))
assert rnn_max_error < 1e-5, f"outputs differ from nn.RNN by {rnn_max_error:.2e}"
rnn_grad_max_error = float(max(np.abs(a - b).max() for a, b in zip(ours_grads, lib_grads)))
for name, a, b in zip(["x", "h0", "w_ih", "w_hh", "b_ih", "b_hh"], ours_grads, lib_grads):
    assert np.allclose(a, b, rtol=1e-4, atol=1e-5), f"the gradient of {name} differs from nn.RNN's"
print(f"rnn_forward equals nn.RNN: outputs to {rnn_max_error:.1e}, gradients to {rnn_grad_max_error:.1e}")
### BEGIN HIDDEN TESTS
# float64, a single step and a single sequence, against the formula computed here with NumPy.
for (t_h, n_h, i_h, hid_h) in [(1, 1, 3, 2), (5, 2, 1, 4), (9, 1, 5, 3)]:
    r_h = np.random.default_rng(t_h * 10 + hid_h)
    x_np = r_h.standard_normal((t_h, n_h, i_h))
    h_np = r_h.standard_normal((n_h, hid_h))
    w_np = [r_h.standard_normal(s) * 0.7 for s in [(hid_h, i_h), (hid_h, hid_h), (hid_h,), (hid_h,)]]
    ref_outs, h_ref = [], h_np
    for t in range(t_h):
        h_ref = np.tanh(x_np[t] @ w_np[0].T + w_np[2] + h_ref @ w_np[1].T + w_np[3])
        ref_outs.append(h_ref)
    out_h, last_h = rnn_forward(tw.tensor(x_np), tw.tensor(h_np), *[tw.tensor(w) for w in w_np])
    np.testing.assert_allclose(out_h.numpy(), np.stack(ref_outs), rtol=1e-10, atol=1e-12,
                               err_msg="output differs from tanh(W_ih x_t + b_ih + W_hh h_(t-1) + b_hh)")
    np.testing.assert_allclose(last_h.numpy(), h_ref, rtol=1e-10, atol=1e-12, err_msg="h_n is not the last state")
### END HIDDEN TESTS

# %% [markdown]
# Backpropagation *through time* is nothing new: the loop unrolled the network into a deep
# feed-forward graph with shared weights, and the engine walked it backwards. The library's
# `nn.RNN` computes the same numbers with one graph node per layer (its loop over time runs
# on arrays, with the backward written out by hand — read `tensorweaver/ops/rnn.py`):

# %%
x_long = tw.randn(50, 8, 4)
h0_long = tw.zeros(8, 6)
graph_nodes_rnn_by_hand = len(topological_order(
    rnn_forward(x_long, h0_long, *rnn.all_weights[0])[0].sum().grad_fn))
graph_nodes_rnn_library = len(topological_order(rnn(x_long)[0].sum().grad_fn))
print(f"50 steps: {graph_nodes_rnn_by_hand} graph nodes by hand, {graph_nodes_rnn_library} with nn.RNN")

# %% [markdown]
# ## 2. The LSTM cell
#
# Backpropagating through $h_t = \tanh(W_{hh} h_{t-1} + \dots)$ multiplies the gradient by
# $W_{hh}^\top$ and a tanh derivative at every step: over many steps it shrinks (or blows
# up) geometrically, and the RNN forgets. The LSTM adds a second state, the **cell** $c_t$,
# updated *additively* under the control of gates (numbers in $(0, 1)$ computed from $x_t$
# and $h_{t-1}$). One affine map computes all four gates' pre-activations, stacked in
# PyTorch's order **i, f, g, o**: `weight_ih` is $(4H, I)$ and `weight_hh` is $(4H, H)$:
#
# $$\begin{aligned}
# i, f, g, o &= \text{the four } H\text{-sized blocks of } W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh} \\
# c_t &= \sigma(f) \odot c_{t-1} + \sigma(i) \odot \tanh(g) \\
# h_t &= \sigma(o) \odot \tanh(c_t)
# \end{aligned}$$
#
# $\sigma(f)$ is how much of the old memory to keep (forget gate), $\sigma(i)$ how much of
# the candidate $\tanh(g)$ to write (input gate), $\sigma(o)$ how much of the memory to show
# (output gate). When $\sigma(f) \approx 1$ the gradient flows back along $c$ almost
# unchanged.
#
# **Exercise 2.** Write `lstm_cell(x, state, w_ih, w_hh, b_ih, b_hh)`: one step, `x` of shape
# `(N, I)`, `state = (h, c)` both `(N, H)`; return the new `(h, c)`. Useful:
# `gates.chunk(4, dim=-1)` splits the last dimension into four equal blocks;
# `.sigmoid()`, `.tanh()`.

# %%
def lstm_cell(x, state, w_ih, w_hh, b_ih, b_hh):
    h, c = state
    ### BEGIN SOLUTION
    gates = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh           # (N, 4H)
    i, f, g, o = gates.chunk(4, dim=-1)                      # PyTorch's order
    c = f.sigmoid() * c + i.sigmoid() * g.tanh()
    h = o.sigmoid() * c.tanh()
    return h, c
    ### END SOLUTION


# %%
# CHECK (3 points): lstm_cell equals nn.LSTMCell for one step, and looped over a sequence
# equals nn.LSTM, outputs and gradients, from the same weights.
cell = nn.LSTMCell(5, 4)
x_cell = tw.randn(3, 5)
h_cell, c_cell = tw.randn(3, 4), tw.randn(3, 4)
ours_hc = lstm_cell(x_cell, (h_cell, c_cell), cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
with tw.no_grad():
    lib_hc = cell(x_cell, (h_cell, c_cell))
for name, a, b in zip("hc", ours_hc, lib_hc):
    assert tuple(a.shape) == (3, 4), f"{name} has shape {tuple(a.shape)}, expected (3, 4)"
    assert np.allclose(a.detach().numpy(), b.numpy(), rtol=1e-4, atol=1e-5), (
        f"one step: {name} differs from nn.LSTMCell's (the gates are i, f, g, o, in that order)")

lstm = nn.LSTM(5, 4)
x_seq = tw.randn(6, 2, 5, requires_grad=True)
upstream = tw.randn(6, 2, 4)
state = (tw.zeros(2, 4), tw.zeros(2, 4))
hs = []
for t in range(6):
    state = lstm_cell(x_seq[t], state, *lstm.all_weights[0])
    hs.append(state[0])
ours_seq = tw.stack(hs, dim=0)
((ours_seq * upstream).sum() + state[1].sum()).backward()
ours_grads = _grads([x_seq, *lstm.all_weights[0]])
x_seq.grad = None
lstm.zero_grad()
lib_seq, (lib_h, lib_c) = lstm(x_seq)
((lib_seq * upstream).sum() + lib_c[0].sum()).backward()
lib_grads = _grads([x_seq, *lstm.all_weights[0]])
lstm_max_error = float(max(np.abs(ours_seq.detach().numpy() - lib_seq.detach().numpy()).max(),
                           np.abs(state[1].detach().numpy() - lib_c[0].detach().numpy()).max()))
assert lstm_max_error < 1e-5, f"over a sequence your cell differs from nn.LSTM by {lstm_max_error:.2e}"
lstm_grad_max_error = float(max(np.abs(a - b).max() for a, b in zip(ours_grads, lib_grads)))
for name, a, b in zip(["x", "w_ih", "w_hh", "b_ih", "b_hh"], ours_grads, lib_grads):
    assert np.allclose(a, b, rtol=1e-4, atol=1e-5), f"the gradient of {name} differs from nn.LSTM's"
print(f"lstm_cell equals nn.LSTM: outputs to {lstm_max_error:.1e}, gradients to {lstm_grad_max_error:.1e}")
### BEGIN HIDDEN TESTS
# float64 against the equations computed here with NumPy (gates i, f, g, o), with large
# pre-activations so that each gate's nonlinearity matters; a batch of one, another size.
def _sig(a):
    return 1 / (1 + np.exp(-a))


for (n_h, i_h, hid_h) in [(1, 2, 3), (4, 3, 1), (2, 6, 5)]:
    r_h = np.random.default_rng(100 + n_h * i_h * hid_h)
    x_np, h_np, c_np = (r_h.standard_normal((n_h, i_h)), r_h.standard_normal((n_h, hid_h)),
                        r_h.standard_normal((n_h, hid_h)))
    w_np = [r_h.standard_normal(s) * 1.5 for s in [(4 * hid_h, i_h), (4 * hid_h, hid_h), (4 * hid_h,), (4 * hid_h,)]]
    pre = x_np @ w_np[0].T + w_np[2] + h_np @ w_np[1].T + w_np[3]
    gi, gf, gg, go = np.split(pre, 4, axis=-1)
    c_ref = _sig(gf) * c_np + _sig(gi) * np.tanh(gg)
    h_ref = _sig(go) * np.tanh(c_ref)
    h_t, c_t = lstm_cell(tw.tensor(x_np), (tw.tensor(h_np), tw.tensor(c_np)), *[tw.tensor(w) for w in w_np])
    np.testing.assert_allclose(c_t.numpy(), c_ref, rtol=1e-10, atol=1e-12, err_msg="c = sig(f) c + sig(i) tanh(g)")
    np.testing.assert_allclose(h_t.numpy(), h_ref, rtol=1e-10, atol=1e-12, err_msg="h = sig(o) tanh(c)")
# The gradient with respect to the incoming state, against nn.LSTMCell's.
cell_h = nn.LSTMCell(3, 2).double()
x_t = tw.tensor(np.random.default_rng(7).standard_normal((2, 3)))
h_in = tw.tensor(np.random.default_rng(8).standard_normal((2, 2)), requires_grad=True)
c_in = tw.tensor(np.random.default_rng(9).standard_normal((2, 2)), requires_grad=True)
h_o, c_o = lstm_cell(x_t, (h_in, c_in), cell_h.weight_ih, cell_h.weight_hh, cell_h.bias_ih, cell_h.bias_hh)
(h_o.sum() + 2 * c_o.sum()).backward()
g_ours = [h_in.grad.numpy().copy(), c_in.grad.numpy().copy()]
h_in.grad = c_in.grad = None
h_l, c_l = cell_h(x_t, (h_in, c_in))
(h_l.sum() + 2 * c_l.sum()).backward()
np.testing.assert_allclose(g_ours[0], h_in.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg="d/dh differs")
np.testing.assert_allclose(g_ours[1], c_in.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg="d/dc differs")
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Truncated backpropagation through time
#
# A language model reads the text as a stream. We cut the training text into `B` parallel
# **streams** (row `b` of a `(B, L)` array is one contiguous stretch of the text) and walk
# through them in **chunks** of `chunk` characters: the input is `streams[:, p:p+chunk]`, the
# target the same window shifted by one, `streams[:, p+1:p+chunk+1]`.
#
# The state at the end of a chunk is where the next chunk starts (the model remembers across
# the boundary), but the gradient must stop there: the state is **detached**
# (`s.detach()`: the same numbers, no history). Each chunk then backpropagates through
# `chunk` steps only — that is *truncated* BPTT.

# %%
class CharLSTM(nn.Module):
    """Embedding -> nn.LSTM -> Linear: (B, T) token ids and a state -> (B, T, vocab) logits, state."""

    def __init__(self, vocab, embed=32, hidden=128):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, idx, state=None):
        out, state = self.lstm(self.embed(idx), state)
        return self.head(out), state


def make_streams(ids, batch):
    """(B, L) array: the token ids cut into B contiguous streams of equal length."""
    length = len(ids) // batch
    return np.asarray(ids[:length * batch]).reshape(batch, length)


# %% [markdown]
# **Exercise 3.** Write `train_chunks(model, streams, chunk, n_chunks, optimizer, state=None, start=0)`.
# For `j = 0 .. n_chunks-1`, with `p = start + j * chunk`:
# - `x = tw.tensor(streams[:, p:p + chunk])`, `y = tw.tensor(streams[:, p + 1:p + chunk + 1])`;
# - `logits, state = model(x, state)`; the loss is
#   `nn.functional.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1))`;
# - `optimizer.zero_grad()`, `loss.backward()`,
#   `nn.utils.clip_grad_norm_(model.parameters(), 1.0)`, `optimizer.step()`;
# - detach the state (a tuple `(h, c)`) before the next chunk.
#
# Return `(losses, state)`: the list of the `n_chunks` losses as Python floats, and the last
# (detached) state, so that a later call can continue where this one stopped.

# %%
def train_chunks(model, streams, chunk, n_chunks, optimizer, state=None, start=0):
    losses = []
    ### BEGIN SOLUTION
    for j in range(n_chunks):
        p = start + j * chunk
        x = tw.tensor(streams[:, p:p + chunk])
        y = tw.tensor(streams[:, p + 1:p + chunk + 1])
        logits, state = model(x, state)
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        state = tuple(s.detach() for s in state)          # keep the values, cut the history
        losses.append(loss.item())
    ### END SOLUTION
    return losses, state


# %%
# CHECK (3 points): with a zero learning rate the chunk losses equal those of one pass over
# the whole sequence (the state is carried, chunk after chunk); the gradients are the last
# chunk's alone (zero_grad, detached state, clipping); the returned state has no history.
def _chunk_losses(model, streams, chunk, n_chunks, start=0, state=None):
    """Reference: one forward pass over all the chunks, losses cut afterwards."""
    end = start + chunk * n_chunks
    with tw.no_grad():
        logits, state = model(tw.tensor(streams[:, start:end]), state)
    targets = tw.tensor(streams[:, start + 1:end + 1])
    return [nn.functional.cross_entropy(logits[:, k * chunk:(k + 1) * chunk].reshape(-1, logits.shape[-1]),
                                        targets[:, k * chunk:(k + 1) * chunk].reshape(-1)).item()
            for k in range(n_chunks)], state


tw.manual_seed(5)
small = CharLSTM(7, embed=4, hidden=6)
check_streams = np.random.default_rng(5).integers(0, 7, size=(3, 21))
losses_c, state_c = train_chunks(small, check_streams, 5, 4, optim.SGD(small.parameters(), lr=0.0))
assert isinstance(losses_c, list) and len(losses_c) == 4, f"expected a list of 4 losses, got {losses_c!r}"
assert all(isinstance(v, float) for v in losses_c), "the losses should be Python floats (loss.item())"
ref_losses, _ = _chunk_losses(small, check_streams, 5, 4)
assert np.allclose(losses_c, ref_losses, rtol=1e-5, atol=1e-6), (
    f"chunk losses {np.round(losses_c, 4)} differ from one pass over the sequence {np.round(ref_losses, 4)}: "
    "is the state carried from one chunk to the next, and are the chunks taken in order?")
assert isinstance(state_c, tuple) and len(state_c) == 2, "return the LSTM state (h, c) as a tuple"
assert all(s.grad_fn is None and not s.requires_grad for s in state_c), (
    "the returned state still has a history: detach it")
ours_grads = [p.grad.numpy().copy() for p in small.parameters()]
small.zero_grad()
with tw.no_grad():
    _, state_3 = small(tw.tensor(check_streams[:, :15]))
logits_4, _ = small(tw.tensor(check_streams[:, 15:20]), state_3)
nn.functional.cross_entropy(logits_4.reshape(-1, 7), tw.tensor(check_streams[:, 16:21]).reshape(-1)).backward()
nn.utils.clip_grad_norm_(small.parameters(), 1.0)
for (name, p), g in zip(small.named_parameters(), ours_grads):
    assert np.allclose(g, p.grad.numpy(), rtol=1e-4, atol=1e-6), (
        f"the gradient of {name} after the last chunk is not that chunk's alone: zero_grad before "
        "backward, detach the state, clip_grad_norm_(..., 1.0) before the step")
print("train_chunks ok: the state is carried and detached; losses", np.round(losses_c, 3))
### BEGIN HIDDEN TESTS
# Continuing from a returned state at an offset equals one longer run (lr 0).
tw.manual_seed(6)
small_h = CharLSTM(5, embed=3, hidden=4)
streams_h = np.random.default_rng(6).integers(0, 5, size=(2, 30))
opt_h = optim.SGD(small_h.parameters(), lr=0.0)
first, st = train_chunks(small_h, streams_h, 3, 2, opt_h, start=4)
second, _ = train_chunks(small_h, streams_h, 3, 3, opt_h, state=st, start=10)
ref_h, _ = _chunk_losses(small_h, streams_h, 3, 5, start=4)
assert np.allclose(first + second, ref_h, rtol=1e-5, atol=1e-6), "start/state: continuing a run differs"
# With a real step, the parameters after 3 chunks equal a reference loop written here.
tw.manual_seed(7)
ours_m, ref_m = CharLSTM(6, embed=3, hidden=5), CharLSTM(6, embed=3, hidden=5)
ref_m.load_state_dict(ours_m.state_dict())
streams_h = np.random.default_rng(7).integers(0, 6, size=(4, 16))
train_chunks(ours_m, streams_h, 4, 3, optim.SGD(ours_m.parameters(), lr=0.5))
opt_r, st_r = optim.SGD(ref_m.parameters(), lr=0.5), None
for k in range(3):
    lg, st_r = ref_m(tw.tensor(streams_h[:, 4 * k:4 * k + 4]), st_r)
    l_r = nn.functional.cross_entropy(lg.reshape(-1, 6), tw.tensor(streams_h[:, 4 * k + 1:4 * k + 5]).reshape(-1))
    opt_r.zero_grad()
    l_r.backward()
    nn.utils.clip_grad_norm_(ref_m.parameters(), 1.0)
    opt_r.step()
    st_r = tuple(s.detach() for s in st_r)
for (name, p), q in zip(ours_m.named_parameters(), ref_m.parameters()):
    np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-6,
                               err_msg=f"after 3 SGD steps, {name} differs from the reference loop")
### END HIDDEN TESTS

# %% [markdown]
# ### Without the detach
#
# What if the state is carried but *not* detached? The next chunk's graph then hangs on to
# the previous chunk's, which hangs on to the one before... The first problem is immediate:
# `backward()` frees the graph it walked (the arrays saved for it), so the second chunk's
# backward, which walks into the first chunk's graph again, fails:

# %%
tw.manual_seed(3)
demo = CharLSTM(V)
demo_streams = make_streams(train_data, 8)
DEMO_CHUNK = 4


def demo_chunk(j):
    p = j * DEMO_CHUNK
    return tw.tensor(demo_streams[:, p:p + DEMO_CHUNK]), tw.tensor(demo_streams[:, p + 1:p + DEMO_CHUNK + 1])


def chunk_loss(model, x, y, state):
    logits, state = model(x, state)
    return nn.functional.cross_entropy(logits.reshape(-1, V), y.reshape(-1)), state


state = None
try:
    for j in range(2):
        loss, state = chunk_loss(demo, *demo_chunk(j), state)
        loss.backward()                       # no detach: chunk 1 backpropagates into chunk 0
    second_backward_error = None
except RuntimeError as err:
    second_backward_error = str(err)
print("RuntimeError:", second_backward_error)
assert second_backward_error is not None

# %% [markdown]
# With `retain_graph=True` the error goes away, and the real cost shows: every chunk's graph
# contains all the chunks before it. Below, for each chunk: the number of nodes in the graph
# of its loss, the memory held by the arrays saved for backward, and the time its backward
# takes — detached (truncated BPTT) and not. (No optimizer step here: the weights must not
# change under the saved graph, or the engine would refuse to backpropagate, as PyTorch does.)

# %%
def graph_size(loss):
    """(nodes, MiB saved for backward) of the graph that loss.backward() would walk."""
    nodes = topological_order(loss.grad_fn)
    saved = sum(a.nbytes for node in nodes for a in node.saved_tensors if hasattr(a, "nbytes"))
    return len(nodes), saved / 2**20


DEMO_CHUNKS = 3 if quick() else 12
growth = {}
for detach in (True, False):
    state, rows = None, []
    for j in range(DEMO_CHUNKS):
        loss, state = chunk_loss(demo, *demo_chunk(j), state)
        nodes, mib = graph_size(loss)
        t0 = time.perf_counter()
        loss.backward(retain_graph=not detach)
        rows.append((nodes, mib, time.perf_counter() - t0))
        if detach:
            state = tuple(s.detach() for s in state)
    growth["detached" if detach else "not detached"] = rows
demo.zero_grad()
graph_nodes_detached = [r[0] for r in growth["detached"]]
graph_nodes_not_detached = [r[0] for r in growth["not detached"]]
print("graph nodes per chunk, detached:    ", graph_nodes_detached)
print("graph nodes per chunk, not detached:", graph_nodes_not_detached)
assert len(set(graph_nodes_detached)) == 1 and graph_nodes_not_detached[-1] > 3 * graph_nodes_not_detached[0]

fig, axes = plt.subplots(1, 3, figsize=(12, 3))
for label, rows in growth.items():
    for ax, k, what in zip(axes, range(3), ["graph nodes", "MiB saved for backward", "backward time (s)"]):
        ax.plot(range(1, DEMO_CHUNKS + 1), [r[k] for r in rows], "o-", label=label)
        ax.set_xlabel("chunk"); ax.set_title(what)
axes[0].legend(); plt.tight_layout(); plt.show()

# %% [markdown]
# Without the detach, chunk $k$ costs $k$ times as much memory and time, and the whole
# pass through the text costs $O(L^2)$ instead of $O(L)$ — and gradients from hundreds of
# steps back mostly vanish anyway. The detach keeps the cost of a step constant; the price is
# that dependencies longer than a chunk are learned only through what the state happens to
# carry forward.
#
# ### Training the language model
#
# Now your loop trains the library's LSTM: 8 streams, chunks of 32 characters, Adam. Each
# pass through the text starts from a fresh (zero) state, and after each pass the model is
# scored on the validation text it never trains on.

# %%
tw.manual_seed(1)
model = CharLSTM(V, embed=16, hidden=64)
optimizer = optim.Adam(model.parameters(), lr=1e-2)
BATCH, CHUNK = 8, 32
train_streams = make_streams(train_data, BATCH)
val_streams = make_streams(val_data, 8)
chunks_per_pass = (train_streams.shape[1] - 1) // CHUNK
LM_PASSES = 1 if quick() else 18


def validation_loss(model):
    model.eval()
    with tw.no_grad():
        logits, _ = model(tw.tensor(val_streams[:, :-1]))
        loss = nn.functional.cross_entropy(logits.reshape(-1, V), tw.tensor(val_streams[:, 1:]).reshape(-1))
    model.train()
    return loss.item()


lm_curve, val_curve = [], []
t0 = time.perf_counter()
for _ in range(LM_PASSES):
    losses, _ = train_chunks(model, train_streams, CHUNK, chunks_per_pass, optimizer)
    lm_curve += losses
    val_curve.append((len(lm_curve), validation_loss(model)))
lm_time = time.perf_counter() - t0
LM_STEPS = len(lm_curve)
final_loss = float(np.mean(lm_curve[-10:]))
val_loss = val_curve[-1][1]
best_val_loss = min(v for _, v in val_curve)
freq = np.bincount(train_data, minlength=V) / len(train_data)
unigram_entropy = float(-(freq[freq > 0] * np.log(freq[freq > 0])).sum())
print(f"{LM_STEPS} steps ({chunks_per_pass} per pass) in {lm_time:.1f} s; training loss "
      f"{lm_curve[0]:.2f} -> {final_loss:.2f}; validation {val_loss:.2f} (best {best_val_loss:.2f}); "
      f"unigram entropy {unigram_entropy:.2f}")

# %%
# The model learned, and more than the character frequencies: on text it never saw, it
# beats the best context-free guess.
assert final_loss < math.log(V) - 0.5, (final_loss, math.log(V))
assert val_loss < unigram_entropy, (val_loss, unigram_entropy)

# %%
plt.figure(figsize=(6, 3))
plt.plot(range(1, LM_STEPS + 1), lm_curve, lw=0.8, label="training (per chunk)")
plt.plot(*zip(*val_curve), "o-", ms=3, label="validation (after each pass)")
plt.axhline(unigram_entropy, color="k", ls=":", label="unigram entropy")
plt.xlabel("step"); plt.ylabel("cross-entropy (nats/char)"); plt.legend(); plt.show()

# %% [markdown]
# The training loss keeps falling; the validation loss stops improving after a few passes:
# 4.5 KB of text is soon learned by heart rather than generalised from. (With `hidden=128`
# the training loss falls much lower in the same number of steps while the validation loss
# climbs back towards the unigram entropy: try it.)

# %% [markdown]
# ## 4. A byte-pair-encoding tokenizer
#
# Characters make long sequences: a 32-step chunk sees only six or seven words. Modern
# models read **tokens** — frequent pieces of words — learned by **byte-pair encoding**
# (BPE):
#
# 1. start from the text's UTF-8 bytes (256 possible values: any text can be encoded);
# 2. count every pair of adjacent tokens; the most frequent pair becomes a new token
#    (id 256, then 257, ...), and every occurrence of the pair is replaced by it;
# 3. repeat for as many merges as the vocabulary should grow.
#
# Encoding new text replays the merges in the order they were learned; decoding concatenates
# each token's bytes.
#
# **Exercise 4.** Write the two steps of the learning loop:
# - `count_pairs(ids)`: a dict mapping each pair `(a, b)` of adjacent ids to the number of
#   positions where it occurs (in `[1, 1, 1]` the pair `(1, 1)` occurs twice);
# - `merge(ids, pair, new_id)`: a **new** list where every occurrence of `pair`, scanning left
#   to right without overlaps, is replaced by `new_id` (`merge([1, 1, 1], (1, 1), 9)` is
#   `[9, 1]`).

# %%
def count_pairs(ids):
    ### BEGIN SOLUTION
    counts = {}
    for pair in zip(ids, ids[1:]):
        counts[pair] = counts.get(pair, 0) + 1
    return counts
    ### END SOLUTION


def merge(ids, pair, new_id):
    ### BEGIN SOLUTION
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out
    ### END SOLUTION


# %%
# CHECK (2 points): count_pairs and merge, against a counter of adjacent pairs and against
# str.replace (which also scans left to right without overlaps) on random sequences.
def _merge_reference(ids, pair, new_id):
    as_text = "".join(chr(0x100 + i) for i in ids)
    merged = as_text.replace(chr(0x100 + pair[0]) + chr(0x100 + pair[1]), chr(0x100 + new_id))
    return [ord(ch) - 0x100 for ch in merged]


assert count_pairs([1, 2, 1, 2, 3]) == {(1, 2): 2, (2, 1): 1, (2, 3): 1}, count_pairs([1, 2, 1, 2, 3])
assert count_pairs([4, 4, 4]) == {(4, 4): 2}, "overlapping pairs count at every position"
assert merge([5, 5, 5], (5, 5), 9) == [9, 5], f"merge([5, 5, 5], (5, 5), 9) gave {merge([5, 5, 5], (5, 5), 9)}"
r_bpe = np.random.default_rng(11)
for trial in range(20):
    seq = r_bpe.integers(0, 3, size=int(r_bpe.integers(2, 40))).tolist()
    assert count_pairs(seq) == dict(Counter(zip(seq, seq[1:]))), f"count_pairs({seq}) is wrong"
    pair = tuple(r_bpe.integers(0, 3, size=2).tolist())
    got = merge(seq, pair, 7)
    assert got == _merge_reference(seq, pair, 7), f"merge({seq}, {pair}, 7) gave {got}"
print("count_pairs and merge ok")
### BEGIN HIDDEN TESTS
assert count_pairs([]) == {} and count_pairs([3]) == {}, "no pairs in sequences shorter than 2"
assert merge([], (1, 2), 5) == [] and merge([1], (1, 2), 5) == [1]
assert merge([1, 2], (1, 2), 5) == [5] and merge([3, 1, 2], (1, 2), 5) == [3, 5], "a pair at the end"
assert merge([1, 2, 1], (2, 1), 5) == [1, 5] and merge([2, 1, 2, 1], (2, 1), 5) == [5, 5]
assert merge([1, 1, 1, 1, 1], (1, 1), 8) == [8, 8, 1], "left to right, without overlaps"
kept = [1, 2, 3, 1, 2]
assert merge(kept, (1, 2), 9) == [9, 3, 9] and kept == [1, 2, 3, 1, 2], "merge must not change its input"
for trial in range(30):                                   # more symbols, longer sequences
    seq = r_bpe.integers(0, 5, size=int(r_bpe.integers(0, 300))).tolist()
    assert count_pairs(seq) == dict(Counter(zip(seq, seq[1:])))
    pair = tuple(r_bpe.integers(0, 5, size=2).tolist())
    assert merge(seq, pair, 300) == _merge_reference(seq, pair, 300)
### END HIDDEN TESTS

# %% [markdown]
# Learning the merges is then a loop (ties between equally frequent pairs go to the one seen
# first). Real tokenizers first split the text into words, so that no token spans two
# words; here a token may include a space or a newline.

# %%
def learn_bpe(text, n_merges):
    """merges {(a, b): new id} in the order learned, and the ids of the text once merged."""
    ids = list(text.encode("utf-8"))
    merges = {}
    for k in range(n_merges):
        counts = count_pairs(ids)
        if not counts:
            break
        pair = max(counts, key=counts.get)         # the first of the most frequent pairs
        if counts[pair] < 2:                       # merging a unique pair saves nothing
            break
        ids = merge(ids, pair, 256 + k)
        merges[pair] = 256 + k
    return merges, ids


N_MERGES = 200
t0 = time.perf_counter()
merges, train_ids = learn_bpe(train_text, N_MERGES)
print(f"{len(merges)} merges learned in {time.perf_counter() - t0:.1f} s; "
      f"{len(train_text)} characters -> {len(train_ids)} tokens")

# %% [markdown]
# **Exercise 5.** Write `bpe_encode(text, merges)` (the text's UTF-8 bytes as a list of ints,
# then your `merge` applied for each learned pair, in the order of `merges`) and
# `bpe_decode(ids, merges)`: rebuild each token's bytes (`bytes([i])` for `i < 256`; a merged
# token's bytes are its pair's bytes concatenated — build the table in the order of
# `merges`), join all the tokens' bytes, and decode the whole as UTF-8 (a character of
# several bytes may be split between tokens).

# %%
def bpe_encode(text, merges):
    ### BEGIN SOLUTION
    ids = list(text.encode("utf-8"))
    for pair, new_id in merges.items():          # the order learned
        ids = merge(ids, pair, new_id)
    return ids
    ### END SOLUTION


def bpe_decode(ids, merges):
    ### BEGIN SOLUTION
    vocab = {i: bytes([i]) for i in range(256)}
    for (a, b), new_id in merges.items():
        vocab[new_id] = vocab[a] + vocab[b]
    return b"".join(vocab[i] for i in ids).decode("utf-8")
    ### END SOLUTION


# %%
# CHECK (2 points): encoding the training text reproduces the ids learn_bpe ended with;
# decode(encode(s)) == s exactly, on the sonnets and on text they do not contain.
enc_train = bpe_encode(train_text, merges)
assert enc_train == train_ids, "encoding the training text should give the ids learn_bpe ended with"
for sample_text in [val_text, "Shall I compare thee to a summer's day?\n", "naïve café — ½ ♥"]:
    ids_s = bpe_encode(sample_text, merges)
    assert all(isinstance(i, int) and 0 <= i < 256 + len(merges) for i in ids_s), "ids out of the vocabulary"
    try:
        decoded = bpe_decode(ids_s, merges)
    except UnicodeDecodeError as err:
        raise AssertionError(f"decoding {sample_text[:30]!r} failed ({err}): join all the tokens' bytes, "
                             "then decode the whole") from None
    assert decoded == sample_text, f"the roundtrip changes {sample_text[:30]!r} into {decoded[:30]!r}"
assert len(bpe_encode(val_text, merges)) < len(val_text.encode("utf-8")), "encoding should compress"
print(f"bpe ok: the validation text is {len(val_text)} characters, {len(bpe_encode(val_text, merges))} tokens")
### BEGIN HIDDEN TESTS
toy = {(98, 99): 256, (97, 98): 257, (97, 256): 258}      # b c, then a b, then a (b c)
assert bpe_encode("abc", toy) == [258], f"the merges apply in their order: got {bpe_encode('abc', toy)}"
assert bpe_encode("ab", toy) == [257] and bpe_encode("abab", toy) == [257, 257]
assert bpe_decode([258, 257, 99], toy) == "abcabc"
assert bpe_encode("", merges) == [] and bpe_decode([], merges) == ""
e_acute = list("é".encode("utf-8"))                      # two bytes, two tokens
try:
    split_decoded = bpe_decode(e_acute, {})
except UnicodeDecodeError:
    split_decoded = None
assert split_decoded == "é", "decode the joined bytes, not each token on its own"
assert bpe_encode("xyz", {}) == [120, 121, 122]
### END HIDDEN TESTS

# %% [markdown]
# What did BPE learn, and how much shorter is the text? The **compression ratio** is the
# number of characters per token (1 for a character-level model). On the validation text,
# which the merges never saw, it is a little lower: some merges are the training text's
# own words.

# %%
vocab_bytes = {i: bytes([i]) for i in range(256)}
for (a, b), new_id in merges.items():
    vocab_bytes[new_id] = vocab_bytes[a] + vocab_bytes[b]
longest = sorted(merges.values(), key=lambda i: -len(vocab_bytes[i]))[:12]
print("first merges :", [vocab_bytes[i].decode("utf-8", "replace") for i in list(merges.values())[:12]])
print("longest      :", [vocab_bytes[i].decode("utf-8", "replace") for i in longest])
val_ids = bpe_encode(val_text, merges)
bpe_compression = len(train_text) / len(train_ids)
bpe_val_compression = len(val_text) / len(val_ids)
bpe_roundtrip = all(bpe_decode(bpe_encode(s, merges), merges) == s for s in (train_text, val_text, text))
print(f"characters per token: {bpe_compression:.2f} on the training text, {bpe_val_compression:.2f} "
      f"on the validation text; vocabulary {256 + len(merges)}; roundtrip exact: {bpe_roundtrip}")
print("a line as tokens:", [vocab_bytes[i].decode("utf-8", "replace") for i in val_ids[:20]])
assert bpe_roundtrip and bpe_val_compression > 1.5

# %% [markdown]
# With the same 32-step chunk, a model reading these tokens sees about twice as much text,
# at the price of a larger output layer (one logit per token of the vocabulary).
#
# ## 5. Sampling
#
# A language model outputs **logits** $z$ for the next token; $\mathrm{softmax}(z)$ is its
# distribution. How we draw from it shapes the text:
#
# - **temperature** $\tau$: sample from $\mathrm{softmax}(z / \tau)$; $\tau < 1$ sharpens
#   the distribution (safer, more repetitive), $\tau > 1$ flattens it;
# - **top-k**: keep only the $k$ most likely tokens, renormalise;
# - **top-p (nucleus)**: keep the smallest set of most likely tokens whose total probability
#   reaches $p$, renormalise — $k$ adapts to how confident the model is.
#
# Filters work on the logits: a removed token gets the logit $-\infty$ (probability exactly 0
# after the softmax).
#
# The checks use a distribution we know, and a statistical test: with $N$ independent draws,
# the frequency of a token of probability $q$ is within $4.5\sqrt{q(1-q)/N}$ of $q$ except
# with probability about $10^{-5}$ (and a seeded generator makes every run draw the same).

# %%
known = np.array([0.5, 0.25, 0.15, 0.07, 0.03])
z_known = tw.tensor(np.log(known).astype(np.float32))      # logits whose softmax is `known`
z_known64 = np.log(known)
N_CHECK = 20_000


def softmax_np(z):
    q = np.exp(z - z.max())
    return q / q.sum()


def assert_frequencies(freq, expected, n, what):
    """Every frequency within 4.5 standard deviations of its probability; zero stays zero."""
    for token, (f, e) in enumerate(zip(freq, expected)):
        if e == 0:
            assert f == 0, f"{what}: token {token} has probability 0 but was drawn ({f:.4f})"
        else:
            assert abs(f - e) < 4.5 * math.sqrt(e * (1 - e) / n), (
                f"{what}: token {token} drawn with frequency {f:.4f}, expected {e:.4f}")


print("known distribution:", known, " logits:", z_known.numpy().round(3))

# %% [markdown]
# **Exercise 6.** Write, for logits of shape `(..., V)` (the filter acts along the last
# dimension; return a tensor of the same shape):
# - `top_k_filter(logits, k)`: every logit smaller than the $k$-th largest becomes `-inf`
#   (ties with the $k$-th largest are kept). `logits.topk(k, dim=-1).values` are the $k$
#   largest, in decreasing order; `masked_fill(mask, value)`.
# - `top_p_filter(logits, p)`: sort the logits in decreasing order
#   (`logits.sort(dim=-1, descending=True).values`), take their softmax and its cumulative
#   sum (`cumsum(dim=-1)`); a token is kept when the probability of the tokens *before* it in
#   that order is below `p` (so the most likely token is always kept, and so is the token that
#   makes the total reach `p`). Every logit smaller than the smallest kept one becomes `-inf`.
#   (`(...).sum(dim=-1, keepdim=True)` of a boolean counts, `gather(-1, index)` picks.)

# %%
def top_k_filter(logits, k):
    ### BEGIN SOLUTION
    kth = logits.topk(k, dim=-1).values[..., -1:]                 # the k-th largest, (..., 1)
    return logits.masked_fill(logits < kth, float("-inf"))
    ### END SOLUTION


def top_p_filter(logits, p):
    ### BEGIN SOLUTION
    sorted_logits = logits.sort(dim=-1, descending=True).values
    probs = sorted_logits.softmax(dim=-1)
    before = probs.cumsum(dim=-1) - probs                         # mass of the more likely tokens
    n_keep = (before < p).sum(dim=-1, keepdim=True)               # at least 1
    smallest_kept = sorted_logits.gather(-1, n_keep - 1)
    return logits.masked_fill(logits < smallest_kept, float("-inf"))
    ### END SOLUTION


# %%
# CHECK (3 points): the filters keep the right tokens (against NumPy, on random logits), and
# sampling from the filtered logits with a fixed generator gives the renormalised known
# distribution.
def _filter_reference(z, k=None, p=None):
    """NumPy, row by row: the set of kept indices."""
    order = np.argsort(-z, kind="stable")
    if k is not None:
        return set(np.flatnonzero(z >= z[order[k - 1]]).tolist())
    q = np.exp(z[order] - z.max())
    q /= q.sum()
    n_keep = int((np.cumsum(q) - q < p).sum())
    return set(np.flatnonzero(z >= z[order[n_keep - 1]]).tolist())


def _kept(filtered_row):
    return set(np.flatnonzero(np.isfinite(filtered_row)).tolist())


def _frequencies(filtered, n, seed):
    """Draw n tokens from softmax(filtered) with NumPy's sampler: the filter alone is checked."""
    z = filtered.astype(np.float64)
    q = np.exp(z - z.max())
    draws = np.random.default_rng(seed).choice(len(z), size=n, p=q / q.sum())
    return np.bincount(draws, minlength=len(z)) / n


z_rand = tw.randn(4, 11) * 2
zr = z_rand.numpy()
for k in (1, 3, 11):
    got = top_k_filter(z_rand, k).numpy()
    assert got.shape == zr.shape, f"top_k_filter changed the shape to {got.shape}"
    for row in range(4):
        assert _kept(got[row]) == _filter_reference(zr[row], k=k), f"top_k_filter(k={k}) keeps the wrong tokens"
        kept_ix = sorted(_kept(got[row]))
        assert np.array_equal(got[row, kept_ix], zr[row, kept_ix]), "kept logits must not change"
for p in (0.3, 0.75, 0.95):
    got = top_p_filter(z_rand, p).numpy()
    for row in range(4):
        assert _kept(got[row]) == _filter_reference(zr[row], p=p), (
            f"top_p_filter(p={p}) keeps tokens {sorted(_kept(got[row]))}, expected "
            f"{sorted(_filter_reference(zr[row], p=p))}")

expect_k2 = np.array([2 / 3, 1 / 3, 0, 0, 0])
expect_p8 = np.array([0.5, 0.25, 0.15, 0, 0]) / 0.9        # 0.5 + 0.25 < 0.8: the third token is needed
assert_frequencies(_frequencies(top_k_filter(z_known, 2).numpy(), N_CHECK, 1), expect_k2, N_CHECK, "top-k=2")
assert_frequencies(_frequencies(top_p_filter(z_known, 0.8).numpy(), N_CHECK, 2), expect_p8, N_CHECK, "top-p=0.8")
print("top_k_filter and top_p_filter ok")
### BEGIN HIDDEN TESTS
# Ties at the k-th value are kept; a small p keeps only the most likely token; a 1-D input;
# three batch dimensions; p just above a cumulative sum keeps the next token.
ties = top_k_filter(tw.tensor([1.0, 3.0, 3.0, 0.0]), 1).numpy()
assert _kept(ties) == {1, 2}, f"ties with the k-th largest are kept: {ties}"
assert _kept(top_p_filter(z_known, 0.01).numpy()) == {0}, "a small p keeps the most likely token only"
assert _kept(top_p_filter(z_known, 0.51).numpy()) == {0, 1}, "just above 0.5: the second token is needed"
z3 = tw.tensor(np.random.default_rng(31).standard_normal((2, 3, 2, 9)) * 3)
z3n = z3.numpy()
for k, p in ((2, 0.6), (5, 0.9)):
    gk, gp = top_k_filter(z3, k).numpy(), top_p_filter(z3, p).numpy()
    assert gk.shape == gp.shape == z3n.shape
    for ix in np.ndindex(*z3n.shape[:-1]):
        assert _kept(gk[ix]) == _filter_reference(z3n[ix], k=k), f"top_k_filter on {ix}"
        assert _kept(gp[ix]) == _filter_reference(z3n[ix], p=p), f"top_p_filter on {ix}"
        assert np.array_equal(gp[ix][np.isfinite(gp[ix])], z3n[ix][np.isfinite(gp[ix])])
assert_frequencies(_frequencies(top_p_filter(z_known, 0.7).numpy(), N_CHECK, 3),
                    np.array([2 / 3, 1 / 3, 0, 0, 0]), N_CHECK, "top-p=0.7")
### END HIDDEN TESTS

# %% [markdown]
# **Exercise 7.** Write `sample(logits, generator, temperature=1.0, num_samples=1)` for a
# 1-D tensor of logits (it may hold `-inf`): return a NumPy `int64` array of `num_samples`
# token ids drawn independently from $\mathrm{softmax}(z / \tau)$. Draw by **inverse
# transform**: compute the probabilities on the host in float64 (`logits.numpy()`, subtract
# the maximum before `np.exp`), their cumulative sum $F$, draw `u = generator.random(num_samples)`
# (uniform in $[0, 1)$) and return for each $u$ the first index with $F > u$
# (`np.searchsorted(F, u, side="right")`; divide $F$ by its last value first, so rounding
# never leaves $u$ above it). The generator makes the draws reproducible.

# %%
def sample(logits, generator, temperature=1.0, num_samples=1):
    ### BEGIN SOLUTION
    z = logits.detach().numpy().astype(np.float64) / temperature
    q = np.exp(z - z.max())
    cdf = np.cumsum(q)
    cdf /= cdf[-1]
    u = generator.random(num_samples)
    return np.searchsorted(cdf, u, side="right").astype(np.int64)
    ### END SOLUTION


# %%
# CHECK (2 points): draws from known distributions at three temperatures match
# softmax(z / temperature) statistically; the same seed gives the same draws.
for tau in (1.0, 0.5, 2.0):
    draws = sample(z_known, np.random.default_rng(40), temperature=tau, num_samples=N_CHECK)
    assert isinstance(draws, np.ndarray) and draws.shape == (N_CHECK,), "return a NumPy array of num_samples ids"
    assert np.issubdtype(draws.dtype, np.integer), f"ids should be integers, got {draws.dtype}"
    freq = np.bincount(draws, minlength=5) / N_CHECK
    assert_frequencies(freq, softmax_np(z_known64 / tau), N_CHECK, f"temperature {tau}")
again = sample(z_known, np.random.default_rng(41), num_samples=50)
assert np.array_equal(again, sample(z_known, np.random.default_rng(41), num_samples=50)), (
    "draw all randomness from the generator: the same seed must give the same draws")
print("sample ok")
### BEGIN HIDDEN TESTS
# -inf logits are never drawn; a tiny temperature is greedy; one sample; the inverse
# transform (the draws follow generator.random() exactly, up to rounding at the boundaries).
masked = tw.tensor(np.array([0.0, -np.inf, 1.0, -np.inf, 0.5], dtype=np.float32))
d = sample(masked, np.random.default_rng(42), num_samples=5000)
assert set(np.unique(d).tolist()) <= {0, 2, 4}, "a token with logit -inf was drawn"
assert_frequencies(np.bincount(d, minlength=5) / 5000, softmax_np(np.array([0.0, -np.inf, 1.0, -np.inf, 0.5])),
                    5000, "with -inf logits")
assert (sample(z_known, np.random.default_rng(43), temperature=1e-3, num_samples=200) == 0).all(), (
    "a temperature near 0 always picks the most likely token")
one = sample(z_known, np.random.default_rng(44))
assert one.shape == (1,) and 0 <= int(one[0]) < 5
edge = tw.tensor(np.array([-np.inf, 2.0], dtype=np.float32))
assert (sample(edge, np.random.default_rng(45), num_samples=1000) == 1).all(), "one possible token"
u_ref = np.random.default_rng(46).random(3000)
ref_draws = np.searchsorted(np.cumsum(softmax_np(z_known64 * 2)), u_ref, side="right")
got_draws = sample(z_known, np.random.default_rng(46), temperature=0.5, num_samples=3000)
assert (got_draws != ref_draws).sum() <= 3, "draw by inverse transform from generator.random(num_samples)"
### END HIDDEN TESTS

# %% [markdown]
# The whole pipeline on the known distribution: temperature, then the filters, then the
# draw. Each row of frequencies is 20,000 draws from your functions.

# %%
def sample_next(logits, generator, temperature=1.0, top_k=None, top_p=None, num_samples=1):
    """Temperature first (top-p depends on it), then top-k, then top-p, then the draw."""
    z = logits / temperature
    if top_k is not None:
        z = top_k_filter(z, top_k)
    if top_p is not None:
        z = top_p_filter(z, top_p)
    return sample(z, generator, num_samples=num_samples)


settings = {"plain": {}, "temperature 0.5": dict(temperature=0.5), "top-k 2": dict(top_k=2),
            "top-p 0.8": dict(top_p=0.8), "temperature 2, top-p 0.8": dict(temperature=2.0, top_p=0.8)}
sampling_frequencies, sampling_max_deviation = {}, 0.0
for i, (name, kwargs) in enumerate(settings.items()):
    draws = sample_next(z_known, np.random.default_rng(100 + i), num_samples=N_CHECK, **kwargs)
    freq = np.bincount(draws, minlength=5) / N_CHECK
    # The expected distribution, computed here in NumPy from the definitions.
    z = z_known64 / kwargs.get("temperature", 1.0)
    if "top_k" in kwargs:
        z = np.where(z >= np.sort(z)[::-1][kwargs["top_k"] - 1], z, -np.inf)
    if "top_p" in kwargs:
        q = softmax_np(z)[np.argsort(-z)]
        z = np.where(z >= np.sort(z)[::-1][int((np.cumsum(q) - q < kwargs["top_p"]).sum()) - 1], z, -np.inf)
    expected = softmax_np(z)
    sampling_frequencies[name] = freq.round(4).tolist()
    sampling_max_deviation = max(sampling_max_deviation, float(np.abs(freq - expected).max()))
    print(f"{name:>26}: drawn {np.round(freq, 3)}  expected {np.round(expected, 3)}")
assert sampling_max_deviation < 0.015, sampling_max_deviation

# %% [markdown]
# ### The model writes
#
# An RNN generates cheaply: feed the prompt once, then one character at a time, carrying the
# state — each new character costs one step, however long the text already is (a
# Transformer without a cache would reread its whole context every time).

# %%
def generate(model, prompt, n_chars, generator, **sampling):
    ids = [stoi[c] for c in prompt]
    model.eval()
    with tw.no_grad():
        logits, state = model(tw.tensor([ids]))                 # the prompt, in one call
        for _ in range(n_chars):
            nxt = int(sample_next(logits[0, -1], generator, **sampling)[0])
            ids.append(nxt)
            logits, state = model(tw.tensor([[nxt]]), state)    # one step, from the state
    model.train()
    return "".join(chars[i] for i in ids)


N_CHARS = 15 if quick() else 240
generated = {}
for name, kwargs in [("temperature 0.5", dict(temperature=0.5)), ("temperature 1.0", {}),
                     ("temperature 1.0, top-p 0.9", dict(top_p=0.9)), ("temperature 1.2, top-k 5", dict(temperature=1.2, top_k=5))]:
    generated[name] = generate(model, "Shall I compare thee", N_CHARS, np.random.default_rng(7), **kwargs)
    print(f"--- {name}\n{generated[name]}\n")

# %%
record(rnn_max_error=rnn_max_error, rnn_grad_max_error=rnn_grad_max_error, lstm_max_error=lstm_max_error,
       lstm_grad_max_error=lstm_grad_max_error, graph_nodes_detached=graph_nodes_detached,
       graph_nodes_not_detached=graph_nodes_not_detached, lm_steps=LM_STEPS, first_loss=lm_curve[0],
       final_loss=final_loss, val_loss=val_loss, best_val_loss=best_val_loss, unigram_entropy=unigram_entropy,
       bpe_roundtrip=bpe_roundtrip, bpe_compression=bpe_compression, bpe_val_compression=bpe_val_compression,
       bpe_vocab_size=256 + len(merges), sampling_frequencies=sampling_frequencies,
       sampling_max_deviation=sampling_max_deviation, sample_chars=sum(len(s) for s in generated.values()))

# %% [markdown]
# ## What you saw
#
# - An RNN is a loop with shared weights; backpropagation through time is the engine walking
#   the unrolled loop. `nn.RNN`/`nn.LSTM` compute the same numbers with one node per layer.
# - The LSTM's cell is updated additively under gates (i, f, g, o): the forget gate lets
#   gradients travel far along $c$.
# - Truncated BPTT carries the state across chunks but detaches it: without the detach each
#   chunk's graph holds all the previous ones (and the second backward fails outright).
# - BPE learns a vocabulary of frequent byte sequences from the text; encoding replays the
#   merges in order, decoding joins bytes, and the roundtrip is exact.
# - Temperature, top-k and top-p are a few lines on the logits; with a fixed generator,
#   sampling is reproducible and can be checked against the distribution it should follow.
