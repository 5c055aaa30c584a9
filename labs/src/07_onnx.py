# %% [markdown]
# # Lab 07 — ONNX: take the model out of the framework
#
# **Prerequisites:** labs 04, 05 · **Expected time:** 60 min
#
# A trained model is only useful where it runs. **ONNX** is an open file format for
# computation graphs with a standard set of operators (`Gemm`, `Relu`, `Conv`, ...); **ONNX
# Runtime** executes it — in C++, on servers, phones and browsers, without Python or this
# engine.
#
# TensorWeaver exports by **tracing**: it runs one forward pass with a recorder switched on
# in `Function.apply`, so every operation the model actually executed is captured, then maps
# each one to standard ONNX operators. The file is always checked with `onnx.checker`.
#
# In this lab:
# 1. train a small digit classifier (lab 04, quickly);
# 2. export it with a dynamic batch dimension and look inside the file;
# 3. export, check, run with ONNX Runtime and compare with the engine, at several batch
#    sizes, in one function of your own (exercise);
# 4. compare latencies (exercise: a fair timer).

# %%
# %matplotlib inline
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import onnx
import onnxruntime as ort
from sklearn.datasets import load_digits

import tensorweaver as tw
import tensorweaver.onnx
from tensorweaver import nn, optim
from tensorweaver.labs import quick, record
from tensorweaver.utils.data import DataLoader, TensorDataset, random_split

tw.manual_seed(0)
print("backend:", tw.backend.name, "| onnx", onnx.__version__, "| onnxruntime", ort.__version__)

# %% [markdown]
# ## 1. A model to export

# %%
digits = load_digits()
X = tw.tensor(digits.data / 16.0, dtype=tw.float32)
Y = tw.tensor(digits.target)
train_set, test_set = random_split(TensorDataset(X, Y), [1437, 360])
x_test, y_test = next(iter(DataLoader(test_set, batch_size=360)))

model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
optimizer = optim.Adam(model.parameters(), lr=3e-3)
loss_fn = nn.CrossEntropyLoss()
for epoch in range(3 if quick() else 8):
    for xb, yb in DataLoader(train_set, batch_size=32, shuffle=True):
        loss = loss_fn(model(xb), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
model.eval()
with tw.no_grad():
    engine_logits = model(x_test).numpy()
accuracy = float((engine_logits.argmax(1) == y_test.numpy()).mean())
print(f"test accuracy {accuracy:.3f}")

# %% [markdown]
# ## 2. Export
#
# `tensorweaver.onnx.export` mirrors `torch.onnx.export`: the model, an example input (its
# shape fixes everything except the axes declared dynamic), the file, and names for the
# graph's inputs and outputs. `dynamic_axes` marks the batch dimension as variable, so one
# file serves any batch size. Export uses evaluation mode (Dropout off, BatchNorm's running
# statistics) and returns the `onnx.ModelProto`.

# %%
workdir = Path(tempfile.mkdtemp(prefix="lab07-"))
path = workdir / "digits_mlp.onnx"
proto = tensorweaver.onnx.export(
    model, x_test[:1], str(path), input_names=["pixels"], output_names=["logits"],
    dynamic_axes={"pixels": {0: "batch"}, "logits": {0: "batch"}})
print(f"wrote {path.name}: {path.stat().st_size / 1024:.1f} KiB, opset {proto.opset_import[0].version}")

# %% [markdown]
# The file is a protobuf: a graph of **nodes** (operator, input names, output names), the
# **initializers** (the weights, named after the module path, like `0.weight`), and typed
# inputs/outputs whose batch dimension is the symbol `batch`.

# %%
loaded = onnx.load(str(path))
onnx.checker.check_model(loaded, full_check=True)        # raises if anything is malformed
checker_passed = True
graph = loaded.graph
print("inputs :", [(i.name, [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]) for i in graph.input])
print("outputs:", [(o.name, [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim]) for o in graph.output])
print("initializers:", [(t.name, list(t.dims)) for t in graph.initializer])
print("nodes:")
for node in graph.node:
    print(f"  {node.op_type:<10} {list(node.input)} -> {list(node.output)}")

# %% [markdown]
# ## 3. ONNX Runtime, and checking an export
#
# An `InferenceSession` loads the file and optimises the graph once. `session.run(output_names,
# feed)` takes a dict from input names to NumPy arrays (passing `None` as the output names
# returns every output) and returns a list of NumPy arrays. Note that ONNX Runtime knows
# nothing about tensors or backends: hand it host arrays (`tensor.numpy()`).
#
# An export is only done when its outputs have been compared with the model's. Three things
# make that comparison honest: the engine side runs in **evaluation mode** (what was exported:
# Dropout off, BatchNorm's running statistics), the file passes the **checker**, and the
# comparison runs at **several batch sizes**, since a batch size frozen into the graph by
# mistake would only show at a size other than the example's.
#
# **Exercise 1.** Write `export_and_verify(model, inputs, path, batch_sizes)`: put the model in
# evaluation mode, export it to `path` with `inputs[:1]` as the example and a dynamic batch
# axis on its input and output, check the file with `onnx.checker.check_model(...,
# full_check=True)`, open an ONNX Runtime session on it, and for every `b` in `batch_sizes`
# run the first `b` rows of `inputs` through both ONNX Runtime and the engine (under
# `tw.no_grad()`). Return `{b: largest absolute difference}` (Python floats).

# %%
def export_and_verify(model, inputs, path, batch_sizes=(1, 7, 360)):
    ### BEGIN SOLUTION
    model.eval()
    tensorweaver.onnx.export(model, inputs[:1], str(path), input_names=["input"], output_names=["output"],
                             dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    errors = {}
    for b in batch_sizes:
        x = inputs[:b]
        with tw.no_grad():
            expected = model(x).numpy()
        got = session.run(None, {name: x.numpy()})[0]
        errors[b] = float(np.abs(got - expected).max())
    return errors
    ### END SOLUTION


# %%
# CHECK (3 points): the trained model, exported and verified by your function; the file it
# wrote is checked again here, and run here with ONNX Runtime on a batch size of our own.
def _independent_error(model, path, x):
    """ONNX Runtime on the file at `path` against the engine in eval mode, computed here."""
    loaded_ = onnx.load(str(path))
    onnx.checker.check_model(loaded_, full_check=True)
    assert loaded_.graph.input[0].type.tensor_type.shape.dim[0].dim_param, "the batch axis is not dynamic"
    session_ = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    modes = [m.training for m in model.modules()]
    model.eval()
    with tw.no_grad():
        expected = model(x).numpy()
    for m, mode in zip(model.modules(), modes):
        m.training = mode
    got = session_.run(None, {session_.get_inputs()[0].name: x.numpy()})[0]
    assert got.shape == expected.shape, (got.shape, expected.shape)
    return float(np.abs(got - expected).max())


verified = workdir / "verified.onnx"
errors = export_and_verify(model, x_test, verified)
print("max |onnx - engine| per batch size:", errors)
assert sorted(errors) == [1, 7, 360], errors
assert all(isinstance(e, float) and 0 <= e < 1e-5 for e in errors.values()), errors
assert _independent_error(model, verified, x_test[:13]) < 1e-5
### BEGIN HIDDEN TESTS
# A model whose training mode differs from what is exported (Dropout, and BatchNorm with
# running statistics away from their start), left in training mode: the engine side must be
# compared in eval mode; other batch sizes.
tw.manual_seed(5)
net_h = nn.Sequential(nn.Linear(64, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 10))
with tw.no_grad():
    for _ in range(3):
        net_h(x_test[:50] * 3 + 1)              # updates the running statistics
net_h.train()
path_h = workdir / "hidden.onnx"
errors_h = export_and_verify(net_h, x_test, path_h, batch_sizes=(2, 33))
assert sorted(errors_h) == [2, 33], errors_h
assert all(0 <= e < 1e-5 for e in errors_h.values()), errors_h
own_h = _independent_error(net_h, path_h, x_test[:33])
assert own_h < 1e-5 and abs(errors_h[33] - own_h) < 1e-5, (errors_h, own_h)
### END HIDDEN TESTS

# %% [markdown]
# The same, step by step, for the file exported in section 2: a session, and the logits of
# the whole test set.

# %%
session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def ort_logits(session, x):
    return session.run(None, {session.get_inputs()[0].name: x})[0]


x_host = x_test.numpy()
onnx_logits = ort_logits(session, x_host)
onnx_error = float(np.abs(onnx_logits - engine_logits).max())
predictions_agree = float((onnx_logits.argmax(1) == engine_logits.argmax(1)).mean())
print(f"max |onnx - engine| = {onnx_error:.2e}; predictions agree on {100 * predictions_agree:.1f} %")
assert onnx_error < 1e-5 and predictions_agree == 1.0

# %% [markdown]
# `tensorweaver.onnx.verify` packages all of this (export in memory, run, compare per output,
# at several argument sets); the tests of the exporter use it for every layer.

# %%
report = tensorweaver.onnx.verify(model, x_test[:4], extra_args=[(x_test[:7],)],
                                  dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
print(report)
assert report.passed

# %% [markdown]
# ## 4. Latency
#
# Timing small things is easy to get wrong: the first call pays for warm-up (allocations,
# graph optimisation, Legate's first task launches), and single measurements are noisy.
#
# **Exercise 2.** Write `latency_ms(fn, repeats=20)`: call `fn()` twice to warm up, then time
# `repeats` calls individually with `time.perf_counter()` and return the **median** in
# milliseconds (the median ignores the odd slow call caused by the rest of the machine).

# %%
def latency_ms(fn, repeats=20):
    ### BEGIN SOLUTION
    fn()
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))
    ### END SOLUTION


# %%
# CHECK (2 points): your timer, on functions whose durations are known (sleeps, which last at
# least as long as asked): warm-up calls excluded, every timed call counted, the median taken,
# the result in milliseconds.
def _scripted(durations):
    """A function that sleeps durations[i] seconds on its i-th call; calls are counted."""
    calls = []

    def fn():
        time.sleep(durations[min(len(calls), len(durations) - 1)])
        calls.append(1)
    return fn, calls


fn, calls = _scripted([0.3, 0.3] + [0.004] * 19 + [0.25])   # slow warm-up, one slow outlier
ms = latency_ms(fn, repeats=20)
print(f"median of 4 ms sleeps: {ms:.2f} ms")
assert len(calls) == 22, f"{len(calls)} calls: expected 2 warm-up + 20 timed"
assert 3.9 <= ms < 60, ms
### BEGIN HIDDEN TESTS
# Another number of repeats; durations where the mean and the minimum both differ from the
# median (30 ms): 3 fast calls of 1 ms, 4 of 30 ms (their mean is 18 ms; room is left for
# sleeps that last longer than asked on a busy machine).
fn_h, calls_h = _scripted([0.2, 0.2] + [0.001] * 3 + [0.03] * 4)
ms_h = latency_ms(fn_h, repeats=7)
assert len(calls_h) == 9, len(calls_h)
assert 29.9 <= ms_h < 150, ms_h
### END HIDDEN TESTS

# %%
def engine_forward(x):
    with tw.no_grad():
        return model(x).numpy()          # .numpy(): the result on the host, like ONNX Runtime's


rows = []
for batch in (1, 32, 360):
    xe, xh = x_test[:batch], x_host[:batch]
    rows.append((batch, latency_ms(lambda: engine_forward(xe)), latency_ms(lambda: ort_logits(session, xh))))
print(f"{'batch':>6} {'engine ms':>10} {'onnxruntime ms':>15}")
for batch, e, o in rows:
    print(f"{batch:>6} {e:>10.3f} {o:>15.3f}")
assert all(e > 0 and o > 0 for _, e, o in rows)

fig, ax = plt.subplots(figsize=(6, 3.5))
pos = np.arange(len(rows))
ax.bar(pos - 0.2, [r[1] for r in rows], 0.4, label=f"engine ({tw.backend.name})")
ax.bar(pos + 0.2, [r[2] for r in rows], 0.4, label="ONNX Runtime (CPU)")
ax.set_xticks(pos); ax.set_xticklabels([f"batch {r[0]}" for r in rows])
ax.set_yscale("log"); ax.set_ylabel("ms per forward (median)"); ax.legend()
plt.show()

# %% [markdown]
# ONNX Runtime executes a whole, pre-optimised graph in C++; the engine dispatches every
# operation from Python. At batch 1 that per-operation overhead dominates; at larger batches
# both spend their time in the same kind of matrix products.

# %%
record(onnx_max_abs_error=onnx_error, predictions_agree=predictions_agree, checker_passed=checker_passed,
       test_accuracy=accuracy, onnx_nodes=len(graph.node),
       latency_ms={str(b): {"engine": e, "onnxruntime": o} for b, e, o in rows})

# %% [markdown]
# ## What you saw
#
# - Export = trace one forward pass + map each recorded op to standard ONNX operators.
# - The checker validates the file; ONNX Runtime runs it with no Python model code at all.
# - Dynamic axes make one file serve every batch size.
# - Always compare outputs after export — `tensorweaver.onnx.verify` does it in one call.
#
# Next: [08 — The same code on a GPU](08_gpu.ipynb).
