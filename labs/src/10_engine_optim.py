# %% [markdown]
# # Lab 10 — Build the engine I: optimizers, dropout, initialisation
#
# **Prerequisites:** labs 03, 04 · **Expected time:** 120 min
#
# Until now you have *used* the engine. In this lab you write four pieces of it — the real
# ones, in the real modules, graded by the project's own tests:
#
# | piece | file in your `engine/` folder | what you write | points |
# |---|---|---|---:|
# | `init` | `nn/init.py` | gains, fans, Xavier and Kaiming initialisation | 3 |
# | `sgd` | `optim/sgd.py` | `SGD.step`: momentum, dampening, Nesterov, weight decay | 4 |
# | `adam` | `optim/adam.py` | `Adam.step`: moments, bias correction, AMSGrad, AdamW | 4 |
# | `dropout` | `ops/dropout.py` | the host-drawn mask, `Dropout.forward` and `backward` | 3 |
#
# **How it works.** Beside this notebook, the folder `engine/` holds copies of those
# modules with the pieces cut out: where a piece goes, the copy says
# `raise NotImplementedError("<piece>: write this part ...")`. Open the file in JupyterLab
# (double-click it in the file browser), replace that line with your code, save. The first
# cell below sets `TENSORWEAVER_STUDENT_ENGINE` to that folder *before* importing
# `tensorweaver`: the engine then loads those modules from your files (it says so on stderr)
# and everything else from itself. **After editing a file, restart the kernel** (Kernel →
# Restart) and run the notebook from the top: Python imports a module once.
#
# Each piece has a demo cell that uses your code, then a `CHECK` cell that runs the project's
# tests for that piece on your file, in a separate process, and names the tests that fail.
# Those tests compare with PyTorch (stored answers), run gradcheck, and check the optimizer
# contract (gradients are never written, state is per parameter). When you hand in, the
# checks also run your piece on cuPyNumeric against NumPy: your code must not use anything
# NumPy has and cuPyNumeric lacks (`np.add.at`, in-place tricks on views...). The engine's
# other modules are the reference: read `tensorweaver/optim/rmsprop.py` for a complete
# optimizer written in the same style.

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

import math

import numpy as np

import tensorweaver as tw
from tensorweaver import nn, optim
from tensorweaver.labs import engine_track, quick, record

print("backend:", tw.backend.name)
print(engine_track.describe("10_engine_optim"))

# %% [markdown]
# ## 1. Initialisation: Xavier and Kaiming (`engine/nn/init.py`)
#
# A layer `y = W x` with `W` of shape `(fan_out, fan_in)` (a convolution's weight
# `(out, in, kH, kW)` counts its receptive field too: `fan_in = in·kH·kW`,
# `fan_out = out·kH·kW`). If the entries of `x` have variance `v` and those of `W` are
# independent with mean 0 and variance `σ²`, each output has variance `fan_in · σ² · v`.
# So that signals neither explode nor vanish through many layers:
#
# - **Xavier/Glorot** (tanh, sigmoid, linear): keep both the forward and the backward
#   variance, compromise `σ² = 2 / (fan_in + fan_out)`; `std = gain · sqrt(2 / (fan_in + fan_out))`.
# - **Kaiming/He** (ReLU family): ReLU zeroes half the signal, so `σ² = 2 / fan_in`; in
#   general `std = gain / sqrt(fan)` with `fan` = `fan_in` (default: keeps the forward
#   variance) or `fan_out` (keeps the backward one).
# - The **gain** of a nonlinearity: 1 for linear/conv/sigmoid, 5/3 for tanh, √2 for ReLU,
#   `sqrt(2 / (1 + slope²))` for leaky ReLU (slope `param`, default 0.01; a number that is
#   not a bool, else `ValueError`), 3/4 for SELU; anything else is a `ValueError`.
# - A **uniform** distribution `U(-b, b)` has std `b / √3`, so the `_uniform_` variants use
#   the bound `b = √3 · std`. Fill with the file's `uniform_(tensor, -b, b)` /
#   `normal_(tensor, 0, std)` (they draw from the seeded host generator, so one seed gives
#   the same weights on every backend) and return what they return.
#
# Write, in `engine/nn/init.py`: the body of `calculate_gain` (the table above; the final
# `raise` for unknown names is already there), `_calculate_fan_in_and_fan_out` (after its
# check of the dimensions), and the four `xavier_*`/`kaiming_*` functions (after their
# empty-tensor check; `_fan(tensor, mode)` picks fan_in or fan_out and checks the mode).
#
# The tests: PyTorch's gains and fans; for 11 shapes and option sets, your function must
# fill *exactly* what `uniform_(-b, b)` / `normal_(0, std)` fills from the same seed with
# PyTorch's `b` / `std` (recorded from PyTorch's own functions), in float64 and float32.

# %%
# ENGINE PIECE: init — the regions of engine/nn/init.py. Restart the kernel after editing.
w = tw.empty(512, 256)
print("fans of a (512, 256) weight:", nn.init._calculate_fan_in_and_fan_out(w))
print("fans of a (16, 8, 3, 3) conv weight:", nn.init._calculate_fan_in_and_fan_out(tw.empty(16, 8, 3, 3)))
print("gain of relu, tanh, leaky_relu(0.2):", nn.init.calculate_gain("relu"), nn.init.calculate_gain("tanh"),
      nn.init.calculate_gain("leaky_relu", 0.2))
for name, fill, want in [
        ("xavier_uniform_", nn.init.xavier_uniform_, math.sqrt(2 / (512 + 256))),
        ("xavier_normal_", nn.init.xavier_normal_, math.sqrt(2 / (512 + 256))),
        ("kaiming_uniform_ (relu)", lambda t: nn.init.kaiming_uniform_(t, nonlinearity="relu"), math.sqrt(2 / 256)),
        ("kaiming_normal_ (relu)", lambda t: nn.init.kaiming_normal_(t, nonlinearity="relu"), math.sqrt(2 / 256))]:
    fill(w)
    print(f"{name:24} std {w.std().item():.4f}   (formula {want:.4f})")


def activation_stds(init, depth=20, width=256):
    """The std of the activations after each of `depth` ReLU layers initialised by `init`."""
    tw.manual_seed(0)
    x, stds = tw.randn(128, width), []
    for _ in range(depth):
        x = (x @ init(tw.empty(width, width)).T).relu()
        stds.append(x.std().item())
    return stds


kaiming = activation_stds(lambda t: nn.init.kaiming_normal_(t, nonlinearity="relu"))
xavier = activation_stds(nn.init.xavier_normal_)
print("activation std after 1, 10, 20 ReLU layers")
print(f"  Kaiming: {kaiming[0]:.3f} {kaiming[9]:.3f} {kaiming[19]:.3f}   (stays put)")
print(f"  Xavier:  {xavier[0]:.3f} {xavier[9]:.4f} {xavier[19]:.5f}   (halves in variance per layer)")

# %%
# CHECK (3 points): init — the project's tests of nn/init.py's pieces, on your engine/nn/init.py
outcome = engine_track.run_tests("init")
print(outcome.report())
assert outcome.passed, outcome.report()
### BEGIN HIDDEN TESTS
# The same piece on cuPyNumeric: its parity cases against NumPy, with your module.
parity = engine_track.run_parity("init")
print(parity.report())
assert parity.passed, parity.report()
### END HIDDEN TESTS

# %% [markdown]
# ## 2. SGD with momentum and weight decay (`engine/optim/sgd.py`)
#
# `SGD.step` loops over the parameter groups and their parameters; for each parameter `p`
# with a gradient you write the update, on the backend arrays (`p.data`, `p.grad.data`),
# exactly in PyTorch's order:
#
# ```text
# g = grad                       (maximize: g = -grad)
# g = g + weight_decay * p       (if weight_decay != 0: L2 regularisation, in the gradient)
# if momentum != 0:
#     b = g (a copy)                                  on the parameter's first step
#     b = momentum * b + (1 - dampening) * g          after that
#     g = g + momentum * b  (nesterov)   else   g = b
# p = p - lr * g
# ```
#
# Rules of the engine's optimizers (the tests check them): **never write into `p.grad`**
# (make a new array where the gradient changes: `g = g + ...`, not `g += ...`); keep the
# momentum buffer in `self.state[p]["momentum_buffer"]` as a tensor
# (`_make_tensor(array, False, None)`), updated in place on later steps; update `p.data` in
# place (`p.data -= ...`); the line after your region bumps `p`'s version counter.
# Shapes: `g`, the buffer and `p.data` all have `p`'s shape and dtype.
#
# The tests: 25 steps of six option sets against PyTorch's trajectories (stored, 1e-9),
# after the first step too (the buffer starts as `g`, not as zeros); float32 stays float32;
# gradients untouched.

# %%
# ENGINE PIECE: sgd — SGD.step in engine/optim/sgd.py. Restart the kernel after editing.
# Fit y = 2.5 x - 1 (+ noise) with your SGD, with and without momentum.
rng = np.random.default_rng(0)
x_data = rng.uniform(-1, 1, size=(200, 1)).astype(np.float32)
y_data = (2.5 * x_data - 1 + 0.3 * rng.standard_normal((200, 1))).astype(np.float32)
X, Y = tw.tensor(x_data), tw.tensor(y_data)
STEPS = 60 if quick() else 150


def fit(**options):
    w, b = tw.zeros(1, 1, requires_grad=True), tw.zeros(1, requires_grad=True)
    opt = optim.SGD([w, b], **options)
    losses = []
    for _ in range(STEPS):
        loss = ((X @ w + b - Y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, w.item(), b.item()


plain, _, _ = fit(lr=0.05)
heavy, w_fit, b_fit = fit(lr=0.05, momentum=0.9)
print(f"after {STEPS} steps: loss {plain[-1]:.4f} without momentum, {heavy[-1]:.4f} with 0.9")
print(f"with momentum: w = {w_fit:.3f}, b = {b_fit:.3f}   (truth 2.5, -1; noise variance 0.09)")

# %%
# CHECK (4 points): sgd — the project's tests of SGD.step, on your engine/optim/sgd.py
outcome = engine_track.run_tests("sgd")
print(outcome.report())
assert outcome.passed, outcome.report()
### BEGIN HIDDEN TESTS
# The same piece on cuPyNumeric: its parity cases against NumPy, with your module.
parity = engine_track.run_parity("sgd")
print(parity.report())
assert parity.passed, parity.report()
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Adam (`engine/optim/adam.py`)
#
# Adam keeps, per parameter, running averages of the gradient (`m`, first moment) and of
# its square (`v`, second moment), and steps by `m / sqrt(v)`: each coordinate gets its own
# step size. The averages start at 0, so early on they are biased towards 0; dividing by
# `1 - β^t` corrects that. The state (`step`, `exp_avg`, `exp_avg_sq`, and
# `max_exp_avg_sq` with AMSGrad) is created for you above your region. Your part, per
# parameter, in PyTorch's order:
#
# ```text
# t = state["step"] + 1   (store it back)
# g = grad  (maximize: -grad)
# if weight_decay != 0:   decoupled (AdamW): p *= 1 - lr * weight_decay
#                         else:              g = g + weight_decay * p
# m = m + (1 - β1) (g - m)       (in place: lerp_(m, g, 1 - β1) from optim/optimizer.py)
# v = β2 v + (1 - β2) g²         (in place)
# step_size = lr / (1 - β1^t)
# v̂ = max(v̂_max, v) kept in max_exp_avg_sq (AMSGrad, in place), else v
# denom = sqrt(v̂) / sqrt(1 - β2^t) + eps
# p -= step_size * m / denom
# ```
#
# The order matters at the last bit: the tests compare 25 steps with PyTorch to 1e-9 in
# float64, for five option sets (AMSGrad, L2 decay with other betas and eps, maximize,
# AdamW). The same rules as SGD: never write into `p.grad`; update the state arrays and
# `p.data` in place (`xp.maximum(a, b, out=a)`, `a *= ...`, `a += ...`).

# %%
# ENGINE PIECE: adam — Adam.step in engine/optim/adam.py. Restart the kernel after editing.
# Rosenbrock's valley, f(x, y) = (1 - x)^2 + 100 (y - x^2)^2: a curved, badly scaled
# minimum at (1, 1). Plain SGD needs a tiny step size there; Adam scales each coordinate.
def rosenbrock(p):
    return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2


def descend(make, steps=500 if quick() else 1500):
    p = tw.tensor([-1.5, 2.0], dtype=tw.float64, requires_grad=True)
    opt = make([p])
    for _ in range(steps):
        loss = rosenbrock(p)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return p.detach().numpy(), rosenbrock(p).item()


for label, make in [("SGD lr=1e-4", lambda ps: optim.SGD(ps, lr=1e-4)),
                    ("Adam lr=0.1", lambda ps: optim.Adam(ps, lr=0.1)),
                    ("Adam lr=0.1, amsgrad", lambda ps: optim.Adam(ps, lr=0.1, amsgrad=True))]:
    where, value = descend(make)
    print(f"{label:24} ends at ({where[0]:+.3f}, {where[1]:+.3f}), f = {value:.2e}")
adam_point, _ = descend(lambda ps: optim.Adam(ps, lr=0.1))
adam_distance = float(np.hypot(*(adam_point - 1)))

# %%
# CHECK (4 points): adam — the project's tests of Adam.step, on your engine/optim/adam.py
outcome = engine_track.run_tests("adam")
print(outcome.report())
assert outcome.passed, outcome.report()
### BEGIN HIDDEN TESTS
# The same piece on cuPyNumeric: its parity cases against NumPy, with your module.
parity = engine_track.run_parity("adam")
print(parity.report())
assert parity.passed, parity.report()
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Dropout (`engine/ops/dropout.py`)
#
# In training, dropout zeroes each activation with probability `p` and scales the kept
# ones by `1 / (1 - p)`, so the expected value is unchanged and evaluation (no dropout) needs
# no rescaling. The layer is `y = x * mask` with a constant `mask`; its backward is
# `dx = dy * mask`. Three parts:
#
# - `keep_mask(shape, p, dtype)`: draw `u` of `shape` **on the host** with
#   `_random.generator().random(shape, dtype=backend.host_numpy().float32)` — one call,
#   float32, from the seeded generator, so a seed gives the same mask on NumPy and on
#   cuPyNumeric — keep where `u >= p`, scale by `1 / (1 - p)`, cast to `dtype` and move it
#   with `backend.from_host`. (`p >= 1` is handled above your region.)
# - `Dropout.forward(x, mask)`: save the mask for backward (`self.save_for_backward`),
#   remember `x.shape` in `self.shape`, return `x * mask` (backend arrays).
# - `Dropout.backward(grad)`: `grad * mask`; `Dropout2d` passes a mask of shape
#   `(N, C, 1, 1)` that broadcasts over H, W, so sum the gradient back to `self.shape`
#   when the shapes differ (`unbroadcast` from `tensorweaver.ops.elementwise`).
#
# The tests: for masks drawn that way, PyTorch's output and input gradient (stored), the
# module in train and eval mode, `p = 0` and `p = 1`, whole channels for `dropout2d`,
# gradcheck in float64, and that the mask comes from the default generator.

# %%
# ENGINE PIECE: dropout — keep_mask, Dropout.forward and Dropout.backward in engine/ops/dropout.py.
tw.manual_seed(1)
layer = nn.Dropout(0.3)
x = tw.ones(10_000, requires_grad=True)
y = layer(x)
kept = (y.detach().numpy() != 0).mean()
print(f"kept {kept:.3f} of the activations (expect 0.7); mean {y.mean().item():.3f} (expect 1.0)")
y.sum().backward()
print("the gradient is the mask:", np.array_equal(x.grad.numpy(), y.detach().numpy()))
layer.eval()
print("eval mode is the identity:", np.array_equal(layer(x).detach().numpy(), x.detach().numpy()))

# %%
# CHECK (3 points): dropout — the project's tests of dropout, on your engine/ops/dropout.py
outcome = engine_track.run_tests("dropout")
print(outcome.report())
assert outcome.passed, outcome.report()
### BEGIN HIDDEN TESTS
# The same piece on cuPyNumeric: its parity cases against NumPy, with your module.
parity = engine_track.run_parity("dropout")
print(parity.report())
assert parity.passed, parity.report()
### END HIDDEN TESTS

# %% [markdown]
# ## 5. All four together
#
# An MLP on scikit-learn's digits (lab 04), built from your pieces: `nn.Linear` initialises
# its weights with your `kaiming_uniform_`, `nn.Dropout` uses your mask, and your AdamW
# trains it.

# %%
from sklearn.datasets import load_digits

from tensorweaver.utils.data import DataLoader, TensorDataset, random_split

tw.manual_seed(0)
digits = load_digits()
data = TensorDataset(tw.tensor(digits.data / 16.0, dtype=tw.float32), tw.tensor(digits.target))
train_set, test_set = random_split(data, [1437, 360])
model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.2), nn.Linear(128, 10))
opt = optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-2)
loss_fn = nn.CrossEntropyLoss()
for epoch in range(3 if quick() else 8):
    model.train()
    for xb, yb in DataLoader(train_set, batch_size=32, shuffle=True):
        loss = loss_fn(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
model.eval()
xt, yt = next(iter(DataLoader(test_set, batch_size=360)))
with tw.no_grad():
    accuracy = (model(xt).argmax(dim=1) == yt).float().mean().item()
print(f"test accuracy {accuracy:.3f} after training with your engine's pieces")

record(kaiming_depth_std_ratio=kaiming[19] / kaiming[0], xavier_depth_std_ratio=xavier[19] / xavier[0],
       sgd_momentum_final_loss=heavy[-1], sgd_plain_final_loss=plain[-1], adam_rosenbrock_distance=adam_distance,
       dropout_kept_fraction=float(kept), test_accuracy=accuracy)
