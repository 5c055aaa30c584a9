# %% [markdown]
# # Lab 06 — Attention: a tiny Transformer that writes sonnets (badly)
#
# **Prerequisites:** labs 04, 05 · **Expected time:** 90 min
#
# An MLP sees a fixed-size input; a convolution sees a fixed-size neighbourhood.
# **Attention** lets every position of a sequence look at *every earlier position* and
# decide, from the content, how much of each to take. Stacked with small MLPs, that is a
# Transformer — the architecture behind today's language models.
#
# We train a character-level Transformer on eight of Shakespeare's sonnets (`data/sonnets.txt`,
# about 5 KB, shipped with the labs) to predict the next character, then sample from it.
#
# In this lab:
# 1. the text as a sequence of integer tokens, and next-character batches;
# 2. **scaled dot-product attention with a causal mask** (exercise), checked against the
#    library's and for "no peeking at the future";
# 3. multi-head self-attention and a Transformer block (exercise: splitting heads);
# 4. training, and sampling text with a temperature;
# 5. what the attention weights look like.

# %%
# %matplotlib inline
import math
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from tqdm.auto import tqdm

import tensorweaver as tw
from tensorweaver import nn, optim
from tensorweaver.labs import quick, record

tw.manual_seed(0)
rng = tw.random.generator()          # the seeded host generator: batches and sampling
device = "cuda" if tw.cuda.is_available() else "cpu"      # PyTorch's idiom: runs on both images
print("backend:", tw.backend.name, "| device:", device)

# %% [markdown]
# ## 1. Tokens
#
# The vocabulary is the set of characters in the text. Each character becomes its index;
# the model's job is: given characters $t_0 \dots t_{i}$, predict $t_{i+1}$.

# %%
text = Path("data/sonnets.txt").read_text()
chars = sorted(set(text))
stoi = {c: i for i, c in enumerate(chars)}
encode = lambda s: [stoi[c] for c in s]
decode = lambda ids: "".join(chars[i] for i in ids)
data = np.array(encode(text), dtype=np.int64)
split = int(0.9 * len(data))
train_data, val_data = data[:split], data[split:]
V = len(chars)
print(f"{len(text)} characters, vocabulary of {V}: {''.join(chars)!r}")
print(f"a uniform guess has loss ln({V}) = {math.log(V):.2f} nats per character")

BLOCK = 32          # context length


def get_batch(source, batch_size=16):
    """Random windows: x = source[i:i+BLOCK], y = the same window shifted by one."""
    starts = rng.integers(0, len(source) - BLOCK - 1, size=batch_size)
    x = np.stack([source[s:s + BLOCK] for s in starts])
    y = np.stack([source[s + 1:s + BLOCK + 1] for s in starts])
    return tw.tensor(x), tw.tensor(y)


xb, yb = get_batch(train_data, 2)
print("x:", repr(decode(xb.numpy()[0].tolist())))
print("y:", repr(decode(yb.numpy()[0].tolist())))

# %% [markdown]
# ## 2. Scaled dot-product attention
#
# Each position $i$ emits a **query** $q_i$, a **key** $k_i$ and a **value** $v_i$ (vectors of
# size $d$). Position $i$ attends to position $j$ with weight
# $a_{ij} = \mathrm{softmax}_j\!\left(q_i \cdot k_j / \sqrt{d}\right)$ and outputs
# $\sum_j a_{ij} v_j$. In matrix form, for all positions at once:
# $\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(QK^\top/\sqrt{d}\right) V$.
#
# The $\sqrt d$ keeps the scores' scale independent of $d$ (otherwise softmax saturates).
# For next-character prediction, position $i$ must not see positions $j > i$: set those
# scores to $-\infty$ before the softmax (the **causal mask**), so their weights are exactly 0.
#
# **Exercise 1.** Write `attention(q, k, v)` for tensors of shape `(..., T, d)`, causal,
# returning `(output, weights)`. Useful: `k.transpose(-2, -1)`, `tw.ones(T, T).triu(1)`
# (ones above the diagonal), `masked_fill(mask, value)`, `softmax(dim=-1)`.

# %%
def attention(q, k, v):
    T, d = q.shape[-2], q.shape[-1]
    ### BEGIN SOLUTION
    scores = q @ k.transpose(-2, -1) / math.sqrt(d)            # (..., T, T)
    future = tw.ones(T, T).triu(1) > 0                          # True above the diagonal
    weights = scores.masked_fill(future, float("-inf")).softmax(dim=-1)
    return weights @ v, weights
    ### END SOLUTION


# %%
# CHECK (3 points): rows are distributions, the future gets zero weight, the output matches the
# library's scaled_dot_product_attention, and changing a later token never changes an
# earlier output.
q, k, v = tw.randn(2, 4, 6, 8), tw.randn(2, 4, 6, 8), tw.randn(2, 4, 6, 8)
out, w = attention(q, k, v)
np.testing.assert_allclose(w.numpy().sum(-1), 1.0, rtol=1e-5)
causal_leak = float(np.abs(np.triu(w.numpy(), k=1)).max())
assert causal_leak == 0.0, causal_leak
ref = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-4, atol=1e-5)
k2, v2 = k.detach().numpy().copy(), v.detach().numpy().copy()
k2[..., 5, :] += 10.0
v2[..., 5, :] -= 10.0                       # change only the last position
out2, _ = attention(q, tw.tensor(k2), tw.tensor(v2))
assert np.allclose(out2.numpy()[..., :5, :], out.numpy()[..., :5, :], atol=1e-6)
print("attention ok: causal, normalised, equal to the library's")
### BEGIN HIDDEN TESTS
# No batch dimensions, one position, another head size; in float64 against the formula
# computed here with NumPy (a -inf above the diagonal), and the gradient against the library's.
def _attention_reference(q_np, k_np, v_np):
    T_, d_ = q_np.shape[-2:]
    scores = q_np @ np.swapaxes(k_np, -1, -2) / np.sqrt(d_)
    scores = np.where(np.triu(np.ones((T_, T_), dtype=bool), 1), -np.inf, scores)
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights_np = e / e.sum(axis=-1, keepdims=True)
    return weights_np @ v_np, weights_np


for shape_h in [(5, 3), (1, 4), (2, 7, 16)]:
    q_np, k_np, v_np = np.random.default_rng(len(shape_h) + shape_h[-1]).standard_normal((3, *shape_h))
    q_t = tw.tensor(q_np, requires_grad=True)
    out_h, w_h = attention(q_t, tw.tensor(k_np), tw.tensor(v_np))
    ref_out, ref_w = _attention_reference(q_np, k_np, v_np)
    np.testing.assert_allclose(w_h.detach().numpy(), ref_w, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(out_h.detach().numpy(), ref_out, rtol=1e-9, atol=1e-12)
    out_h.sum().backward()
    q_ref = tw.tensor(q_np, requires_grad=True)
    nn.functional.scaled_dot_product_attention(q_ref, tw.tensor(k_np), tw.tensor(v_np), is_causal=True).sum().backward()
    np.testing.assert_allclose(q_t.grad.numpy(), q_ref.grad.numpy(), rtol=1e-7, atol=1e-10)
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Multi-head self-attention and the Transformer block
#
# *Self*-attention computes $Q, K, V$ from the same sequence with three learned linear maps
# (here fused into one `Linear(D, 3D)`). **Multi-head** attention splits $D$ into $H$ heads of
# size $D/H$ that attend independently (one head may track rhyme, another the previous
# letter), then concatenates them.
#
# **Exercise 2.** Write `split_heads(x, n_heads)`: `(B, T, D)` → `(B, H, T, D/H)` — a reshape
# to `(B, T, H, D/H)`, then swap the `T` and `H` dimensions.

# %%
def split_heads(x, n_heads):
    B, T, D = x.shape
    ### BEGIN SOLUTION
    return x.reshape(B, T, n_heads, D // n_heads).transpose(1, 2)
    ### END SOLUTION


def merge_heads(x):
    B, H, T, Dh = x.shape
    return x.transpose(1, 2).reshape(B, T, H * Dh)


class CausalSelfAttention(nn.Module):
    def __init__(self, dim, n_heads):
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        out, weights = attention(split_heads(q, self.n_heads), split_heads(k, self.n_heads),
                                 split_heads(v, self.n_heads))
        self.last_weights = weights.detach()        # kept for the plots in section 5
        return self.proj(merge_heads(out))


class Block(nn.Module):
    """Pre-norm Transformer block: x + attention(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, dim, n_heads):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = CausalSelfAttention(dim, n_heads)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(approximate="tanh"), nn.Linear(4 * dim, dim))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class TinyTransformer(nn.Module):
    def __init__(self, vocab, dim=48, n_heads=4, n_layers=2, block=BLOCK):
        super().__init__()
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(block, dim)         # learned position embeddings
        self.blocks = nn.Sequential(*[Block(dim, n_heads) for _ in range(n_layers)])
        self.ln = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab)

    def forward(self, idx):
        T = idx.shape[1]
        x = self.tok(idx) + self.pos(tw.arange(T))
        return self.head(self.ln(self.blocks(x)))   # (B, T, vocab) logits


# %%
# CHECK: head splitting round-trips.
h = tw.randn(2, 5, 12)
assert split_heads(h, 3).shape == (2, 3, 5, 4)
np.testing.assert_array_equal(merge_heads(split_heads(h, 3)).numpy(), h.numpy())
### BEGIN HIDDEN TESTS
# Head j of position t holds features j*Dh .. (j+1)*Dh - 1 of that position (the round trip
# alone would accept a different split undone by the same mistake).
h_np = np.random.default_rng(6).standard_normal((3, 7, 8))
heads_h = split_heads(tw.tensor(h_np), 4).numpy()
assert heads_h.shape == (3, 4, 7, 2)
for j in range(4):
    np.testing.assert_array_equal(heads_h[:, j], h_np[:, :, 2 * j:2 * j + 2])
### END HIDDEN TESTS

# %%
# The model maps (B, T) tokens to (B, T, V) logits.
tw.manual_seed(1)
model = TinyTransformer(V)
assert model(xb).shape == (2, BLOCK, V)
print(f"TinyTransformer: {sum(p.numel() for p in model.parameters()):,} parameters")

# %% [markdown]
# ## 4. Training
#
# The loss is cross-entropy over every position of every window: `(B, T, V)` logits are
# flattened to `(B*T, V)`. AdamW with a short warm-up of the learning rate.

# %%
STEPS = 100 if quick() else 300
optimizer = optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
scheduler = optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / 30))
loss_fn = nn.CrossEntropyLoss()


def evaluate(source, batches=8):
    model.eval()
    with tw.no_grad():
        total = sum(loss_fn(model(x).reshape(-1, V), y.reshape(-1)).item()
                    for x, y in (get_batch(source) for _ in range(batches)))
    model.train()
    return total / batches


train_curve, val_curve = [], []
t0 = time.perf_counter()
bar = tqdm(range(STEPS), desc="steps")
for step in bar:
    x, y = get_batch(train_data)
    loss = loss_fn(model(x).reshape(-1, V), y.reshape(-1))
    optimizer.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    scheduler.step()
    train_curve.append(loss.item())
    if (step + 1) % 50 == 0:
        val_curve.append((step + 1, evaluate(val_data)))
        bar.set_postfix(train=f"{np.mean(train_curve[-50:]):.3f}", val=f"{val_curve[-1][1]:.3f}")
train_time = time.perf_counter() - t0
final_loss = float(np.mean(train_curve[-50:]))
print(f"{STEPS} steps in {train_time:.1f} s ({1000 * train_time / STEPS:.1f} ms/step); "
      f"train loss {final_loss:.3f}, validation loss {val_curve[-1][1]:.3f}")

# %%
# The model learned far more than character frequencies.
freq = np.bincount(train_data, minlength=V) / len(train_data)
freq = freq[freq > 0]
unigram_entropy = float(-(freq * np.log(freq)).sum())
print(f"loss of the best context-free guess (unigram entropy): {unigram_entropy:.2f}")
assert final_loss < unigram_entropy - 0.4, (final_loss, unigram_entropy)
assert val_curve[-1][1] < unigram_entropy, (val_curve[-1], unigram_entropy)   # and it generalises

# %%
plt.figure(figsize=(6, 3.5))
plt.plot(train_curve, alpha=0.5, label="train (batch)")
plt.plot(*zip(*val_curve), "o-", label="validation")
plt.axhline(math.log(V), color="k", ls=":", label="uniform guess")
plt.axhline(unigram_entropy, color="k", ls="--", lw=0.8, label="unigram")
plt.xlabel("step"); plt.ylabel("cross-entropy (nats/char)"); plt.legend(); plt.show()

# %% [markdown]
# The validation text is the last sonnet, which the model never trains on. Its loss falls
# with the training loss at first, then flattens while the training loss keeps falling: with
# 4.5 KB of text, the model soon starts to **memorise** rather than generalise. More text,
# dropout, or stopping early are the usual cures.

# %% [markdown]
# ## Sampling
#
# To generate, feed the last `BLOCK` characters, turn the logits at the last position into
# probabilities, draw the next character, append, repeat. The **temperature** divides the
# logits: below 1 the model plays safe (repetitive), above 1 it takes risks (typos).

# %%
def sample(prompt, n_chars=200, temperature=0.8):
    ids = encode(prompt)
    model.eval()
    with tw.no_grad():
        for _ in range(n_chars):
            context = tw.tensor([ids[-BLOCK:]])
            logits = model(context)[0, -1] / temperature
            probs = logits.softmax(dim=-1).numpy().astype(np.float64)
            ids.append(int(rng.choice(V, p=probs / probs.sum())))
    model.train()
    return decode(ids)


SAMPLE_CHARS = 40 if quick() else 200      # one forward pass per character
for temperature in (0.5, 1.0):
    print(f"--- temperature {temperature}")
    print(sample("Shall I compare thee", SAMPLE_CHARS, temperature))
generated = sample("Love is", SAMPLE_CHARS + 100, 0.8)

# %% [markdown]
# ## 5. Looking at attention
#
# The weights of the last forward pass were kept by each attention layer. For a line of the
# sonnets, each row shows where one position looked (lower-triangular: the causal mask).

# %%
line = "Rough winds do shake the darling"
model.eval()
with tw.no_grad():
    model(tw.tensor([encode(line)]))
model.train()
weights = model.blocks[0].attn.last_weights.numpy()[0]          # (heads, T, T)
fig, axes = plt.subplots(1, 4, figsize=(14, 3.8))
for hd, ax in enumerate(axes):
    ax.imshow(weights[hd], cmap="Blues")
    ax.set_xticks(range(len(line))); ax.set_xticklabels(list(line), fontsize=6)
    ax.set_yticks(range(len(line))); ax.set_yticklabels(list(line), fontsize=6)
    ax.set_title(f"layer 1, head {hd}")
plt.show()

# %% [markdown]
# ## 6. Before attention: a recurrent model
#
# Sequence models used to be **recurrent**: an LSTM reads the characters one at a time and
# carries a state (its memory) from each to the next. `nn.LSTM` has PyTorch's names, shapes
# and initialisation, and runs a whole sequence as one operation per layer. Training uses
# **truncated backpropagation through time**: we walk through the text in consecutive
# chunks, carry the state from one chunk to the next, but `detach()` it, so gradients stop
# at the chunk boundary (otherwise every step would backpropagate to the start of the text).

# %%
class CharLSTM(nn.Module):
    def __init__(self, vocab, embed=32, hidden=96):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, idx, state=None):                 # idx: (B, T) -> logits (B, T, V)
        out, state = self.lstm(self.embed(idx), state)
        return self.head(out), state


tw.manual_seed(0)
lstm = CharLSTM(V).to(device)
lstm_opt = optim.Adam(lstm.parameters(), lr=1e-2)
LSTM_STEPS = 30 if quick() else 120
STREAMS, CHUNK = 8, 32                   # 8 parallel streams through the text, 32 chars per step
stream_len = len(train_data) // STREAMS
streams = train_data[:stream_len * STREAMS].reshape(STREAMS, stream_len)

state, lstm_curve, pos = None, [], 0
t0 = time.perf_counter()
for step in tqdm(range(LSTM_STEPS), desc="LSTM steps"):
    if pos + CHUNK + 1 > stream_len:     # back to the start of each stream: a fresh state
        pos, state = 0, None
    x = tw.tensor(streams[:, pos:pos + CHUNK]).to(device)
    y = tw.tensor(streams[:, pos + 1:pos + CHUNK + 1]).to(device)
    pos += CHUNK
    logits, state = lstm(x, state)
    state = tuple(s.detach() for s in state)            # truncate BPTT here
    loss = loss_fn(logits.reshape(-1, V), y.reshape(-1))
    lstm_opt.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(lstm.parameters(), 1.0)
    lstm_opt.step()
    lstm_curve.append(loss.item())
lstm_time = time.perf_counter() - t0
lstm_loss = float(np.mean(lstm_curve[-10:]))
print(f"{LSTM_STEPS} LSTM steps in {lstm_time:.1f} s; loss {lstm_curve[0]:.3f} -> {lstm_loss:.3f}")

# %%
# The LSTM learns too (below the uniform guess; the Transformer above had more steps).
assert lstm_loss < math.log(V) - 0.5, (lstm_loss, math.log(V))

# %%
plt.figure(figsize=(6, 3))
plt.plot(lstm_curve, label="LSTM (truncated BPTT)")
plt.axhline(math.log(V), color="k", ls=":", label="uniform guess")
plt.xlabel("step"); plt.ylabel("cross-entropy (nats/char)"); plt.legend(); plt.show()

# %%
record(final_loss=final_loss, val_loss=val_curve[-1][1], unigram_entropy=unigram_entropy,
       causal_leak=causal_leak, steps=STEPS, ms_per_step=1000 * train_time / STEPS,
       sample_chars=len(generated), lstm_loss=lstm_loss, lstm_steps=LSTM_STEPS)

# %% [markdown]
# ## What you saw
#
# - Attention is two matmuls and a softmax; the causal mask is a `masked_fill` with $-\infty$.
# - Heads are a reshape and a transpose — no new operation.
# - A Transformer block adds attention and an MLP to a residual stream, each after a LayerNorm.
# - Generation is repeated next-token sampling; temperature trades safety for variety.
# - A recurrent model (LSTM) carries a state instead; truncated BPTT detaches it between chunks.
#
# Next: [07 — ONNX](07_onnx.ipynb).
