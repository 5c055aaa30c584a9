# %% [markdown]
# # Lab 00 — Environment check
#
# **Prerequisites:** none · **Expected time:** 20 min
#
# Before we build anything, we find out **what this notebook computes on**.
#
# TensorWeaver is a small deep-learning engine written in pure Python on top of an *array
# library*. Which array library is chosen once per process, from the environment variable
# `TENSORWEAVER_BACKEND`:
#
# | `TENSORWEAVER_BACKEND` | array library | where it computes |
# |---|---|---|
# | `numpy` (default) | NumPy | this machine's CPU |
# | `cupynumeric` | NVIDIA cuPyNumeric on Legate | the GPUs, or CPU cores in Legate's CPU mode |
#
# Every lab in this folder runs **unchanged** on both. The CPU image (`make lab`) uses NumPy,
# the GPU image (`make lab-gpu`) uses cuPyNumeric. The headless runner picks one explicitly:
#
# ```
# python -m tensorweaver.labs run labs/00_environment.ipynb --backend cupynumeric --output out.ipynb
# ```
#
# In this lab you will:
# 1. read the environment report (versions, backend, Legate configuration, devices);
# 2. run a first computation, with a gradient, on the backend;
# 3. move data between the host (NumPy) and the backend, and check it survived the trip.

# %%
# %matplotlib inline
import time

import numpy as np

import tensorweaver as tw
from tensorweaver import backend
from tensorweaver.labs import record

tw.manual_seed(0)
print(f"tensorweaver {tw.__version__} on the {backend.name} backend, device {backend.device!r}")

# %% [markdown]
# ## 1. The environment report
#
# `python -m tensorweaver.env` prints the same report in a terminal; paste it into bug
# reports. On the cuPyNumeric backend it also says whether Legate runs in **GPU mode** (an
# NVIDIA driver reports GPUs) or **CPU mode** (no usable GPU: Legate then runs its tasks on a
# few CPU cores, so the same code still runs — slower, but exactly the same code paths), and
# the effective `LEGATE_CONFIG`.

# %%
from tensorweaver import env

info = env.report()
width = max(map(len, info))
for key, value in info.items():
    print(f"{key:<{width}}  {value}")

# %% [markdown]
# `backend.xp` is the array module every op computes with: `numpy` itself, or `cupynumeric`.
# The engine never imports NumPy in its ops; it always goes through `xp`. That one seam is
# what makes "same code on CPU and GPU" possible.

# %%
print("xp is", backend.xp.__name__)
t = tw.tensor([[1.0, 2.0], [3.0, 4.0]])
print(t)
print("t.data is a", type(t.data).__module__ + "." + type(t.data).__name__, "with dtype", t.dtype)

# %% [markdown]
# ## 2. A first computation with a gradient
#
# We compute $y = \sum_{ij} (A B)_{ij}$ for two random matrices and ask for $\partial y / \partial A$.
# Since $y = \sum_{i,j,k} A_{ik} B_{kj}$, the derivative is $\partial y / \partial A_{ik} = \sum_j B_{kj}$:
# every row of the gradient is the vector of row sums of $B$. The engine must agree.
#
# **Exercise 1.** Write `expected_grad(B, rows)`: that gradient, from the formula, with NumPy
# only (no engine): for a NumPy array `B` of shape `(k, m)`, the `(rows, k)` array whose every
# row holds the row sums of `B`.

# %%
def expected_grad(B, rows):
    ### BEGIN SOLUTION
    return np.tile(B.sum(axis=1), (rows, 1))
    ### END SOLUTION


# %%
A = tw.randn(64, 32, requires_grad=True)
B = tw.randn(32, 16)
y = (A @ B).sum()
y.backward()

grad_error = float(np.abs(A.grad.numpy() - expected_grad(B.numpy(), 64)).max())
print(f"y = {y.item():.4f}, max |dy/dA - expected| = {grad_error:.2e}")

# %%
# CHECK: your formula agrees with the engine's backward (float32 round-off only).
assert expected_grad(B.numpy(), 64).shape == (64, 32)
assert grad_error < 1e-4, grad_error
### BEGIN HIDDEN TESTS
# Other shapes: the engine's gradient is the reference, the formula is yours.
for rows, k, m in [(3, 7, 2), (1, 5, 9)]:
    A_h = tw.randn(rows, k, dtype=tw.float64, requires_grad=True)
    B_h = tw.randn(k, m, dtype=tw.float64)
    (A_h @ B_h).sum().backward()
    mine = np.asarray(expected_grad(B_h.numpy(), rows))
    assert mine.shape == (rows, k), (rows, k, mine.shape)
    np.testing.assert_allclose(mine, A_h.grad.numpy(), rtol=1e-12, atol=1e-12)
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Host ↔ backend
#
# Random numbers are always drawn on the **host** by one seeded NumPy generator and then
# moved to the backend. That is why a NumPy run and a cuPyNumeric run with the same seed
# start from identical weights. `Tensor(...)` moves host data in; `.numpy()` brings it back.
#
# **Exercise 2.** Write `roundtrip(array)`: build a tensor from the NumPy array `array`
# (keeping its dtype), run it through the engine as `2 * t + 1`, and return the result as a
# NumPy array on the host.

# %%
def roundtrip(array):
    ### BEGIN SOLUTION
    t = tw.tensor(array)
    return (2 * t + 1).numpy()
    ### END SOLUTION


# %%
# CHECK: values and dtype survive the trip.
host = np.arange(12, dtype=np.float64).reshape(3, 4)
back = roundtrip(host)
assert isinstance(back, np.ndarray), type(back)
assert back.dtype == np.float64, back.dtype
np.testing.assert_array_equal(back, 2 * host + 1)
print("roundtrip ok:", back[0])
### BEGIN HIDDEN TESTS
# Other dtypes and shapes keep theirs too, and the input is left as it was.
for host_h in (np.random.default_rng(7).standard_normal((2, 3, 5)).astype(np.float32),
               np.arange(-3, 4, dtype=np.int64), np.array(2.5, dtype=np.float64)):
    before = host_h.copy()
    back_h = roundtrip(host_h)
    assert isinstance(back_h, np.ndarray) and back_h.dtype == host_h.dtype, (host_h.dtype, back_h)
    assert back_h.shape == host_h.shape, (host_h.shape, back_h.shape)
    np.testing.assert_allclose(back_h, 2 * before + 1, rtol=1e-6)
    np.testing.assert_array_equal(host_h, before)
### END HIDDEN TESTS

# %% [markdown]
# ## 4. How fast is one matmul here?
#
# A first feel for the machine: the time of a 512×512 float32 matrix product. On NumPy this
# is a BLAS call; on cuPyNumeric it is a Legate task (on a GPU, or on CPU cores in CPU mode,
# where the per-task overhead shows). We also keep a checksum of the result: it must be the
# same, to float32 round-off, on both backends.

# %%
X = tw.randn(512, 512)
_ = (X @ X).sum().item()          # warm-up (and Legate's first task launch)
times = []
for _ in range(5):
    t0 = time.perf_counter()
    checksum = (X @ X).sum().item()   # .item() waits for the result
    times.append(time.perf_counter() - t0)
ms = 1000 * min(times)
gflops = 2 * 512**3 / (ms / 1000) / 1e9
print(f"512x512 matmul: {ms:.2f} ms ({gflops:.1f} GFLOP/s), checksum {checksum:.4f}")

# %%
record(backend=backend.name, device=backend.device, grad_error=grad_error,
       matmul_checksum=checksum, matmul_ms=ms)

# %% [markdown]
# ## What you saw
#
# - The backend is chosen **once per process** by `TENSORWEAVER_BACKEND`; Legate's
#   configuration is also read once, at its first import.
# - Tensors wrap an array of that backend (`t.data`); all randomness comes from the host.
# - The same code produced the same gradient and checksum, whatever computed it.
#
# Next: [01 — Tensors and broadcasting](01_tensors.ipynb).
