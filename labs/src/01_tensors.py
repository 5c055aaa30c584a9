# %% [markdown]
# # Lab 01 — Tensors and broadcasting
#
# **Prerequisites:** lab 00 · **Expected time:** 45 min
#
# A **tensor** is an n-dimensional array plus what autograd needs to differentiate through it.
# In TensorWeaver, `Tensor.data` is a plain array of the backend (NumPy or cuPyNumeric) and
# `Tensor.shape` is a tuple. Everything a network does is built from a few dozen operations
# on such arrays, so it pays to be fluent in them.
#
# In this lab:
# 1. creating tensors, and the dtype rules (float32 by default, as in PyTorch);
# 2. shapes and views: `reshape`, `transpose`, `unsqueeze`;
# 3. **broadcasting**, the rule behind most vectorised code (exercise: pairwise distances);
# 4. reductions along a dimension, and a numerically stable softmax (exercise);
# 5. indexing and masks.

# %%
# %matplotlib inline
import time

import matplotlib.pyplot as plt
import numpy as np

import tensorweaver as tw
from tensorweaver.labs import record

tw.manual_seed(0)
print("backend:", tw.backend.name)

# %% [markdown]
# ## 1. Creating tensors and their dtypes
#
# Python floats become **float32** and Python ints **int64**, as in PyTorch; NumPy arrays keep
# their dtype. float32 halves memory and doubles speed compared with float64 and is precise
# enough for training; gradient checks (lab 02) use float64.

# %%
a = tw.tensor([1.0, 2.0, 3.0])
b = tw.tensor([1, 2, 3])
c = tw.tensor(np.array([1.0, 2.0]))           # a float64 NumPy array stays float64
z = tw.zeros(2, 3)
r = tw.randn(2, 3)                             # drawn on the host from the seeded generator
for name, t in [("a", a), ("b", b), ("c", c), ("z", z), ("r", r)]:
    print(f"{name}: shape {t.shape}, dtype {t.dtype}")
print(a + b)            # float32 + int64 -> float32, as in torch

# %% [markdown]
# ## 2. Shapes
#
# `reshape` keeps the elements in row-major order; `transpose`/`permute` reorder dimensions;
# `unsqueeze(d)` inserts a dimension of size 1 at position `d` (the key to broadcasting).

# %%
x = tw.arange(12).reshape(3, 4)
print(x)
print("x.T shape      ", x.T.shape)
print("unsqueeze(0)   ", x.unsqueeze(0).shape)
print("unsqueeze(-1)  ", x.unsqueeze(-1).shape)
print("flatten        ", x.flatten().shape)

# %% [markdown]
# ## 3. Broadcasting
#
# Two shapes are compatible when, aligned **from the right**, each pair of dimensions is
# equal or one of them is 1. The size-1 (or missing) dimensions are virtually repeated; no
# memory is copied. So `(3, 1) + (1, 4)` gives `(3, 4)`, and `(5, 1, 2) - (1, 7, 2)` gives
# `(5, 7, 2)`.
#
# In backward, broadcasting has a mirror image: a gradient flowing into an input that was
# broadcast must be **summed** over the repeated dimensions (you will write that in lab 02).

# %%
col = tw.tensor([[0.0], [10.0], [20.0]])      # (3, 1)
row = tw.tensor([[1.0, 2.0, 3.0, 4.0]])       # (1, 4)
print((col + row).shape)
print(col + row)
try:
    tw.ones(3, 4) + tw.ones(3)
except ValueError as exc:
    print("Incompatible shapes ->", exc)

# %% [markdown]
# **Exercise 1.** Write `pairwise_sq_dists(x, y)` for `x` of shape `(n, d)` and `y` of shape
# `(m, d)`, returning the `(n, m)` tensor of squared Euclidean distances
# $D_{ij} = \sum_k (x_{ik} - y_{jk})^2$ — with broadcasting, no Python loop.
#
# *Hint:* make `x` `(n, 1, d)` and `y` `(1, m, d)`.

# %%
def pairwise_sq_dists(x, y):
    ### BEGIN SOLUTION
    diff = x.unsqueeze(1) - y.unsqueeze(0)     # (n, m, d)
    return (diff * diff).sum(dim=-1)
    ### END SOLUTION


# %%
# CHECK (2 points): matches a plain Python loop on a small example.
xs, ys = tw.randn(5, 3), tw.randn(4, 3)
D = pairwise_sq_dists(xs, ys)
assert D.shape == (5, 4), D.shape
xh, yh = xs.numpy(), ys.numpy()
loop = np.array([[((xh[i] - yh[j]) ** 2).sum() for j in range(4)] for i in range(5)])
np.testing.assert_allclose(D.numpy(), loop, rtol=1e-5, atol=1e-6)
print("pairwise distances ok")
### BEGIN HIDDEN TESTS
# Other shapes (one point, one dimension, more dimensions than points), in float64, against
# the loop; and the result is differentiable (a tensor computed by the engine's ops).
for n, m, d in [(1, 6, 2), (7, 1, 1), (3, 2, 9)]:
    xh_, yh_ = np.random.default_rng(n * 100 + m).standard_normal((2, max(n, m), d))
    xt_ = tw.tensor(xh_[:n], requires_grad=True)
    D_ = pairwise_sq_dists(xt_, tw.tensor(yh_[:m]))
    loop_ = np.array([[((xh_[i] - yh_[j]) ** 2).sum() for j in range(m)] for i in range(n)])
    assert tuple(D_.shape) == (n, m), (n, m, D_.shape)
    np.testing.assert_allclose(D_.detach().numpy(), loop_, rtol=1e-10, atol=1e-12)
    D_.sum().backward()                         # d/dx_i sum_j |x_i - y_j|^2 = 2 sum_j (x_i - y_j)
    np.testing.assert_allclose(xt_.grad.numpy(), 2 * (m * xh_[:n] - yh_[:m].sum(0)), rtol=1e-9, atol=1e-12)
### END HIDDEN TESTS

# %% [markdown]
# Why bother? Compare with the loop on 300 × 300 points in 8 dimensions. The vectorised
# version does the same arithmetic but makes one call to the array library instead of 90,000
# calls from Python.

# %%
P = tw.randn(300, 8)
t0 = time.perf_counter()
D = pairwise_sq_dists(P, P)
D.sum().item()
t_vec = time.perf_counter() - t0
Ph = P.numpy()
t0 = time.perf_counter()
slow = [[float(((Ph[i] - Ph[j]) ** 2).sum()) for j in range(300)] for i in range(300)]
t_loop = time.perf_counter() - t0
print(f"broadcast: {1000 * t_vec:.1f} ms   python loop: {1000 * t_loop:.0f} ms")
np.testing.assert_allclose(D.numpy(), np.array(slow), rtol=1e-4, atol=1e-4)

# %% [markdown]
# The distance matrix of points drawn around three centres shows the clusters as blocks:

# %%
centres = tw.tensor([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]])
pts = tw.cat([centres[k] + 0.7 * tw.randn(40, 2) for k in range(3)])
Dp = pairwise_sq_dists(pts, pts).numpy()
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.8))
ax1.scatter(pts.numpy()[:, 0], pts.numpy()[:, 1], c=np.repeat([0, 1, 2], 40), cmap="viridis", s=12)
ax1.set_title("120 points, 3 clusters")
im = ax2.imshow(np.sqrt(Dp), cmap="magma")
ax2.set_title("pairwise distances")
fig.colorbar(im, ax=ax2)
plt.show()

# %% [markdown]
# ## 4. Reductions and a stable softmax
#
# `sum`, `mean`, `max`, `var` take `dim` (one int or a tuple) and `keepdim`. Keeping the
# reduced dimension as size 1 lets the result broadcast back against the input, e.g.
# `x - x.mean(dim=1, keepdim=True)` centres every row.
#
# The softmax $\mathrm{softmax}(x)_i = e^{x_i} / \sum_j e^{x_j}$ overflows for large logits in
# float32 ($e^{89} = \infty$). Since softmax is unchanged by subtracting a constant from every
# $x_i$, subtract the row maximum first: the largest exponent is then $e^0 = 1$.
#
# **Exercise 2.** Write `stable_softmax(x, dim)` using `max(dim, keepdim=True)` (it returns
# `(values, indices)`), `exp` and `sum`.

# %%
def stable_softmax(x, dim=-1):
    ### BEGIN SOLUTION
    shifted = x - x.max(dim=dim, keepdim=True)[0]
    e = shifted.exp()
    return e / e.sum(dim=dim, keepdim=True)
    ### END SOLUTION


# %%
# CHECK (2 points): agrees with tw.softmax, and survives logits that overflow a naive softmax.
logits = tw.randn(4, 10) * 3
np.testing.assert_allclose(stable_softmax(logits, dim=1).numpy(), tw.softmax(logits, dim=1).numpy(),
                           rtol=1e-5, atol=1e-7)
big = tw.tensor([[1000.0, 1001.0, 1002.0]])
with np.errstate(over="ignore", invalid="ignore"):
    naive = big.exp() / big.exp().sum(dim=1, keepdim=True)
print("naive:", naive.numpy(), " stable:", stable_softmax(big, dim=1).numpy())
assert np.isfinite(stable_softmax(big, dim=1).numpy()).all()
softmax_error = float(np.abs(stable_softmax(logits, dim=1).numpy() - tw.softmax(logits, dim=1).numpy()).max())
### BEGIN HIDDEN TESTS
# Another dim of a 3-D tensor, and logits far below zero (a naive softmax gives 0/0 there),
# against a float64 reference computed here with NumPy.
def _softmax_reference(a, axis):
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


z_h = np.random.default_rng(1).standard_normal((3, 5, 4)) * 4
for dim_h in (0, 1, -1):
    np.testing.assert_allclose(stable_softmax(tw.tensor(z_h), dim=dim_h).numpy(),
                               _softmax_reference(z_h, dim_h), rtol=1e-10, atol=1e-14)
tiny = np.array([[-1000.0, -1001.0, -1003.0], [5.0, 5.0, 5.0]])
with np.errstate(under="ignore"):
    np.testing.assert_allclose(stable_softmax(tw.tensor(tiny), dim=1).numpy(),
                               _softmax_reference(tiny, 1), rtol=1e-10)
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Indexing and masks
#
# Integers, slices, `None` (a new axis), integer arrays and boolean masks all work as in
# NumPy. Boolean masks select elements; `tw.where(cond, a, b)` keeps the shape.

# %%
x = tw.arange(10).float()
print("x[2:5]        ", x[2:5])
print("x[[0, 0, 9]]  ", x[tw.tensor([0, 0, 9])])
print("x[x > 6]      ", x[x > 6])
print("where         ", tw.where(x > 6, x, tw.zeros_like(x)))

# %%
record(pairwise_sum=float(pairwise_sq_dists(xs, ys).sum().item()), softmax_error=softmax_error,
       speedup_vs_loop=t_loop / t_vec)

# %% [markdown]
# ## What you saw
#
# - Tensors carry a backend array, a shape tuple and a dtype (float32 by default).
# - Broadcasting aligns shapes from the right and stretches size-1 dimensions for free.
# - `keepdim=True` reductions broadcast back; stable softmax subtracts the max first.
#
# Next: [02 — Autodiff by hand](02_autodiff.ipynb).
