# %% [markdown]
# # Lab 14 — Scale-out: data-parallel training by hand
#
# **Prerequisites:** labs 03, 08 · **Expected time:** 90 min
#
# In lab 03 a batch too large for memory was cut into micro-batches whose gradients
# accumulated into `.grad`: four backward passes, one step, the same result as one big batch.
# **Data parallelism** is that identity spread over machines. Every worker holds a *replica*
# of the model, computes the gradient of its *shard* of the batch, the workers average their
# gradients (an **all-reduce**), and every replica applies the same update — so the replicas
# never drift apart, and the run is the single-process run, only faster (in the best case).
#
# In this lab:
# 1. the identity in one process: shard a batch (exercise), combine the shards' gradients,
#    weighted when the shards are unequal (exercise);
# 2. real worker processes that compute shard gradients and send them back through pipes;
# 3. all-reduce: the average at one place, then the **ring** all-reduce that real clusters
#    use, simulated in this process (exercise);
# 4. data-parallel SGD (exercise) that matches single-process training step for step;
# 5. scaling: step time with 1 and 2 workers, speedup and efficiency (exercise), Amdahl's
#    law fitted to the measurements (exercise);
# 6. the cluster path: the Slurm job the repository renders for a multi-rank Legate run,
#    and what such a run prints.

# %%
# %matplotlib inline
import contextlib
import multiprocessing as mp
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

import tensorweaver as tw
from tensorweaver import nn, optim
from tensorweaver.labs import quick, record

tw.manual_seed(0)
print("backend:", tw.backend.name)

# %% [markdown]
# ## 1. The identity, in one process
#
# Workers will be separate Python processes, and a process can only run code it can
# *import*: a function typed into this notebook does not exist for them. So the model, its
# loss and the worker's loop live in a small module, written to a temporary folder by the
# next cells. This kernel imports the same file: the workers and we run exactly the same
# model code.

# %%
workdir = Path(tempfile.mkdtemp(prefix="lab14-"))
worker_module = workdir / "dp_worker.py"
print(worker_module.name, "in", workdir.name)

# %%
# %%writefile {worker_module}
"""A data-parallel worker: one replica of a small classifier, driven through a pipe.

The notebook imports this module too, so the model and the loss are the same code in the
notebook and in every worker process.
"""
import time
import traceback

import tensorweaver as tw
from tensorweaver import nn


def make_model(hidden):
    """The classifier: 64 pixels -> hidden (tanh) -> 10 digit scores."""
    return nn.Sequential(nn.Linear(64, hidden), nn.Tanh(), nn.Linear(hidden, 10))


def batch_loss(model, x, y):
    """The mean cross-entropy of a batch: the loss whose gradient is averaged."""
    return nn.functional.cross_entropy(model(x), y)


class Replica:
    """One copy of the model and of the training data, and the operations a worker offers."""

    def setup(self, weights, x, y):
        # Every replica starts from the weights it is sent (rank 0's), whatever its own
        # random state: identical replicas are the premise of data parallelism.
        self.x, self.y = tw.tensor(x), tw.tensor(y)
        self.model = make_model(weights[0].shape[0])
        self.params = list(self.model.parameters())
        self.load(weights)
        return tw.backend.name

    def load(self, weights):
        with tw.no_grad():
            for p, w in zip(self.params, weights):
                p.copy_(tw.tensor(w))

    def gradient(self, lo, hi):
        """(examples, mean loss, gradients as NumPy arrays, seconds of compute) of rows lo:hi."""
        t0 = time.perf_counter()
        for p in self.params:
            p.grad = None
        loss = batch_loss(self.model, self.x[lo:hi], self.y[lo:hi])
        loss.backward()
        grads = [p.grad.numpy() for p in self.params]
        return hi - lo, loss.item(), grads, time.perf_counter() - t0

    def apply(self, grads, lr):
        """Plain SGD with the gradient every replica was sent."""
        with tw.no_grad():
            for p, g in zip(self.params, grads):
                p -= lr * tw.tensor(g)

    def weights(self):
        return [p.detach().numpy() for p in self.params]


def serve(conn):
    """A worker process's whole life: answer (method, args) requests until told to stop.

    The pipe ending (the notebook stopped, crashed or restarted) ends the worker too, so a
    worker never outlives the kernel that started it.
    """
    replica = Replica()
    while True:
        try:
            method, args = conn.recv()
        except (EOFError, OSError):
            return
        if method == "stop":
            return
        try:
            conn.send(("ok", getattr(replica, method)(*args)))
        except Exception:                      # report it: the notebook raises it there
            conn.send(("error", traceback.format_exc()))

# %%
sys.path.insert(0, str(workdir))
import dp_worker as dp  # noqa: E402  (written by the cell above)

# %% [markdown]
# The data: scikit-learn's handwritten digits (8×8 pixels, 10 classes), the first 1,536 as
# the training set. The model: `dp.make_model(HIDDEN)`, a 64 → 256 → 10 network; the loss is
# the **mean** cross-entropy of a batch.

# %%
digits = load_digits()
N_TRAIN, HIDDEN = 1536, 256
X_np = (digits.data[:N_TRAIN] / 16.0).astype(np.float32)
y_np = digits.target[:N_TRAIN].astype(np.int64)
X, y = tw.tensor(X_np), tw.tensor(y_np)
model = dp.make_model(HIDDEN)
params = list(model.parameters())
w0 = [p.detach().numpy().copy() for p in params]          # the initial weights, on the host
print(f"{N_TRAIN} training images; {sum(w.size for w in w0)} parameters in {len(w0)} tensors")


def gradients_of(lo, hi):
    """The mean-loss gradient of rows lo:hi, as NumPy arrays (one per parameter)."""
    for p in params:
        p.grad = None
    dp.batch_loss(model, X[lo:hi], y[lo:hi]).backward()
    return [p.grad.numpy().copy() for p in params]


BATCH = 256
full = gradients_of(0, BATCH)

# %% [markdown]
# A batch of $N$ examples, cut into $k$ shards of sizes $n_1 \dots n_k$. The mean loss of the
# batch is $L = \frac1N \sum_j \ell_j$, and shard $i$ computes the mean of its own examples,
# $L_i = \frac1{n_i} \sum_{j \in i} \ell_j$. So
#
# $$L = \sum_i \frac{n_i}{N} L_i \qquad\Rightarrow\qquad \nabla L = \sum_i \frac{n_i}{N}\, \nabla L_i ,$$
#
# the gradient is linear. With **equal** shards every weight is $\frac1k$: the plain average
# of the shards' gradients. With unequal ones (a batch that does not divide evenly, the last
# batch of an epoch), the plain average weighs the examples of small shards more — a quiet
# bug.
#
# **Exercise 1.** Write `shard_bounds(n, k)`: cut `range(n)` into `k` contiguous shards as
# equal as possible, the first `n % k` shards one example longer (as `np.array_split` does),
# and return the list of `k` pairs `(lo, hi)` (shard `i` is rows `lo:hi`). When `k > n` the
# last shards are empty (`lo == hi`).

# %%
def shard_bounds(n, k):
    ### BEGIN SOLUTION
    base, extra = divmod(n, k)
    bounds, lo = [], 0
    for i in range(k):
        hi = lo + base + (1 if i < extra else 0)
        bounds.append((lo, hi))
        lo = hi
    return bounds
    ### END SOLUTION


# %%
# CHECK: contiguous shards of the right sizes, covering every row once.
assert shard_bounds(10, 3) == [(0, 4), (4, 7), (7, 10)], shard_bounds(10, 3)
assert shard_bounds(8, 2) == [(0, 4), (4, 8)], shard_bounds(8, 2)
### BEGIN HIDDEN TESTS
# Against np.array_split's sizes, for divisible and indivisible n, k = 1, and k > n.
for n_h, k_h in [(256, 2), (256, 3), (7, 7), (5, 1), (3, 5), (0, 2), (1000, 7)]:
    got_h = shard_bounds(n_h, k_h)
    sizes_h = [len(part) for part in np.array_split(np.arange(n_h), k_h)]
    assert len(got_h) == k_h, f"shard_bounds({n_h}, {k_h}) must return {k_h} pairs, got {got_h}"
    assert [hi - lo for lo, hi in got_h] == sizes_h, (
        f"shard_bounds({n_h}, {k_h}): sizes {[hi - lo for lo, hi in got_h]}, expected {sizes_h}")
    assert got_h[0][0] == 0 and all(a[1] == b[0] for a, b in zip(got_h, got_h[1:])), (
        f"shard_bounds({n_h}, {k_h}) = {got_h}: shards must start at 0 and follow each other")
    assert all(isinstance(v, int) for pair in got_h for v in pair), "bounds must be Python ints"
### END HIDDEN TESTS

# %% [markdown]
# **Exercise 2.** Write `combine_gradients(grads, sizes)`: `grads[i]` is the list of shard
# $i$'s gradients (one NumPy array per parameter), `sizes[i]` its number of examples $n_i$.
# Return the list of the batch's gradients $\sum_i \frac{n_i}{N} \nabla L_i$, one array per
# parameter, with $N = \sum_i n_i$. A shard with no examples ($n_i = 0$) contributes nothing —
# skip it: the mean over no examples is undefined (its arrays may be NaN). Do not modify the
# inputs.

# %%
def combine_gradients(grads, sizes):
    ### BEGIN SOLUTION
    total = sum(sizes)
    combined = None
    for shard_grads, n in zip(grads, sizes):
        if n == 0:
            continue                       # no examples: its "mean" is undefined, weight 0
        scaled = [(n / total) * g for g in shard_grads]
        combined = scaled if combined is None else [c + s for c, s in zip(combined, scaled)]
    return combined
    ### END SOLUTION


# %%
# CHECK (2 points): shard gradients combined into the batch's gradient, with unequal shards.
uneven = [(0, 200), (200, 256)]                   # 200 and 56 examples
shard_grads = [gradients_of(lo, hi) for lo, hi in uneven]
combined = combine_gradients(shard_grads, [hi - lo for lo, hi in uneven])
assert len(combined) == len(full), "one combined gradient per parameter"
shard_grad_error = max(float(np.abs(c - f).max()) for c, f in zip(combined, full))
print(f"max |weighted combination - batch gradient| = {shard_grad_error:.2e}")
assert shard_grad_error < 1e-5, "the combination must weigh shard i by n_i / N"
### BEGIN HIDDEN TESTS
# Random 'gradients' of several shapes (a 0-d one too), three shards of unequal sizes and an
# empty one whose arrays are NaN, against the weighted sum computed here in float64.
rng_h = np.random.default_rng(21)
shapes_h = [(3, 4), (4,), ()]
sizes_h = [5, 0, 1, 10]
grads_h = [[rng_h.standard_normal(s).astype(np.float32) for s in shapes_h] for _ in sizes_h]
grads_h[1] = [np.full(s, np.nan, dtype=np.float32) for s in shapes_h]
copies_h = [[g.copy() for g in shard] for shard in grads_h]
got_h = combine_gradients(grads_h, sizes_h)
for j, s in enumerate(shapes_h):
    want_h = sum(n * grads_h[i][j].astype(np.float64) for i, n in enumerate(sizes_h) if n) / sum(sizes_h)
    assert np.shape(got_h[j]) == s, f"parameter {j}: shape {np.shape(got_h[j])}, expected {s}"
    assert np.all(np.isfinite(got_h[j])), "an empty shard (n_i = 0) must be skipped, not added"
    np.testing.assert_allclose(got_h[j], want_h, rtol=1e-5, atol=1e-6)
for shard, copy in zip(grads_h, copies_h):
    for g, c in zip(shard, copy):
        np.testing.assert_array_equal(g, c, err_msg="combine_gradients must not modify its inputs")
# One shard: its own gradient.
one_h = combine_gradients([grads_h[0]], [5])
for g, c in zip(one_h, grads_h[0]):
    np.testing.assert_allclose(g, c, rtol=1e-6)
### END HIDDEN TESTS

# %% [markdown]
# The plain average of the same two shards weighs each of the 56 examples of the second
# shard as much as 200/56 ≈ 3.6 examples of the first:

# %%
plain_mean = [(a + b) / 2 for a, b in zip(*shard_grads)]
plain_mean_error = max(float(np.abs(m - f).max()) for m, f in zip(plain_mean, full))
equal = shard_bounds(BATCH, 2)
equal_grads = [gradients_of(lo, hi) for lo, hi in equal]
equal_mean_error = max(float(np.abs((a + b) / 2 - f).max()) for a, b, f in zip(*equal_grads, full))
print(f"uneven shards: plain average off by {plain_mean_error:.2e}, weighted by {shard_grad_error:.2e}")
print(f"equal shards {equal}: plain average off by {equal_mean_error:.2e}")

# %% [markdown]
# ## 2. Workers
#
# A **pool** hands each worker a request and collects the replies. `call(method, args)` sends
# `args[i]` to worker `i` (as many workers as there are argument tuples) and returns their
# results in order. Two pools with the same interface:
#
# - `LocalPool`: the replicas are objects in this process, called one after the other —
#   handy for testing, and what the checks below use;
# - `ProcessPool`: one worker **process** per replica, started with the `"spawn"` method (a
#   fresh interpreter that imports `dp_worker`; the alternative, `fork`, copies this
#   process but only its calling thread, so a lock that one of the kernel's other threads
#   (or Legate's) held stays locked forever in the copy). Requests
#   and replies travel through a pipe each; `send` pickles them and NumPy arrays pickle
#   compactly. `call` writes **every** request before reading any reply, so the workers
#   compute at the same time.
#
# Starting a process costs seconds here (a fresh Python imports NumPy and the engine), so the
# lab starts two workers once and reuses them. They always run the **NumPy** backend, one
# BLAS thread each: on cuPyNumeric each process would start its own Legate runtime, and
# every runtime would claim the machine's cores and memory. Many processes that share one
# machine's devices is what Legate's own launcher does properly (section 6).
#
# Cleaning up: `ProcessPool` is a context manager, entered on an `ExitStack` that the last
# cell closes. When a request fails halfway (a worker crashed, a timeout, an interrupt)
# `call` stops the workers rather than leave unread replies in the pipes, and a cell can
# say the same with `with stop_on_error(pool):`. If the kernel dies or restarts, each
# worker's pipe closes and the worker exits (see `serve`); the workers are also daemon
# processes, which Python terminates when the kernel exits.

# %%
class LocalPool:
    """Replicas in this process, with ProcessPool's interface."""

    def __init__(self, size):
        self.size = size
        self.replicas = [dp.Replica() for _ in range(size)]

    def call(self, method, per_worker_args):
        return [getattr(replica, method)(*args)
                for replica, args in zip(self.replicas, per_worker_args)]


@contextlib.contextmanager
def stop_on_error(pool):
    """Stop the pool's workers if the block fails, then let the error through."""
    try:
        yield pool
    except BaseException:
        pool.close()
        raise


@contextlib.contextmanager
def environment(**variables):
    """These environment variables inside the block (what started processes inherit)."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class ProcessPool:
    """`size` worker processes running dp_worker.serve, one pipe each."""

    def __init__(self, size, timeout=300):
        self.size, self.timeout = size, timeout
        self.processes, self.conns = [], []

    def __enter__(self):
        context = mp.get_context("spawn")
        try:
            # One BLAS thread per worker (the workers are the parallelism), NumPy backend.
            with environment(TENSORWEAVER_BACKEND="numpy", OMP_NUM_THREADS="1",
                             OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1"):
                for rank in range(self.size):
                    ours, theirs = context.Pipe()
                    proc = context.Process(target=dp.serve, args=(theirs,),
                                           name=f"dp-worker-{rank}", daemon=True)
                    proc.start()
                    theirs.close()     # the child's end lives in the child only now
                    self.processes.append(proc)
                    self.conns.append(ours)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info):
        self.close()

    def call(self, method, per_worker_args):
        if not self.conns:
            raise RuntimeError("the workers are stopped: run the cell that starts them again")
        conns = self.conns[:len(per_worker_args)]
        with stop_on_error(self):
            for conn, args in zip(conns, per_worker_args):
                conn.send((method, tuple(args)))
            replies = []
            for rank, conn in enumerate(conns):
                if not conn.poll(self.timeout):
                    raise TimeoutError(f"worker {rank} did not answer {method!r} in {self.timeout} s")
                replies.append(conn.recv())
        for rank, (status, value) in enumerate(replies):
            if status == "error":
                raise RuntimeError(f"worker {rank} failed in {method!r}:\n{value}")
        return [value for _, value in replies]

    def close(self):
        """Ask every worker to stop, wait a little, then terminate the ones left."""
        for conn in self.conns:
            with contextlib.suppress(OSError, ValueError):
                conn.send(("stop", ()))
        for proc in self.processes:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=10)
        for conn in self.conns:
            conn.close()
        self.conns = []


# %% [markdown]
# First in one process: two replicas, the batch split between them, their gradients combined.

# %%
local = LocalPool(2)
local.call("setup", [(w0, X_np, y_np)] * 2)
local_results = local.call("gradient", equal)
local_grads = combine_gradients([g for _, _, g, _ in local_results], [n for n, _, _, _ in local_results])
print("two replicas in this process: max difference from the batch gradient",
      f"{max(float(np.abs(c - f).max()) for c, f in zip(local_grads, full)):.2e}")

# %% [markdown]
# Then with real processes. Starting them is the slow part:

# %%
WORKERS = 2
print(f"this machine has {os.cpu_count()} CPU cores (load average {os.getloadavg()[0]:.1f}); "
      f"starting {WORKERS} workers")
if "pool_stack" in globals():
    pool_stack.close()                    # this cell run again: stop the earlier workers first
pool_stack = contextlib.ExitStack()
t0 = time.perf_counter()
pool = pool_stack.enter_context(ProcessPool(WORKERS))
worker_backends = pool.call("setup", [(w0, X_np, y_np)] * WORKERS)
worker_startup_s = time.perf_counter() - t0
worker_pids = [proc.pid for proc in pool.processes]
print(f"workers {worker_pids} ready in {worker_startup_s:.1f} s, backends {worker_backends}")

# %%
with stop_on_error(pool):
    results = pool.call("gradient", equal)
process_grads = combine_gradients([g for _, _, g, _ in results], [n for n, _, _, _ in results])
process_grad_error = max(float(np.abs(c - f).max()) for c, f in zip(process_grads, full))
for rank, ((lo, hi), (n, loss, _, seconds)) in enumerate(zip(equal, results)):
    print(f"worker {rank}: rows {lo}:{hi}, loss {loss:.4f}, {1000 * seconds:.1f} ms of compute")
print(f"combined gradient vs this kernel's batch gradient: max difference {process_grad_error:.2e}")
assert process_grad_error < 1e-5

# %% [markdown]
# ## 3. All-reduce
#
# What the pool just did is the simplest all-reduce: every worker sends its gradient to one
# place, which sums (and averages) them and sends the result back. With $k$ workers and $n$
# numbers per gradient, that one place receives $(k-1)\,n$ numbers and sends as many: its
# link is the bottleneck, and it grows with $k$.
#
# The **ring all-reduce** (what NCCL and MPI libraries use for large buffers) has no centre.
# The workers form a ring, each may send only to its right neighbour, and every buffer is cut
# into $k$ chunks:
#
# 1. **reduce-scatter**, $k-1$ steps: at step $s$ worker $r$ sends its chunk $(r - s) \bmod k$
#    to worker $r+1$, which **adds** it to its own copy of that chunk. After $k-1$ steps,
#    worker $r$ holds the complete sum of chunk $(r + 1) \bmod k$.
# 2. **all-gather**, $k-1$ steps: at step $s$ worker $r$ sends chunk $(r + 1 - s) \bmod k$ to
#    worker $r+1$, which **overwrites** its copy with it. Afterwards every worker has every
#    summed chunk.
#
# Each worker sends $2(k-1)$ chunks of about $n/k$ numbers: $2\frac{k-1}{k}\,n < 2n$, whatever
# $k$. All links are busy at the same time, none carries more than that.
#
# The simulation below runs the $k$ workers in this process; the channel is the only way
# between them, and it counts what it carries.

# %%
class RingChannel:
    """The links of a ring of k workers: worker r may send only to worker (r + 1) % k."""

    def __init__(self, k):
        self.k = k
        self.elements = [0] * k            # numbers sent by each worker
        self.messages = 0
        self.largest = 0                   # the longest message, in numbers

    def send(self, src, dst, array):
        if dst != (src + 1) % self.k:
            raise AssertionError(f"worker {src} sent to worker {dst}: on a ring of {self.k} it can "
                                 f"send only to its right neighbour {(src + 1) % self.k}")
        received = np.array(array, copy=True)         # the receiver gets its own copy
        self.elements[src] += received.size
        self.messages += 1
        self.largest = max(self.largest, received.size)
        return received


# %% [markdown]
# **Exercise 3.** Write `ring_allreduce(buffers, send)`: `buffers` is a list of $k$ 1-D NumPy
# arrays of the same length $n$ (worker $r$'s is `buffers[r]`); `send(src, dst, array)`
# delivers `array` from worker `src` to worker `dst` and returns the copy that arrives.
# Return a list of $k$ new arrays, each the elementwise **sum** of all buffers, computed by
# the two phases above with chunks from `np.array_split(buffer, k)` (every message one
# chunk). Work on copies: do not modify `buffers`.

# %%
def ring_allreduce(buffers, send):
    ### BEGIN SOLUTION
    k = len(buffers)
    result = [np.array(b, copy=True) for b in buffers]
    chunks = [np.array_split(b, k) for b in result]            # views into each worker's copy
    for s in range(k - 1):                                     # reduce-scatter
        for r in range(k):
            c, right = (r - s) % k, (r + 1) % k
            chunks[right][c] += send(r, right, chunks[r][c])
    for s in range(k - 1):                                     # all-gather
        for r in range(k):
            c, right = (r + 1 - s) % k, (r + 1) % k
            chunks[right][c][...] = send(r, right, chunks[r][c])
    return result
    ### END SOLUTION


# %%
# CHECK (3 points): every worker ends with the sum, by chunks sent around the ring.
rng_c = np.random.default_rng(3)
k_c, n_c = 4, 10                                               # chunks of 3, 3, 2, 2
bufs_c = [rng_c.standard_normal(n_c).astype(np.float32) for _ in range(k_c)]
channel_c = RingChannel(k_c)
out_c = ring_allreduce(bufs_c, channel_c.send)
want_c = np.sum(np.stack(bufs_c).astype(np.float64), axis=0)
assert len(out_c) == k_c, f"one result per worker: expected {k_c}, got {len(out_c)}"
for r, got in enumerate(out_c):
    np.testing.assert_allclose(got, want_c, rtol=1e-5, atol=1e-6,
                               err_msg=f"worker {r} does not hold the sum of the buffers")
assert channel_c.messages == 2 * k_c * (k_c - 1), (
    f"{channel_c.messages} messages: a ring all-reduce of {k_c} workers sends 2(k-1) chunks per worker")
assert sum(channel_c.elements) == 2 * (k_c - 1) * n_c, (
    f"{sum(channel_c.elements)} numbers sent in all, expected 2(k-1)n = {2 * (k_c - 1) * n_c}")
assert channel_c.largest <= -(-n_c // k_c), "every message must be one chunk of the buffer"
print(f"ring all-reduce ok: {channel_c.messages} messages, {channel_c.elements} numbers sent per worker")
### BEGIN HIDDEN TESTS
# Other ring sizes (1, 2, 3, 5), chunks of unequal and zero length, inputs untouched, and
# results that are separate arrays.
for k_h, n_h in [(1, 6), (2, 7), (3, 2), (5, 23)]:
    bufs_h = [np.random.default_rng(k_h * 10 + i).standard_normal(n_h).astype(np.float32) for i in range(k_h)]
    copies_h = [b.copy() for b in bufs_h]
    channel_h = RingChannel(k_h)
    out_h = ring_allreduce(bufs_h, channel_h.send)
    want_h = np.sum(np.stack(bufs_h).astype(np.float64), axis=0)
    assert len(out_h) == k_h
    for r, got in enumerate(out_h):
        np.testing.assert_allclose(got, want_h, rtol=1e-5, atol=1e-6,
                                   err_msg=f"k={k_h}, n={n_h}: worker {r} does not hold the sum")
    for b, c in zip(bufs_h, copies_h):
        np.testing.assert_array_equal(b, c, err_msg="ring_allreduce must not modify its inputs")
    assert channel_h.messages == 2 * k_h * (k_h - 1), (k_h, channel_h.messages)
    assert sum(channel_h.elements) == 2 * (k_h - 1) * n_h, (k_h, channel_h.elements)
    assert channel_h.largest <= -(-n_h // k_h), "every message must be one chunk"
    if k_h > 1:
        out_h[0][...] = 0
        assert np.abs(out_h[1]).max() > 0, "each worker's result must be its own array"
### END HIDDEN TESTS

# %% [markdown]
# On the workers' real gradients: flatten each worker's gradients into one buffer, let the
# ring sum them, divide by $k$ — the plain average of section 1. And since the ring only
# *sums*, the weighted average is the ring applied to buffers already scaled by
# $\frac{n_i}{N}$: each worker knows its own $n_i$ and (one more small all-reduce, or a fixed
# batch size) $N$.

# %%
def flatten(grads):
    return np.concatenate([g.ravel() for g in grads])


flat = [flatten(g) for _, _, g, _ in results]
ring_sum = ring_allreduce(flat, RingChannel(WORKERS).send)
allreduce_error = max(float(np.abs(s / WORKERS - np.mean(flat, axis=0)).max()) for s in ring_sum)
sizes_u = [hi - lo for lo, hi in uneven]
scaled = [n / sum(sizes_u) * flatten(g) for n, g in zip(sizes_u, shard_grads)]
ring_weighted_error = max(float(np.abs(s - flatten(combined)).max())
                          for s in ring_allreduce(scaled, RingChannel(2).send))
print(f"ring sum / k vs the plain average: {allreduce_error:.2e}; "
      f"ring of scaled buffers vs combine_gradients: {ring_weighted_error:.2e}")
assert allreduce_error < 1e-6 and ring_weighted_error < 1e-6

# %% [markdown]
# What each all-reduce costs per step for this model's gradient (float32), per worker, and at
# the centre of the first one:

# %%
n_params = int(flat[0].size)
print(f"{n_params} numbers = {4 * n_params / 1e6:.2f} MB per gradient")
print(f"{'workers':>8} {'centre: in + out':>18} {'ring: per worker out':>22}")
for k in (2, 4, 8, 64):
    print(f"{k:>8} {2 * (k - 1) * 4 * n_params / 1e6:>15.2f} MB {2 * (k - 1) / k * 4 * n_params / 1e6:>19.2f} MB")

# %% [markdown]
# ## 4. Data-parallel SGD
#
# One step: every worker computes the gradient of its shard (at the same time), the
# gradients are all-reduced, and every replica applies the same update. The replicas started
# equal and receive equal updates, so they stay equal — no one ever sends weights after the
# start.
#
# **Exercise 4.** Write `dp_step(pool, bounds, lr)`: worker `i` computes the gradient of rows
# `bounds[i]` (`pool.call("gradient", bounds)`; each reply is `(n_i, mean loss_i, gradients_i,
# seconds)`), combine them with your `combine_gradients`, send the result to the same
# workers with `pool.call("apply", ...)` (arguments `(gradients, lr)` for each), and return
# the mean loss **of the whole batch** before the update, as a Python float.

# %%
def dp_step(pool, bounds, lr):
    ### BEGIN SOLUTION
    replies = pool.call("gradient", bounds)
    sizes = [n for n, _, _, _ in replies]
    averaged = combine_gradients([g for _, _, g, _ in replies], sizes)
    pool.call("apply", [(averaged, lr)] * len(bounds))
    return float(sum(n * loss for n, loss, _, _ in replies) / sum(sizes))
    ### END SOLUTION


# %%
# CHECK (3 points): data-parallel steps equal single-process SGD, on every replica.
tw.manual_seed(7)
ref_c = dp.make_model(16)
w_c = [p.detach().numpy().copy() for p in ref_c.parameters()]
x_c, y_c = X_np[:40], y_np[:40]
local_c = LocalPool(2)
local_c.call("setup", [(w_c, x_c, y_c)] * 2)
opt_c = optim.SGD(ref_c.parameters(), lr=0.2)
for step in range(3):
    loss_c = dp_step(local_c, [(0, 20), (20, 40)], lr=0.2)
    opt_c.zero_grad()
    loss_ref = nn.CrossEntropyLoss()(ref_c(tw.tensor(x_c)), tw.tensor(y_c))
    loss_ref.backward()
    opt_c.step()
    assert isinstance(loss_c, float), "dp_step must return a Python float"
    assert abs(loss_c - loss_ref.item()) < 1e-5, (
        f"step {step}: dp_step returned {loss_c}, the batch's mean loss is {loss_ref.item()}")
for rank, weights in enumerate(local_c.call("weights", [()] * 2)):
    for w, p in zip(weights, ref_c.parameters()):
        np.testing.assert_allclose(w, p.detach().numpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=f"replica {rank} differs from single-process SGD")
print("dp_step ok: 3 steps, both replicas equal to single-process SGD")
### BEGIN HIDDEN TESTS
# Three replicas with shards of 4, 29 and 7 examples (the weights n_i / N matter), another
# learning rate, two steps; every replica must move, and match SGD on the whole batch.
tw.manual_seed(8)
ref_h = dp.make_model(8)
w_h = [p.detach().numpy().copy() for p in ref_h.parameters()]
x_h, y_h = X_np[100:140], y_np[100:140]
local_h = LocalPool(3)
local_h.call("setup", [(w_h, x_h, y_h)] * 3)
opt_h = optim.SGD(ref_h.parameters(), lr=0.5)
for step in range(2):
    loss_h = dp_step(local_h, [(0, 4), (4, 33), (33, 40)], lr=0.5)
    opt_h.zero_grad()
    loss_ref_h = nn.CrossEntropyLoss()(ref_h(tw.tensor(x_h)), tw.tensor(y_h))
    loss_ref_h.backward()
    opt_h.step()
    assert abs(loss_h - loss_ref_h.item()) < 1e-5, (
        f"unequal shards, step {step}: loss {loss_h}, expected {loss_ref_h.item()} (weigh by n_i / N)")
for rank, weights in enumerate(local_h.call("weights", [()] * 3)):
    for w, p in zip(weights, ref_h.parameters()):
        np.testing.assert_allclose(w, p.detach().numpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=f"unequal shards: replica {rank} differs from SGD")
### END HIDDEN TESTS

# %% [markdown]
# Now with the two processes, against the same model trained here in one process with
# `optim.SGD` on whole batches. Both start from `w0`; step $t$ uses the batch of rows
# $256\,(t \bmod 6)$ to $256\,(t \bmod 6) + 255$.

# %%
STEPS, LR = (10 if quick() else 30), 0.5
batches = [((t % (N_TRAIN // BATCH)) * BATCH, (t % (N_TRAIN // BATCH) + 1) * BATCH) for t in range(STEPS)]

single = dp.make_model(HIDDEN)
single_params = list(single.parameters())
with tw.no_grad():
    for p, w in zip(single_params, w0):
        p.copy_(tw.tensor(w))
opt = optim.SGD(single_params, lr=LR)
sp_losses = []
for lo, hi in batches:
    opt.zero_grad()
    loss = dp.batch_loss(single, X[lo:hi], y[lo:hi])
    loss.backward()
    opt.step()
    sp_losses.append(loss.item())

dp_losses = []
with stop_on_error(pool):
    pool.call("load", [(w0,)] * WORKERS)                     # back to the initial weights
    for lo, hi in batches:
        bounds = [(lo + a, lo + b) for a, b in shard_bounds(hi - lo, WORKERS)]
        dp_losses.append(dp_step(pool, bounds, LR))
    replica_weights = pool.call("weights", [()] * WORKERS)

single_weights = [p.detach().numpy() for p in single_params]
dp_max_weight_diff = max(float(np.abs(a - b).max()) for a, b in zip(replica_weights[0], single_weights))
replica_max_diff = max(float(np.abs(a - b).max()) for a, b in zip(*replica_weights))
print(f"after {STEPS} steps: max |data-parallel - single-process| weight difference {dp_max_weight_diff:.2e}; "
      f"between the two replicas {replica_max_diff:.1e}")
print(f"losses: first {dp_losses[0]:.4f} / {sp_losses[0]:.4f}, last {dp_losses[-1]:.4f} / {sp_losses[-1]:.4f}")
assert dp_max_weight_diff < 1e-4 and replica_max_diff == 0.0

plt.figure(figsize=(6, 3.2))
plt.plot(sp_losses, label="one process, whole batches")
plt.plot(dp_losses, "--", label=f"{WORKERS} workers, half a batch each")
plt.xlabel("step"); plt.ylabel("mean loss of the batch"); plt.legend()
plt.title("data-parallel SGD is single-process SGD")
plt.show()

# %% [markdown]
# The replicas are **bit-for-bit** equal to each other: they apply the same arrays with the
# same code to the same numbers. Against the single process the difference is float32
# round-off: summing a batch's gradient in two halves and then adding them rounds
# differently from summing it in one go (lab 08: floating-point addition is not
# associative). On cuPyNumeric this kernel's run also sums in Legate's tile order, while the
# workers run NumPy: still the same training, to round-off.
#
# ## 5. Scaling
#
# The point of all this is time. Time one data-parallel step of a batch of 1,024 on one
# worker (the whole batch), then on two (half each). Each reply also says how long the
# worker computed; the rest of the step is sending, waiting and combining.
#
# **This machine is small**: it has few cores (printed above) and other programs share them,
# so two workers may find only one free core, and the numbers move from run to run. With a
# free core per worker the speedup can approach 2, less what the serial part (below) costs.

# %%
SCALE_BATCH, REPEATS = 1024, (3 if quick() else 7)


def time_dp_steps(worker_counts, repeats=REPEATS):
    """{workers: (step times, slowest worker's compute times)}, in seconds.

    The worker counts take turns, repeat after repeat, so that a change in the machine's
    load during the measurement hits all of them alike.
    """
    bounds = {p: shard_bounds(SCALE_BATCH, p) for p in worker_counts}
    times = {p: ([], []) for p in worker_counts}
    for p in worker_counts:
        dp_step(pool, bounds[p], lr=0.0)                        # warm-up: caches, allocator
    for _ in range(repeats):
        for p in worker_counts:
            t0 = time.perf_counter()
            dp_step(pool, bounds[p], lr=0.0)
            times[p][0].append(time.perf_counter() - t0)
            times[p][1].append(max(reply[3] for reply in pool.call("gradient", bounds[p])))
    return times


with stop_on_error(pool):
    timings = time_dp_steps((1, 2))
# The fastest of the repeats, as in lab 08: the one least disturbed by the rest of the machine.
step_seconds = {p: float(np.min(s)) for p, (s, _) in timings.items()}
compute_seconds = {p: float(np.min(c)) for p, (_, c) in timings.items()}
for p in step_seconds:
    print(f"{p} worker(s): {1000 * step_seconds[p]:6.1f} ms per step, of which the slowest worker "
          f"computed {1000 * compute_seconds[p]:5.1f} ms")

# %% [markdown]
# (`lr=0.0`: the steps change nothing, so every repeat does the same work.)
#
# **Speedup** $S(p) = T(1) / T(p)$, **efficiency** $E(p) = S(p) / p$: the fraction of the
# ideal $p$-fold speedup that was obtained.
#
# **Exercise 5.** Write `speedup_efficiency(step_seconds)`: given `{workers: seconds per
# step}` (it includes 1 worker), return two dicts with the same keys, the speedups and the
# efficiencies.

# %%
def speedup_efficiency(step_seconds):
    ### BEGIN SOLUTION
    t1 = step_seconds[1]
    speedup = {p: t1 / t for p, t in step_seconds.items()}
    efficiency = {p: s / p for p, s in speedup.items()}
    return speedup, efficiency
    ### END SOLUTION


# %%
# CHECK: speedups and efficiencies of made-up timings.
s_c, e_c = speedup_efficiency({1: 0.8, 2: 0.5, 4: 0.25})
assert s_c == {1: 1.0, 2: 1.6, 4: 3.2}, s_c
assert e_c == {1: 1.0, 2: 0.8, 4: 0.8}, e_c
### BEGIN HIDDEN TESTS
# Keys in another order, a slowdown, and 1 worker not first.
s_h, e_h = speedup_efficiency({3: 0.3, 1: 0.6, 8: 0.9})
assert set(s_h) == {1, 3, 8} and set(e_h) == {1, 3, 8}
assert abs(s_h[3] - 2.0) < 1e-12 and abs(s_h[8] - 2 / 3) < 1e-12 and s_h[1] == 1.0, s_h
assert abs(e_h[3] - 2 / 3) < 1e-12 and abs(e_h[8] - 1 / 12) < 1e-12, e_h
### END HIDDEN TESTS

# %%
speedup, efficiency = speedup_efficiency(step_seconds)
print(f"2 workers: speedup {speedup[2]:.2f}, efficiency {efficiency[2]:.2f}")

# %% [markdown]
# **Amdahl's law.** Split the one-worker time into a serial part $a$ (sending, combining,
# Python in the notebook: it does not shrink with more workers) and a parallel part $b$
# (the gradient computation, divided among $p$ workers): $T(p) = a + b/p$. The serial
# fraction is $f = a / (a + b)$, and the speedup can never exceed $1/f$, however many workers.
#
# **Exercise 6.** Write `amdahl_fit(workers, seconds)`: fit $T(p) = a + b/p$ to the
# measurements (lists of equal length; a worker count may appear several times) by least
# squares — `np.linalg.lstsq` on the matrix with columns $1$ and $1/p$ — and return
# `(f, a, b)` as Python floats.

# %%
def amdahl_fit(workers, seconds):
    ### BEGIN SOLUTION
    p = np.asarray(workers, dtype=np.float64)
    t = np.asarray(seconds, dtype=np.float64)
    design = np.stack([np.ones_like(p), 1.0 / p], axis=1)
    (a, b), *_ = np.linalg.lstsq(design, t, rcond=None)
    return float(a / (a + b)), float(a), float(b)
    ### END SOLUTION


# %%
# CHECK (2 points): on times made up from a known serial fraction, the fit finds it.
f_c, a_c, b_c = amdahl_fit([1, 2, 4, 8], [0.2 + 0.8 / p for p in (1, 2, 4, 8)])
assert abs(f_c - 0.2) < 1e-9 and abs(a_c - 0.2) < 1e-9 and abs(b_c - 0.8) < 1e-9, (f_c, a_c, b_c)
### BEGIN HIDDEN TESTS
# Repeated worker counts with noise: the least-squares line in 1/p, in its closed form.
rng_h = np.random.default_rng(14)
p_h = np.array([1, 1, 1, 2, 2, 2, 3, 4, 4])
t_h = 0.003 + 0.021 / p_h + rng_h.normal(0, 5e-4, size=p_h.size)
u_h = 1.0 / p_h
b_want = ((u_h - u_h.mean()) * (t_h - t_h.mean())).sum() / ((u_h - u_h.mean()) ** 2).sum()
a_want = t_h.mean() - b_want * u_h.mean()
f_h, a_h, b_h = amdahl_fit(list(p_h), list(t_h))
assert all(isinstance(v, float) for v in (f_h, a_h, b_h)), "return Python floats"
assert abs(a_h - a_want) < 1e-9 and abs(b_h - b_want) < 1e-9, ((a_h, b_h), (a_want, b_want))
assert abs(f_h - a_want / (a_want + b_want)) < 1e-9, f_h
### END HIDDEN TESTS

# %% [markdown]
# Fitted to the fastest step of each worker count (with two worker counts the line goes
# through both points; more worker counts would test the model rather than just fit it):

# %%
serial_fraction, serial_s, parallel_s = amdahl_fit(list(step_seconds), list(step_seconds.values()))
print(f"T(p) = {1000 * serial_s:.1f} ms + {1000 * parallel_s:.1f} ms / p: serial fraction {serial_fraction:.2f}")
if 0 < serial_fraction < 1:
    print(f"Amdahl's ceiling: speedup at most {1 / serial_fraction:.1f}; predicted for 4 and 8 workers "
          f"(with a free core each): {1 / (serial_fraction + (1 - serial_fraction) / 4):.2f}, "
          f"{1 / (serial_fraction + (1 - serial_fraction) / 8):.2f}")
else:
    print("a serial fraction outside (0, 1): the machine was too busy for the model to mean anything — rerun")
print(f"for comparison, the workers' own compute share of the 1-worker step: "
      f"{compute_seconds[1] / step_seconds[1]:.2f}")

ps = np.arange(1, 9)
plt.figure(figsize=(5.5, 3.2))
plt.plot(ps, ps, ":", color="grey", label="ideal")
if 0 < serial_fraction < 1:
    plt.plot(ps, 1 / (serial_fraction + (1 - serial_fraction) / ps), label=f"Amdahl, f = {serial_fraction:.2f}")
plt.plot(list(speedup), list(speedup.values()), "o", label="measured")
plt.xlabel("workers"); plt.ylabel("speedup"); plt.legend()
plt.title(f"on {os.cpu_count()} shared cores")
plt.show()

# %% [markdown]
# Read it with care: two points on a shared machine. Here the serial part is the notebook
# pickling, sending and combining about 80 KB per worker each way and step, Python's
# overhead in every exchange, and the time each process waits for a core (on a busy
# machine, often the largest part); compare it with the workers' compute share printed
# above. Make the batch smaller (or the model cheaper) and $f$ grows: more workers then
# *slow down* training, since the fixed costs stay while the compute per worker shrinks. Real
# data-parallel systems hide communication by all-reducing a layer's gradient while the
# backward pass still computes the layers below it.
#
# ## 6. The cluster path
#
# On a cluster, the repository runs a lab as a Slurm batch job, and for several processes
# (ranks) it uses **Legate's** launcher rather than processes of our own:
#
# ```
# make cluster-job LAB=labs/08_gpu.ipynb MODE=multi NODES=2 GPUS=4 RANKS_PER_NODE=2
# ```
#
# renders `docker/cluster/templates/multi-node.sbatch` with `docker/cluster/render.py` and
# submits it with `sbatch` (`make cluster-render` with the same options only writes it).
# The job runs `legate --nodes 2 --ranks-per-node 2 --gpus 2 ...` (through `srun` or
# `mpirun`), and Legate starts one process per rank. Unlike our workers, the ranks do not
# each own a replica and a shard: every rank runs the same Python program, and Legate
# partitions each cuPyNumeric **array** across the ranks' GPUs. The batch dimension is
# split, and the sum over the batch inside a weight's gradient ($\nabla W = X^\top \delta$)
# becomes a reduction across ranks — the identity of section 1, done by the runtime. The job
# shown is lab 08's, whose wide-MLP step times are the numbers to compare; this lab, which
# starts processes of its own, is a single-host lab.
#
# The render tool uses the standard library only, so the notebook can run it without Slurm,
# into a temporary folder (where the checkout is not reachable, e.g. in a student workspace
# outside it, the cell says so):

# %%
def find_checkout():
    """The repository (it holds docker/cluster/render.py), above this notebook or the engine;
    the images keep it in ~/work."""
    for start in (Path.cwd(), Path(tw.__file__).resolve().parent, Path.home() / "work"):
        for folder in (start, *start.parents):
            if (folder / "docker" / "cluster" / "render.py").is_file() and (folder / "labs").is_dir():
                return folder
    return None


CLUSTER = {"nodes": 2, "gpus": 4, "ranks_per_node": 2}
checkout = find_checkout()
job_text = None
if checkout is None:
    print("docker/cluster/render.py is not reachable from here; run `make cluster-render "
          "LAB=labs/08_gpu.ipynb MODE=multi NODES=2 GPUS=4 RANKS_PER_NODE=2` in the repository")
else:
    job_dir = workdir / "cluster"
    # The arguments the Makefile's cluster-job target passes (RENDER_ARGS), without --submit.
    rendered = subprocess.run(
        [sys.executable, str(checkout / "docker/cluster/render.py"), "multi", "--lab", "labs/08_gpu.ipynb",
         "--runtime", "apptainer", "--out", str(job_dir), "--nodes", str(CLUSTER["nodes"]),
         "--gpus", str(CLUSTER["gpus"]), "--ranks-per-node", str(CLUSTER["ranks_per_node"]),
         "--image", str(checkout / "tensorweaver-gpu.sif")],
        capture_output=True, text=True, timeout=120)
    assert rendered.returncode == 0, rendered.stderr
    job_file = Path(rendered.stdout.strip().splitlines()[-1])
    job_text = job_file.read_text()
    print(f"{job_file.name}: {len(job_text.splitlines())} lines")

# %% [markdown]
# The job's own lines. Two long blocks are inlined into it so that the file is
# self-contained: the runtime library every job shares (`lib/runtime.sh`: Apptainer, Docker
# or venv, the allocation report, clean-up) and the in-process notebook runner
# (`run_lab_ranks.py`); they are left out here.

# %%
def job_outline(text):
    """The job script without the inlined runtime library and the embedded runner."""
    shown, skipped, inside = [], 0, None
    for line in text.splitlines():
        if inside is None and line.startswith("# ---- tensorweaver job runtime"):
            inside = "# ---- end of tensorweaver job runtime"
        elif inside is None and line.endswith("<<'TW_RUN_LAB_RANKS_EOF'"):
            shown.append(line)
            inside = "TW_RUN_LAB_RANKS_EOF"
        if inside is None:
            shown.append(line)
            continue
        skipped += 1
        if line.startswith(inside):
            shown.append(f"    [... {skipped} inlined lines left out ...]")
            if inside == "TW_RUN_LAB_RANKS_EOF":
                shown.append(line)
            inside, skipped = None, 0
    return "\n".join(shown)


if job_text is not None:
    print(job_outline(job_text))
    syntax = subprocess.run(["bash", "-n", str(job_file)], capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr

# %% [markdown]
# The numbers in it, read back from the script: how many ranks, and how many GPUs each.

# %%
if job_text is not None:
    nodes = int(re.search(r"nodes=\$\{SLURM_JOB_NUM_NODES:-(\d+)\}", job_text).group(1))
    ranks_per_node = int(re.search(r"^ranks_per_node=(\d+)$", job_text, re.M).group(1))
    gpus_per_node = int(re.search(r"^#SBATCH --gpus-per-node=(\d+)$", job_text, re.M).group(1))
    gpus_per_rank = int(re.search(r"--gpus (\d+) --cpus (\d+)", job_text).group(1))
    cluster_ranks = nodes * ranks_per_node
    print(f"{nodes} nodes x {ranks_per_node} ranks per node = {cluster_ranks} ranks; "
          f"{gpus_per_node} GPUs per node / {ranks_per_node} ranks = {gpus_per_rank} GPUs per rank; "
          f"{cluster_ranks * gpus_per_rank} GPUs in all")
    assert (nodes, gpus_per_node) == (CLUSTER["nodes"], CLUSTER["gpus"])
    assert gpus_per_rank * ranks_per_node == gpus_per_node
else:
    cluster_ranks = gpus_per_rank = None

# %% [markdown]
# ### What a cluster run prints
#
# No cluster run was made for this lab; this is what to read in one. The job's log
# (`JOB-JOBID.out` in the submit directory) begins with lines written by the template:
#
# - `tensorweaver job: allocation: nodes NODELIST (2), tasks 4, CPUs per task 8 ..., GPUs 4 on
#   this node ...` — what Slurm granted; *tasks* is nodes × ranks per node;
# - `tensorweaver job: Legate --sysmem M MiB per rank: ...` — each rank's share of the
#   node's memory;
# - `legate networks: ucx; 4 rank(s) ok` — the check that this Legate can talk between
#   ranks (below);
# - the lab's printed output, from rank 0 only (every rank runs every cell; only rank 0's
#   output is kept), and last `08_gpu.ipynb [cupynumeric, 4 rank(s)] ok in T s`.
#
# Rank 0 writes `08_gpu.metrics.json`: the headless runner's report (`wall_time_s`,
# `status`, `metrics`) plus `ranks` (4 here) and `legate_config`. Its `metrics` hold what
# lab 08 recorded: `ms_per_step` for each width — the **step time** of the wide MLP, timed
# on rank 0 with `.item()` waiting for the step's result, so it includes the reductions
# across ranks — and `gflops`, the rate derived from it. To measure scaling on a cluster,
# run the job with 1, 2, 4, ... ranks (`NODES`, `RANKS_PER_NODE`, `GPUS`), read
# `ms_per_step` at one width from each metrics file, and pass `{ranks: seconds}` to
# `speedup_efficiency` and the lists to `amdahl_fit`. Lab 08's fixed cost per operation
# suggests what to look for: the small widths have little to gain from more ranks (or
# lose), the widest the most.
#
# ### Several ranks on this machine?
#
# Legate's launcher can start several ranks on one host without Slurm, which would give a
# real multi-rank metrics file here. The runner inside the job first checks whether the
# installed Legate can do that at all, without starting it:

# %%
if checkout is not None:
    check = subprocess.run([sys.executable, str(checkout / "docker/cluster/run_lab_ranks.py"),
                            "--check-networking", "2"], capture_output=True, text=True, timeout=120)
    print(f"exit status {check.returncode}:", (check.stdout + check.stderr).strip()[-1200:])
    local_multirank = check.returncode == 0
else:
    local_multirank = False

# %% [markdown]
# The PyPI wheels of Legate that the images install are built without networking, so they
# run one rank; without Legate (the CPU image) there is nothing to launch. So no multi-rank
# numbers are produced here: the section shows the job and how to read its output, and the
# measurements of this lab are those of section 5. A networked Legate (the `legate` conda
# channel's UCX builds, or a site module) is what `docker/cluster/README.md` describes.

# %%
pool_processes = list(pool.processes)
pool_stack.close()                            # stop the workers
workers_stopped = all(not proc.is_alive() for proc in pool_processes)
print(f"workers stopped: {workers_stopped} (exit codes {[proc.exitcode for proc in pool_processes]})")
assert workers_stopped

record(backend=tw.backend.name, workers=WORKERS, cpu_count=os.cpu_count(),
       worker_startup_s=worker_startup_s, worker_backends=worker_backends,
       shard_grad_error=shard_grad_error, plain_mean_error=plain_mean_error,
       process_grad_error=process_grad_error, allreduce_error=allreduce_error,
       ring_weighted_error=ring_weighted_error, dp_steps=STEPS, dp_losses=dp_losses,
       sp_losses=sp_losses, dp_max_weight_diff=dp_max_weight_diff, replica_max_diff=replica_max_diff,
       step_ms={p: 1000 * s for p, s in step_seconds.items()},
       compute_ms={p: 1000 * s for p, s in compute_seconds.items()},
       speedup_2=speedup[2], efficiency_2=efficiency[2], serial_fraction=serial_fraction,
       cluster_job_rendered=job_text is not None, cluster_ranks=cluster_ranks,
       cluster_gpus_per_rank=gpus_per_rank, local_multirank=local_multirank,
       workers_stopped=workers_stopped)

# %% [markdown]
# ## What you saw
#
# - The mean-loss gradient of a batch is the $\frac{n_i}{N}$-weighted sum of its shards'
#   gradients — the plain average only when the shards are equal.
# - Data parallelism: replicas that start equal and apply the same all-reduced gradient stay
#   equal, and the run is the single-process run up to float32 round-off.
# - All-reduce through one centre costs that centre $2(k-1)n$ numbers per step; the ring
#   costs every worker $2\frac{k-1}{k}n$, whatever $k$.
# - Speedup, efficiency and Amdahl's serial fraction come from timing, and on a small
#   shared machine the serial part and the competition for cores decide them.
# - On a cluster the repository leaves the distribution to Legate: a multi-rank job is one
#   program whose arrays are partitioned across ranks and GPUs.
