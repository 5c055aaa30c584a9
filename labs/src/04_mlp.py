# %% [markdown]
# # Lab 04 — A multi-layer perceptron on handwritten digits
#
# **Prerequisites:** lab 03 · **Expected time:** 60 min
#
# Time to use the engine the way PyTorch is used: a `Dataset` and a `DataLoader` feed
# mini-batches, an `nn.Module` holds the parameters, `CrossEntropyLoss` scores the
# predictions, and `optim.Adam` updates the weights. Every piece has the same name and the
# same defaults as in PyTorch — and every piece is a page of readable Python in
# `tensorweaver/` that you can step through.
#
# The data: scikit-learn's 1,797 handwritten digits, 8×8 grey-level images (they ship with
# scikit-learn; nothing is downloaded). Goal: **≥ 95 % test accuracy**.
#
# In this lab:
# 1. datasets, a seeded split, and the `DataLoader`;
# 2. an `nn.Module` of your own (exercise);
# 3. cross-entropy from `log_softmax`, checked against `nn.CrossEntropyLoss` (exercise);
# 4. the training loop with Adam, and accuracy (exercise);
# 5. loss curves, mistakes, and what the first layer learned.

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
# ## 1. Data
#
# `TensorDataset(X, y)` pairs the i-th image with the i-th label. `random_split` draws a
# permutation from the seeded host generator, so the split is the same on every run and on
# both backends. The `DataLoader` cuts a dataset into mini-batches, reshuffled every epoch
# when `shuffle=True` (again from the seeded generator).

# %%
digits = load_digits()
X = tw.tensor(digits.data / 16.0, dtype=tw.float32)       # (1797, 64), pixels scaled to [0, 1]
y = tw.tensor(digits.target)                               # (1797,) int64 class indices
dataset = TensorDataset(X, y)
train_set, test_set = random_split(dataset, [1437, 360])
train_loader = DataLoader(train_set, batch_size=32, shuffle=True)
test_loader = DataLoader(test_set, batch_size=360)
xb, yb = next(iter(train_loader))
print(f"{len(train_set)} training and {len(test_set)} test images; a batch: x {xb.shape}, y {yb.shape}")

fig, axes = plt.subplots(1, 10, figsize=(10, 1.4))
for ax, img, label in zip(axes, xb.numpy(), yb.numpy()):
    ax.imshow(img.reshape(8, 8), cmap="gray_r"); ax.set_title(int(label)); ax.axis("off")
plt.show()

# %% [markdown]
# ## 2. The model
#
# An `nn.Module` registers every `nn.Parameter` and sub-module assigned as an attribute, in
# order; `model.parameters()` then hands them to the optimizer. `nn.Linear(in, out)` holds a
# weight of shape `(out, in)` and a bias, initialised as PyTorch does.
#
# **Exercise 1.** Complete `MLP`: `64 → hidden → hidden → 10` with ReLU between the layers.
# `forward` returns the **logits** (no softmax: the loss applies `log_softmax` itself,
# which is more accurate).

# %%
class MLP(nn.Module):
    def __init__(self, hidden=128):
        super().__init__()
        ### BEGIN SOLUTION
        self.fc1 = nn.Linear(64, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, 10)
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        x = self.fc1(x).relu()
        x = self.fc2(x).relu()
        return self.fc3(x)
        ### END SOLUTION


model = MLP()
print(model)
print("parameters:", sum(p.numel() for p in model.parameters()))

# %%
# CHECK: shapes and parameter count.
assert model(xb).shape == (32, 10)
assert sum(p.numel() for p in model.parameters()) == 64 * 128 + 128 + 128 * 128 + 128 + 128 * 10 + 10
### BEGIN HIDDEN TESTS
# Another width, and the forward pass itself: the three Linear layers, in the order they
# were registered, recomputed here with NumPy (ReLU between them, none after the last).
m_h = MLP(hidden=16)
linears = [mod for mod in m_h.modules() if isinstance(mod, nn.Linear)]
assert [(l.in_features, l.out_features) for l in linears] == [(64, 16), (16, 16), (16, 10)]
x_h = np.random.default_rng(4).standard_normal((5, 64)).astype(np.float32)
act = x_h
for i, l in enumerate(linears):
    act = act @ l.weight.detach().numpy().T + l.bias.detach().numpy()
    act = np.maximum(act, 0) if i < 2 else act
with tw.no_grad():
    np.testing.assert_allclose(m_h(tw.tensor(x_h)).numpy(), act, rtol=1e-4, atol=1e-5)
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Cross-entropy
#
# The model outputs one score (logit) $z_k$ per class. Softmax turns them into probabilities,
# and the loss is the negative log-probability of the right class, averaged over the batch:
# $L = -\frac1n \sum_i \log \mathrm{softmax}(z_i)_{y_i}$. `log_softmax` computes
# $z_k - \log\sum_j e^{z_j}$ without ever forming $e^{z}$ on its own (no overflow), and
# `logp[range(n), y]` picks each row's entry for its label.
#
# **Exercise 2.** Write `cross_entropy(logits, targets)`.

# %%
def cross_entropy(logits, targets):
    ### BEGIN SOLUTION
    logp = logits.log_softmax(dim=1)
    return -logp[tw.arange(logits.shape[0]), targets].mean()
    ### END SOLUTION


# %%
# CHECK (2 points): equal to nn.CrossEntropyLoss, value and gradient.
logits = tw.randn(6, 10, requires_grad=True)
targets = tw.tensor([0, 3, 9, 3, 1, 7])
ours, theirs = cross_entropy(logits, targets), nn.CrossEntropyLoss()(logits, targets)
assert abs(ours.item() - theirs.item()) < 1e-5, (ours.item(), theirs.item())
ours.backward()
g1 = logits.grad.numpy().copy(); logits.grad = None
theirs.backward()
np.testing.assert_allclose(g1, logits.grad.numpy(), rtol=1e-5, atol=1e-7)
print(f"cross-entropy ok: {ours.item():.4f}; at initialisation expect about ln(10) = {np.log(10):.4f}")
### BEGIN HIDDEN TESTS
# Huge logits (exp overflows), one example, three classes; value and gradient against the
# formulas computed here in float64: L = mean(logsumexp(z) - z_y), dL/dz = (softmax(z) - onehot(y)) / n.
for z_np, y_np in [(np.array([[1000.0, -1000.0, 999.0], [-500.0, 0.0, 500.0]]), np.array([2, 0])),
                   (np.random.default_rng(5).standard_normal((1, 7)), np.array([6]))]:
    z_t = tw.tensor(z_np, requires_grad=True)
    loss_h = cross_entropy(z_t, tw.tensor(y_np))
    shift = z_np.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z_np - shift).sum(axis=1)) + shift[:, 0]
    n_h = len(y_np)
    np.testing.assert_allclose(loss_h.item(), (lse - z_np[np.arange(n_h), y_np]).mean(), rtol=1e-10)
    loss_h.backward()
    soft = np.exp(z_np - lse[:, None])
    soft[np.arange(n_h), y_np] -= 1
    np.testing.assert_allclose(z_t.grad.numpy(), soft / n_h, rtol=1e-8, atol=1e-12)
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Training
#
# **Exercise 3.** Write `accuracy(model, loader)`: the fraction of correctly classified
# examples. Switch the model to evaluation mode and turn off the graph (`tw.no_grad()`): no
# backward will follow, so recording one would only cost memory. The prediction is the
# `argmax` of the logits.

# %%
def accuracy(model, loader):
    ### BEGIN SOLUTION
    model.eval()
    correct = total = 0
    with tw.no_grad():
        for xb, yb in loader:
            correct += (model(xb).argmax(dim=1) == yb).sum().item()
            total += yb.shape[0]
    model.train()
    return correct / total
    ### END SOLUTION


# %%
# CHECK: a model with known predictions, over batches of unequal size.
class Fixed(nn.Module):
    """Predicts the class stored in the first column of each input (a one-hot logit)."""

    def forward(self, x):
        return tw.nn.functional.one_hot(x[:, 0].long(), 10).float()


preds = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2])
labels = np.array([1, 2, 3, 0, 0, 6, 7, 0, 9, 0, 1, 0])
fixed = Fixed()
acc = accuracy(fixed, DataLoader(TensorDataset(tw.tensor(preds[:, None]), tw.tensor(labels)), batch_size=4))
assert abs(acc - (preds == labels).mean()) < 1e-12, acc
assert fixed.training, "accuracy() must switch the model back to training mode"
### BEGIN HIDDEN TESTS
# Batches that do not divide the set (the mean of per-batch accuracies would be wrong), the
# model seen in eval mode and without a graph while it runs.
seen = []


class Spy(Fixed):
    def forward(self, x):
        seen.append((self.training, tw.is_grad_enabled()))
        return super().forward(x)


for batch_h in (5, 7, 12):
    spy = Spy()
    acc_h = accuracy(spy, DataLoader(TensorDataset(tw.tensor(preds[:, None]), tw.tensor(labels)),
                                     batch_size=batch_h))
    assert abs(acc_h - (preds == labels).mean()) < 1e-12, (batch_h, acc_h)
    assert spy.training
assert seen and all(mode == (False, False) for mode in seen), seen
### END HIDDEN TESTS

# %% [markdown]
# The loop is lab 03's five beats; `optimizer.step()` now runs Adam, which keeps a running
# mean and variance of every parameter's gradient and scales each step by them.

# %%
tw.manual_seed(1)
model = MLP()
optimizer = optim.Adam(model.parameters(), lr=3e-3)
loss_fn = nn.CrossEntropyLoss()
EPOCHS = 5 if quick() else 20

step_losses, test_acc_curve = [], []
t0 = time.perf_counter()
bar = tqdm(range(EPOCHS), desc="epochs")
for epoch in bar:
    for xb, yb in train_loader:
        loss = loss_fn(model(xb), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        step_losses.append(loss.item())
    test_acc_curve.append(accuracy(model, test_loader))
    bar.set_postfix(loss=f"{np.mean(step_losses[-45:]):.3f}", test_acc=f"{test_acc_curve[-1]:.3f}")
train_time = time.perf_counter() - t0
test_acc, train_acc = accuracy(model, test_loader), accuracy(model, train_loader)
print(f"{EPOCHS} epochs in {train_time:.1f} s: train accuracy {train_acc:.3f}, test accuracy {test_acc:.3f}")

# %%
# The goal.
assert test_acc >= 0.95, test_acc

# %% [markdown]
# ## 5. What happened
#
# The mini-batch loss is noisy (each batch is a different sample), so we also plot its
# running mean. Test accuracy is measured once per epoch.

# %%
smooth = np.convolve(step_losses, np.ones(20) / 20, mode="valid")
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
ax1.plot(step_losses, alpha=0.3, label="mini-batch")
ax1.plot(np.arange(19, len(step_losses)), smooth, label="running mean")
ax1.set_yscale("log"); ax1.set_xlabel("step"); ax1.set_ylabel("cross-entropy"); ax1.legend()
ax2.plot(np.arange(1, EPOCHS + 1), test_acc_curve, "o-")
ax2.axhline(0.95, color="k", ls="--", lw=0.8); ax2.set_xlabel("epoch"); ax2.set_ylabel("test accuracy")
plt.show()

# %% [markdown]
# The mistakes are instructive: most are digits a human would hesitate on too. And the
# first layer's weights, drawn as 8×8 images, are the "strokes" the network looks for.

# %%
model.eval()
with tw.no_grad():
    xt, yt = next(iter(test_loader))
    pred = model(xt).argmax(dim=1).numpy()
wrong = np.flatnonzero(pred != yt.numpy())[:8]
fig, axes = plt.subplots(2, 8, figsize=(10, 3))
for ax, i in zip(axes[0], wrong):
    ax.imshow(xt.numpy()[i].reshape(8, 8), cmap="gray_r"); ax.set_title(f"{yt.numpy()[i]}→{pred[i]}")
for ax, w in zip(axes[1], model.fc1.weight.detach().numpy()[:8]):
    ax.imshow(w.reshape(8, 8), cmap="RdBu")
for ax in axes.flat:
    ax.axis("off")
axes[0, 0].text(-6, 4, "mistakes\n(true→pred)", fontsize=8, va="center", ha="right")
axes[1, 0].text(-6, 4, "fc1 weights", fontsize=8, va="center", ha="right")
plt.show()

# %%
record(final_loss=float(np.mean(step_losses[-45:])), test_accuracy=test_acc, train_accuracy=train_acc,
       epochs=EPOCHS, steps=len(step_losses), train_time_s=train_time,
       loss_first_steps=step_losses[:5])

# %% [markdown]
# ## What you saw
#
# - `Dataset` + `DataLoader` give reproducible, shuffled mini-batches.
# - An `nn.Module` is a container of parameters with a `forward`; `parameters()` feeds the
#   optimizer.
# - Cross-entropy is `log_softmax` + picking the label's entry.
# - `model.eval()` + `tw.no_grad()` for evaluation; `model.train()` to go back.
#
# Next: [05 — Convolutions](05_cnn.ipynb).
