# %% [markdown]
# # Lab 12 — Build the engine II: normalisation, pooling and convolution backward
#
# **Prerequisites:** labs 02, 05, 10 · **Expected time:** 150 min
#
# Lab 10 had you write optimizers and initialisation; here you write the backward passes
# of the layers that make a CNN train: five pieces of the real engine, graded by the
# project's own tests.
#
# | piece | file in your `engine/` folder | what you write | points |
# |---|---|---|---:|
# | `layer_norm` | `ops/normalization.py` | `LayerNorm.backward` | 3 |
# | `batch_norm` | `ops/normalization.py` | `BatchNorm.backward` (batch and running statistics) | 3 |
# | `max_pool` | `ops/pooling.py` | `MaxPool2d.backward`: route each gradient to its window's maximum | 3 |
# | `avg_pool` | `ops/pooling.py` | `AvgPool2d.backward`: spread each gradient over its window | 2 |
# | `conv2d` | `ops/conv.py` | the col2im of `Conv2d.backward`: columns back to images | 4 |
#
# Same workflow as lab 10: the files in `engine/` beside this notebook are the engine's
# modules with these pieces cut out (`raise NotImplementedError("<piece>: ...")`); the first
# cell makes the engine load them (`TENSORWEAVER_STUDENT_ENGINE`). Edit, save, **restart the
# kernel**, run from the top. Each piece has a demo, then a `CHECK` that runs the project's
# tests for the piece on your file in a separate process and names those that fail: PyTorch's
# gradients (stored), float64 gradcheck (central differences), and the layers' own tests.
# When you hand in, the checks also run your piece on cuPyNumeric against NumPy.
#
# Every piece is a `backward(self, grad)` of a `Function` (lab 02): `grad` is the gradient
# of the loss with respect to the forward's output, a backend array; you return the
# gradients with respect to the forward's inputs, arrays of their shapes (None for an input
# that needs none: `self.needs_input_grad`). What the forward kept for you is in
# `self.saved_tensors` and in attributes it set; the code above each region unpacks it.
#
# Two pieces (conv2d, max-pool) have a fast path in the engine beside the general one
# (stride-1 convolutions as contiguous runs; max-pool windows that tile the input exactly).
# Your copies turn the fast paths off (a line marked `the engine's own line: ...`), so the
# general path is the one you write and the one the tests run. The demos use your engine's
# `nn.Linear`, `nn.Conv2d` and Adam too: lab 10's pieces.

# %%
import os
from pathlib import Path

ENGINE = Path("engine")           # your engine: the modules you write, beside this notebook
if ENGINE.is_dir():
    os.environ["TENSORWEAVER_STUDENT_ENGINE"] = str(ENGINE.resolve())
else:
    # No engine/ folder here: this is the instructor's solved notebook (labs/), which runs
    # the engine's own modules, i.e. the solutions.
    os.environ.pop("TENSORWEAVER_STUDENT_ENGINE", None)
    print("no engine/ folder beside this notebook: the engine's own modules are used")

import numpy as np

import tensorweaver as tw
import tensorweaver.nn.functional as F
from tensorweaver import nn, optim
from tensorweaver.labs import engine_track, quick, record

print("backend:", tw.backend.name)
print(engine_track.describe("12_engine_layers"))


def grad_error(fn, *shapes, seed=0):
    """The largest gap between your backward and central differences, in float64."""
    rng = np.random.default_rng(seed)
    inputs = [tw.tensor(rng.normal(size=s), dtype=tw.float64, requires_grad=True) for s in shapes]
    out = fn(*inputs)
    weights = tw.tensor(rng.normal(size=out.shape), dtype=tw.float64)
    (out * weights).sum().backward()
    worst = 0.0
    for t in inputs:
        a = t.detach().numpy()
        for index in list(np.ndindex(a.shape))[:40]:          # the first 40 entries of each input
            def loss_at(delta):
                b = a.copy()
                b[index] += delta
                args = [tw.tensor(b) if u is t else u.detach() for u in inputs]
                return (fn(*args) * weights).sum().item()
            numeric = (loss_at(1e-6) - loss_at(-1e-6)) / 2e-6
            worst = max(worst, abs(numeric - t.grad.numpy()[index]))
    return worst


# %% [markdown]
# ## 1. LayerNorm backward (`engine/ops/normalization.py`, `LayerNorm.backward`)
#
# LayerNorm normalises each sample over its last `n` axes (the `normalized_shape`), with
# `M` elements there: `μ = mean(x)`, `σ² = mean((x - μ)²)`, `r = 1 / sqrt(σ² + eps)`,
# `x̂ = (x - μ) r`, `y = x̂ ⊙ w + b` (`w`, `b` of the normalised shape, or None).
# Given `dy` (shape of `x`):
#
# - `dw = Σ dy ⊙ x̂` and `db = Σ dy`, summed over the *leading* axes (`lead` in the code),
# - `dx̂ = dy ⊙ w` (or `dy` without a weight), and, because `μ` and `σ` depend on every
#   element, `dx = r ⊙ (dx̂ − mean(dx̂) − x̂ ⊙ mean(dx̂ ⊙ x̂))`, the means over the
#   normalised axes `self.axes` (`keepdims=True`).
#
# Saved by the forward: `xhat`, `invstd` (keepdims shape), `weight` (the first three of
# `self.saved_tensors`); `self.axes`. Return `(gx, gw, gb)`, each None when
# `self.needs_input_grad` says it is not wanted.

# %%
# ENGINE PIECE: layer_norm — LayerNorm.backward in engine/ops/normalization.py.
err = grad_error(lambda x, w, b: F.layer_norm(x, (6,), w, b), (3, 4, 6), (6,), (6,))
print(f"LayerNorm backward vs central differences: max error {err:.2e}")
x = tw.randn(4, 6, requires_grad=True)
F.layer_norm(x, (6,)).sum().backward()
print("the gradient of the sum of a normalised row is 0:", np.abs(x.grad.numpy()).max() < 1e-5)

# %%
# CHECK (3 points): layer_norm — the project's tests of LayerNorm.backward, on your file
outcome = engine_track.run_tests("layer_norm")
print(outcome.report())
assert outcome.passed, outcome.report()
### BEGIN HIDDEN TESTS
# The same piece on cuPyNumeric: its parity cases against NumPy, with your module.
parity = engine_track.run_parity("layer_norm")
print(parity.report())
assert parity.passed, parity.report()
### END HIDDEN TESTS

# %% [markdown]
# ## 2. BatchNorm backward (`BatchNorm.backward`, same file)
#
# BatchNorm normalises each **channel** (axis 1) over every other axis: `x` is `(N, C)`,
# `(N, C, L)` or `(N, C, H, W)`, the statistics are over `self.axes` = `(0, 2, ...)`, and
# `w`, `b` have shape `(C,)`. Reshape them to `self.shape` = `(1, C, 1, ...)` to broadcast.
# The backward is LayerNorm's with the axes swapped:
#
# - `dw = Σ dy ⊙ x̂`, `db = Σ dy` over `self.axes` (shape `(C,)`);
# - with batch statistics (`self.batch_stats`, training) the same formula,
#   `dx = r ⊙ (dx̂ − mean(dx̂) − x̂ ⊙ mean(dx̂ ⊙ x̂))`, means over `self.axes`;
# - in eval mode the running statistics are constants, so `dx = dx̂ ⊙ r`.
#
# Saved: `xhat`, `invstd` (already of shape `self.shape`), `weight`. (The running
# statistics are updated in the forward; they have no gradient.)

# %%
# ENGINE PIECE: batch_norm — BatchNorm.backward in engine/ops/normalization.py.
for training in (True, False):
    rm, rv = tw.zeros(3, dtype=tw.float64), tw.ones(3, dtype=tw.float64)
    err = grad_error(lambda x, w, b: F.batch_norm(x, rm.clone(), rv.clone(), w, b, training),
                     (4, 3, 2, 2), (3,), (3,))
    print(f"BatchNorm backward ({'training' if training else 'eval'}) vs central differences: {err:.2e}")

# %%
# CHECK (3 points): batch_norm — the project's tests of BatchNorm.backward, on your file
outcome = engine_track.run_tests("batch_norm")
print(outcome.report())
assert outcome.passed, outcome.report()
### BEGIN HIDDEN TESTS
# The same piece on cuPyNumeric: its parity cases against NumPy, with your module.
parity = engine_track.run_parity("batch_norm")
print(parity.report())
assert parity.passed, parity.report()
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Max-pool backward (`engine/ops/pooling.py`, `MaxPool2d.backward`)
#
# Pooling works on the last two axes of `x` `(..., H, W)`. The forward padded the input
# (with -inf) by `(top, bottom, left, right)` and, for each of the `kH·kW` offsets `k` of the
# window, took a *strided slice* `(rows, cols)` of the padded input: `slices[k]`, which lines
# up with the `(OH, OW)` output grid (the same windows as im2col, lab 05). The output is the
# max over `k`, and `which` `(..., OH, OW)` holds, per output, the offset `k` that held the
# maximum (the first one on ties, as PyTorch).
#
# The gradient of a max goes to the element that was the max. For each offset `k`:
# `share = where(which == k, grad, 0)`, added into the padded gradient at `slices[k]`;
# windows may overlap (stride < kernel), so **add**, don't assign. Then crop the padding.
# Use `_padded_grad(shape, pads, order, grad.dtype)` for the zero padded gradient (laid out
# like `x`) and `add_into(dst, (Ellipsis, rows, cols), values)` for the addition (cuPyNumeric
# has no strided views, `add_into` handles that). `disjoint` and `tiled` in the geometry are
# optimisations you may ignore (the engine writes instead of adding when windows never
# overlap).

# %%
# ENGINE PIECE: max_pool — MaxPool2d.backward in engine/ops/pooling.py.
x = tw.tensor([[[[1.0, 5, 2, 0], [3, 4, 8, 1], [0, 2, 6, 7], [9, 1, 3, 3]]]], requires_grad=True)
F.max_pool2d(x, 2).sum().backward()
print("input:\n", x.detach().numpy()[0, 0], "\ngradient of the sum of 2x2 max-pooling:\n", x.grad.numpy()[0, 0])
x.grad = None
F.max_pool2d(x, 3, stride=1).sum().backward()
print("3x3 windows, stride 1 (overlapping): the 8 and the 9 are each the max of windows:\n", x.grad.numpy()[0, 0])

# %%
# CHECK (3 points): max_pool — the project's tests of MaxPool2d.backward, on your file
outcome = engine_track.run_tests("max_pool")
print(outcome.report())
assert outcome.passed, outcome.report()
### BEGIN HIDDEN TESTS
# The same piece on cuPyNumeric: its parity cases against NumPy, with your module.
parity = engine_track.run_parity("max_pool")
print(parity.report())
assert parity.passed, parity.report()
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Average-pool backward (`AvgPool2d.backward`, same file)
#
# Each output is `(sum of its window) / divisor`, so each element of a window gets
# `grad / divisor` of that output, added at every window it belongs to. The geometry holds
# `(x.shape, pads, slices, divisor, order)`; `divisor` is a number or an `(OH, OW)` array
# (PyTorch's rules for padding: `count_include_pad`, `ceil_mode`, `divisor_override`), which
# broadcasts against `grad`. Zero padded gradient, add the share at every offset, crop.

# %%
# ENGINE PIECE: avg_pool — AvgPool2d.backward in engine/ops/pooling.py.
x = tw.ones(1, 1, 4, 4, requires_grad=True)
F.avg_pool2d(x, 3, stride=1, padding=1).sum().backward()
print("gradient of the sum of 3x3 average pooling, padding 1 (corners are in 4 windows):\n", x.grad.numpy()[0, 0])
err = grad_error(lambda x: F.avg_pool2d(x, 3, 2, 1, True, False), (1, 2, 5, 6))
print(f"AvgPool2d backward (ceil_mode, count_include_pad=False) vs central differences: {err:.2e}")

# %%
# CHECK (2 points): avg_pool — the project's tests of AvgPool2d.backward, on your file
outcome = engine_track.run_tests("avg_pool")
print(outcome.report())
assert outcome.passed, outcome.report()
### BEGIN HIDDEN TESTS
# The same piece on cuPyNumeric: its parity cases against NumPy, with your module.
parity = engine_track.run_parity("avg_pool")
print(parity.report())
assert parity.passed, parity.report()
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Convolution backward: col2im (`engine/ops/conv.py`, in `Conv2d.backward`)
#
# The forward (lab 05) builds, per block of images, the column matrix `cols`
# `(C·kH·kW, nb·OH·OW)`: one row per (channel, kernel offset), one column per output
# position; the output is `W₂ @ cols` with `W₂ = weight.reshape(O, C·kH·kW)` (per group).
# Backward, for a block with output gradient `gblock` `(G, O/G, nb·OH·OW)`:
#
# - `dW = gblock @ colsᵀ` — written for you, above your region;
# - `dcols = W₂ᵀ @ gblock`: `_group_matmul(w3t, gblock)`, `(G, C/G·kH·kW, nb·OH·OW)`,
#   reshaped to `(C, K, nb, OH·OW)` with `K = len(windows)` kernel offsets;
# - **col2im**, the adjoint of im2col: every column entry came from one input pixel, so its
#   gradient goes back there. Start from zeros `(C, nb, Hp, Wp)` (the padded block), and
#   for each offset `k` with window `(rows, cols)` = `windows[k]` (strided slices of the
#   padded block lining up with the output grid), **add** `dcols[:, k]` reshaped to
#   `(C, nb, OH, OW)` at `[:, :, rows, cols]` (`add_into`: windows overlap);
# - crop the padding (`pads` is `(top, bottom, left, right)`) and store the block's input
#   gradient: `gx[:, s:e] = ...` (shape `(C, nb, H, W)`; `gx` is channels-first, made above).
#
# Available in the region: `w3t`, `gblock`, `windows`, `c`, `e - s` (the block's images),
# `run` (= `oh·ow` on the general path), `oh`, `ow`, `hp`, `wp`, `pads`, `h`, `w`, `gx`,
# `grad.dtype`. The tests: PyTorch's gradients for strides, padding, dilation, groups and
# 1×1 kernels (stored), float64 gradcheck, and a float32 run.

# %%
# ENGINE PIECE: conv2d — the col2im region of Conv2d.backward in engine/ops/conv.py.
for stride, padding, dilation in [(1, 1, 1), (2, 0, 1), (1, 2, 2)]:
    err = grad_error(lambda x, w: F.conv2d(x, w, None, stride, padding, dilation), (2, 3, 6, 5), (4, 3, 3, 3))
    print(f"conv2d backward, stride {stride}, padding {padding}, dilation {dilation}: max error {err:.2e}")

# %%
# CHECK (4 points): conv2d — the project's tests of Conv2d.backward's col2im, on your file
outcome = engine_track.run_tests("conv2d")
print(outcome.report())
assert outcome.passed, outcome.report()
### BEGIN HIDDEN TESTS
# The same piece on cuPyNumeric: its parity cases against NumPy, with your module.
parity = engine_track.run_parity("conv2d")
print(parity.report())
assert parity.passed, parity.report()
### END HIDDEN TESTS

# %% [markdown]
# ## 6. A CNN trained on your backward passes
#
# Lab 05's digits CNN, with a LayerNorm before the classifier: every backward of its
# convolutions, BatchNorms, poolings and LayerNorm is yours (and, from lab 10, the
# initialisation and Adam).

# %%
from sklearn.datasets import load_digits

from tensorweaver.utils.data import DataLoader, TensorDataset, random_split

tw.manual_seed(0)
digits = load_digits()
images = tw.tensor(digits.data.reshape(-1, 1, 8, 8) / 16.0, dtype=tw.float32)
train_set, test_set = random_split(TensorDataset(images, tw.tensor(digits.target)), [1437, 360])
model = nn.Sequential(
    nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),      # 8x8 -> 4x4
    nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.AvgPool2d(2),   # 4x4 -> 2x2
    nn.Flatten(), nn.LayerNorm(64), nn.Linear(64, 10))
opt = optim.Adam(model.parameters(), lr=3e-3)
loss_fn = nn.CrossEntropyLoss()
losses = []
for epoch in range(2 if quick() else 6):
    model.train()
    for xb, yb in DataLoader(train_set, batch_size=32, shuffle=True):
        loss = loss_fn(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
model.eval()
xt, yt = next(iter(DataLoader(test_set, batch_size=360)))
with tw.no_grad():
    accuracy = (model(xt).argmax(dim=1) == yt).float().mean().item()
print(f"loss {losses[0]:.3f} -> {losses[-1]:.3f}; test accuracy {accuracy:.3f}")

record(test_accuracy=accuracy, final_loss=float(np.mean(losses[-10:])),
       conv_grad_error=err)
