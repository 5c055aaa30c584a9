# %% [markdown]
# # Lab 05 — Convolutions: im2col, pooling, BatchNorm
#
# **Prerequisites:** labs 02, 04 · **Expected time:** 120 min
#
# A convolution slides a small filter over an image and takes a dot product at every
# position. Written as loops it is hopelessly slow in Python. Frameworks instead **rearrange
# the image** so that the whole convolution becomes *one matrix product* — the "im2col"
# trick, which is exactly how `tensorweaver.nn.Conv2d` works (and how early cuDNN did).
#
# In this lab:
# 1. convolution by its definition, with loops (to have a reference);
# 2. **im2col** and convolution as a matmul (exercise), checked against `nn.Conv2d`, and
#    differentiated for free;
# 3. max-pooling written with a reshape (exercise), and where its gradient goes;
# 4. **BatchNorm**: normalising with batch statistics in training, running statistics in
#    evaluation (exercise), and why `model.eval()` matters;
# 5. a small CNN on the digits.

# %%
# %matplotlib inline
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from tqdm.auto import tqdm

import tensorweaver as tw
from tensorweaver import nn, optim
from tensorweaver.labs import quick, record
from tensorweaver.utils.data import DataLoader, TensorDataset, random_split

tw.manual_seed(0)
print("backend:", tw.backend.name)

# %% [markdown]
# ## 1. Convolution by definition
#
# For an input $x$ of shape $(C, H, W)$ and filters $w$ of shape $(O, C, k, k)$, output
# channel $o$ at position $(i, j)$ is
# $y_{o,i,j} = b_o + \sum_{c}\sum_{u<k}\sum_{v<k} w_{o,c,u,v}\, x_{c,\,i+u,\,j+v}$
# (strictly a cross-correlation, as in every DL framework). Without padding the output is
# $(H-k+1) \times (W-k+1)$.

# %%
def conv2d_loops(x, w, b):
    """x: (N, C, H, W), w: (O, C, k, k), b: (O,) as NumPy arrays -> (N, O, H-k+1, W-k+1)."""
    n, c, h, wd = x.shape
    o, _, k, _ = w.shape
    out = np.zeros((n, o, h - k + 1, wd - k + 1), dtype=x.dtype)
    for img in range(n):
        for oc in range(o):
            for i in range(h - k + 1):
                for j in range(wd - k + 1):
                    out[img, oc, i, j] = (w[oc] * x[img, :, i:i + k, j:j + k]).sum() + b[oc]
    return out


conv = nn.Conv2d(3, 4, kernel_size=3)
x = tw.randn(2, 3, 8, 8)
with tw.no_grad():
    y_layer = conv(x).numpy()
y_loops = conv2d_loops(x.numpy(), conv.weight.detach().numpy(), conv.bias.detach().numpy())
print("nn.Conv2d output", y_layer.shape, " max |layer - loops| =", np.abs(y_layer - y_loops).max())

# %% [markdown]
# ## 2. im2col
#
# Look at the formula again: each output value is the dot product of the flattened filter
# $w_o$ (length $C k^2$) with the flattened $C \times k \times k$ **patch** under it. Gather
# every patch as a column of a matrix — shape $(N, Ck^2, L)$ with $L$ = number of output
# positions — and the convolution is one batched matmul:
# $Y = W_{\text{flat}}\, \text{cols}$ with $W_{\text{flat}}$ of shape $(O, Ck^2)$.
#
# The patches can be gathered without a loop over pixels: for each of the $k^2$ offsets
# $(u, v)$, the slice `x[:, :, u:u+oh, v:v+ow]` holds, for *every* output position at once,
# the input value that offset sees. Stack the $k^2$ slices and reshape.
#
# **Exercise 1.** Write `im2col(x, k)` for `x` of shape `(N, C, H, W)` (stride 1, no padding)
# returning `(N, C*k*k, oh*ow)`, ordered like `w.reshape(O, C*k*k)` (channel first, then
# $u$, then $v$). Then `conv2d_im2col` uses it.

# %%
def im2col(x, k):
    n, c, h, w = x.shape
    oh, ow = h - k + 1, w - k + 1
    ### BEGIN SOLUTION
    shifted = [x[:, :, u:u + oh, v:v + ow] for u in range(k) for v in range(k)]
    cols = tw.stack(shifted, dim=2)                  # (N, C, k*k, oh, ow)
    return cols.reshape(n, c * k * k, oh * ow)
    ### END SOLUTION


def conv2d_im2col(x, weight, bias):
    n, _, h, w = x.shape
    o, _, k, _ = weight.shape
    cols = im2col(x, k)                                # (N, C*k*k, L)
    out = weight.reshape(o, -1) @ cols                 # (O, C*k*k) @ (N, C*k*k, L) -> (N, O, L)
    return (out + bias.reshape(1, o, 1)).reshape(n, o, h - k + 1, w - k + 1)


# %%
# CHECK (3 points): im2col convolution equals nn.Conv2d, and its gradient passes gradcheck.
with tw.no_grad():
    y_im2col = conv2d_im2col(x, conv.weight, conv.bias).numpy()
im2col_error = float(np.abs(y_im2col - y_layer).max())
assert im2col_error < 1e-4, im2col_error
x64 = tw.randn(1, 2, 5, 5, dtype=tw.float64, requires_grad=True)
w64 = tw.randn(3, 2, 3, 3, dtype=tw.float64, requires_grad=True)
b64 = tw.randn(3, dtype=tw.float64, requires_grad=True)
assert tw.autograd.gradcheck(conv2d_im2col, (x64, w64, b64))
print(f"im2col conv matches nn.Conv2d (max error {im2col_error:.1e}); gradcheck passed")
### BEGIN HIDDEN TESTS
# Non-square images, k = 1, 2 and 4, several channels: every column against the definition
# cols[n, c*k*k + u*k + v, i*ow + j] = x[n, c, i+u, j+v], filled here with loops.
for shape_h, k_h in [((2, 3, 6, 5), 2), ((1, 2, 4, 7), 4), ((2, 1, 3, 3), 1)]:
    x_np = np.random.default_rng(k_h).standard_normal(shape_h)
    n_, c_, h_, w_ = shape_h
    oh_, ow_ = h_ - k_h + 1, w_ - k_h + 1
    ref = np.zeros((n_, c_ * k_h * k_h, oh_ * ow_))
    for c in range(c_):
        for u in range(k_h):
            for v_ in range(k_h):
                for i in range(oh_):
                    for j in range(ow_):
                        ref[:, c * k_h * k_h + u * k_h + v_, i * ow_ + j] = x_np[:, c, i + u, j + v_]
    cols_h = im2col(tw.tensor(x_np), k_h)
    assert tuple(cols_h.shape) == ref.shape, (cols_h.shape, ref.shape)
    np.testing.assert_array_equal(cols_h.numpy(), ref)
### END HIDDEN TESTS

# %% [markdown]
# Slicing, `stack`, `reshape` and `matmul` all have backwards, so the im2col convolution is
# differentiable with no extra work. The price is memory: `cols` is $k^2$ times larger than
# the input. Speed, on 64 images of 16×16 with 8→16 channels:

# %%
xs = tw.randn(64, 8, 16, 16)
big = nn.Conv2d(8, 16, 3)
timings = {}
for name, fn in [("im2col (yours)", lambda: conv2d_im2col(xs, big.weight, big.bias)),
                 ("nn.Conv2d", lambda: big(xs))]:
    with tw.no_grad():
        fn().sum().item()                              # warm-up
        t0 = time.perf_counter()
        for _ in range(5):
            fn().sum().item()
    timings[name] = (time.perf_counter() - t0) / 5 * 1000
t0 = time.perf_counter()
conv2d_loops(xs.numpy()[:2], big.weight.detach().numpy(), big.bias.detach().numpy())
timings["loops, 2 images only"] = (time.perf_counter() - t0) * 1000
for name, ms in timings.items():
    print(f"{name:>22}: {ms:8.2f} ms")

# %% [markdown]
# ## 3. Pooling
#
# `MaxPool2d(2)` keeps the largest value of every 2×2 block: it halves the resolution and
# makes the features a little translation-tolerant. Its backward sends the gradient only to
# the position that won; the other three receive zero.

# %%
img = tw.tensor([[[[1.0, 5.0, 2.0, 0.0],
                   [3.0, 4.0, 8.0, 1.0],
                   [0.0, 2.0, 1.0, 1.0],
                   [7.0, 1.0, 3.0, 6.0]]]], requires_grad=True)
pooled = nn.MaxPool2d(2)(img)
pooled.sum().backward()
print("pooled:\n", pooled.detach().numpy()[0, 0])
print("gradient reaching the input (1 where the max was):\n", img.grad.numpy()[0, 0])

# %% [markdown]
# Pooling with stride equal to the window needs no patch gathering at all: the windows tile
# the image, so a **reshape** puts each window in dimensions of its own. For `(N, C, H, W)`
# with `H` and `W` multiples of `k`, `x.reshape(N, C, H//k, k, W//k, k)` has the window's rows
# in dimension 3 and its columns in dimension 5; the maximum over those two is the pooled
# image. (This is the engine's own fast path for `MaxPool2d`.) The maximum's backward sends
# the gradient to the winning element, as above — nothing to write by hand.
#
# **Exercise 2.** Write `max_pool(x, k)` that way: reshape, then reduce (`max(dim)` returns
# `(values, indices)`; take the maximum over one window dimension, then the other).

# %%
def max_pool(x, k):
    n, c, h, w = x.shape
    ### BEGIN SOLUTION
    windows = x.reshape(n, c, h // k, k, w // k, k)
    return windows.max(dim=5)[0].max(dim=3)[0]
    ### END SOLUTION


# %%
# CHECK (2 points): equal to nn.MaxPool2d, values and the gradient's routing.
x_pool = tw.randn(2, 3, 8, 6, requires_grad=True)
ours_pool = max_pool(x_pool, 2)
theirs_pool = nn.MaxPool2d(2)(x_pool)
np.testing.assert_array_equal(ours_pool.detach().numpy(), theirs_pool.detach().numpy())
upstream = tw.randn(*theirs_pool.shape)
(ours_pool * upstream).sum().backward()
g_ours = x_pool.grad.numpy().copy()
x_pool.grad = None
(theirs_pool * upstream).sum().backward()
np.testing.assert_allclose(g_ours, x_pool.grad.numpy(), rtol=1e-6)
print("max_pool ok:", tuple(ours_pool.shape))
### BEGIN HIDDEN TESTS
# Windows of 3 and 4 on non-square images, against a maximum taken here window by window.
for shape_h, k_h in [((1, 2, 9, 6), 3), ((2, 1, 4, 8), 4)]:
    x_np = np.random.default_rng(10 + k_h).standard_normal(shape_h).astype(np.float32)
    n_, c_, h_, w_ = shape_h
    ref = np.array([[[[x_np[a, b, i * k_h:(i + 1) * k_h, j * k_h:(j + 1) * k_h].max()
                       for j in range(w_ // k_h)] for i in range(h_ // k_h)]
                     for b in range(c_)] for a in range(n_)])
    x_t = tw.tensor(x_np, requires_grad=True)
    out_t = max_pool(x_t, k_h)
    np.testing.assert_array_equal(out_t.detach().numpy(), ref)
    out_t.sum().backward()                      # one 1 per window, where its maximum is
    assert x_t.grad.numpy().sum() == ref.size and set(np.unique(x_t.grad.numpy())) <= {0.0, 1.0}
    np.testing.assert_array_equal(np.sort(x_np[x_t.grad.numpy() == 1]), np.sort(ref.ravel()))
### END HIDDEN TESTS

# %% [markdown]
# ## 4. BatchNorm, train vs eval
#
# `BatchNorm2d(C)` normalises every channel to zero mean and unit variance, then rescales it
# with learned $\gamma$ (`weight`) and $\beta$ (`bias`):
# $y = \gamma \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta$.
#
# - In **training**, $\mu$ and $\sigma^2$ are the statistics of the current batch, over the
#   batch and both spatial dimensions (the *biased* variance), and running averages are
#   updated: `running_mean = (1 - momentum) * running_mean + momentum * mu`.
# - In **evaluation**, the running averages are used instead: the output for one image no
#   longer depends on which other images share its batch.
#
# **Exercise 3.** Write `batchnorm_train(x, weight, bias, eps)` for `x` of shape
# `(N, C, H, W)`: the training-mode output.

# %%
def batchnorm_train(x, weight, bias, eps=1e-5):
    ### BEGIN SOLUTION
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    var = ((x - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
    x_hat = (x - mean) / (var + eps).sqrt()
    return weight.reshape(1, -1, 1, 1) * x_hat + bias.reshape(1, -1, 1, 1)
    ### END SOLUTION


# %%
# CHECK (2 points): equal to nn.BatchNorm2d in training mode.
bn = nn.BatchNorm2d(4)
with tw.no_grad():
    bn.weight.data[...] = tw.tensor([1.0, 2.0, 0.5, 1.5]).data
feats = tw.randn(8, 4, 5, 5) * 3 + 1
with tw.no_grad():
    ours = batchnorm_train(feats, bn.weight, bn.bias).numpy()
    theirs = bn(feats).numpy()                              # training mode: batch statistics
np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
print("running mean after one batch:", bn.running_mean.numpy().round(3))
### BEGIN HIDDEN TESTS
# Other shapes, a bias, another eps, in float64 against the formula computed here; and the
# gradient, against nn.BatchNorm2d's own backward.
for shape_h, eps_h in [((2, 3, 4, 1), 1e-5), ((5, 2, 3, 3), 0.1)]:
    x_np = np.random.default_rng(20).standard_normal(shape_h) * 2 + 0.5
    g_np = np.random.default_rng(21).standard_normal(shape_h[1])
    b_np = np.random.default_rng(22).standard_normal(shape_h[1])
    mu = x_np.mean(axis=(0, 2, 3), keepdims=True)
    var = x_np.var(axis=(0, 2, 3), keepdims=True)
    ref = g_np[None, :, None, None] * (x_np - mu) / np.sqrt(var + eps_h) + b_np[None, :, None, None]
    x_t = tw.tensor(x_np, requires_grad=True)
    out_t = batchnorm_train(x_t, tw.tensor(g_np), tw.tensor(b_np), eps=eps_h)
    np.testing.assert_allclose(out_t.detach().numpy(), ref, rtol=1e-9, atol=1e-12)
    up = np.random.default_rng(23).standard_normal(shape_h)
    (out_t * tw.tensor(up)).sum().backward()
    layer_h = nn.BatchNorm2d(shape_h[1], eps=eps_h).double()
    with tw.no_grad():
        layer_h.weight.data[...] = tw.tensor(g_np).data
        layer_h.bias.data[...] = tw.tensor(b_np).data
    x_ref = tw.tensor(x_np, requires_grad=True)
    (layer_h(x_ref) * tw.tensor(up)).sum().backward()
    np.testing.assert_allclose(x_t.grad.numpy(), x_ref.grad.numpy(), rtol=1e-7, atol=1e-10)
### END HIDDEN TESTS

# %%
# Eval mode is independent of the batch; training mode is not.
bn.eval()
with tw.no_grad():
    alone = bn(feats[:1]).numpy()
    in_batch = bn(feats).numpy()[:1]
bn_eval_deterministic = bool(np.allclose(alone, in_batch, atol=1e-6))
bn.train()
with tw.no_grad():
    train_alone = bn(feats[:2]).numpy()[:1]
    train_batch = bn(feats).numpy()[:1]
print("eval:  same output alone and in a batch?", bn_eval_deterministic)
print("train: same output alone and in a batch?", bool(np.allclose(train_alone, train_batch, atol=1e-6)))
assert bn_eval_deterministic

# %% [markdown]
# Forgetting `model.eval()` before testing is a classic bug: predictions then depend on the
# test batch (and a batch of one is normalised to zeros).
#
# ## 5. A small CNN on the digits
#
# Two blocks of convolution → BatchNorm → ReLU → max-pool take the 8×8 image to 32 feature
# maps of 2×2, and a linear layer classifies them.

# %%
digits = load_digits()
X = tw.tensor(digits.data.reshape(-1, 1, 8, 8) / 16.0, dtype=tw.float32)
Y = tw.tensor(digits.target)
train_set, test_set = random_split(TensorDataset(X, Y), [1437, 360])
train_loader = DataLoader(train_set, batch_size=32, shuffle=True)
test_loader = DataLoader(test_set, batch_size=360)

tw.manual_seed(1)
model = nn.Sequential(
    nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),    # 16 x 4 x 4
    nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),   # 32 x 2 x 2
    nn.Flatten(), nn.Linear(32 * 2 * 2, 10),
)
print(model)


def evaluate(model, loader):
    model.eval()
    correct = total = 0
    with tw.no_grad():
        for xb, yb in loader:
            correct += (model(xb).argmax(dim=1) == yb).sum().item()
            total += yb.shape[0]
    model.train()
    return correct / total


optimizer = optim.Adam(model.parameters(), lr=3e-3)
loss_fn = nn.CrossEntropyLoss()
EPOCHS = 3 if quick() else 6
losses, accs = [], []
t0 = time.perf_counter()
bar = tqdm(range(EPOCHS), desc="epochs")
for epoch in bar:
    for xb, yb in train_loader:
        loss = loss_fn(model(xb), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    accs.append(evaluate(model, test_loader))
    bar.set_postfix(loss=f"{np.mean(losses[-45:]):.3f}", test_acc=f"{accs[-1]:.3f}")
train_time = time.perf_counter() - t0
test_acc = evaluate(model, test_loader)
print(f"test accuracy {test_acc:.3f} after {EPOCHS} epochs ({train_time:.1f} s)")

# %%
# The CNN classifies the digits.
assert test_acc >= 0.95, test_acc

# %% [markdown]
# The first layer's 16 filters (top), and what they make of one digit (bottom: the
# feature maps after BatchNorm and ReLU), then the training curves.

# %%
filters = model[0].weight.detach().numpy()[:, 0]
model.eval()
with tw.no_grad():
    maps = model[2](model[1](model[0](X[:1]))).numpy()[0]
model.train()
fig, axes = plt.subplots(2, 16, figsize=(12, 1.8))
for k in range(16):
    axes[0, k].imshow(filters[k], cmap="RdBu")
    axes[1, k].imshow(maps[k], cmap="viridis")
for ax in axes.flat:
    ax.axis("off")
plt.show()

fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(11, 3), gridspec_kw=dict(width_ratios=[1, 3, 3]))
ax1.imshow(X[0, 0].numpy(), cmap="gray_r"); ax1.set_title("the input"); ax1.axis("off")
ax2.plot(losses, lw=0.8); ax2.set_yscale("log"); ax2.set_xlabel("step"); ax2.set_title("training loss")
ax3.plot(np.arange(1, EPOCHS + 1), accs, "o-"); ax3.set_xlabel("epoch"); ax3.set_title("test accuracy")
plt.show()

# %%
record(test_accuracy=test_acc, final_loss=float(np.mean(losses[-45:])), im2col_max_error=im2col_error,
       bn_eval_deterministic=bn_eval_deterministic, epochs=EPOCHS, train_time_s=train_time)

# %% [markdown]
# ## What you saw
#
# - im2col turns a convolution into one matrix product, at a $k^2$ memory cost.
# - Composition of differentiable ops is differentiable: no hand-written conv backward needed
#   for the im2col version. The engine's `nn.Conv2d` is one `Function` with its own
#   backward: im2col in general and, on NumPy, for stride-1 layers with 8 or more input
#   channels, no column matrix at all: one product per kernel offset, each adding into the
#   same output (read `tensorweaver/ops/conv.py`).
# - Max-pooling routes the gradient to the winners only.
# - BatchNorm uses batch statistics in `train()` and running statistics in `eval()`.
#
# Next: [06 — Attention](06_attention.ipynb).
