# %% [markdown]
# # Lab 09 — Optimisation and regularisation
#
# **Prerequisites:** labs 03, 04 · **Expected time:** 120 min
#
# Lab 04 trained an MLP with `optim.Adam`, and it just worked. This lab opens the box. How
# does an optimizer turn gradients into steps? What keeps the weights small? How does
# randomness (dropout) regularise a network? Why do the *initial* weights decide whether a
# deep network trains at all? How is the learning rate varied during training? You write
# each piece by hand and check it step by step against the engine's own version. The
# engine's versions follow PyTorch's formulas, so yours will too.
#
# In this lab:
# 1. SGD with momentum by hand (exercise), checked step by step against `optim.SGD`;
# 2. Adam by hand, with L2 or decoupled weight decay (exercise), checked against
#    `optim.Adam` and `optim.AdamW`;
# 3. weight decay: the L2 penalty in the loss (exercise), coupled vs decoupled, and what
#    each does to the weight norms;
# 4. inverted dropout (exercise), in training and evaluation mode, against `nn.Dropout`;
# 5. initialisation (exercise), and the activation and gradient statistics of a deep
#    tanh/ReLU network (exercise): the "saturation plots";
# 6. learning-rate schedules (step, cosine, warmup) by hand (exercise), checked against
#    `optim.lr_scheduler`.
#
# The data are scikit-learn's handwritten digits, as in lab 04, plus a small synthetic
# problem. A hand-written optimizer here is a small class: it holds the list of parameters
# and its own state, and its `step()` updates the parameters **in place** under
# `tw.no_grad()`. That is all `optim.SGD` and `optim.Adam` are (read
# `tensorweaver/optim/sgd.py` and `adam.py`).

# %%
# %matplotlib inline
import copy
import math
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

import tensorweaver as tw
from tensorweaver import nn, optim
from tensorweaver.labs import quick, record
from tensorweaver.optim import lr_scheduler
from tensorweaver.utils.data import DataLoader, TensorDataset

tw.manual_seed(0)
print("backend:", tw.backend.name)

# %% [markdown]
# ## 0. Data and helpers
#
# The 1,797 digits are split the same way on every run: 1,437 for training, 360 for testing.
# Here the pixels are standardised (zero mean, unit variance over the training set). The
# initialisation rules of section 5 assume inputs of that scale.
#
# The helpers below are used all through the lab:
# - `make_mlp` builds the usual `64 → 128 → 128 → 10` ReLU network from a seed (one seed,
#   one set of initial weights);
# - `step_for_step` trains **two copies of one network** on the same mini-batches, one with
#   each of two optimizers, and returns the largest weight difference after every step.
#   That is how each hand-written optimizer is checked against the engine's.

# %%
digits = load_digits()
order = np.random.default_rng(0).permutation(len(digits.target))
train_idx, test_idx = order[:1437], order[1437:]
pixels = digits.data / 16.0
mu, sigma = pixels[train_idx].mean(), pixels[train_idx].std()
X_train = tw.tensor((pixels[train_idx] - mu) / sigma, dtype=tw.float32)
y_train = tw.tensor(digits.target[train_idx])
X_test = tw.tensor((pixels[test_idx] - mu) / sigma, dtype=tw.float32)
y_test = tw.tensor(digits.target[test_idx])
loss_fn = nn.CrossEntropyLoss()
print(f"train {tuple(X_train.shape)}, test {tuple(X_test.shape)}; "
      f"pixel mean {X_train.numpy().mean():.3f}, std {X_train.numpy().std():.3f}")


def make_mlp(hidden=128, seed=1):
    tw.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, 10))


def accuracy(model, X, y):
    model.eval()
    with tw.no_grad():
        acc = (model(X).argmax(dim=1) == y).float().mean().item()
    model.train()
    return acc


def max_weight_diff(model_a, model_b):
    return max(float(np.abs(a.detach().numpy() - b.detach().numpy()).max())
               for a, b in zip(model_a.parameters(), model_b.parameters()))


def step_for_step(make_ours, make_theirs, steps=15, batch_size=64, seed=0, penalty=None):
    """Two copies of one MLP, trained on the same mini-batches: one by the optimizer
    make_ours(params) builds, one by make_theirs(params). penalty(params), when given, is
    added to the first copy's loss. Returns the max |weight difference| after each step."""
    model_a = make_mlp(seed=seed)
    model_b = copy.deepcopy(model_a)
    ours, theirs = make_ours(list(model_a.parameters())), make_theirs(list(model_b.parameters()))
    batches = np.random.default_rng(seed).permutation(len(train_idx))
    diffs = []
    for s in range(steps):
        idx = tw.tensor(batches[s * batch_size:(s + 1) * batch_size])      # steps * batch_size <= 1437
        for model, opt, extra in ((model_a, ours, penalty), (model_b, theirs, None)):
            loss = loss_fn(model(X_train[idx]), y_train[idx])
            if extra is not None:
                loss = loss + extra(list(model.parameters()))
            opt.zero_grad()
            loss.backward()
            opt.step()
        diffs.append(max_weight_diff(model_a, model_b))
    return diffs


def train(model, opt, epochs, batch_size=64, lr_at=None, scheduler=None, seed=0):
    """Mini-batch training on the digits. lr_at(t), when given, sets opt.lr before step t
    (a hand-written optimizer); scheduler.step(), when given, runs after every step (the
    engine's optimizers). The same seed gives the same batches. Returns the step losses."""
    tw.manual_seed(seed)
    loader = DataLoader(TensorDataset(X_train, y_train), batch_size=batch_size, shuffle=True)
    losses, t = [], 0
    for _ in range(epochs):
        for xb, yb in loader:
            if lr_at is not None:
                opt.lr = lr_at(t)
            loss = loss_fn(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if scheduler is not None:
                scheduler.step()
            losses.append(loss.item())
            t += 1
    return losses


STEPS_PER_EPOCH = math.ceil(1437 / 64)
print("steps per epoch:", STEPS_PER_EPOCH)

# %% [markdown]
# ## 1. Momentum
#
# Plain SGD steps against the current gradient: $p \leftarrow p - \eta\, g$. **Momentum**
# keeps a running *velocity* $b$, a decaying sum of past gradients, and steps along it.
# Along a direction where successive gradients agree, the steps grow up to $1/(1-\mu)$ times
# larger. Where they alternate in sign, they cancel. `optim.SGD` does it this way:
#
# $$g \leftarrow \nabla_p L + \lambda p \qquad
#   b \leftarrow \begin{cases} g & \text{at the parameter's first step} \\
#                               \mu\, b + g & \text{afterwards} \end{cases} \qquad
#   p \leftarrow p - \eta\, b$$
#
# where $\eta$ is the learning rate, $\mu$ the momentum and $\lambda$ the weight decay
# (section 3 is about that one). With $\mu = 0$ there is no buffer and the step uses $g$.
#
# **Exercise 1.** Complete `SGDMomentum.step()`. Everything happens under `tw.no_grad()`
# (the update is not part of any graph), and **in place**: the model holds these very
# tensors, so write into them (`p -= ...`, `b.mul_(...)`, `b.add_(...)`) rather than binding
# new ones. Keep one buffer per parameter in `self.buffers`. At a parameter's first step its
# buffer is a *copy* of `g` (`g.clone()`). A parameter whose `.grad` is `None` is skipped, as
# `optim.SGD` does. Read the learning rate from `self.lr` at every step: section 6 changes it
# during training.

# %%
class SGDMomentum:
    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0):
        self.params = list(params)
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.buffers = [None] * len(self.params)

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        with tw.no_grad():
            for i, p in enumerate(self.params):
                if p.grad is None:
                    continue
                ### BEGIN SOLUTION
                g = p.grad
                if self.weight_decay != 0:
                    g = g + self.weight_decay * p
                if self.momentum != 0:
                    if self.buffers[i] is None:
                        self.buffers[i] = g.clone()
                    else:
                        self.buffers[i].mul_(self.momentum).add_(g)
                    g = self.buffers[i]
                p -= self.lr * g
                ### END SOLUTION


# %%
# CHECK (2 points): step for step equal to optim.SGD(momentum, weight_decay) on a copy of the weights.
diffs = step_for_step(lambda ps: SGDMomentum(ps, lr=0.05, momentum=0.9, weight_decay=5e-3),
                      lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=5e-3))
sgd_momentum_max_diff = max(diffs)
print("max |yours - optim.SGD| after each step:", " ".join(f"{d:.1e}" for d in diffs))
assert sgd_momentum_max_diff < 1e-5, diffs
model_c = make_mlp()
params_c = list(model_c.parameters())
opt_c = SGDMomentum(params_c, lr=0.1, momentum=0.9)
before = [p.detach().numpy().copy() for p in params_c]
loss_fn(model_c(X_train[:32]), y_train[:32]).backward()
opt_c.step()
assert all(p is q for p, q in zip(model_c.parameters(), params_c)), "update the parameters in place"
assert all(p.is_leaf and p.requires_grad and p.grad_fn is None for p in params_c)
assert not np.allclose(before[0], params_c[0].detach().numpy()), "step() changed nothing"
### BEGIN HIDDEN TESTS
# Plain SGD, weight decay alone, another momentum: against optim.SGD.
for kw_h in (dict(lr=0.1), dict(lr=0.1, weight_decay=0.05), dict(lr=0.02, momentum=0.5)):
    d_h = step_for_step(lambda ps: SGDMomentum(ps, **kw_h), lambda ps: optim.SGD(ps, **kw_h), steps=8, seed=3)
    assert max(d_h) < 1e-5, (kw_h, d_h)
# By NumPy, on one parameter: four gradients, the second missing (skipped: neither the
# parameter nor its buffer moves), and the learning rate changed between steps.
w_h = tw.tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
g_h = [np.array([0.5, 0.1, -1.0]), None, np.array([-0.2, 0.3, 0.4]), np.array([1.0, 1.0, 1.0])]
lrs_h = [0.1, 0.1, 0.2, 0.05]
opt_h = SGDMomentum([w_h], lr=0.1, momentum=0.9, weight_decay=0.01)
w_ref, b_ref = np.array([1.0, -2.0, 3.0]), None
for g_np, lr_h in zip(g_h, lrs_h):
    opt_h.lr = lr_h
    w_h.grad = None if g_np is None else tw.tensor(g_np)
    opt_h.step()
    if g_np is not None:
        gg = g_np + 0.01 * w_ref
        b_ref = gg.copy() if b_ref is None else 0.9 * b_ref + gg
        w_ref = w_ref - lr_h * b_ref
    np.testing.assert_allclose(w_h.detach().numpy(), w_ref, rtol=1e-12, atol=1e-14)
assert w_h.is_leaf and w_h.grad_fn is None
### END HIDDEN TESTS

# %% [markdown]
# **Why momentum helps.** Take an elongated valley $f(w) = \frac12 (w_1^2 + 100\, w_2^2)$.
# Its curvature is 100 times larger across the valley than along it (the condition number
# is 100). SGD must keep $\eta < 2/100$ or it diverges across the valley, and at that
# learning rate it crawls along the valley: a factor $1 - \eta$ per step. With momentum the
# velocity builds up along the valley. Across the valley the velocity keeps changing sign:
# the path overshoots and rings, but the ringing dies out as fast as the progress along the
# valley is made.

# %%
def valley(w):
    return 0.5 * (w[0] ** 2 + 100 * w[1] ** 2)


def descend(momentum, steps=150, lr=0.019):
    w = tw.tensor(np.array([-4.0, 0.5]), requires_grad=True)
    opt = SGDMomentum([w], lr=lr, momentum=momentum)
    path = [w.detach().numpy().copy()]
    for _ in range(steps):
        opt.zero_grad()
        valley(w).backward()
        opt.step()
        path.append(w.detach().numpy().copy())
    return np.array(path)


paths = {mom: descend(mom) for mom in (0.0, 0.9)}
valley_final = {f"momentum_{mom}": float(valley(tw.tensor(p[-1])).item()) for mom, p in paths.items()}
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.5))
g1, g2 = np.meshgrid(np.linspace(-4.5, 1.5, 200), np.linspace(-0.7, 0.7, 200))
ax1.contour(g1, g2, 0.5 * (g1 ** 2 + 100 * g2 ** 2), levels=np.geomspace(1e-2, 40, 12), colors="0.8")
for mom, p in paths.items():
    ax1.plot(p[:, 0], p[:, 1], ".-", ms=2, lw=0.8, label=f"momentum {mom}")
    ax2.semilogy([valley(q) for q in p], label=f"momentum {mom}")
ax1.set_xlabel("$w_1$"); ax1.set_ylabel("$w_2$"); ax1.legend()
ax2.set_xlabel("step"); ax2.set_ylabel("f(w)"); ax2.legend()
plt.show()
print("f after 150 steps:", {k: f"{v:.2e}" for k, v in valley_final.items()})

# %% [markdown]
# ## 2. Adam
#
# Adam keeps two running averages per parameter: of the gradient ($m$, the first moment)
# and of its square ($v$, the second moment). It steps along $m$, and divides each
# coordinate by $\sqrt{v}$. Every weight then moves by about $\eta$ per step, whatever the
# scale of its gradient. Both averages start at 0, so early on they are too small. Dividing
# by $1 - \beta^t$ (the **bias correction**, with $t$ the parameter's step count) removes
# that bias. At step $t$:
#
# $$m \leftarrow \beta_1 m + (1-\beta_1)\, g \qquad v \leftarrow \beta_2 v + (1-\beta_2)\, g^2
#   \qquad \hat m = \frac{m}{1-\beta_1^t} \qquad \hat v = \frac{v}{1-\beta_2^t}
#   \qquad p \leftarrow p - \eta\, \frac{\hat m}{\sqrt{\hat v} + \epsilon}$$
#
# Weight decay comes in two kinds, chosen by `decoupled`:
# - **L2** (`optim.Adam(weight_decay=λ)`): $g \leftarrow \nabla_p L + \lambda p$ before the
#   moments, as in SGD;
# - **decoupled** (`optim.AdamW(weight_decay=λ)`): the weights shrink first,
#   $p \leftarrow p\,(1 - \eta\lambda)$, and the gradient is left alone.
#
# **Exercise 2.** Complete `AdamByHand.step()`. Each parameter has its own state
# `self.state[i]`: `None` before its first step, then whatever you keep there (its step
# count, $m$ and $v$, e.g. as a dict). Skipped parameters (no gradient) do not count a step,
# exactly as in `optim.Adam`. Same rules as before: `tw.no_grad()`, in place, and
# `self.lr` read at every step.

# %%
class AdamByHand:
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False):
        self.params = list(params)
        self.lr, self.betas, self.eps = lr, betas, eps
        self.weight_decay, self.decoupled = weight_decay, decoupled
        self.state = [None] * len(self.params)

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        beta1, beta2 = self.betas
        with tw.no_grad():
            for i, p in enumerate(self.params):
                if p.grad is None:
                    continue
                ### BEGIN SOLUTION
                if self.state[i] is None:
                    self.state[i] = {"t": 0, "m": tw.zeros_like(p), "v": tw.zeros_like(p)}
                state = self.state[i]
                state["t"] += 1
                g = p.grad
                if self.weight_decay != 0:
                    if self.decoupled:
                        p.mul_(1 - self.lr * self.weight_decay)
                    else:
                        g = g + self.weight_decay * p
                state["m"].mul_(beta1).add_(g, alpha=1 - beta1)
                state["v"].mul_(beta2).add_(g * g, alpha=1 - beta2)
                m_hat = state["m"] / (1 - beta1 ** state["t"])
                v_hat = state["v"] / (1 - beta2 ** state["t"])
                p -= self.lr * m_hat / (v_hat.sqrt() + self.eps)
                ### END SOLUTION


# %%
# CHECK (3 points): step for step equal to optim.Adam and to optim.AdamW, on copies of the weights.
diffs = step_for_step(lambda ps: AdamByHand(ps, lr=1e-2), lambda ps: optim.Adam(ps, lr=1e-2))
adam_max_diff = max(diffs)
print("Adam:  max |yours - optim.Adam| after each step: ", " ".join(f"{d:.1e}" for d in diffs))
assert adam_max_diff < 1e-5, diffs
diffs = step_for_step(lambda ps: AdamByHand(ps, lr=1e-2, weight_decay=0.1, decoupled=True),
                      lambda ps: optim.AdamW(ps, lr=1e-2, weight_decay=0.1))
adamw_max_diff = max(diffs)
print("AdamW: max |yours - optim.AdamW| after each step:", " ".join(f"{d:.1e}" for d in diffs))
assert adamw_max_diff < 1e-5, diffs
### BEGIN HIDDEN TESTS
# L2 (coupled) decay, other betas and a large eps (where it sits in the formula matters).
for kw_h in (dict(lr=1e-2, weight_decay=0.1), dict(lr=3e-3, betas=(0.5, 0.8), eps=0.1)):
    d_h = step_for_step(lambda ps: AdamByHand(ps, **kw_h), lambda ps: optim.Adam(ps, **kw_h), steps=8, seed=4)
    assert max(d_h) < 1e-5, (kw_h, d_h)
# By NumPy, float64, two parameters: the second has no gradient at the first two steps (its
# own step count starts later), the learning rate changes, decoupled decay uses the current
# learning rate.
for decoupled_h in (False, True):
    w1 = tw.tensor(np.array([1.0, -2.0]), requires_grad=True)
    w2 = tw.tensor(np.array([[0.5], [3.0]]), requires_grad=True)
    opt_h = AdamByHand([w1, w2], lr=0.1, betas=(0.8, 0.95), eps=1e-3, weight_decay=0.2, decoupled=decoupled_h)
    ref = {1: [w1.detach().numpy().copy(), 0.0, 0.0, 0], 2: [w2.detach().numpy().copy(), 0.0, 0.0, 0]}
    rng_h = np.random.default_rng(7)
    for step_h, lr_h in enumerate([0.1, 0.1, 0.05, 0.2, 0.1]):
        opt_h.lr = lr_h
        grads_h = {1: rng_h.standard_normal(2) * 10 ** step_h, 2: rng_h.standard_normal((2, 1))}
        if step_h < 2:
            grads_h[2] = None
        for k, w in ((1, w1), (2, w2)):
            w.grad = None if grads_h[k] is None else tw.tensor(grads_h[k])
        opt_h.step()
        for k, w in ((1, w1), (2, w2)):
            if grads_h[k] is None:
                continue
            p_r, m_r, v_r, t_r = ref[k]
            g_r = grads_h[k]
            if decoupled_h:
                p_r = p_r * (1 - lr_h * 0.2)
            else:
                g_r = g_r + 0.2 * p_r
            t_r += 1
            m_r = 0.8 * m_r + 0.2 * g_r
            v_r = 0.95 * v_r + 0.05 * g_r ** 2
            p_r = p_r - lr_h * (m_r / (1 - 0.8 ** t_r)) / (np.sqrt(v_r / (1 - 0.95 ** t_r)) + 1e-3)
            ref[k] = [p_r, m_r, v_r, t_r]
        np.testing.assert_allclose(w1.detach().numpy(), ref[1][0], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(w2.detach().numpy(), ref[2][0], rtol=1e-10, atol=1e-12)
    assert w1.is_leaf and w2.grad_fn is None
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Weight decay: L2 or decoupled
#
# An **L2 penalty** adds $\frac{\lambda}{2}\sum_p \lVert p \rVert^2$ to the loss. Its
# gradient is $\lambda p$, which is exactly what `weight_decay=λ` adds to the gradient in
# `optim.SGD` and `optim.Adam`. For plain SGD the penalty also *shrinks* the weights:
# $p - \eta(g + \lambda p) = (1 - \eta\lambda)\,p - \eta g$. "L2" and "decay" are then the
# same thing.
#
# In Adam they are not. The penalty's gradient $\lambda p$ goes into $m$ and $v$ and is
# divided by $\sqrt{\hat v}$ like any other gradient. A weight whose data gradient is large
# is hardly decayed. A weight whose data gradient is small is pulled towards 0 by about
# $\eta$ per step, whatever its size. AdamW (Loshchilov & Hutter, *Decoupled Weight Decay
# Regularization*, 2019) takes the decay out of the gradient: every weight shrinks by the
# same factor $1-\eta\lambda$ per step.
#
# **Exercise 3.** Write `l2_penalty(params, weight_decay)`: $\frac{\lambda}{2}\sum_p \sum_i
# p_i^2$ over every parameter in the list (weights and biases, as `weight_decay` does), as a
# scalar tensor **in the graph**, so that `backward()` adds $\lambda p$ to every gradient.

# %%
def l2_penalty(params, weight_decay):
    ### BEGIN SOLUTION
    return weight_decay / 2 * sum((p * p).sum() for p in params)
    ### END SOLUTION


# %%
# CHECK: the penalty's value (NumPy), and SGD on loss + penalty equals optim.SGD(weight_decay) step for step.
params_c = list(make_mlp().parameters())
value_c = l2_penalty(params_c, 1e-3)
expected_c = 1e-3 / 2 * sum(float((p.detach().numpy().astype(np.float64) ** 2).sum()) for p in params_c)
assert abs(value_c.item() - expected_c) < 1e-5 * expected_c, (value_c.item(), expected_c)
diffs = step_for_step(lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9),
                      lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=0.01),
                      penalty=lambda ps: l2_penalty(ps, 0.01))
l2_vs_weight_decay_max_diff = max(diffs)
print("max |SGD on loss + penalty  -  SGD(weight_decay)| per step:", " ".join(f"{d:.1e}" for d in diffs))
assert l2_vs_weight_decay_max_diff < 1e-5, diffs
### BEGIN HIDDEN TESTS
# The gradient of the penalty alone is λp, float64 (NumPy), for a weight and a bias.
ws_h = [tw.tensor(np.random.default_rng(8).standard_normal((3, 4)), requires_grad=True),
        tw.tensor(np.array([0.5, -1.5, 2.0]), requires_grad=True)]
pen_h = l2_penalty(ws_h, 0.3)
assert pen_h.requires_grad and pen_h.numel() == 1
np.testing.assert_allclose(pen_h.item(), 0.15 * sum((w.detach().numpy() ** 2).sum() for w in ws_h), rtol=1e-12)
pen_h.backward()
for w in ws_h:
    np.testing.assert_allclose(w.grad.numpy(), 0.3 * w.detach().numpy(), rtol=1e-12)
# In Adam the penalty is the coupled (L2) decay, optim.Adam(weight_decay), not AdamW's.
d_h = step_for_step(lambda ps: optim.Adam(ps, lr=1e-2), lambda ps: optim.Adam(ps, lr=1e-2, weight_decay=0.05),
                    penalty=lambda ps: l2_penalty(ps, 0.05), steps=8, seed=5)
assert max(d_h) < 1e-5, d_h
### END HIDDEN TESTS

# %% [markdown]
# Now the effect on training. Three copies of the MLP are trained on the same batches with
# Adam ($\eta = 3\cdot10^{-3}$), all with your `AdamByHand`: without decay, with L2
# ($\lambda = 10^{-3}$, about what an L2 penalty gets in practice), and decoupled like AdamW
# ($\lambda = 0.5$: its decay per step is $\eta\lambda = 1.5\cdot10^{-3}$). We follow the
# norm $\sqrt{\sum W^2}$ of the three weight matrices after every epoch, and the test
# accuracy.

# %%
DECAY_EPOCHS = 1 if quick() else 15
decay_runs = {"no decay": dict(), "L2": dict(weight_decay=1e-3), "decoupled": dict(weight_decay=0.5, decoupled=True)}
decay_labels = {"no decay": "no decay", "L2": "L2 (Adam, λ=1e-3)", "decoupled": "decoupled (AdamW, λ=0.5)"}
weight_norms, decay_accuracy, final_weights = {}, {}, {}


def weight_matrices(model):
    return [m.weight.detach().numpy() for m in model if isinstance(m, nn.Linear)]


t0 = time.perf_counter()
for name, kw in decay_runs.items():
    model = make_mlp(seed=2)
    opt = AdamByHand(model.parameters(), lr=3e-3, **kw)
    norms = []
    for epoch in range(DECAY_EPOCHS):
        train(model, opt, 1, seed=100 + epoch)
        norms.append(float(np.sqrt(sum((w.astype(np.float64) ** 2).sum() for w in weight_matrices(model)))))
    weight_norms[name], decay_accuracy[name] = norms, accuracy(model, X_test, y_test)
    final_weights[name] = np.concatenate([w.ravel() for w in weight_matrices(model)])
print(f"{3 * DECAY_EPOCHS} epochs in {time.perf_counter() - t0:.1f} s")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.5))
for name, norms in weight_norms.items():
    ax1.plot(np.arange(1, DECAY_EPOCHS + 1), norms, "o-", ms=3,
             label=f"{decay_labels[name]}: test acc {decay_accuracy[name]:.3f}")
ax1.set_xlabel("epoch"); ax1.set_ylabel("weight norm"); ax1.legend(fontsize=8)
bins = np.linspace(-0.6, 0.6, 81)
for name in ("no decay", "decoupled"):
    ax2.hist(final_weights[name], bins=bins, alpha=0.5, label=decay_labels[name])
ax2.set_yscale("log"); ax2.set_xlabel("weight value"); ax2.legend()
plt.show()
for name in decay_runs:
    print(f"{decay_labels[name]:>26}: weight norm {weight_norms[name][0]:.2f} -> {weight_norms[name][-1]:.2f}, "
          f"test accuracy {decay_accuracy[name]:.3f}")

# %% [markdown]
# Without decay the norm only grows: the loss keeps rewarding larger logits. Both kinds of
# decay hold it back, and all three models classify the digits about equally well. On
# the histogram, decoupled decay keeps the bulk of the weights closer to 0 (a higher, narrower
# peak), while the few weights the data keep pushing still reach the same extreme values.
#
# ## 4. Dropout
#
# Dropout zeroes each activation with probability $p$ during training, so the network cannot
# rely on any single unit. Each mini-batch trains a different random sub-network. **Inverted**
# dropout (what every framework does) scales the survivors by $1/(1-p)$ during training, so
# that every activation keeps its expected value: $E[y] = (1-p)\cdot\frac{x}{1-p} = x$. Then
# evaluation needs no change at all: in `eval()` mode dropout is the identity.
#
# **Exercise 4.** Write `dropout(x, p, training)`. Draw a fresh mask on every call, one
# independent draw per element, from the engine's seeded generator (`tw.rand_like(x)` is
# uniform on $[0, 1)$). Keep an element when its draw is $\ge p$, and scale the kept ones by
# $1/(1-p)$. When not `training`, return `x` unchanged. `p = 1` drops everything: return
# zeros, as `nn.Dropout(1.0)` does, without dividing by zero. The gradient must flow (it is
# the mask times $1/(1-p)$), so build the output from `x` with tensor operations.

# %%
def dropout(x, p, training=True):
    ### BEGIN SOLUTION
    if not training or p == 0:
        return x
    if p == 1:
        return x * 0
    keep = (tw.rand_like(x) >= p).to(x.dtype)
    return x * keep / (1 - p)
    ### END SOLUTION


class HandDropout(nn.Module):
    def __init__(self, p=0.5):
        super().__init__()
        self.p = p

    def forward(self, x):
        return dropout(x, self.p, self.training)


# %%
# CHECK (2 points): inverted dropout, statistically, against nn.Dropout's semantics.
x_c = tw.ones(400, 250, requires_grad=True)            # 100,000 elements
for p_c in (0.2, 0.5):
    for name_c, fn_c in (("yours", lambda x: dropout(x, p_c, True)), ("nn.Dropout", nn.Dropout(p_c))):
        y_c = fn_c(x_c).detach().numpy()
        zero_fraction = float((y_c == 0).mean())
        sd = math.sqrt(p_c * (1 - p_c) / y_c.size)             # binomial standard deviation
        assert abs(zero_fraction - p_c) < 5 * sd, (name_c, p_c, zero_fraction)
        np.testing.assert_allclose(y_c[y_c != 0], 1 / (1 - p_c), rtol=1e-6)   # survivors scaled
        assert abs(y_c.mean() - 1) < 5 * sd / (1 - p_c), (name_c, y_c.mean())  # mean kept
    print(f"p={p_c}: zeroed {zero_fraction:.4f} (nn.Dropout), survivors {1 / (1 - p_c):.3f}")
y_c = dropout(x_c, 0.5, True)
y_c.sum().backward()                                        # the gradient is the mask / (1 - p)
np.testing.assert_allclose(x_c.grad.numpy(), y_c.detach().numpy(), rtol=1e-6)
assert not np.array_equal(y_c.detach().numpy(), dropout(x_c, 0.5, True).detach().numpy()), "a fresh mask per call"
x_eval = tw.randn(50, 20)
np.testing.assert_array_equal(dropout(x_eval, 0.5, False).numpy(), x_eval.numpy())     # eval: identity
layer_c = nn.Dropout(0.5).eval()
np.testing.assert_array_equal(layer_c(x_eval).numpy(), x_eval.numpy())
dropout_zero_fraction = float((y_c.detach().numpy() == 0).mean())
### BEGIN HIDDEN TESTS
# Random float64 values, p = 0.8: every output is 0 or x / (1 - p); the input is untouched.
x_np = np.random.default_rng(9).standard_normal((300, 200)) + 3.0
x_h = tw.tensor(x_np)
y_h = dropout(x_h, 0.8, True).numpy()
np.testing.assert_array_equal(x_h.numpy(), x_np)
kept_h = y_h != 0
np.testing.assert_allclose(y_h[kept_h], x_np[kept_h] / 0.2, rtol=1e-12)
assert abs(kept_h.mean() - 0.2) < 5 * math.sqrt(0.16 / x_np.size), kept_h.mean()
# One draw per element: rows and columns each keep about 1 - p of their elements (a mask per
# row or per column would keep all or nothing of them).
row_h, col_h = kept_h.mean(axis=1), kept_h.mean(axis=0)
assert 0.05 < row_h.min() and row_h.max() < 0.4 and 0.05 < col_h.min() and col_h.max() < 0.45
# The seeded generator: the same seed, the same mask.
tw.manual_seed(11)
first_h = dropout(tw.ones(30, 30), 0.3, True).numpy()
tw.manual_seed(11)
np.testing.assert_array_equal(first_h, dropout(tw.ones(30, 30), 0.3, True).numpy())
# p = 0 and p = 1, as nn.Dropout: identity and zeros (no nan), and the gradient flows.
np.testing.assert_array_equal(dropout(x_h, 0.0, True).numpy(), x_np)
x_one = tw.tensor(x_np, requires_grad=True)
y_one = dropout(x_one, 1.0, True)
np.testing.assert_array_equal(y_one.detach().numpy(), np.zeros_like(x_np))
y_one.sum().backward()
np.testing.assert_array_equal(x_one.grad.numpy(), np.zeros_like(x_np))
# HandDropout follows the module's mode.
mod_h = HandDropout(0.5)
np.testing.assert_array_equal(mod_h.eval()(x_h).numpy(), x_np)
assert (mod_h.train()(x_h).numpy() == 0).mean() > 0.4
### END HIDDEN TESTS

# %% [markdown]
# Dropout matters when a network can memorise its training set. Take only **300** training
# digits and a wide network (`64 → 256 → 256 → 10`). Train it for the same number of
# full-batch Adam steps with and without `HandDropout(0.5)` after each hidden layer. Both
# reach 100 % on their 300 digits. The test images tell them apart: on the digits the gain
# is a point or two of accuracy and a clearly lower test loss. (The network with dropout
# is *less* sure of its wrong answers.)

# %%
def wide_mlp(p):
    tw.manual_seed(3)
    return nn.Sequential(nn.Linear(64, 256), nn.ReLU(), HandDropout(p), nn.Linear(256, 256), nn.ReLU(),
                         HandDropout(p), nn.Linear(256, 10))


def test_loss(model):
    model.eval()
    with tw.no_grad():
        loss = loss_fn(model(X_test), y_test).item()
    model.train()
    return loss


DROPOUT_STEPS = 25 if quick() else 300
X_small, y_small = X_train[:300], y_train[:300]
dropout_results = {}
for p in (0.0, 0.5):
    model = wide_mlp(p)
    opt = AdamByHand(model.parameters(), lr=1e-3)
    curve = []
    for s in range(DROPOUT_STEPS):
        loss = loss_fn(model(X_small), y_small)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if s % 25 == 24:
            curve.append(test_loss(model))
    dropout_results[p] = dict(train=accuracy(model, X_small, y_small), test=accuracy(model, X_test, y_test),
                              test_loss=curve[-1], curve=curve)
    print(f"dropout p={p}: train accuracy {dropout_results[p]['train']:.3f}, "
          f"test accuracy {dropout_results[p]['test']:.3f}, test loss {curve[-1]:.3f}")
model.train()
with tw.no_grad():
    twice_train = [model(X_test[:5]).numpy() for _ in range(2)]
model.eval()
with tw.no_grad():
    twice_eval = [model(X_test[:5]).numpy() for _ in range(2)]
model.train()
print("train mode, two passes equal?", np.array_equal(*twice_train),
      "| eval mode, two passes equal?", np.array_equal(*twice_eval))
plt.figure(figsize=(5.5, 3))
for p, res in dropout_results.items():
    plt.plot(np.arange(25, DROPOUT_STEPS + 1, 25), res["curve"], "o-", ms=3, label=f"dropout p={p}")
plt.xlabel("step"); plt.ylabel("test loss (300 training digits)"); plt.legend()
plt.show()

# %% [markdown]
# ## 5. Initialisation, and the statistics of a deep network
#
# The weights a network starts from decide whether the signal gets through at all. A linear
# layer with $n_\text{in}$ inputs of variance 1 and weights of variance $s^2$ gives outputs
# of variance $n_\text{in} s^2$. Stack eight such layers and the variance is multiplied by
# $(n_\text{in} s^2)^8$. That is vanishingly small when $s$ is too small, and huge when it
# is too large. A tanh then saturates at $\pm 1$, where its derivative $1 - \tanh^2$ is
# about 0 and the gradient stops. The classic rules choose $s$ so that the variance stays
# put:
#
# - **Xavier/Glorot** (for tanh): $W \sim U(-a, a)$ with $a = \text{gain}\cdot\sqrt{6 /
#   (n_\text{in} + n_\text{out})}$. Here the gain is `nn.init.calculate_gain("tanh")` $= 5/3$;
# - **Kaiming/He** (for ReLU, which zeroes half of its inputs): $W \sim N(0, 2/n_\text{in})$.
#
# A `Linear` weight has shape $(n_\text{out}, n_\text{in})$.
#
# **Exercise 5.** Write `init_linear_(layer, scheme)`: it fills `layer.weight` in place and
# sets `layer.bias` to zero. The schemes are `"small"`: $N(0, 0.01^2)$; `"large"`: $N(0, 1)$
# (the naive `randn`); `"xavier"`: uniform as above with gain $5/3$; `"kaiming"`:
# $N(0, 2/n_\text{in})$. Draw with the engine's in-place samplers (`w.normal_(mean, std)`,
# `w.uniform_(a, b)`, `b.zero_()`) under `tw.no_grad()`, so that `tw.manual_seed` makes the
# weights reproducible. Write the formulas yourself; `nn.init` is what the check compares with.

# %%
def init_linear_(layer, scheme):
    n_out, n_in = layer.weight.shape
    ### BEGIN SOLUTION
    with tw.no_grad():
        if scheme == "small":
            layer.weight.normal_(0.0, 0.01)
        elif scheme == "large":
            layer.weight.normal_(0.0, 1.0)
        elif scheme == "xavier":
            bound = 5 / 3 * math.sqrt(6 / (n_in + n_out))
            layer.weight.uniform_(-bound, bound)
        elif scheme == "kaiming":
            layer.weight.normal_(0.0, math.sqrt(2 / n_in))
        else:
            raise ValueError(f"unknown scheme {scheme!r}")
        layer.bias.zero_()
    ### END SOLUTION
    return layer


# %%
# CHECK (2 points): the four schemes' statistics, against nn.init and the formulas.
layer_c = nn.Linear(300, 500)                              # weight (500, 300): fan_in 300, fan_out 500
weight_c = layer_c.weight
ref_c = tw.empty(500, 300)
for scheme_c, std_c in (("small", 0.01), ("large", 1.0), ("xavier", 5 / 3 * math.sqrt(2 / 800)),
                        ("kaiming", math.sqrt(2 / 300))):
    init_linear_(layer_c, scheme_c)
    w_c = layer_c.weight.detach().numpy()
    assert layer_c.weight is weight_c and weight_c.requires_grad, "fill the Parameter in place"
    assert not layer_c.bias.detach().numpy().any(), "biases start at zero"
    assert abs(w_c.std() / std_c - 1) < 0.02 and abs(w_c.mean()) < 0.02 * std_c, (scheme_c, w_c.std(), std_c)
    if scheme_c == "xavier":
        nn.init.xavier_uniform_(ref_c, gain=nn.init.calculate_gain("tanh"))
        bound_c = 5 / 3 * math.sqrt(6 / 800)
        assert np.abs(w_c).max() <= bound_c * (1 + 1e-6) and np.abs(w_c).max() > 0.99 * bound_c
    if scheme_c == "kaiming":
        nn.init.kaiming_normal_(ref_c, nonlinearity="relu")
    if scheme_c in ("xavier", "kaiming"):
        assert abs(w_c.std() / ref_c.numpy().std() - 1) < 0.02, (scheme_c, w_c.std(), ref_c.numpy().std())
    print(f"{scheme_c:>8}: std {w_c.std():.4f} (formula {std_c:.4f})")
### BEGIN HIDDEN TESTS
# Fans the other way round (n_in > n_out); the shape of the distributions (uniform vs
# normal, by the fourth moment: 1.8 vs 3); reproducible under tw.manual_seed.
layer_h = nn.Linear(800, 200)
for scheme_h, std_h, kurt_h in (("xavier", 5 / 3 * math.sqrt(2 / 1000), 1.8), ("kaiming", math.sqrt(2 / 800), 3.0),
                                ("small", 0.01, 3.0), ("large", 1.0, 3.0)):
    with tw.no_grad():
        layer_h.bias.fill_(1.0)
    init_linear_(layer_h, scheme_h)
    w_h = layer_h.weight.detach().numpy().astype(np.float64)
    assert abs(w_h.std() / std_h - 1) < 0.02, (scheme_h, w_h.std(), std_h)
    assert abs((w_h ** 4).mean() / w_h.var() ** 2 - kurt_h) < 0.1, scheme_h
    assert not layer_h.bias.detach().numpy().any()
    tw.manual_seed(12)
    first_h = init_linear_(layer_h, scheme_h).weight.detach().numpy().copy()
    tw.manual_seed(12)
    np.testing.assert_array_equal(first_h, init_linear_(layer_h, scheme_h).weight.detach().numpy())
assert np.abs(init_linear_(layer_h, "xavier").weight.detach().numpy()).max() <= 5 / 3 * math.sqrt(6 / 1000) * (1 + 1e-6)
### END HIDDEN TESTS

# %% [markdown]
# Now a deep network: eight hidden layers of 128 units (tanh or ReLU), then a linear head.
# Its `forward` keeps every hidden layer's output in `model.acts` and, when a graph is
# recorded, calls `retain_grad()` on it. After `backward()`, `model.acts[k].grad` is then
# the gradient of the loss with respect to that layer's activations (normally only leaves
# keep their `.grad`).
#
# **Exercise 6.** Write `layer_statistics(model, x, y)`. Start from zero gradients
# (`model.zero_grad()`), run the forward pass and the cross-entropy loss on `(x, y)`, and
# backward. Then return a dict of lists with one entry per hidden layer $k$, as Python floats:
# - `"act_std"`: the standard deviation of `acts[k]` (over the batch and the units);
# - `"saturated"`: the fraction of `acts[k]`'s entries in the nonlinearity's flat part,
#   where the local derivative is (about) zero: $|a| > 0.97$ for tanh, $a \le 0$ for ReLU;
# - `"dead"`: the fraction of the layer's **units** that are in the flat part for every
#   example of the batch (no example lets a gradient through them);
# - `"grad_std"`: the standard deviation of `acts[k].grad`;
# - `"grad_data_ratio"`: std of `layers[k].weight.grad` / std of `layers[k].weight`. This is
#   roughly how large one SGD step is compared with the weights themselves.
#
# Use the population standard deviation (`t.std(unbiased=False)`, NumPy's default).

# %%
class DeepMLP(nn.Module):
    def __init__(self, kind="tanh", depth=8, width=128):
        super().__init__()
        self.kind = kind
        self.layers = nn.ModuleList([nn.Linear(64 if k == 0 else width, width) for k in range(depth)])
        self.head = nn.Linear(width, 10)
        self.acts = []

    def forward(self, x):
        self.acts = []
        for layer in self.layers:
            x = layer(x)
            x = x.tanh() if self.kind == "tanh" else x.relu()
            if x.requires_grad:                # not under no_grad (evaluation)
                x.retain_grad()
            self.acts.append(x)
        return self.head(x)


STATS = ("act_std", "saturated", "dead", "grad_std", "grad_data_ratio")


def init_model_(model, scheme):
    for m in model.modules():
        if isinstance(m, nn.Linear):
            init_linear_(m, scheme)
    return model


# %%
def layer_statistics(model, x, y):
    ### BEGIN SOLUTION
    model.zero_grad()
    loss_fn(model(x), y).backward()
    stats = {name: [] for name in STATS}
    for a, layer in zip(model.acts, model.layers):
        a_ = a.detach()
        flat = a_.abs() > 0.97 if model.kind == "tanh" else a_ <= 0
        stats["act_std"].append(a_.std(unbiased=False).item())
        stats["saturated"].append(flat.float().mean().item())
        stats["dead"].append(flat.all(dim=0).float().mean().item())
        stats["grad_std"].append(a.grad.std(unbiased=False).item())
        w = layer.weight
        stats["grad_data_ratio"].append((w.grad.std(unbiased=False) / w.detach().std(unbiased=False)).item())
    return stats
    ### END SOLUTION


# %%
# CHECK (3 points): per-layer statistics equal the NumPy recomputation (float64 forward and backward).
def numpy_statistics(model, x, y):
    """The same statistics, recomputed in float64 NumPy: forward, softmax cross-entropy,
    and the backward pass written out by hand, from the model's weights."""
    Ws = [l.weight.detach().numpy().astype(np.float64) for l in model.layers]
    bs = [l.bias.detach().numpy().astype(np.float64) for l in model.layers]
    h, inputs, acts = x.numpy().astype(np.float64), [], []
    for W, b in zip(Ws, bs):
        inputs.append(h)
        z = h @ W.T + b
        h = np.tanh(z) if model.kind == "tanh" else np.maximum(z, 0)
        acts.append(h)
    logits = h @ model.head.weight.detach().numpy().astype(np.float64).T + model.head.bias.detach().numpy()
    prob = np.exp(logits - logits.max(axis=1, keepdims=True))
    prob /= prob.sum(axis=1, keepdims=True)
    n, labels = len(prob), y.numpy()
    prob[np.arange(n), labels] -= 1
    da = (prob / n) @ model.head.weight.detach().numpy().astype(np.float64)
    out = {name: [0.0] * len(Ws) for name in STATS}
    for k in reversed(range(len(Ws))):
        a = acts[k]
        flat = np.abs(a) > 0.97 if model.kind == "tanh" else a <= 0
        dz = da * (1 - a ** 2) if model.kind == "tanh" else da * (a > 0)
        dW = dz.T @ inputs[k]
        out["act_std"][k], out["saturated"][k], out["dead"][k] = a.std(), flat.mean(), flat.all(axis=0).mean()
        out["grad_std"][k], out["grad_data_ratio"][k] = da.std(), dW.std() / Ws[k].std()
        da = dz @ Ws[k]
    return out


x_c, y_c = X_train[:256], y_train[:256]
for kind_c, scheme_c in (("tanh", "xavier"), ("relu", "kaiming")):
    tw.manual_seed(5)
    model_c = init_model_(DeepMLP(kind_c), scheme_c)
    ours_c, ref_c = layer_statistics(model_c, x_c, y_c), numpy_statistics(model_c, x_c, y_c)
    assert set(ours_c) == set(STATS) and all(len(ours_c[s]) == 8 for s in STATS), {s: len(v) for s, v in ours_c.items()}
    for s in ("act_std", "grad_std", "grad_data_ratio"):
        np.testing.assert_allclose(ours_c[s], ref_c[s], rtol=2e-3, err_msg=f"{kind_c} {s}")
    for s in ("saturated", "dead"):                        # a unit or two may sit at the threshold
        np.testing.assert_allclose(ours_c[s], ref_c[s], atol=3 / (256 * 128) if s == "saturated" else 1 / 128,
                                   err_msg=f"{kind_c} {s}")
    assert all(isinstance(v, float) for s in STATS for v in ours_c[s])
print("statistics agree with NumPy for tanh/xavier and relu/kaiming")
### BEGIN HIDDEN TESTS
# float64 networks, including the saturated and the exploding ones; called twice on the same
# model (the gradients must not accumulate), with another batch.
x_h, y_h = X_train[300:428].double(), y_train[300:428]
for kind_h, scheme_h in (("tanh", "large"), ("relu", "small"), ("tanh", "small"), ("relu", "large")):
    tw.manual_seed(6)
    model_h = init_model_(DeepMLP(kind_h, depth=5, width=64), scheme_h).double()
    ref_h = numpy_statistics(model_h, x_h, y_h)
    for _ in range(2):
        ours_h = layer_statistics(model_h, x_h, y_h)
        assert model_h.layers[0].weight.grad is not None and model_h.acts[0].grad is not None, "backward() ran"
        assert all(len(ours_h[s]) == 5 for s in STATS)
        for s in STATS:
            # rtol 1e-4: float64 round-off, and n - 1 instead of n in a std (6e-5 here) passes
            np.testing.assert_allclose(ours_h[s], ref_h[s], rtol=1e-4, atol=1e-300, err_msg=f"{kind_h}/{scheme_h} {s}")
### END HIDDEN TESTS

# %% [markdown]
# Now the experiment: each nonlinearity with a too-small, a too-large and its proper
# initialisation. For every layer, one curve shows the histogram of its activations, and
# one the histogram of its gradients (the saturation plots).

# %%
CONFIGS = [("tanh", "small"), ("tanh", "large"), ("tanh", "xavier"),
           ("relu", "small"), ("relu", "large"), ("relu", "kaiming")]
x_stats, y_stats = X_train[:512], y_train[:512]
layer_stats, deep_models = {}, {}
fig, axes = plt.subplots(len(CONFIGS), 2, figsize=(12, 2.1 * len(CONFIGS)))
for row, (kind, scheme) in enumerate(CONFIGS):
    tw.manual_seed(7)
    model = init_model_(DeepMLP(kind), scheme)
    stats = layer_statistics(model, x_stats, y_stats)
    layer_stats[f"{kind}/{scheme}"], deep_models[(kind, scheme)] = stats, model
    for k, a in enumerate(model.acts):
        values, grads = a.detach().numpy().ravel(), a.grad.numpy().ravel()
        lim_a = 1.0 if kind == "tanh" else max(np.percentile(values, 99), 1e-30)
        hist, edges = np.histogram(values, bins=60, range=(-lim_a if kind == "tanh" else 0, lim_a))
        axes[row, 0].plot((edges[1:] + edges[:-1]) / 2, hist, lw=0.9, label=f"layer {k + 1}")
        lim_g = max(np.percentile(np.abs(grads), 99), 1e-30)
        hist, edges = np.histogram(grads, bins=60, range=(-lim_g, lim_g))
        axes[row, 1].plot((edges[1:] + edges[:-1]) / 2, hist, lw=0.9)
    axes[row, 0].set_title(f"{kind}, {scheme} init: activations (saturated: "
                           f"{np.mean(stats['saturated']):.0%} of entries)", fontsize=9)
    axes[row, 1].set_title(f"{kind}, {scheme} init: activation gradients", fontsize=9)
    axes[row, 0].set_yscale("log")
axes[0, 0].legend(fontsize=6, ncol=2)
plt.tight_layout()
plt.show()

# %% [markdown]
# The same statistics as numbers, layer by layer (layer 1 is next to the input), and the
# standard deviations drawn on a log scale:

# %%
for name, stats in layer_stats.items():
    print(f"--- {name}")
    for s in STATS:
        print(f"  {s:>16}: " + " ".join(f"{v:8.1e}" if s in ("act_std", "grad_std", "grad_data_ratio") else f"{v:8.2f}"
                                       for v in stats[s]))
saturation = {name: float(np.mean(stats["saturated"])) for name, stats in layer_stats.items()}
fig, axes = plt.subplots(1, 3, figsize=(13, 3.3))
for name, stats in layer_stats.items():
    style = "-" if name.startswith("tanh") else "--"
    for ax, s in zip(axes, ("act_std", "grad_std", "grad_data_ratio")):
        ax.semilogy(np.arange(1, 9), stats[s], style, marker="o", ms=3, label=name)
for ax, title in zip(axes, ("activation std", "activation-gradient std", "weight grad std / weight std")):
    ax.set_title(title, fontsize=9); ax.set_xlabel("layer")
axes[0].legend(fontsize=7, ncol=2)
plt.tight_layout()
plt.show()

# %% [markdown]
# Read it layer by layer:
# - **tanh, small**: the activations shrink by about $\sqrt{128}\cdot 0.01 \approx 0.11$ per
#   layer and die out, and the gradients fade the same way on their way back to the input.
#   Every weight's gradient is about $10^{-8}$ of the weight itself: nothing will move;
# - **tanh, large**: most entries are saturated, and the histogram is two spikes at $\pm 1$.
#   Those entries pass no gradient. The few that do are multiplied by weights of size 1, so
#   the gradient *grows* on its way back: the gradient-to-weight ratio goes from about
#   $10^{-2}$ at the top to about 10 at the bottom. No single learning rate suits both ends;
# - **tanh, xavier**: the standard deviation stays roughly constant through the layers, few
#   entries saturate, and gradients of similar size reach every layer;
# - **ReLU, small / large**: the scale shrinks or grows by a constant factor per layer
#   ($0.01\sqrt{128/2} \approx 0.08$ and $\sqrt{128/2} = 8$, so $8^8 \approx 10^7$ at the top).
#   The saturated and dead fractions are *the same* for the three ReLU inits. Biases start
#   at 0, so multiplying every weight by a constant changes no sign. Only the scale is wrong,
#   and only the standard deviations show it;
# - **ReLU, kaiming**: a constant scale, and about half the entries at 0 (that is ReLU). A
#   few units of the deeper layers are dead on this batch: watch that fraction during
#   training: a unit that is inactive on every input gets no gradient, and may never recover.
#
# Does it matter for training? Each network gets the same few epochs of Adam:

# %%
INIT_EPOCHS = 1 if quick() else 4
init_accuracy = {}
for (kind, scheme), model in deep_models.items():
    opt = optim.Adam(model.parameters(), lr=1e-3)
    losses = train(model, opt, INIT_EPOCHS, seed=8)
    init_accuracy[f"{kind}/{scheme}"] = accuracy(model, X_test, y_test)
    print(f"{kind:>5}/{scheme:<8} saturated {saturation[f'{kind}/{scheme}']:5.1%}   "
          f"loss {losses[0]:10.3g} -> {np.mean(losses[-10:]):8.3g}   test accuracy "
          f"{init_accuracy[f'{kind}/{scheme}']:.3f}")

# %% [markdown]
# Only the two properly initialised networks learn in these few epochs. Adam rescales every
# weight's step, which rescues the exploding ReLU network in part (its loss is still huge),
# but nothing rescues the vanishing ones: a step of about $\eta$ per weight means nothing
# when the signal has already died out a few layers down.
#
# ## 6. Learning-rate schedules
#
# A large learning rate makes fast progress early. A small one settles into a minimum late.
# A schedule gives both. Three common shapes, with $t$ counting steps from 0:
#
# - **step**: $\eta_t = \eta_0 \gamma^{\lfloor t / s \rfloor}$, multiplied by $\gamma$ every
#   $s$ steps (`lr_scheduler.StepLR`);
# - **cosine**: $\eta_t = \eta_\min + (\eta_0 - \eta_\min)\,\frac{1 + \cos(\pi t / T)}{2}$,
#   from $\eta_0$ down to $\eta_\min$ at $t = T$ (`lr_scheduler.CosineAnnealingLR`);
# - **warmup, then cosine**: a linear ramp from $f\eta_0$ up to $\eta_0$ during the first
#   $w$ steps, $\eta_t = \eta_0 (f + (1 - f)\, t / w)$, then the cosine over the remaining
#   $T_\text{total} - w$ steps. The library builds it from two schedulers,
#   `SequentialLR([LinearLR(start_factor=f, total_iters=w), CosineAnnealingLR(T_max=total - w)],
#   milestones=[w])`. Warmup helps Adam in particular: its second-moment estimate is still
#   noisy in the first steps.
#
# **Exercise 7.** Write the three schedules as closed-form functions of the step `t`,
# returning a Python float.

# %%
def step_lr(t, base_lr, step_size, gamma=0.1):
    ### BEGIN SOLUTION
    return base_lr * gamma ** (t // step_size)
    ### END SOLUTION


def cosine_lr(t, base_lr, T_max, eta_min=0.0):
    ### BEGIN SOLUTION
    return eta_min + (base_lr - eta_min) * (1 + math.cos(math.pi * t / T_max)) / 2
    ### END SOLUTION


def warmup_cosine_lr(t, base_lr, warmup, total, start_factor=0.1, eta_min=0.0):
    ### BEGIN SOLUTION
    if t < warmup:
        return base_lr * (start_factor + (1 - start_factor) * t / warmup)
    return cosine_lr(t - warmup, base_lr, total - warmup, eta_min)
    ### END SOLUTION


# %%
# CHECK (2 points): the three schedules equal lr_scheduler's StepLR, CosineAnnealingLR and warmup + cosine.
def library_lrs(make_scheduler, base_lr, steps):
    """The learning rate an engine scheduler gives at steps 0 .. steps-1."""
    p = tw.zeros(1, requires_grad=True)
    opt = optim.SGD([p], lr=base_lr)
    sched = make_scheduler(opt)
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def compare(ours, make_scheduler, base_lr, steps):
    mine = [ours(t) for t in range(steps)]
    assert all(isinstance(v, float) for v in mine), "return Python floats"
    theirs = library_lrs(make_scheduler, base_lr, steps)
    np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-12 * base_lr)
    return float(np.abs(np.array(mine) - np.array(theirs)).max())


schedule_max_diff = max(
    compare(lambda t: step_lr(t, 0.1, 30, 0.5), lambda o: lr_scheduler.StepLR(o, step_size=30, gamma=0.5), 0.1, 100),
    compare(lambda t: cosine_lr(t, 0.1, 80, 1e-3), lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=80, eta_min=1e-3),
            0.1, 81),
    compare(lambda t: warmup_cosine_lr(t, 0.1, 10, 100, start_factor=0.1),
            lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=10),
                                                    lr_scheduler.CosineAnnealingLR(o, T_max=90)], milestones=[10]),
            0.1, 101))
print(f"schedules agree with lr_scheduler (max difference {schedule_max_diff:.1e})")
### BEGIN HIDDEN TESTS
# A step every step, a gentle gamma, no eta_min, a one-step warmup, a warmup from half the rate
# down to a floor: each against the library's scheduler.
hidden_cases = [
    (lambda t: step_lr(t, 2.0, 1), lambda o: lr_scheduler.StepLR(o, step_size=1), 2.0, 12),
    (lambda t: step_lr(t, 0.3, 7, 0.9), lambda o: lr_scheduler.StepLR(o, step_size=7, gamma=0.9), 0.3, 50),
    (lambda t: cosine_lr(t, 0.5, 13), lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=13), 0.5, 14),
    (lambda t: warmup_cosine_lr(t, 3e-3, 1, 40, start_factor=0.01, eta_min=1e-4),
     lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.LinearLR(o, start_factor=0.01, total_iters=1),
                                             lr_scheduler.CosineAnnealingLR(o, T_max=39, eta_min=1e-4)],
                                         milestones=[1]), 3e-3, 41),
    (lambda t: warmup_cosine_lr(t, 1.0, 25, 60, start_factor=0.5, eta_min=0.2),
     lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.LinearLR(o, start_factor=0.5, total_iters=25),
                                             lr_scheduler.CosineAnnealingLR(o, T_max=35, eta_min=0.2)],
                                         milestones=[25]), 1.0, 61),
]
for ours_h, make_h, base_h, steps_h in hidden_cases:
    compare(ours_h, make_h, base_h, steps_h)
### END HIDDEN TESTS

# %% [markdown]
# The three schedules, and training with each. The digits are trained with your
# `SGDMomentum` ($\eta_0 = 0.05$, $\mu = 0.9$, $\lambda = 5\cdot10^{-4}$), setting `opt.lr`
# before every step. The same run is then repeated with `optim.SGD` and the library
# schedulers, on a copy of the same initial weights and the same batches. The two must end
# at the same weights.

# %%
SCHED_EPOCHS = 2 if quick() else 12
TOTAL = SCHED_EPOCHS * STEPS_PER_EPOCH
WARMUP = STEPS_PER_EPOCH
schedules = {
    "constant": lambda t: 0.05,
    "step (x0.1 at 2/3)": lambda t: step_lr(t, 0.05, 2 * TOTAL // 3, 0.1),
    "warmup + cosine": lambda t: warmup_cosine_lr(t, 0.05, WARMUP, TOTAL, start_factor=0.1),
}
schedule_accuracy, schedule_losses = {}, {}
t0 = time.perf_counter()
for name, lr_at in schedules.items():
    model = make_mlp(seed=4)
    if name == "warmup + cosine":
        initial = copy.deepcopy(model)
    opt = SGDMomentum(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    schedule_losses[name] = train(model, opt, SCHED_EPOCHS, lr_at=lr_at, seed=9)
    schedule_accuracy[name] = accuracy(model, X_test, y_test)
    if name == "warmup + cosine":
        hand_model = model

library_model = initial
opt = optim.SGD(library_model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
sched = lr_scheduler.SequentialLR(opt, [lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=WARMUP),
                                        lr_scheduler.CosineAnnealingLR(opt, T_max=TOTAL - WARMUP)],
                                  milestones=[WARMUP])
train(library_model, opt, SCHED_EPOCHS, scheduler=sched, seed=9)
hand_vs_library_max_diff = max_weight_diff(hand_model, library_model)
print(f"{4 * SCHED_EPOCHS} epochs in {time.perf_counter() - t0:.1f} s")
print(f"your SGD + your schedule vs optim.SGD + SequentialLR after {TOTAL} steps: "
      f"max weight difference {hand_vs_library_max_diff:.1e}")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.5))
for name, lr_at in schedules.items():
    ax1.plot([lr_at(t) for t in range(TOTAL)], label=name)
    smooth = np.convolve(schedule_losses[name], np.ones(15) / 15, mode="valid")
    ax2.plot(smooth, label=f"{name}: test acc {schedule_accuracy[name]:.3f}")
ax1.set_xlabel("step"); ax1.set_ylabel("learning rate"); ax1.legend()
ax2.set_yscale("log"); ax2.set_xlabel("step"); ax2.set_ylabel("training loss (running mean)"); ax2.legend(fontsize=8)
plt.show()
test_accuracy = schedule_accuracy["warmup + cosine"]
for name in schedules:
    print(f"{name:>20}: test accuracy {schedule_accuracy[name]:.3f}")

# %%
# Your optimizer and schedule, and the library's, ended at the same weights; the model classifies the digits.
assert hand_vs_library_max_diff < 1e-4, hand_vs_library_max_diff
assert test_accuracy >= (0.9 if quick() else 0.95), test_accuracy   # quick(): 2 epochs

# %%
record(sgd_momentum_max_diff=sgd_momentum_max_diff, adam_max_diff=adam_max_diff, adamw_max_diff=adamw_max_diff,
       l2_vs_weight_decay_max_diff=l2_vs_weight_decay_max_diff, valley_final=valley_final,
       weight_norms=weight_norms, decay_accuracy=decay_accuracy,
       dropout_zero_fraction=dropout_zero_fraction,
       dropout={f"p={p}": {k: r[k] for k in ("train", "test", "test_loss")} for p, r in dropout_results.items()},
       saturation=saturation, layer_stats=layer_stats, init_accuracy=init_accuracy,
       schedule_max_diff=schedule_max_diff, schedule_accuracy=schedule_accuracy,
       first_losses=schedule_losses["warmup + cosine"][:5],
       schedule_final_loss=float(np.mean(schedule_losses["warmup + cosine"][-20:])),
       hand_vs_library_max_diff=hand_vs_library_max_diff, test_accuracy=test_accuracy)

# %% [markdown]
# ## What you saw
#
# - An optimizer is a loop over parameters that updates them in place under `no_grad`, plus
#   some state per parameter: a velocity (momentum), or two moments and a step count (Adam).
# - L2 in the loss is `weight_decay` in SGD and Adam. AdamW decouples the decay from the
#   gradient's normalisation, and shrinks every weight by the same factor.
# - Inverted dropout scales the survivors by $1/(1-p)$ in training, so that evaluation
#   needs nothing but `eval()`.
# - The initial scale decides whether the signal and the gradient survive depth. Xavier
#   (tanh) and Kaiming (ReLU) keep it constant from layer to layer. The per-layer
#   statistics (saturation, dead units, gradient-to-weight ratio) show what went wrong when
#   a network does not train.
# - A learning-rate schedule is just a function of the step. The library's schedulers
#   compute the same numbers.
