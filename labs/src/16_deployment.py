# %% [markdown]
# # Lab 16 — Deployment: fold, export, extend, quantise
#
# **Prerequisites:** labs 05, 06, 07 · **Expected time:** 120 min
#
# Lab 07 took a model out of the framework: export by tracing, check, run in ONNX Runtime.
# A model that ships goes through a few more steps, each of which changes the computation a
# little and each of which must be **measured** before it is trusted:
#
# 1. **fold** BatchNorm into the convolution before it (exercise): fewer operations, the
#    same function;
# 2. **export with dynamic shapes**: a small Transformer whose sequence length, and not only
#    its batch, varies from one call to the next (exercise);
# 3. **extend the exporter** with an operation it has never seen: your own `Function`, and
#    the ONNX nodes that compute it (exercise);
# 4. **quantise** to 8-bit integers with ONNX Runtime's own tools: dynamic quantisation for
#    the Transformer, static quantisation with calibration data you feed it for the CNN
#    (exercise);
# 5. **gate** the result: a fair timer and an accuracy comparison that decide whether the
#    deployed model may replace the float one (exercise).
#
# Timings are noisy (other programs share the machine): rerun a cell and they move. Errors,
# node counts, file sizes and accuracies do not.

# %%
# %matplotlib inline
import math
import os
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType, quant_pre_process,
                                      quantize_dynamic, quantize_static)
from sklearn.datasets import load_digits

import tensorweaver as tw
from tensorweaver import backend, nn, optim
from tensorweaver.autograd import Function
from tensorweaver.labs import quick, record
from tensorweaver.utils.data import DataLoader, TensorDataset, random_split

xp = backend.xp          # the array module the ops compute with (NumPy or cuPyNumeric)
tw.manual_seed(0)
print("backend:", tw.backend.name, "| onnx", onnx.__version__, "| onnxruntime", ort.__version__)

# %% [markdown]
# ## 0. Data and helpers
#
# The digits again (8×8 images, scikit-learn's copy), split as in labs 05 and 07. The CNN
# reads an image as `(1, 8, 8)`; the Transformer reads it as a **sequence of 8 rows** of 8
# pixels. ONNX Runtime takes host NumPy arrays, so the test set is kept on the host too.
#
# `latency_ms` is lab 07's fair timer (warm-up calls, then the median of timed calls).
# `ort_session` opens a file in ONNX Runtime on one thread (the engine computes on one core
# here: one thread each keeps the comparison fair, and a busy machine disturbs a single
# thread least) with its graph optimisations on, or off. `train` is lab 04's loop (Adam,
# cross-entropy, shuffled batches) and leaves the model in evaluation mode.

# %%
digits = load_digits()
X = tw.tensor(digits.data.reshape(-1, 1, 8, 8) / 16.0, dtype=tw.float32)
Y = tw.tensor(digits.target)
train_set, test_set = random_split(TensorDataset(X, Y), [1437, 360])
# Each split as one pair of tensors, gathered with one indexing operation: a DataLoader over a
# TensorDataset batches the same way, over random_split's Subset it goes sample by sample
# (costly on Legate, where every operation is a task).
train_idx, test_idx = tw.tensor(train_set.indices), tw.tensor(test_set.indices)
x_train, y_train, x_test, y_test = X[train_idx], Y[train_idx], X[test_idx], Y[test_idx]
train_data = TensorDataset(x_train, y_train)
x_host, y_host = x_test.numpy(), y_test.numpy()            # (360, 1, 8, 8) float32, (360,) int64
workdir = Path(tempfile.mkdtemp(prefix="lab16-"))


def latency_ms(fn, repeats=20):
    fn()
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


def ort_session(path, optimize=True):
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    if not optimize:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def ort_logits(session, x):
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def accuracy(logits, labels):
    return float((np.asarray(logits).argmax(1) == labels).mean())


def train(model, epochs, reshape=None, lr=3e-3, batch_size=64):
    """Adam on the training split; `reshape` turns an image batch into the model's input."""
    optimizer = optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for _ in range(epochs):
        for xb, yb in DataLoader(train_data, batch_size=batch_size, shuffle=True):
            loss = loss_fn(model(xb if reshape is None else reshape(xb)), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


# %% [markdown]
# ## 1. Folding BatchNorm into the convolution
#
# Lab 05's CNN, half as wide: two blocks of convolution → BatchNorm → ReLU → max-pool, then
# a linear layer. In evaluation mode BatchNorm is a fixed affine map per channel $o$:
# $\mathrm{bn}(z)_o = \gamma_o \frac{z_o - \mu_o}{\sqrt{\sigma^2_o + \epsilon}} + \beta_o$ with
# the running mean $\mu$ and variance $\sigma^2$. The convolution before it is affine too,
# $z_o = w_o * x + b_o$, so the two compose into **one convolution**: with
# $s_o = \gamma_o / \sqrt{\sigma^2_o + \epsilon}$,
#
# $$w'_o = s_o\, w_o, \qquad b'_o = s_o\,(b_o - \mu_o) + \beta_o .$$
#
# Deployment tools do this ("Conv-BN fusion"): one operation and one pass over the
# feature maps fewer, for free. It is exact up to rounding — and **only in evaluation
# mode**: in training BatchNorm uses the batch's statistics, which no fixed weight can.

# %%
tw.manual_seed(1)
cnn = nn.Sequential(
    nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),      # 8 x 4 x 4
    nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),    # 16 x 2 x 2
    nn.Flatten(), nn.Linear(16 * 2 * 2, 10),
)
CNN_EPOCHS = 2 if quick() else 4
t0 = time.perf_counter()
train(cnn, CNN_EPOCHS, lr=1e-2)
with tw.no_grad():
    cnn_logits = cnn(x_test).numpy()
cnn_accuracy = accuracy(cnn_logits, y_host)
print(f"CNN: test accuracy {cnn_accuracy:.3f} after {CNN_EPOCHS} epoch(s), {time.perf_counter() - t0:.1f} s")
print("second BatchNorm's running variance (first 4 channels):", cnn[5].running_var.numpy()[:4].round(3))

# %% [markdown]
# **Exercise 1.** Write `fold_conv_bn(conv, bn)`: return a **new** `nn.Conv2d` with the same
# channels, kernel size, stride, padding, dilation and groups as `conv`, always with a bias,
# whose output equals `bn(conv(x))` with `bn` in evaluation mode. Use `bn.running_mean`,
# `bn.running_var`, `bn.eps`, `bn.weight` ($\gamma$) and `bn.bias` ($\beta$). Cases to handle:
# `conv.bias` may be `None` (a convolution followed by BatchNorm often has none: take 0), and
# `bn` may have been made with `affine=False` (its `weight` and `bias` are `None`: take 1 and
# 0). Write the new weights under `tw.no_grad()` (e.g. `new.weight.copy_(...)`); leave `conv`
# and `bn` unchanged.

# %%
def fold_conv_bn(conv, bn):
    ### BEGIN SOLUTION
    scale = 1.0 / (bn.running_var + bn.eps).sqrt()
    if bn.weight is not None:
        scale = scale * bn.weight
    bias = conv.bias if conv.bias is not None else tw.zeros(conv.out_channels, dtype=conv.weight.dtype)
    shift = bn.bias if bn.bias is not None else tw.zeros(conv.out_channels, dtype=conv.weight.dtype)
    folded = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                       padding=conv.padding, dilation=conv.dilation, groups=conv.groups, bias=True)
    with tw.no_grad():
        folded.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
        folded.bias.copy_((bias - bn.running_mean) * scale + shift)
    return folded
    ### END SOLUTION


# %%
# CHECK (3 points): a folded convolution equals the convolution followed by BatchNorm in
# eval mode, on fresh layers whose running statistics are far from their start; compared
# with the folding formula computed here in NumPy.
def _trained_bn(channels, seed, **kwargs):
    """A BatchNorm2d with running statistics and affine parameters away from 0 and 1."""
    rng = np.random.default_rng(seed)
    bn_ = nn.BatchNorm2d(channels, **kwargs)
    with tw.no_grad():
        bn_.running_mean.copy_(tw.tensor(rng.normal(0, 2, channels), dtype=tw.float32))
        bn_.running_var.copy_(tw.tensor(rng.uniform(0.2, 3, channels), dtype=tw.float32))
        if bn_.weight is not None:
            bn_.weight.copy_(tw.tensor(rng.normal(1, 0.5, channels), dtype=tw.float32))
            bn_.bias.copy_(tw.tensor(rng.normal(0, 1, channels), dtype=tw.float32))
    return bn_.eval()


def _fold_reference(conv_, bn_):
    """w' and b' by the formula, in float64 NumPy."""
    var, mean = bn_.running_var.numpy().astype(np.float64), bn_.running_mean.numpy().astype(np.float64)
    gamma = np.ones_like(var) if bn_.weight is None else bn_.weight.detach().numpy().astype(np.float64)
    beta = np.zeros_like(var) if bn_.bias is None else bn_.bias.detach().numpy().astype(np.float64)
    b = np.zeros_like(var) if conv_.bias is None else conv_.bias.detach().numpy().astype(np.float64)
    s = gamma / np.sqrt(var + bn_.eps)
    return conv_.weight.detach().numpy() * s[:, None, None, None], (b - mean) * s + beta


def _check_fold(conv_, bn_, x_):
    before = [p.detach().numpy().copy() for p in (conv_.weight, bn_.running_mean, bn_.running_var)]
    new = fold_conv_bn(conv_, bn_)
    assert isinstance(new, nn.Conv2d) and new is not conv_, "return a new nn.Conv2d"
    assert new.bias is not None, "the folded convolution needs a bias"
    for attr in ("stride", "padding", "dilation", "groups", "kernel_size"):
        assert getattr(new, attr) == getattr(conv_, attr), f"{attr}: {getattr(new, attr)} vs {getattr(conv_, attr)}"
    w_ref, b_ref = _fold_reference(conv_, bn_)
    np.testing.assert_allclose(new.weight.detach().numpy(), w_ref, rtol=1e-5, atol=1e-6,
                               err_msg="folded weight: expected w * gamma / sqrt(var + eps) per output channel")
    np.testing.assert_allclose(new.bias.detach().numpy(), b_ref, rtol=1e-5, atol=1e-5,
                               err_msg="folded bias: expected (b - mean) * gamma / sqrt(var + eps) + beta")
    with tw.no_grad():
        expected = bn_(conv_(x_)).numpy()
        got = new(x_).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4, err_msg="folded conv != bn(conv(x)) in eval mode")
    for p, b in zip((conv_.weight, bn_.running_mean, bn_.running_var), before):
        assert np.array_equal(p.detach().numpy(), b), "fold_conv_bn must leave conv and bn unchanged"


tw.manual_seed(7)
_check_fold(nn.Conv2d(3, 5, 3, padding=1), _trained_bn(5, 0), tw.randn(4, 3, 8, 8))
print("fold_conv_bn matches the formula and bn(conv(x))")
### BEGIN HIDDEN TESTS
# No conv bias; BatchNorm without affine parameters and another eps; stride, dilation and
# groups; a BatchNorm left in training mode (the fold uses the running statistics anyway).
_check_fold(nn.Conv2d(4, 6, 3, bias=False), _trained_bn(6, 1), tw.randn(2, 4, 7, 7))
_check_fold(nn.Conv2d(2, 4, 3, padding=2), _trained_bn(4, 2, affine=False, eps=0.1), tw.randn(3, 2, 6, 6))
_check_fold(nn.Conv2d(4, 8, 3, stride=2, dilation=2, groups=2, padding=1), _trained_bn(8, 3), tw.randn(2, 4, 9, 9))
_bn_train = _trained_bn(5, 4)
_bn_train.train()
_conv_h = nn.Conv2d(3, 5, 1)
_w_h, _b_h = _fold_reference(_conv_h, _bn_train)
_new_h = fold_conv_bn(_conv_h, _bn_train)
np.testing.assert_allclose(_new_h.bias.detach().numpy(), _b_h, rtol=1e-5, atol=1e-5,
                           err_msg="fold with the running statistics, whatever the mode of bn")
### END HIDDEN TESTS

# %% [markdown]
# Folding a whole `nn.Sequential`: every `Conv2d` directly followed by a `BatchNorm2d`
# becomes one convolution, everything else is kept (shared, not copied). Then the check
# that matters: the folded model computes what the eval-mode model computes.

# %%
def fold_sequential(model):
    layers, i = [], 0
    while i < len(model):
        if isinstance(model[i], nn.Conv2d) and i + 1 < len(model) and isinstance(model[i + 1], nn.BatchNorm2d):
            layers.append(fold_conv_bn(model[i], model[i + 1]))
            i += 2
        else:
            layers.append(model[i])
            i += 1
    return nn.Sequential(*layers).eval()


folded = fold_sequential(cnn)
print(folded)
with tw.no_grad():
    folded_logits = folded(x_test).numpy()
fold_max_error = float(np.abs(folded_logits - cnn_logits).max())
print(f"max |folded - eval model| on the test set: {fold_max_error:.2e}; "
      f"predictions agree on {100 * np.mean(folded_logits.argmax(1) == cnn_logits.argmax(1)):.1f} %")
assert fold_max_error < 1e-4

# %% [markdown]
# Both exported (lab 07's call): the folded file has two nodes fewer, no
# `BatchNormalization`, and the same outputs in ONNX Runtime.

# %%
def export_images(model, path):
    tw.onnx.export(model, x_test[:1], str(path), input_names=["image"], output_names=["logits"],
                   dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})
    return onnx.load(str(path))


cnn_path, folded_path = workdir / "cnn.onnx", workdir / "cnn_folded.onnx"
cnn_nodes = [n.op_type for n in export_images(cnn, cnn_path).graph.node]
folded_nodes = [n.op_type for n in export_images(folded, folded_path).graph.node]
print("eval model:", " ".join(cnn_nodes))
print("folded    :", " ".join(folded_nodes))
folded_onnx_error = float(np.abs(ort_logits(ort_session(folded_path), x_host) - cnn_logits).max())
print(f"max |ONNX Runtime (folded) - engine (eval)| = {folded_onnx_error:.2e}")
assert "BatchNormalization" not in folded_nodes and len(folded_nodes) == len(cnn_nodes) - 2
assert folded_onnx_error < 1e-4

# %% [markdown]
# And the time it saves, per batch of 64 images: in the engine, and in ONNX Runtime with
# its graph optimisations **off** and **on**. ONNX Runtime's optimiser fuses Conv and
# BatchNorm itself when it loads the file, so with optimisations on the two files run the
# same graph: folding pays where the runtime does not do it (the engine here; many small
# runtimes on devices). In the engine it pays twice: `nn.Sequential` runs a `Conv2d` directly
# followed by a `ReLU` as one fused operation, which the BatchNorm in between prevented.

# %%
def engine_fn(model, x):
    def run():
        with tw.no_grad():
            return model(x).numpy()
    return run


# How many timed calls per engine measurement. On NumPy a forward pass takes a few ms, so 31
# calls are cheap and their median holds still when other programs share the machine; on
# Legate's CPU mode every operation is a task and a forward pass is slow, so fewer.
ENGINE_REPEATS = 31 if backend.name == "numpy" else (3 if quick() else 10)
x_small, x_small_host = x_test[:64], x_host[:64]
sessions = {(name, opt): ort_session(path, optimize=opt)
            for name, path in (("eval", cnn_path), ("folded", folded_path)) for opt in (False, True)}
fold_latency = {
    "engine": {"eval": latency_ms(engine_fn(cnn, x_small), ENGINE_REPEATS),
               "folded": latency_ms(engine_fn(folded, x_small), ENGINE_REPEATS)},
    "ort_unoptimized": {n: latency_ms(lambda n=n: ort_logits(sessions[n, False], x_small_host)) for n in ("eval", "folded")},
    "ort_optimized": {n: latency_ms(lambda n=n: ort_logits(sessions[n, True], x_small_host)) for n in ("eval", "folded")},
}
print(f"{'ms per batch of 64':<22} {'eval':>8} {'folded':>8}")
for where, row in fold_latency.items():
    print(f"{where:<22} {row['eval']:>8.2f} {row['folded']:>8.2f}")

# %% [markdown]
# ## 2. A Transformer with a variable sequence length
#
# The image as a sequence: 8 rows of 8 pixels, each row a token. A linear embedding, one
# multi-head self-attention layer (lab 06's attention, without the causal mask: every row
# may look at every other) with a residual connection and LayerNorm, the mean over the
# tokens, and a linear classifier. Nothing in it depends on the number of rows, so one exported file
# should serve any sequence length.
#
# One detail matters for export. The tokens need their **positions**; lab 06 looked them up
# with `self.pos(tw.arange(T))`, `T` read from `x.shape`. A trace records operations on
# tensors, not Python's arithmetic on shapes: `T` is a plain int, and `tw.arange(T)` a
# constant of the example's length. The exporter notices that one (the constant differs
# between its two traces) and refuses a dynamic sequence axis; a slice `table[:T]` of a
# parameter it does not notice today, and the file is then wrong at every other length.
# Only running the file at several lengths proves it right. Here the positions are computed
# **from the input by traced ops** (a cumulative sum of ones along the sequence, then sines
# and cosines as in the original Transformer), so they follow the length at run time.

# %%
class RowTransformer(nn.Module):
    def __init__(self, d=64, heads=4):
        super().__init__()
        self.d, self.heads = d, heads
        self.embed = nn.Linear(8, d)
        self.freqs = tw.tensor(np.exp(-np.arange(0, d, 2) * math.log(100.0) / d), dtype=tw.float32)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, 10)

    def forward(self, rows):                                     # (B, T, 8)
        B, T, _ = rows.shape
        position = (rows[:, :, :1] * 0 + 1).cumsum(dim=1) - 1    # (B, T, 1): 0, 1, ..., T-1, traced
        angles = position * self.freqs                           # (B, T, d/2)
        h = self.embed(rows) + tw.cat([angles.sin(), angles.cos()], dim=2)
        q, k, v = self.qkv(h).reshape(B, T, 3, self.heads, self.d // self.heads).permute(2, 0, 3, 1, 4)
        attn = (q @ k.transpose(-2, -1) / math.sqrt(self.d // self.heads)).softmax(dim=-1)
        h = self.norm(h + self.proj((attn @ v).transpose(1, 2).reshape(B, T, self.d)))
        return self.head(h.mean(dim=1))


def as_rows(images):
    return images.reshape(-1, 8, 8)


tw.manual_seed(2)
transformer = RowTransformer()
TF_EPOCHS = 2 if quick() else 5
t0 = time.perf_counter()
train(transformer, TF_EPOCHS, reshape=as_rows, lr=1e-2)
rows_test = as_rows(x_test)
rows_host = rows_test.numpy()
with tw.no_grad():
    tf_logits = transformer(rows_test).numpy()
tf_accuracy = accuracy(tf_logits, y_host)
print(f"Transformer: test accuracy {tf_accuracy:.3f} after {TF_EPOCHS} epochs, {time.perf_counter() - t0:.1f} s")

# %% [markdown]
# `tw.onnx.export`'s `dynamic_axes` maps each input or output name to `{axis: label}`; an
# axis not listed keeps the example's size, frozen into the graph. (The exporter traces
# twice, the second time with every declared axis one longer, and compares: dims that
# changed are dynamic in the graph; an output's dynamic dims that you do not name get a
# label of their own.)
#
# **Exercise 2.** Write `export_with_lengths(model, rows, path, lengths)`. Put the model in
# evaluation mode; export it to `path` with the first two sequences `rows[:2]` as the
# example, the input named `"rows"` with **both** its batch axis (0) and its sequence axis
# (1) dynamic, the output named `"logits"` with a dynamic batch axis; check the file with
# `onnx.checker.check_model(..., full_check=True)`; open an ONNX Runtime session on it; and for
# every `T` in `lengths` run **all** the sequences cut to their first `T` tokens (`rows[:,
# :T]`) through ONNX Runtime and through the engine (under `tw.no_grad()`). Return
# `{T: largest absolute difference}` (Python floats).

# %%
def export_with_lengths(model, rows, path, lengths=(1, 4, 8)):
    ### BEGIN SOLUTION
    model.eval()
    tw.onnx.export(model, rows[:2], str(path), input_names=["rows"], output_names=["logits"],
                   dynamic_axes={"rows": {0: "batch", 1: "sequence"}, "logits": {0: "batch"}})
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    errors = {}
    for length in lengths:
        x = rows[:, :length]
        with tw.no_grad():
            expected = model(x).numpy()
        got = session.run(None, {"rows": x.numpy()})[0]
        errors[length] = float(np.abs(got - expected).max())
    return errors
    ### END SOLUTION


# %%
# CHECK (3 points): the trained Transformer, exported by your function, agrees with the
# engine at every length; the file's input has a dynamic batch and a dynamic sequence axis,
# and it runs here at a batch size and a length of our own.
def _file_error(model, path, x):
    """ONNX Runtime on the file against the engine in eval mode, computed here."""
    loaded_ = onnx.load(str(path))
    onnx.checker.check_model(loaded_, full_check=True)
    dims = loaded_.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param, "the batch axis (0) of the input is not dynamic"
    assert dims[1].dim_param, "the sequence axis (1) of the input is not dynamic"
    session_ = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    model.eval()
    with tw.no_grad():
        expected = model(x).numpy()
    try:
        got = session_.run(None, {session_.get_inputs()[0].name: x.numpy()})[0]
    except Exception as exc:       # e.g. a length frozen into the graph
        raise AssertionError(f"ONNX Runtime cannot run the file at input shape {tuple(x.shape)}: {exc}") from None
    assert got.shape == expected.shape, (got.shape, expected.shape)
    return float(np.abs(got - expected).max())


dyn_path = workdir / "transformer.onnx"
dynamic_errors = export_with_lengths(transformer, rows_test, dyn_path, lengths=(1, 3, 8))
print("max |onnx - engine| per length:", dynamic_errors)
assert sorted(dynamic_errors) == [1, 3, 8], dynamic_errors
assert all(isinstance(e, float) and 0 <= e < 1e-4 for e in dynamic_errors.values()), dynamic_errors
assert _file_error(transformer, dyn_path, rows_test[:7, :5]) < 1e-4
### BEGIN HIDDEN TESTS
# Another model whose output keeps the sequence axis (one prediction per token), left in
# training mode with Dropout (the engine side must be compared in eval mode), sequences of 9
# tokens, other lengths and batches.
class _PerToken(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = RowTransformer(d=16, heads=2)
        self.drop = nn.Dropout(0.5)

    def forward(self, rows_):                    # (B, T, 16): one output per token
        return self.drop(self.inner.embed(rows_)).cumsum(dim=1)


tw.manual_seed(3)
_net_h = _PerToken().train()
_rows_h = tw.randn(5, 9, 8)
_errors_h = export_with_lengths(_net_h, _rows_h, workdir / "hidden_dyn.onnx", lengths=(2, 9))
assert sorted(_errors_h) == [2, 9], _errors_h
assert all(0 <= e < 1e-4 for e in _errors_h.values()), _errors_h
assert _file_error(_net_h, workdir / "hidden_dyn.onnx", tw.randn(3, 6, 8)) < 1e-4
_errors_t = export_with_lengths(transformer, rows_test[:50], workdir / "hidden_dyn2.onnx", lengths=(8, 2))
assert sorted(_errors_t) == [2, 8] and all(e < 1e-4 for e in _errors_t.values()), _errors_t
assert _file_error(transformer, workdir / "hidden_dyn2.onnx", rows_test[100:111, :6]) < 1e-4
### END HIDDEN TESTS

# %% [markdown]
# The graph's input, and the same file run at every length from 1 to 8: the predictions
# use fewer rows of each digit, the file does not care. Then your function once more, on
# more lengths.

# %%
dyn_model = onnx.load(str(dyn_path))
print("input:", [(i.name, [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]) for i in dyn_model.graph.input])
dyn_session = ort_session(dyn_path)
length_accuracy = {T: accuracy(ort_logits(dyn_session, np.ascontiguousarray(rows_host[:, :T])), y_host)
                   for T in range(1, 9)}
dynamic_max_error = export_with_lengths(transformer, rows_test, dyn_path, lengths=(1, 2, 4, 6, 8))
print("accuracy with the first T rows:", {T: round(a, 3) for T, a in length_accuracy.items()})
print("max |onnx - engine|:", {T: f"{e:.1e}" for T, e in dynamic_max_error.items()})
assert max(dynamic_max_error.values()) < 1e-4

# %% [markdown]
# ## 3. Teaching the exporter a new operation
#
# The exporter maps each traced operation to ONNX nodes through a **registry**: one
# *symbolic* function per `Function` class (read `tensorweaver/onnx/registry.py`, and
# `tensorweaver/onnx/symbolic/activations.py` for examples). An operation you write
# yourself — a `Function` with `forward` and `backward` on arrays, as in lab 02 — is traced
# as one call the exporter has never seen.
#
# Hard-swish, $\mathrm{hswish}(x) = x\cdot\mathrm{clip}(x + 3, 0, 6)/6$, is the cheap activation
# of mobile networks (MobileNetV3): the shape of swish, $x\,\sigma(x)$, with no exponential,
# just a clip. Here it is as an operation of
# our own, in an MLP trained on the digits.

# %%
class HardSwishOp(Function):
    def forward(self, x):
        self.save_for_backward(x)
        return x * xp.clip(x + 3, 0, 6) / 6

    def backward(self, grad):
        (x,) = self.saved_tensors
        slope = xp.where(x < -3, 0.0, xp.where(x > 3, 1.0, (2 * x + 3) / 6))
        return grad * slope.astype(grad.dtype)


class HardSwish(nn.Module):
    def forward(self, x):
        return HardSwishOp.apply(x)


tw.manual_seed(3)
mlp = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), HardSwish(), nn.Linear(64, 10))
train(mlp, 1 if quick() else 3)
with tw.no_grad():
    mlp_logits = mlp(x_test).numpy()
mlp_accuracy = accuracy(mlp_logits, y_host)
print(f"MLP with hard-swish: test accuracy {mlp_accuracy:.3f}")
assert tw.autograd.gradcheck(HardSwishOp.apply, (tw.tensor([-4.0, -1.0, 0.5, 2.0, 5.0], dtype=tw.float64,
                                                           requires_grad=True),))

# %% [markdown]
# Export it, and read the error: it names the operation, the module that called it
# (`2`, the third layer of the `Sequential`), and what to do.

# %%
tw.onnx.unregister_symbolic(HardSwishOp)     # so that this cell shows the error when re-run, too
mlp_path = workdir / "mlp_hardswish.onnx"
try:
    tw.onnx.export(mlp, x_test[:1], str(mlp_path), input_names=["image"], output_names=["logits"],
                   dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})
    unsupported_error = None
except tw.onnx.UnsupportedOperatorError as exc:
    unsupported_error = exc
    print(type(exc).__name__, ":", exc)
assert unsupported_error is not None and unsupported_error.op == "HardSwishOp" and unsupported_error.scope == "2"
assert not mlp_path.exists()                 # a failed export writes no file

# %% [markdown]
# A symbolic function receives the graph being built `g` and the traced call `n`, adds
# nodes, and returns the **name** of the value that holds the result:
#
# - `n.input(0)`: the name of the call's first input; `n.dtype`: the output's NumPy dtype;
# - `g.const(value, dtype)`: a constant (an initializer) of that dtype; its name;
# - `g.op("Add", a, b)`: a node (any standard ONNX operator, inputs by name, attributes as
#   keyword arguments); the name of its output. `g.op("Clip", x, low, high)` takes its
#   bounds as inputs (constants), `g.op("Mul", ...)`, `g.op("Div", ...)` as you expect.
#
# `tw.onnx.register_symbolic(HardSwishOp, fn)` adds it to the registry (registering the
# class again replaces it; `tw.onnx.unregister_symbolic` removes it).
#
# **Exercise 3.** Write `hardswish_symbolic(g, n)`: the nodes for $x\cdot\mathrm{clip}(x + 3, 0,
# 6)/6$ from `Add`, `Clip`, `Mul` and `Div`, with every constant in the dtype of the call
# (`n.dtype`), so that a float64 model exports too. (ONNX also has a `HardSwish` operator, but
# ONNX Runtime has no float64 implementation of it.)

# %%
def hardswish_symbolic(g, n):
    ### BEGIN SOLUTION
    x, dtype = n.input(0), n.dtype
    shifted = g.op("Add", x, g.const(3.0, dtype))
    gate = g.op("Clip", shifted, g.const(0.0, dtype), g.const(6.0, dtype))
    return g.op("Div", g.op("Mul", x, gate), g.const(6.0, dtype))
    ### END SOLUTION


tw.onnx.register_symbolic(HardSwishOp, hardswish_symbolic)

# %%
# CHECK (2 points): with your symbolic registered, the MLP exports and ONNX Runtime agrees
# with the engine; so does hard-swish alone on inputs across all three pieces of the clip.
def _export_and_run(model, example, x, path):
    try:
        tw.onnx.export(model, example, str(path), input_names=["x"], output_names=["y"],
                       dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
        session_ = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = session_.run(None, {"x": x.numpy()})[0]
    except (tw.onnx.ExportError, RuntimeError, ValueError, TypeError) as exc:
        raise AssertionError(f"the model with HardSwishOp does not export or run: {type(exc).__name__}: {exc}") from None
    with tw.no_grad():
        expected = model(x).numpy()
    assert got.dtype == expected.dtype, f"ONNX Runtime returns {got.dtype}, the engine {expected.dtype}"
    return float(np.abs(got - expected).max())


custom_op_error = _export_and_run(mlp, x_test[:1], x_test, mlp_path)
print(f"MLP with hard-swish: max |onnx - engine| = {custom_op_error:.2e}")
assert custom_op_error < 1e-5, custom_op_error
_grid = tw.tensor(np.linspace(-6, 6, 97, dtype=np.float32))
_alone_error = _export_and_run(lambda t: HardSwishOp.apply(t), _grid[:4], _grid, workdir / "hswish.onnx")
assert _alone_error < 1e-6, f"hard-swish alone differs by {_alone_error} on [-6, 6]"
### BEGIN HIDDEN TESTS
# float64 (constants in the call's dtype), the corners of the clip, a 3-D input, and the
# op inside a larger expression (the symbolic returns its own result, not its input).
_grid64 = tw.tensor(np.array([-7.0, -3.0, -2.999, -1.5, 0.0, 1e-3, 2.5, 3.0, 3.001, 9.0]))
_err64 = _export_and_run(lambda t: HardSwishOp.apply(t), _grid64[:2], _grid64, workdir / "hswish64.onnx")
assert _err64 < 1e-12, f"float64: {_err64}"
_cube = tw.randn(2, 3, 4) * 4
_err3 = _export_and_run(lambda t: HardSwishOp.apply(t * 2) - t, _cube[:1], _cube, workdir / "hswish3.onnx")
assert _err3 < 1e-5, _err3
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Quantisation to 8 bits
#
# Quantisation stores a float tensor as 8-bit integers $q$ with a **scale** and a **zero
# point**: $x \approx \mathrm{scale}\cdot(q - \mathrm{zero\_point})$. Weights shrink to a
# quarter, and integer matrix products can be cheaper than float ones (section 5 measures
# whether they are here); the price is rounding.
#
# ONNX Runtime does it to a file, with `onnxruntime.quantization`:
#
# - **dynamic** (`quantize_dynamic`): weights are quantised once, in the file; activations
#   are quantised at run time, with a scale computed from each batch. No data needed;
#   ONNX Runtime applies it to `MatMul` (matrix products with a weight).
# - **static** (`quantize_static`): activations get fixed scales too, chosen from the range
#   of values seen on **calibration data** that you feed it. Every `Conv` and `Gemm` then
#   runs on integers, between `QuantizeLinear`/`DequantizeLinear` pairs (the "QDQ" format).
#
# Both want the graph prepared first: `quant_pre_process` runs ONNX Runtime's optimiser and
# shape inference on the file (our exporter keeps a `Linear` on a 3-D input as
# `MatMul(x, Transpose(W))`, and the optimiser turns the transposed weight into a constant
# the quantiser can see).
#
# The Transformer first, dynamically:

# %%
def file_kib(path):
    return Path(path).stat().st_size / 1024


def weights_kib(path):
    """The initializers' bytes: the weights (and, once quantised, their scales and zero points)."""
    return sum(onnx.numpy_helper.to_array(t).nbytes for t in onnx.load(str(path)).graph.initializer) / 1024


tf_pre, tf_int8 = workdir / "transformer.pre.onnx", workdir / "transformer.int8.onnx"
quant_pre_process(str(dyn_path), str(tf_pre), skip_symbolic_shape=True)
quantize_dynamic(str(tf_pre), str(tf_int8), weight_type=QuantType.QInt8)
tf_int8_ops = [n.op_type for n in onnx.load(str(tf_int8)).graph.node]
tf_sessions = {"float": ort_session(dyn_path), "int8": ort_session(tf_int8)}
tf_quant = {name: {"accuracy": accuracy(ort_logits(s, rows_host), y_host), "kib": file_kib(p),
                   "weights_kib": weights_kib(p)}
            for (name, s), p in zip(tf_sessions.items(), (dyn_path, tf_int8))}
print("int8 Transformer:", tf_int8_ops.count("MatMulInteger"), "MatMulInteger nodes;",
      {name: f"accuracy {q['accuracy']:.3f}, {q['kib']:.1f} KiB" for name, q in tf_quant.items()})
assert tf_int8_ops.count("MatMulInteger") >= 4       # the embedding, qkv, output projection, head

# %% [markdown]
# Static quantisation needs examples of the inputs: ONNX Runtime runs the float model on
# them, records the range of every activation, and derives the scales. It asks for them
# through a `CalibrationDataReader`, an object whose `get_next()` returns one **feed** (a
# dict from the model's input name to a NumPy array, as `session.run` takes) per call, and
# `None` when there are no more.
#
# **Exercise 4.** Complete `ImageCalibrationReader(images, input_name, batch_size=32)`:
# `images` is a host NumPy array `(N, 1, 8, 8)` (any float dtype). `get_next()` returns
# `{input_name: batch}` with consecutive batches of `batch_size` images in order (the last one
# may be smaller), each as a **float32**, C-contiguous array, then `None` on every later
# call; `rewind()` starts again from the first image.

# %%
class ImageCalibrationReader(CalibrationDataReader):
    def __init__(self, images, input_name, batch_size=32):
        ### BEGIN SOLUTION
        self.images = np.ascontiguousarray(images, dtype=np.float32)
        self.input_name, self.batch_size = input_name, batch_size
        self.start = 0
        ### END SOLUTION

    def get_next(self):
        ### BEGIN SOLUTION
        if self.start >= len(self.images):
            return None
        batch = self.images[self.start:self.start + self.batch_size]
        self.start += self.batch_size
        return {self.input_name: np.ascontiguousarray(batch)}
        ### END SOLUTION

    def rewind(self):
        ### BEGIN SOLUTION
        self.start = 0
        ### END SOLUTION


# %%
# CHECK (2 points): the reader hands out every image once, in order, in float32 batches,
# then None; and static quantisation of the CNN calibrated with it keeps its accuracy.
def _drain(reader, limit=1000):
    feeds = []
    for _ in range(limit):
        feed = reader.get_next()
        if feed is None:
            break
        feeds.append(feed)
    else:
        raise AssertionError("get_next() never returned None")
    assert reader.get_next() is None, "get_next() must keep returning None at the end"
    return feeds


_imgs = np.random.default_rng(5).random((70, 1, 8, 8)).astype(np.float32)
_feeds = _drain(ImageCalibrationReader(_imgs, "image", batch_size=32))
assert [list(f) for f in _feeds] == [["image"]] * 3, [list(f) for f in _feeds]
assert [f["image"].shape[0] for f in _feeds] == [32, 32, 6], [f["image"].shape for f in _feeds]
assert all(f["image"].dtype == np.float32 for f in _feeds)
np.testing.assert_array_equal(np.concatenate([f["image"] for f in _feeds]), _imgs)

calib_images = x_train[:256].numpy()                     # 256 training images
cnn_pre, cnn_int8 = workdir / "cnn.pre.onnx", workdir / "cnn.int8.onnx"
quant_pre_process(str(cnn_path), str(cnn_pre), skip_symbolic_shape=True)
quantize_static(str(cnn_pre), str(cnn_int8), ImageCalibrationReader(calib_images, "image"),
                quant_format=QuantFormat.QDQ, per_channel=True, weight_type=QuantType.QInt8,
                activation_type=QuantType.QInt8)
cnn_int8_accuracy = accuracy(ort_logits(ort_session(cnn_int8), x_host), y_host)
print(f"static int8 CNN: accuracy {cnn_int8_accuracy:.3f} (float: {cnn_accuracy:.3f})")
assert cnn_int8_accuracy >= cnn_accuracy - 0.03, "static quantisation lost more than 3 points"
### BEGIN HIDDEN TESTS
# float64 images converted to float32; a batch size that divides N; rewind; a batch of one.
_imgs64 = np.random.default_rng(6).random((9, 1, 8, 8))
_reader_h = ImageCalibrationReader(_imgs64, "pixels", batch_size=3)
_feeds_h = _drain(_reader_h)
assert [f["pixels"].shape for f in _feeds_h] == [(3, 1, 8, 8)] * 3
assert all(f["pixels"].dtype == np.float32 and f["pixels"].flags["C_CONTIGUOUS"] for f in _feeds_h)
np.testing.assert_allclose(np.concatenate([f["pixels"] for f in _feeds_h]), _imgs64, rtol=1e-6)
_reader_h.rewind()
_again = _drain(_reader_h)
assert len(_again) == 3, "rewind() must start again from the first image"
np.testing.assert_array_equal(_again[0]["pixels"], _feeds_h[0]["pixels"])
assert len(_drain(ImageCalibrationReader(_imgs64[:2], "x", batch_size=1))) == 2
### END HIDDEN TESTS

# %% [markdown]
# What the quantiser wrote. The BatchNorm nodes are gone: `quant_pre_process` folded them into
# the convolutions (section 1's fold, done by ONNX Runtime's optimiser), so it was given the
# eval-mode CNN's file as it is. The convolutions and the linear layer now sit between
# `QuantizeLinear`/`DequantizeLinear` pairs (ONNX Runtime fuses each pattern into one integer
# kernel when it loads the file), and the weights are stored as int8.

# %%
cnn_int8_ops = [n.op_type for n in onnx.load(str(cnn_int8)).graph.node]
print(" ".join(cnn_int8_ops))
cnn_quant = {"float": {"accuracy": accuracy(ort_logits(ort_session(cnn_path), x_host), y_host),
                       "kib": file_kib(cnn_path), "weights_kib": weights_kib(cnn_path)},
             "int8": {"accuracy": cnn_int8_accuracy, "kib": file_kib(cnn_int8), "weights_kib": weights_kib(cnn_int8)}}
int8_weights = [t.name for t in onnx.load(str(cnn_int8)).graph.initializer if t.data_type == onnx.TensorProto.INT8]
print("int8 initializers:", int8_weights)
for name, q in (("CNN", cnn_quant), ("Transformer", tf_quant)):
    print(f"{name:<12} float: file {q['float']['kib']:5.1f} KiB (weights {q['float']['weights_kib']:5.1f}), "
          f"accuracy {q['float']['accuracy']:.3f} | int8: file {q['int8']['kib']:5.1f} KiB "
          f"(weights {q['int8']['weights_kib']:5.1f}), accuracy {q['int8']['accuracy']:.3f}")
assert "BatchNormalization" not in cnn_int8_ops
assert cnn_int8_ops.count("QuantizeLinear") >= 3 and len(int8_weights) >= 3
assert cnn_quant["int8"]["weights_kib"] < 0.35 * cnn_quant["float"]["weights_kib"]
assert tf_quant["int8"]["weights_kib"] < 0.35 * tf_quant["float"]["weights_kib"]

# %% [markdown]
# The weights shrink about fourfold (int8 instead of float32; the biases become int32, and
# every weight gains a scale and a zero point per output channel). The files shrink less:
# the graph gains the quantise/dequantise nodes and names, which weigh as much as the
# weights of such small models.

# %% [markdown]
# ## 5. The gate: may the deployed model replace the float one?
#
# A deployment step is accepted on numbers: it must not cost more than a point or two of
# accuracy, and it must not be slower (here with a generous bound: timings on a shared
# machine are noisy, and tiny models gain little from integers). A fair timing of two
# models on a busy machine **interleaves** them: one call of each in turn, so a burst of
# load elsewhere slows both alike, and the median of each ignores the odd slow call.
#
# **Exercise 5.** Write `deployment_gate(baseline, candidate, x, y, max_accuracy_drop=0.02,
# max_slowdown=1.5, repeats=15)`. `baseline` and `candidate` are functions from a host array
# `x` to logits `(N, classes)`; `y` holds the N labels. In this order:
#
# 1. accuracy: call each once on `x`, the fraction of rows whose largest logit is the label;
# 2. warm-up: two more calls of each;
# 3. `repeats` rounds, each timing (`time.perf_counter()`) one call of the baseline and then
#    one call of the candidate; the latency of each is the **median** of its `repeats`
#    times, in milliseconds.
#
# Return a dict with Python floats `"baseline_accuracy"`, `"candidate_accuracy"`,
# `"baseline_ms"`, `"candidate_ms"`, and the bool `"passed"`: the candidate's accuracy is at
# least the baseline's minus `max_accuracy_drop`, **and** its latency is at most
# `max_slowdown` times the baseline's.

# %%
def deployment_gate(baseline, candidate, x, y, max_accuracy_drop=0.02, max_slowdown=1.5, repeats=15):
    ### BEGIN SOLUTION
    baseline_accuracy = float((np.asarray(baseline(x)).argmax(1) == y).mean())
    candidate_accuracy = float((np.asarray(candidate(x)).argmax(1) == y).mean())
    for _ in range(2):
        baseline(x)
        candidate(x)
    times = {"baseline": [], "candidate": []}
    for _ in range(repeats):
        for name, fn in (("baseline", baseline), ("candidate", candidate)):
            t0 = time.perf_counter()
            fn(x)
            times[name].append(time.perf_counter() - t0)
    baseline_ms = 1000 * float(np.median(times["baseline"]))
    candidate_ms = 1000 * float(np.median(times["candidate"]))
    passed = candidate_accuracy >= baseline_accuracy - max_accuracy_drop and candidate_ms <= max_slowdown * baseline_ms
    return {"baseline_accuracy": baseline_accuracy, "candidate_accuracy": candidate_accuracy,
            "baseline_ms": baseline_ms, "candidate_ms": candidate_ms, "passed": bool(passed)}
    ### END SOLUTION


# %%
# CHECK (2 points): your gate on scripted models whose durations (sleeps, which last at least
# as long as asked) and accuracies are known: calls counted, warm-up excluded, medians in
# milliseconds, both conditions of the verdict.
def _scripted(logits, durations, log, tag):
    """A model that sleeps durations[i] seconds on its i-th call and returns `logits`."""
    calls = []

    def fn(x_):
        time.sleep(durations[min(len(calls), len(durations) - 1)])
        calls.append(1)
        log.append(tag)
        return logits
    return fn, calls


def _logits_with_accuracy(labels, n_right, classes=4):
    """Logits whose argmax equals `labels` on exactly the first n_right rows."""
    wrong = (labels + 1) % classes
    picked = np.where(np.arange(len(labels)) < n_right, labels, wrong)
    return np.eye(classes, dtype=np.float32)[picked] * 5


_y = np.arange(50) % 4
_log = []
_base, _base_calls = _scripted(_logits_with_accuracy(_y, 45), [0.05] * 3 + [0.01], _log, "b")
_cand, _cand_calls = _scripted(_logits_with_accuracy(_y, 44), [0.05] * 3 + [0.03], _log, "c")
_r = deployment_gate(_base, _cand, np.zeros((50, 3)), _y, max_accuracy_drop=0.05, max_slowdown=1.5, repeats=7)
print({k: round(v, 4) if isinstance(v, float) else v for k, v in _r.items()})
assert set(_r) == {"baseline_accuracy", "candidate_accuracy", "baseline_ms", "candidate_ms", "passed"}, sorted(_r)
assert (len(_base_calls), len(_cand_calls)) == (10, 10), f"{len(_base_calls)}, {len(_cand_calls)} calls: expected 1 + 2 + 7 each"
assert abs(_r["baseline_accuracy"] - 0.90) < 1e-9 and abs(_r["candidate_accuracy"] - 0.88) < 1e-9, _r
assert 9.9 <= _r["baseline_ms"] < 45 and 29.9 <= _r["candidate_ms"] < 80, "latencies: medians of the timed calls, in ms"
assert _r["passed"] is False, "three times slower than the baseline must not pass with max_slowdown=1.5"
### BEGIN HIDDEN TESTS
# Timed calls interleaved; the median, not the mean (one slow outlier); a candidate that is
# fast but loses too much accuracy; one that is more accurate and a little slower, allowed.
_log_h = []
_b_h, _ = _scripted(_logits_with_accuracy(_y, 40), [0.04] * 3 + [0.01] * 4 + [0.3] + [0.01] * 10, _log_h, "b")
_c_h, _ = _scripted(_logits_with_accuracy(_y, 50), [0.04] * 3 + [0.012], _log_h, "c")
_r_h = deployment_gate(_b_h, _c_h, np.zeros((50, 3)), _y, max_slowdown=3.0, repeats=9)
assert _log_h[6:] == ["b", "c"] * 9, f"timed calls must alternate baseline, candidate: {_log_h[6:]}"
assert 9.9 <= _r_h["baseline_ms"] < 60, f"median expected (one 300 ms outlier): {_r_h['baseline_ms']}"
assert _r_h["passed"] is True and isinstance(_r_h["passed"], bool), _r_h
assert all(isinstance(_r_h[k], float) for k in ("baseline_accuracy", "candidate_accuracy", "baseline_ms", "candidate_ms"))
_b2, _ = _scripted(_logits_with_accuracy(_y, 48), [0.02] * 3 + [0.012], [], "b")
_c2, _ = _scripted(_logits_with_accuracy(_y, 40), [0.0], [], "c")
assert deployment_gate(_b2, _c2, np.zeros((50, 3)), _y, repeats=5)["passed"] is False, \
    "a candidate 16 points less accurate must not pass, however fast"
### END HIDDEN TESTS

# %% [markdown]
# The three deployment steps of this lab, through the gate: the folded CNN against the
# eval-mode CNN in the engine (folding must not slow it down), and the int8 models against
# the float files in ONNX Runtime.
#
# The bounds on time for the int8 models are generous on purpose. Integer arithmetic pays
# where the CPU has 8-bit dot-product instructions (AVX-512 VNNI or AVX-VNNI on x86, the dot
# product extension on Arm) and the layers are large; on a CPU without them, and for layers
# as small as these, ONNX Runtime's float kernels are as fast or faster, and the quantise /
# dequantise steps cost extra. The gate then refuses only a pathological slowdown, and
# accuracy and size decide. Look at the numbers your machine gives.

# %%
def engine_logits(model, reshape=None):
    def run(x):
        with tw.no_grad():
            t = tw.tensor(x)
            return model(t if reshape is None else reshape(t)).numpy()
    return run


def gated(baseline, candidate, x, y, max_slowdown, repeats, attempts=3):
    """deployment_gate, timed again (up to `attempts` times in all) while only its latency fails.

    A real slowdown fails every attempt; a burst of load from another program rarely lasts
    that long. Accuracy is the same on every attempt, so it is never the reason to retry.
    """
    for attempt in range(1, attempts + 1):
        r = deployment_gate(baseline, candidate, x, y, max_slowdown=max_slowdown, repeats=repeats)
        if r["candidate_ms"] <= max_slowdown * r["baseline_ms"]:
            break
    return {**r, "attempts": attempt}


cnn_int8_session = ort_session(cnn_int8)
gates = {
    "fold (engine)": gated(engine_logits(cnn), engine_logits(folded), x_host[:120], y_host[:120],
                           max_slowdown=1.5, repeats=ENGINE_REPEATS),
    "int8 CNN (static)": gated(lambda x: ort_logits(sessions["eval", True], x),
                               lambda x: ort_logits(cnn_int8_session, x), x_host, y_host,
                               max_slowdown=5.0, repeats=31),
    "int8 Transformer (dynamic)": gated(lambda x: ort_logits(tf_sessions["float"], x),
                                        lambda x: ort_logits(tf_sessions["int8"], x), rows_host, y_host,
                                        max_slowdown=3.0, repeats=31),
}
print(f"{'step':<28} {'acc before':>10} {'acc after':>10} {'ms before':>10} {'ms after':>10}  passed (attempts)")
for step, r in gates.items():
    print(f"{step:<28} {r['baseline_accuracy']:>10.3f} {r['candidate_accuracy']:>10.3f} "
          f"{r['baseline_ms']:>10.2f} {r['candidate_ms']:>10.2f}  {r['passed']} ({r['attempts']})")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
names = list(gates)
pos = np.arange(len(names))
ax1.bar(pos - 0.2, [gates[n]["baseline_ms"] for n in names], 0.4, label="before")
ax1.bar(pos + 0.2, [gates[n]["candidate_ms"] for n in names], 0.4, label="after")
ax1.set_xticks(pos); ax1.set_xticklabels(names, fontsize=8); ax1.set_ylabel("ms per batch (median)"); ax1.legend()
sizes = {"CNN": cnn_quant, "Transformer": tf_quant}
ax2.bar(np.arange(2) - 0.2, [sizes[k]["float"]["kib"] for k in sizes], 0.4, label="float32")
ax2.bar(np.arange(2) + 0.2, [sizes[k]["int8"]["kib"] for k in sizes], 0.4, label="int8")
ax2.set_xticks(np.arange(2)); ax2.set_xticklabels(list(sizes)); ax2.set_ylabel("file size (KiB)"); ax2.legend()
plt.tight_layout()
plt.show()

# Accuracy is a property of the model: always checked. A latency verdict is only as good as
# the machine it was measured on: `gated` timed a failing step again, and with more runnable
# programs than cores (the load average) every timing is mostly waiting, so it is reported
# but not asserted.
busy = os.getloadavg()[0] > (os.cpu_count() or 1)
for step, r in gates.items():
    assert r["candidate_accuracy"] >= r["baseline_accuracy"] - 0.02, (step, r)
    assert r["passed"] or busy, (step, r)
print("machine busy (load average above the number of cores): latency verdicts not asserted" if busy
      else "every step passed its gate")

# %%
record(fold_max_error=fold_max_error, folded_onnx_error=folded_onnx_error,
       onnx_nodes={"eval": len(cnn_nodes), "folded": len(folded_nodes)},
       fold_latency_ms=fold_latency,
       cnn_accuracy=cnn_accuracy, transformer_accuracy=tf_accuracy, mlp_accuracy=mlp_accuracy,
       dynamic_max_error={str(T): e for T, e in dynamic_max_error.items()},
       length_accuracy={str(T): a for T, a in length_accuracy.items()},
       unsupported_error_raised=unsupported_error is not None, custom_op_error=custom_op_error,
       quantization={"cnn_static": cnn_quant, "transformer_dynamic": tf_quant},
       int8_accuracy_drop={"cnn": cnn_quant["float"]["accuracy"] - cnn_quant["int8"]["accuracy"],
                           "transformer": tf_quant["float"]["accuracy"] - tf_quant["int8"]["accuracy"]},
       gates=gates, gates_busy_machine=busy, epochs={"cnn": CNN_EPOCHS, "transformer": TF_EPOCHS})

# %% [markdown]
# ## What you saw
#
# - BatchNorm in evaluation mode is an affine map per channel: it folds into the convolution
#   before it, exactly (up to rounding), and the graph loses a node per block. Runtimes with
#   a graph optimiser do it themselves; the engine and simpler runtimes do not.
# - A trace bakes in every Python number: a dimension becomes dynamic only if it is declared
#   in `dynamic_axes` **and** every value that depends on it is computed by traced ops.
#   Verifying at several lengths is what tells you it worked.
# - The exporter is a registry of small functions from a traced call to ONNX nodes; an
#   operation of your own needs one, registered with `tw.onnx.register_symbolic`.
# - 8-bit quantisation shrinks the weights about fourfold for a point or less of accuracy
#   here; dynamic needs nothing, static needs calibration data and quantises activations too.
# - A deployment step is accepted by a gate on measured accuracy and latency, timed fairly
#   (warm-up, interleaved calls, medians).
#
# Back to the [list of labs](README.md).
