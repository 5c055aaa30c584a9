# %% [markdown]
# # Lab 03 — Linear regression with SGD: the anatomy of a training loop
#
# **Prerequisites:** lab 02 · **Expected time:** 60 min
#
# Every training loop in this course — and in PyTorch — has the same five beats:
#
# ```
# for each epoch:
#     for each mini-batch:
#         pred = model(x)             # 1. forward: builds the graph
#         loss = loss_fn(pred, y)     # 2. a scalar to minimise
#         loss.backward()             # 3. backward: gradients accumulate into .grad
#         optimizer.step()            # 4. update the parameters (outside the graph)
#         optimizer.zero_grad()       # 5. reset the accumulated gradients
# ```
#
# Here we write each beat by hand for the smallest model there is, $\hat y = w x + b$, so that
# nothing is hidden. Then we use the fact that gradients *accumulate* to train with a batch
# bigger than fits in memory (**gradient accumulation**), see what the learning rate does, and
# finally write the same loop with `nn.Linear` and `optim.SGD`.

# %%
# %matplotlib inline
import matplotlib.pyplot as plt
import numpy as np
from tqdm.auto import tqdm

import tensorweaver as tw
from tensorweaver.labs import quick, record

tw.manual_seed(0)
print("backend:", tw.backend.name)

# %% [markdown]
# ## 1. Data
#
# 256 points on the line $y = 2.5x - 1$, plus Gaussian noise. All randomness comes from the
# generator seeded above, so every run (and both backends) sees the same data.

# %%
TRUE_W, TRUE_B, N = 2.5, -1.0, 256
X = tw.rand(N, 1) * 2 - 1                       # uniform in [-1, 1)
Y = TRUE_W * X + TRUE_B + 0.3 * tw.randn(N, 1)

plt.figure(figsize=(5, 3.5))
plt.scatter(X.numpy(), Y.numpy(), s=8, alpha=0.6)
plt.xlabel("x"); plt.ylabel("y"); plt.title("the data")
plt.show()

# %% [markdown]
# ## 2. Parameters, forward and loss
#
# Parameters are leaf tensors with `requires_grad=True`. The loss is the mean squared error
# $L = \frac{1}{n}\sum_i (\hat y_i - y_i)^2$.

# %%
w = tw.zeros(1, 1, requires_grad=True)
b = tw.zeros(1, requires_grad=True)


def model(x):
    return x @ w + b


def mse(pred, target):
    return ((pred - target) ** 2).mean()


print("initial loss:", mse(model(X), Y).item())

# %% [markdown]
# ## 3. The update step
#
# After `loss.backward()`, `w.grad` holds $\partial L/\partial w$. Gradient descent moves every
# parameter a small step against its gradient: $w \leftarrow w - \eta\, \partial L/\partial w$.
#
# Two rules of the engine (the same as PyTorch's) shape how this is written:
# - the update must not be recorded in the graph, so it runs under `tw.no_grad()` and
#   changes `p.data`, the raw array, rather than building a new tensor;
# - gradients **accumulate**, so after the step they are reset — `p.grad = None` frees them
#   (what `optimizer.zero_grad(set_to_none=True)` does).
#
# **Exercise 1.** Write `sgd_step(params, lr)`: update every parameter in place, then reset
# its gradient.

# %%
def sgd_step(params, lr):
    with tw.no_grad():
        for p in params:
            ### BEGIN SOLUTION
            p.data -= lr * p.grad.data
            p.grad = None
            ### END SOLUTION


# %%
# CHECK: one step on a known gradient.
p = tw.tensor([1.0, 2.0], requires_grad=True)
(p * tw.tensor([3.0, -1.0])).sum().backward()      # dL/dp = [3, -1]
sgd_step([p], lr=0.1)
np.testing.assert_allclose(p.detach().numpy(), [0.7, 2.1], rtol=1e-6)
assert p.grad is None, "sgd_step must reset the gradient"
print("sgd_step ok")
### BEGIN HIDDEN TESTS
# Several parameters of other shapes, in place (the same tensor objects, still leaves that
# require grad), against the update computed here with NumPy.
rng_h = np.random.default_rng(3)
params_h = [tw.tensor(rng_h.standard_normal(shape), requires_grad=True) for shape in [(2, 3), (3,), ()]]
grads_h = [rng_h.standard_normal(t.shape) for t in params_h]
sum((t * tw.tensor(g)).sum() for t, g in zip(params_h, grads_h)).backward()
before_h = [t.detach().numpy().copy() for t in params_h]
same_h = list(params_h)
sgd_step(params_h, lr=0.37)
for t, t0, g0, b0 in zip(params_h, same_h, grads_h, before_h):
    assert t is t0 and t.is_leaf and t.requires_grad and t.grad is None
    np.testing.assert_allclose(t.detach().numpy(), b0 - 0.37 * g0, rtol=1e-12)
### END HIDDEN TESTS

# %% [markdown]
# ## 4. The loop
#
# Mini-batches of 32, reshuffled every epoch with a permutation from the seeded host
# generator. `tqdm` shows progress; the loss of every step is kept for the plot.

# %%
EPOCHS = 10 if quick() else 30
BATCH, LR = 32, 0.1
rng = tw.random.generator()
w.data[...] = 0
b.data[...] = 0
losses = []
for epoch in tqdm(range(EPOCHS), desc="epochs"):
    order = rng.permutation(N)
    for start in range(0, N, BATCH):
        idx = tw.tensor(order[start:start + BATCH])
        loss = mse(model(X[idx]), Y[idx])       # 1-2. forward and loss
        loss.backward()                         # 3. backward
        sgd_step([w, b], LR)                    # 4-5. update and reset
        losses.append(loss.item())
final_loss = mse(model(X), Y).item()
print(f"w = {w.item():.3f}, b = {b.item():.3f}, full-data loss {final_loss:.4f}")

# %% [markdown]
# For linear least squares there is a closed form, so we can check where SGD landed. We solve
# it with NumPy's `lstsq` on the host.

# %%
A = np.hstack([X.numpy(), np.ones((N, 1), dtype=np.float32)]).astype(np.float64)
(w_ls, b_ls), *_ = np.linalg.lstsq(A, Y.numpy().astype(np.float64)[:, 0], rcond=None)
print(f"least squares: w = {w_ls:.3f}, b = {b_ls:.3f}")

# %%
# SGD found (almost) the least-squares solution.
assert abs(w.item() - w_ls) < 0.05 and abs(b.item() - b_ls) < 0.05, (w.item(), b.item(), w_ls, b_ls)

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
ax1.plot(losses, lw=0.8)
ax1.set_yscale("log"); ax1.set_xlabel("step"); ax1.set_ylabel("mini-batch loss"); ax1.set_title("training")
xs = np.linspace(-1, 1, 2)
ax2.scatter(X.numpy(), Y.numpy(), s=8, alpha=0.4)
ax2.plot(xs, w.item() * xs + b.item(), "r", label=f"SGD  {w.item():.2f}x{b.item():+.2f}")
ax2.plot(xs, TRUE_W * xs + TRUE_B, "k--", label="true line")
ax2.legend(); ax2.set_title("fit")
plt.show()

# %% [markdown]
# ## 5. Gradient accumulation
#
# Suppose a batch of 128 does not fit in memory, but 32 does. Because `backward()` **adds**
# into `.grad`, we can run four micro-batches of 32, each loss scaled by $\frac14$, and call
# `backward()` after each: the accumulated gradient is exactly the gradient of the mean loss
# over all 128 examples. Then one optimizer step.
#
# **Exercise 2.** Write `accumulate_grads(x, y, micro_batches)`: split `x` and `y` into
# `micro_batches` equal chunks along dimension 0 (`tw.chunk` or slicing), and accumulate the
# gradient of the full-batch MSE into `w.grad` and `b.grad` with one `backward()` per chunk.

# %%
def accumulate_grads(x, y, micro_batches):
    ### BEGIN SOLUTION
    for xc, yc in zip(x.chunk(micro_batches), y.chunk(micro_batches)):
        (mse(model(xc), yc) / micro_batches).backward()
    ### END SOLUTION


# %%
# CHECK (2 points): four micro-batches give the gradient of one big batch.
xb, yb = X[:128], Y[:128]
w.grad = b.grad = None
mse(model(xb), yb).backward()
full = (w.grad.numpy().copy(), b.grad.numpy().copy())
w.grad = b.grad = None
accumulate_grads(xb, yb, micro_batches=4)
accum_error = max(float(np.abs(w.grad.numpy() - full[0]).max()), float(np.abs(b.grad.numpy() - full[1]).max()))
print(f"max |accumulated - full batch| = {accum_error:.2e}")
assert accum_error < 1e-5
w.grad = b.grad = None
### BEGIN HIDDEN TESTS
# Eight micro-batches at another point (w = 1.3, b = 0.4), against the gradient of the mean
# squared error written out here: dL/dw = 2 mean((wx + b - y) x), dL/db = 2 mean(wx + b - y).
w_saved, b_saved = w.data.copy(), b.data.copy()
w.data[...] = 1.3
b.data[...] = 0.4
xh_, yh_ = X[64:128].numpy().astype(np.float64), Y[64:128].numpy().astype(np.float64)
residual = 1.3 * xh_ + 0.4 - yh_
accumulate_grads(X[64:128], Y[64:128], micro_batches=8)
np.testing.assert_allclose(w.grad.numpy().ravel(), [2 * (residual * xh_).mean()], rtol=1e-4, atol=1e-6)
np.testing.assert_allclose(b.grad.numpy(), [2 * residual.mean()], rtol=1e-4, atol=1e-6)
w.data[...] = w_saved
b.data[...] = b_saved
w.grad = b.grad = None
### END HIDDEN TESTS

# %% [markdown]
# ## 6. The learning rate
#
# For this loss the curvature is at most about 2, and gradient descent diverges when the
# learning rate exceeds 2 / curvature ≈ 1. Below that, bigger is faster. Full-batch gradient
# descent from zero, four learning rates:

# %%
def train_full_batch(lr, steps=40):
    w_, b_ = tw.zeros(1, 1, requires_grad=True), tw.zeros(1, requires_grad=True)
    curve = []
    for _ in range(steps):
        loss = ((X @ w_ + b_ - Y) ** 2).mean()
        loss.backward()
        sgd_step([w_, b_], lr)
        curve.append(loss.item())
    return curve


plt.figure(figsize=(6, 3.5))
for lr in (0.03, 0.3, 0.9, 1.05):
    plt.plot(train_full_batch(lr), label=f"lr={lr}")
plt.yscale("log"); plt.xlabel("step"); plt.ylabel("loss"); plt.legend(); plt.title("learning rate")
plt.show()

# %% [markdown]
# ## 7. The same loop with the library
#
# `nn.Linear(1, 1)` holds `weight` (shape `(1, 1)`: out × in) and `bias`, as leaf tensors
# (`nn.Parameter`s) initialised at random; `optim.SGD` is `sgd_step` with optional momentum
# and weight decay; `nn.MSELoss` is `mse`. The five beats are unchanged.
#
# **Exercise 3.** Write `train_linear(x, y, epochs, lr=0.1, batch=32)`: make an
# `nn.Linear(1, 1)`, an `optim.SGD` over its parameters and an `nn.MSELoss`, run `epochs`
# passes over the data in shuffled mini-batches of `batch` rows (a fresh `rng.permutation`
# each epoch), with the five beats, and return the trained layer.

# %%
from tensorweaver import nn, optim


def train_linear(x, y, epochs, lr=0.1, batch=32):
    ### BEGIN SOLUTION
    layer = nn.Linear(1, 1)
    optimizer = optim.SGD(layer.parameters(), lr=lr)
    loss_fn = nn.MSELoss()
    n = x.shape[0]
    for epoch in range(epochs):
        order = rng.permutation(n)
        for start in range(0, n, batch):
            idx = tw.tensor(order[start:start + batch])
            loss = loss_fn(layer(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return layer
    ### END SOLUTION


tw.manual_seed(1)
layer = train_linear(X, Y, EPOCHS, lr=LR, batch=BATCH)
print(f"nn.Linear + optim.SGD: w = {layer.weight.item():.3f}, b = {layer.bias.item():.3f}")

# %%
# CHECK (2 points): the library's loop lands on the least-squares solution.
assert isinstance(layer, nn.Linear), type(layer)
assert abs(layer.weight.item() - w_ls) < 0.05 and abs(layer.bias.item() - b_ls) < 0.05
### BEGIN HIDDEN TESTS
# Another line (y = -1.5x + 0.7, with noise), another batch size; the reference is the least-
# squares solution of that data, computed here with NumPy.
x_h = tw.rand(200, 1) * 2 - 1
y_h = -1.5 * x_h + 0.7 + 0.2 * tw.randn(200, 1)
A_h = np.hstack([x_h.numpy(), np.ones((200, 1), dtype=np.float32)]).astype(np.float64)
(w_h, b_h), *_ = np.linalg.lstsq(A_h, y_h.numpy().astype(np.float64)[:, 0], rcond=None)
layer_h = train_linear(x_h, y_h, 40, lr=0.1, batch=16)
assert isinstance(layer_h, nn.Linear)
assert abs(layer_h.weight.item() - w_h) < 0.05 and abs(layer_h.bias.item() - b_h) < 0.05, (
    layer_h.weight.item(), layer_h.bias.item(), w_h, b_h)
### END HIDDEN TESTS

# %%
record(final_loss=final_loss, w=w.item(), b=b.item(), w_lstsq=float(w_ls), b_lstsq=float(b_ls),
       accumulation_error=accum_error, epochs=EPOCHS, w_library=layer.weight.item())

# %% [markdown]
# ## What you saw
#
# - The five beats: forward, loss, backward, step, zero_grad.
# - Updates happen under `no_grad` on `.data`; gradients accumulate until reset.
# - Accumulating scaled micro-batch gradients equals one large batch.
# - Too large a learning rate diverges.
# - `nn.Linear`, `nn.MSELoss` and `optim.SGD` package exactly these pieces.
#
# Next: [04 — An MLP on handwritten digits](04_mlp.ipynb).
