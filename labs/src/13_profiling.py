# %% [markdown]
# # Lab 13 — Profiling and hardware: where the time goes
#
# **Prerequisites:** labs 04, 08 · **Expected time:** 90 min
#
# "Make it faster" starts with "measure where the time goes". This lab builds the tools a
# framework's profiler is made of, on the engine you know, and uses them to explain a
# training step in terms of the hardware:
#
# 1. a **per-op timer**, built on the engine's op hooks (exercise), and the table of where
#    an MLP step spends its time;
# 2. **FLOP and byte counts** for matmul, elementwise ops and convolution (exercise),
#    **arithmetic intensity** and the **roofline** of this machine, with its peak arithmetic
#    rate and memory bandwidth measured here; which ops are memory-bound and which
#    compute-bound (exercise);
# 3. the cost of **host syncs** (`.item()`) on an asynchronous backend (exercise);
# 4. the size at which **cuPyNumeric beats NumPy**, measured in a second process;
# 5. **TF32**: what `tw.backends.cuda.matmul.allow_tf32` means on a GPU and how much
#    accuracy it costs, emulated bit by bit (exercise).
#
# Timings are noisy (other programs share the machine): rerun a cell and the numbers move.
# What does not move are the counts and the formulas, and that is what the checks check.

# %%
# %matplotlib inline
import importlib.util
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import tensorweaver as tw
from tensorweaver import backend, nn, optim
from tensorweaver.labs import quick, record

tw.manual_seed(0)
print("backend:", tw.backend.name, "| device:", backend.device)

# %% [markdown]
# ## 1. A per-op timer
#
# Every operation the engine runs goes through `Function.apply` (forward) and, during
# `backward()`, through the backward engine's walk over the graph's nodes. Both call the
# **op hooks** installed with `tw.autograd.profiler.op_hooks(before, after)`:
#
# - `before(fn, phase)` as the op starts (`fn` is the op's node; `fn.op_name` is `"Linear"`,
#   `"ReLU"`, ...; `phase` is `"forward"` or `"backward"`);
# - `after(fn, phase, inputs, output)` when it is done (forward: the op's arguments and its
#   output Tensor; backward: `(grad_output,)` and the input gradients).
#
# Outside the `with` block nothing is called: an engine pays one check per op for this.
# (Read `tensorweaver/autograd/profiler.py`: it is a page.) Ops can **nest**: a backward
# run with `create_graph=True` calls forward ops from inside a backward node, so the timer
# must remember one start time per op still running — a stack.
#
# **Exercise 1.** Complete `OpTimer.before` and `OpTimer.after`. `before` notes the time
# `self.clock()` (always this clock: the check passes its own); `after` takes the start of
# the op that is finishing (the innermost one still running) and appends
# `(fn.op_name, phase, seconds)` to `self.events`, so that `events` lists one entry per op,
# in the order the ops finish.

# %%
class OpTimer:
    """``with OpTimer() as timer:`` ... then ``timer.events``: [(op_name, phase, seconds), ...]."""

    def __init__(self, clock=time.perf_counter):
        self.clock = clock
        self.events = []
        self._starts = []                  # start times of the ops still running, innermost last

    def __enter__(self):
        self._block = tw.autograd.profiler.op_hooks(self.before, self.after)
        self._block.__enter__()
        return self

    def __exit__(self, *exc):
        return self._block.__exit__(*exc)

    def before(self, fn, phase):
        ### BEGIN SOLUTION
        self._starts.append(self.clock())
        ### END SOLUTION

    def after(self, fn, phase, inputs, output):
        ### BEGIN SOLUTION
        start = self._starts.pop()
        self.events.append((fn.op_name, phase, self.clock() - start))
        ### END SOLUTION


# %%
# CHECK (2 points): your timer on a forward and backward pass, with a clock that ticks once
# per reading (so every op that nests nothing lasts exactly 1 tick), and with the real clock.
ticks = itertools.count()
x_c, w_c = tw.randn(4, 3), tw.randn(4, 3, requires_grad=True)
with OpTimer(clock=lambda: next(ticks)) as timer_c:
    loss_c = (x_c * w_c).sum()
    loss_c.backward()
expected_c = [("Mul", "forward", 1), ("Sum", "forward", 1), ("Sum", "backward", 1), ("Mul", "backward", 1)]
assert timer_c.events == expected_c, (
    f"expected {expected_c}, got {timer_c.events}: one (op_name, phase, seconds) per op, in the "
    "order the ops finish, timed with self.clock")
(x_c * w_c).sum()                              # after the block: not recorded
assert len(timer_c.events) == 4, "ops after the with block must not be recorded"
t0_c = time.perf_counter()
with OpTimer() as timer_real:
    tw.randn(64, 64).relu().exp()
wall_c = time.perf_counter() - t0_c
seconds_c = [s for _, _, s in timer_real.events]
assert [e[:2] for e in timer_real.events] == [("ReLU", "forward"), ("Exp", "forward")], timer_real.events
assert all(s > 0 for s in seconds_c) and sum(seconds_c) <= wall_c, (seconds_c, wall_c)
### BEGIN HIDDEN TESTS
# Nested ops, driven by hand (stand-in nodes): an outer backward node runs two forward ops.
# The outer op's time is from its own start to its own end, not from the last op's start.
class _Node:
    def __init__(self, name):
        self.op_name = name


ticks_h = iter([0.0, 10.0, 11.5, 20.0, 20.25, 30.0, 40.0, 47.0])
timer_h = OpTimer(clock=lambda: next(ticks_h))
outer_h, a_h, b_h, c_h = _Node("Outer"), _Node("A"), _Node("B"), _Node("C")
timer_h.before(outer_h, "backward")                     # 0
timer_h.before(a_h, "forward"); timer_h.after(a_h, "forward", (), None)        # 10 -> 11.5
timer_h.before(b_h, "forward"); timer_h.after(b_h, "forward", (), None)        # 20 -> 20.25
timer_h.after(outer_h, "backward", (), ())                                      # -> 30
timer_h.before(c_h, "forward"); timer_h.after(c_h, "forward", (), None)        # 40 -> 47
assert timer_h.events == [("A", "forward", 1.5), ("B", "forward", 0.25), ("Outer", "backward", 30.0),
                          ("C", "forward", 7.0)], (
    f"nested ops: got {timer_h.events}; keep a stack of start times, one per running op")
# Two timers are independent; a real create_graph backward nests ops inside a backward node.
xh = tw.tensor([1.0, 2.0, 3.0], requires_grad=True)
with OpTimer() as t1_h:
    (g_h,) = tw.autograd.grad((xh * xh).sum(), xh, create_graph=True)
with OpTimer() as t2_h:
    xh.exp()
assert [e[:2] for e in t2_h.events] == [("Exp", "forward")], t2_h.events
assert ("Mul", "backward") in [e[:2] for e in t1_h.events], t1_h.events
assert all(s > 0 for *_, s in t1_h.events), t1_h.events
### END HIDDEN TESTS

# %% [markdown]
# ### Where an MLP step spends its time
#
# One training step of a 3-layer MLP (the `nn.Linear` layers of lab 04, wider), timed op by
# op for a few steps. `summarize` adds up the events per op type and phase; the table is
# sorted by total time. The last line is what happened **outside** the ops: the
# optimizer's update (it changes `.data` directly, not through ops), `zero_grad`, the
# Python of `nn.Module.__call__` between the ops.

# %%
WIDTH, BATCH = (256, 128) if quick() else (1024, 256)
PROFILE_STEPS = 2 if quick() else 3


def make_mlp_step(width, batch, seed=0):
    tw.manual_seed(seed)
    model = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                          nn.Linear(width, 10))
    optimizer = optim.SGD(model.parameters(), lr=0.01)
    x, y = tw.randn(batch, width), tw.randint(0, 10, (batch,))
    loss_fn = nn.CrossEntropyLoss()

    def one_step():
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss
    return one_step


def summarize(events):
    """{(op_name, phase): (calls, total seconds)}, sorted by total time, largest first."""
    table = {}
    for name, phase, seconds in events:
        calls, total = table.get((name, phase), (0, 0.0))
        table[(name, phase)] = (calls + 1, total + seconds)
    return dict(sorted(table.items(), key=lambda kv: -kv[1][1]))


mlp_step = make_mlp_step(WIDTH, BATCH)
mlp_step().item()                                      # warm-up: first-call costs are not the step's
with OpTimer() as timer:
    t0 = time.perf_counter()
    for _ in range(PROFILE_STEPS):
        mlp_step().item()
    step_wall = time.perf_counter() - t0

table = summarize(timer.events)
in_ops = sum(total for _, total in table.values())
print(f"MLP {WIDTH}-{WIDTH}-{WIDTH}-10, batch {BATCH}, {PROFILE_STEPS} steps on {backend.name}: "
      f"{1000 * step_wall / PROFILE_STEPS:.1f} ms per step\n")
print(f"{'op':<14}{'phase':<10}{'calls':>6}{'total ms':>10}{'mean µs':>10}{'share':>8}")
for (name, phase), (calls, total) in table.items():
    print(f"{name:<14}{phase:<10}{calls:>6}{1000 * total:>10.2f}{1e6 * total / calls:>10.1f}"
          f"{total / step_wall:>8.1%}")
print(f"{'(outside ops)':<24}{'':>6}{1000 * (step_wall - in_ops):>10.2f}{'':>10}{1 - in_ops / step_wall:>8.1%}")

# %%
# The lab's own checks: 6 ops forward and 6 backward nodes per step, timings that add up.
op_count_per_step = len(timer.events) // PROFILE_STEPS
assert len(timer.events) % PROFILE_STEPS == 0 and op_count_per_step == 12, len(timer.events)
assert all(s > 0 for *_, s in timer.events) and in_ops <= step_wall
matmul_time_fraction = sum(t for (n, _), (_, t) in table.items() if n == "Linear") / in_ops
print(f"{op_count_per_step} ops per step; Linear (matmul + bias) takes {matmul_time_fraction:.0%} "
      f"of the time spent in ops, the ops {in_ops / step_wall:.0%} of the step")

# %% [markdown]
# On NumPy the three `Linear` layers (forward: one matmul each; backward: two) take most of
# the time: a matmul of `batch × width` by `width × width` does $2 \cdot \text{batch} \cdot
# \text{width}^2$ floating-point operations, the ReLU only $\text{batch} \cdot \text{width}$.
# Shrink `WIDTH` to 32 and rerun: the ops' Python overhead (a few µs each) then dominates,
# and so does the time outside the ops. On cuPyNumeric the per-op times measure only the
# *launch* of the work (the backend is asynchronous); the time appears where the host
# waits — here in `.item()`, outside every op. Section 3 is about that.
#
# ## 2. FLOPs, bytes and the roofline
#
# Two numbers describe the work of an op: the floating-point operations it does (FLOPs) and
# the bytes it must move between memory and the processor — at least every input read once
# and the output written once. Their ratio, the **arithmetic intensity** (FLOP per byte),
# says which of the machine's two limits the op runs into.
#
# **Exercise 2.** Write `op_cost(op_name, in_shapes, out_shape, itemsize=4)` returning
# `(flops, nbytes)` as Python ints. `in_shapes` are the shapes of the op's **tensor**
# inputs, in order (constants left out); `out_shape` the output's. Count:
#
# - `"MatMul"` (`a @ b`, with any batch dimensions): $2k$ per output element, where $k$ =
#   `in_shapes[0][-1]` (one multiply and one add per term of each dot product);
# - `"Linear"` (`x`, `weight` of shape `(out, in)`, optionally `bias`): $2 \cdot in$ per
#   output element, plus 1 per output element when there is a bias;
# - `"Conv2d"` (`x` `(N, C, H, W)`, `weight` `(O, C/groups, kH, kW)`, optionally `bias`):
#   $2 \cdot (C/\text{groups}) \cdot kH \cdot kW$ per output element (read it off the weight's
#   shape), plus 1 per output element with a bias;
# - an op in `ELEMENTWISE`: 1 per output element;
# - any other op: 1 per input element (all inputs together) — a rough count, good enough for
#   reductions and losses;
#
# and `nbytes = itemsize × (all input elements + output elements)`.

# %%
ELEMENTWISE = {"Add", "Sub", "Mul", "Div", "Neg", "Exp", "Log", "ReLU", "Tanh", "Sigmoid", "GELU",
               "Pow", "Sqrt", "Abs", "Maximum", "Minimum"}


def numel(shape):
    return int(np.prod(shape, dtype=np.int64))


def op_cost(op_name, in_shapes, out_shape, itemsize=4):
    ### BEGIN SOLUTION
    n_out = numel(out_shape)
    n_in = sum(numel(s) for s in in_shapes)
    if op_name == "MatMul":
        flops = 2 * in_shapes[0][-1] * n_out
    elif op_name == "Linear":
        flops = 2 * in_shapes[1][1] * n_out + (n_out if len(in_shapes) > 2 else 0)
    elif op_name == "Conv2d":
        flops = 2 * numel(in_shapes[1][1:]) * n_out + (n_out if len(in_shapes) > 2 else 0)
    elif op_name in ELEMENTWISE:
        flops = n_out
    else:
        flops = n_in
    return int(flops), int(itemsize * (n_in + n_out))
    ### END SOLUTION


# %%
# CHECK (3 points): FLOPs and bytes of a matmul, a Linear layer, a convolution and an
# elementwise op, against the definitions (loops over the output, counted here by hand).
def _ref_cost(op, shapes, out, itemsize=4):
    n_out, n_in = int(np.prod(out)), sum(int(np.prod(s)) for s in shapes)
    if op == "MatMul":
        per_output = 2 * shapes[0][-1]
    elif op == "Linear":
        per_output = 2 * shapes[1][-1] + (len(shapes) == 3)
    elif op == "Conv2d":
        per_output = 2 * shapes[1][1] * shapes[1][2] * shapes[1][3] + (len(shapes) == 3)
    else:
        per_output = None
    flops = per_output * n_out if per_output else (n_out if op in ELEMENTWISE else n_in)
    return flops, itemsize * (n_in + n_out)


cases_c = [("MatMul", [(64, 32), (32, 16)], (64, 16)),
           ("Linear", [(8, 100), (30, 100), (30,)], (8, 30)),
           ("Conv2d", [(2, 3, 10, 10), (5, 3, 3, 3), (5,)], (2, 5, 8, 8)),
           ("ReLU", [(7, 9)], (7, 9))]
for op_c, shapes_c, out_c in cases_c:
    got_c = op_cost(op_c, shapes_c, out_c)
    assert got_c == _ref_cost(op_c, shapes_c, out_c), f"{op_c} {shapes_c}: got {got_c}, expected {_ref_cost(op_c, shapes_c, out_c)}"
    assert all(type(v) is int for v in got_c), f"return Python ints, got {[type(v) for v in got_c]}"
print("matmul 64x32 @ 32x16:", op_cost("MatMul", [(64, 32), (32, 16)], (64, 16)), "(flops, bytes)")
### BEGIN HIDDEN TESTS
# No bias; batched and 1-D matmuls; grouped convolution (weight's C/groups); other ops;
# another itemsize; a broadcast Add (bytes of each input as it is, not as broadcast).
cases_h = [("Linear", [(3, 5, 7), (4, 7)], (3, 5, 4)),
           ("MatMul", [(6, 4, 5), (5, 3)], (6, 4, 3)),
           ("MatMul", [(9,), (9,)], ()),
           ("Conv2d", [(1, 8, 6, 6), (12, 2, 3, 3)], (1, 12, 4, 4)),
           ("Conv2d", [(3, 4, 9, 7), (6, 4, 1, 5), (6,)], (3, 6, 9, 3)),
           ("Add", [(10, 20), (20,)], (10, 20)),
           ("Exp", [(5,)], (5,)),
           ("Sum", [(10, 20)], ()),
           ("CrossEntropy", [(32, 10), (32,)], ())]
for op_h, shapes_h, out_h in cases_h:
    for itemsize_h in (4, 8, 2):
        want_h = _ref_cost(op_h, shapes_h, out_h, itemsize_h)
        got_h = op_cost(op_h, shapes_h, out_h, itemsize_h)
        assert got_h == want_h, f"{op_h} {shapes_h} -> {out_h}, itemsize {itemsize_h}: got {got_h}, expected {want_h}"
### END HIDDEN TESTS

# %% [markdown]
# The engine's op hooks hand every op's inputs and output to us, so counting a whole step
# is a few lines. Forward only: a `Linear`'s backward does two matmuls of the same size
# (the gradients of the input and of the weight), so a training step costs about three
# times the forward's FLOPs in its matmuls (lab 08's "6 × batch × weights").

# %%
def count_forward(run):
    """[(op_name, flops, nbytes)] for every forward op that run() executes."""
    found = []

    def after(fn, phase, inputs, output):
        if phase == "forward":
            shapes = [tuple(a.shape) for a in inputs if isinstance(a, tw.Tensor)]
            found.append((fn.op_name, *op_cost(fn.op_name, shapes, tuple(output.shape))))
    with tw.autograd.profiler.op_hooks(after=after):
        run()
    return found


step_ops = count_forward(mlp_step)
forward_flops_per_step = sum(f for _, f, _ in step_ops)
for name, flops, nbytes in step_ops:
    print(f"{name:<13}{flops / 1e6:>10.2f} MFLOP {nbytes / 1e6:>8.2f} MB  {flops / nbytes:>7.2f} FLOP/B")
weights = 2 * WIDTH * WIDTH + 10 * WIDTH
print(f"forward: {forward_flops_per_step / 1e9:.3f} GFLOP; 2 x batch x weights = {2 * BATCH * weights / 1e9:.3f} GFLOP")

# %% [markdown]
# ### This machine's two limits
#
# - **Peak arithmetic rate** $P$ (FLOP/s): measured with a large square matmul, the most
#   arithmetic-dense operation there is ($2n^3$ FLOPs on $3n^2$ numbers).
# - **Memory bandwidth** $B$ (bytes/s): measured with a large copy, which does no arithmetic
#   at all and moves every byte twice (read, then write).
#
# Both take the fastest of a few repeats. To time an asynchronous backend honestly, `wait`
# reads one element of the result, which makes the host wait until it is computed (on NumPy
# it returns at once: the work is already done).

# %%
def wait(t):
    return t.reshape(-1)[-1].item()


def fastest(run, repeats=3):
    wait(run())                                        # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        wait(run())
        times.append(time.perf_counter() - t0)
    return min(times)


N_PEAK = 512 if quick() else 1024
a_big, b_big = tw.randn(N_PEAK, N_PEAK), tw.randn(N_PEAK, N_PEAK)
peak_flops = 2 * N_PEAK ** 3 / fastest(lambda: a_big @ b_big)
N_COPY = 2 ** 22 if quick() else 2 ** 24
v_big, v_dst = tw.randn(N_COPY), tw.zeros(N_COPY)     # copy into memory already in use: a fresh
peak_bandwidth = 2 * 4 * N_COPY / fastest(lambda: v_dst.copy_(v_big))   # buffer would time page faults too
ridge = peak_flops / peak_bandwidth
print(f"peak {peak_flops / 1e9:.1f} GFLOP/s (matmul {N_PEAK}x{N_PEAK}), bandwidth "
      f"{peak_bandwidth / 1e9:.1f} GB/s (copy of {4 * N_COPY / 2 ** 20:.0f} MiB): ridge at {ridge:.1f} FLOP/B")

# %% [markdown]
# ### The roofline
#
# An op with intensity $I$ cannot run faster than $\min(P,\; I \cdot B)$: below the **ridge
# point** $I = P/B$ the bytes arrive too slowly to keep the arithmetic busy
# (**memory-bound**: make it faster by moving fewer bytes, e.g. by fusing it with its
# neighbour); above it the arithmetic is the limit (**compute-bound**).
#
# **Exercise 3.** Write `roofline(flops, nbytes, peak_flops, peak_bandwidth)` returning
# `(intensity, attainable, bound)`: `intensity = flops / nbytes` (FLOP/byte, `math.inf`
# when `nbytes` is 0), `attainable` = the roofline's $\min(P, I \cdot B)$ in FLOP/s, and
# `bound` the string `"memory"` when the intensity is below the ridge point $P/B$,
# `"compute"` otherwise (at the ridge too).

# %%
def roofline(flops, nbytes, peak_flops, peak_bandwidth):
    ### BEGIN SOLUTION
    intensity = flops / nbytes if nbytes else float("inf")
    attainable = min(peak_flops, intensity * peak_bandwidth)
    bound = "memory" if intensity < peak_flops / peak_bandwidth else "compute"
    return intensity, attainable, bound
    ### END SOLUTION


# %%
# CHECK (2 points): intensity, attainable rate and bound on a made-up machine
# (100 GFLOP/s, 20 GB/s: the ridge at 5 FLOP/B).
P_c, B_c = 100e9, 20e9
for flops_c, bytes_c, want_c in [(1_000, 4_000, (0.25, 5e9, "memory")),
                                 (64e9, 1e9, (64.0, 100e9, "compute"))]:
    got_c = roofline(flops_c, bytes_c, P_c, B_c)
    assert got_c[2] == want_c[2] and np.allclose(got_c[:2], want_c[:2], rtol=1e-12), (
        f"roofline({flops_c}, {bytes_c}, ...) = {got_c}; expected {want_c}")
### BEGIN HIDDEN TESTS
# At the ridge (compute), just below it (memory), no bytes (infinite intensity), another machine.
assert roofline(5e9, 1e9, P_c, B_c)[2] == "compute", "at the ridge point an op counts as compute-bound"
i_h, att_h, bound_h = roofline(4.99e9, 1e9, P_c, B_c)
assert bound_h == "memory" and np.isclose(att_h, 4.99 * 20e9, rtol=1e-12), (i_h, att_h, bound_h)
i_h, att_h, bound_h = roofline(10, 0, P_c, B_c)
assert i_h == float("inf") and att_h == P_c and bound_h == "compute", (i_h, att_h, bound_h)
rng_h = np.random.default_rng(3)
for _ in range(20):
    f_h, b_h = rng_h.uniform(1, 1e12), rng_h.uniform(1, 1e10)
    p_h, w_h = rng_h.uniform(1e9, 1e14), rng_h.uniform(1e9, 5e12)
    i_h, att_h, bound_h = roofline(f_h, b_h, p_h, w_h)
    assert np.isclose(i_h, f_h / b_h, rtol=1e-12) and np.isclose(att_h, min(p_h, f_h / b_h * w_h), rtol=1e-12)
    assert bound_h == ("memory" if f_h / b_h * w_h < p_h else "compute"), (f_h, b_h, p_h, w_h, bound_h)
### END HIDDEN TESTS

# %% [markdown]
# The step's ops, and a convolution (its im2col matmul is large: compute-bound), on this
# machine's roofline. Each op is drawn twice: where the roofline says it could run (the
# hollow marker, on the roof) and where it did run (its FLOPs over its measured forward time,
# the filled marker, below). The gap is everything the roofline leaves out — chiefly the
# fixed cost of each op, which dominates small ones.

# %%
conv = nn.Conv2d(16, 32, 3, padding=1)
images = tw.randn(32 if quick() else 64, 16, 16, 16)
with tw.no_grad():
    conv_ops = count_forward(lambda: conv(images))
    conv_seconds = fastest(lambda: conv(images))

# A step's events: its 6 forward ops in order, then its 6 backward nodes. The forward time of
# the i-th op of the step, averaged over the profiled steps, goes with the i-th counted op.
per_step = [timer.events[k * op_count_per_step:(k + 1) * op_count_per_step] for k in range(PROFILE_STEPS)]
forward_times = [np.mean([events[i][2] for events in per_step]) for i in range(len(step_ops))]
points, seen = {}, {}
for (name, flops, nbytes), seconds in zip(step_ops + conv_ops, forward_times + [conv_seconds]):
    seen[name] = seen.get(name, 0) + 1
    label = f"{name} {seen[name]}"                   # "Linear 1", "ReLU 1", "Linear 2", ...
    points[label] = (*roofline(flops, nbytes, peak_flops, peak_bandwidth), flops / seconds)
bounds = {name: p[2] for name, p in points.items()}
for name, (intensity, attainable, bound, achieved) in points.items():
    print(f"{name:<13}{intensity:>8.2f} FLOP/B  {bound:<8} roof {attainable / 1e9:8.2f} GFLOP/s, "
          f"ran at {achieved / 1e9:8.3f} GFLOP/s ({achieved / attainable:.0%} of the roof)")

intensities = np.logspace(-2, 3, 200)
plt.figure(figsize=(7, 4.2))
plt.loglog(intensities, np.minimum(peak_flops, intensities * peak_bandwidth) / 1e9, "k-", label="roofline")
plt.axvline(ridge, color="gray", ls=":", lw=1)
for k, (name, (intensity, attainable, bound, achieved)) in enumerate(points.items()):
    color = f"C{k}"
    plt.loglog([intensity], [attainable / 1e9], "o", mfc="none", color=color)
    plt.loglog([intensity], [achieved / 1e9], "o", color=color, label=f"{name} ({bound})")
    plt.plot([intensity, intensity], [achieved / 1e9, attainable / 1e9], color=color, lw=0.8)
plt.xlabel("arithmetic intensity (FLOP/byte)"); plt.ylabel("GFLOP/s")
plt.title(f"roofline of this machine ({backend.name}): P = {peak_flops / 1e9:.0f} GFLOP/s, "
          f"B = {peak_bandwidth / 1e9:.0f} GB/s", fontsize=9)
plt.legend(fontsize=8); plt.show()

# %% [markdown]
# Read the plot with two more facts in mind. Small ops (the head, the loss, here even the
# ReLUs) run far below their roof: their time is mostly the fixed cost of an op (Python,
# the engine, the array library's call), which the roofline does not model — an "overhead
# roof". And an op can run *above* its memory roof: $B$ was measured with arrays of many MiB,
# which come from main memory, while a layer's few MiB may still sit in the processor's
# caches, whose bandwidth is several times higher. (Real profilers draw one roof per level
# of the memory hierarchy.) On cuPyNumeric the filled markers mean little: the per-op times
# of section 1 are the times to *launch* the work there, not to do it.

# %%
# Elementwise ops do 1 FLOP per 8 bytes: memory-bound on any machine built this century.
assert bounds["ReLU 1"] == "memory" and points["ReLU 1"][0] == 0.125, points["ReLU 1"]
assert [label.split()[0] for label in points] == [n for n, _, _ in step_ops + conv_ops]
assert 0 < peak_flops and 0 < peak_bandwidth

# %% [markdown]
# A GPU moves both limits up (an H100: about 50 TFLOP/s in float32, 3 TB/s), and its ridge
# point (about 17 FLOP/B) is higher than most CPUs': even more ops are memory-bound there,
# which is why GPU frameworks **fuse** chains of elementwise ops into one kernel (one read,
# one write, instead of one per op).
#
# ## 3. The cost of a host sync
#
# An asynchronous backend (cuPyNumeric, PyTorch on a GPU) returns from `a @ b` as soon as
# the work is *queued*; the host runs ahead and queues the next op while the device
# computes. Anything that needs a value **on the host** — `.item()`, `.numpy()`, `print`
# of a tensor, `if loss < 0.1:` — must wait until the queue has drained up to it: a
# **sync**. One per training step (`losses.append(loss.item())`) stops the host from
# running ahead: the device then idles while Python prepares the next step.
#
# **Exercise 4.** Write `timed_loop(step, n, sync_every_step)`: call `step()` `n` times (it
# returns a 0-d loss tensor) and return `(seconds, mean_loss)`, where `seconds` is the
# `time.perf_counter()` time of the whole loop **including** its last sync and
# `mean_loss` the mean of the `n` losses as a Python float.
# - `sync_every_step=True`: add each `loss.item()` to a Python float as you go;
# - `sync_every_step=False`: keep the running total **as a tensor** (add `loss.detach()`
#   to it; start from the first loss) and call `.item()` once, after the loop.

# %%
def timed_loop(step, n, sync_every_step):
    ### BEGIN SOLUTION
    t0 = time.perf_counter()
    if sync_every_step:
        total = 0.0
        for _ in range(n):
            total += step().item()
    else:
        total = None
        for _ in range(n):
            loss = step().detach()
            total = loss if total is None else total + loss
        total = total.item()
    return time.perf_counter() - t0, total / n
    ### END SOLUTION


# %%
# CHECK (2 points): on a make-believe asynchronous backend whose .item() is the only thing
# that takes time (each sync costs 30 ms): how many syncs, which mean, which time.
class _Loss:
    """A loss whose .item() waits for the 'device'; sums stay on the device."""
    syncs = []

    def __init__(self, value):
        self.value = value

    def detach(self):
        return self

    def __add__(self, other):
        return _Loss(self.value + (other.value if isinstance(other, _Loss) else other))

    __radd__ = __add__

    def item(self):
        _Loss.syncs.append(self.value)
        time.sleep(0.03)
        return float(self.value)


def _steps(values):
    it = iter(values)
    return lambda: _Loss(next(it))


_Loss.syncs = []
s_eager, m_eager = timed_loop(_steps([1.0, 2.0, 3.0, 6.0]), 4, sync_every_step=True)
assert len(_Loss.syncs) == 4, f"sync_every_step=True: one .item() per step, got {len(_Loss.syncs)}"
assert isinstance(m_eager, float) and m_eager == 3.0, m_eager
_Loss.syncs = []
s_lazy, m_lazy = timed_loop(_steps([1.0, 2.0, 3.0, 6.0]), 4, sync_every_step=False)
assert _Loss.syncs == [12.0], f"sync_every_step=False: one .item(), on the total, after the loop; got {_Loss.syncs}"
assert isinstance(m_lazy, float) and m_lazy == 3.0, m_lazy
assert s_eager >= 4 * 0.03 and s_lazy >= 0.03, ("the time must include the syncs", s_eager, s_lazy)
print(f"eager: {1000 * s_eager:.0f} ms, one sync at the end: {1000 * s_lazy:.0f} ms")
### BEGIN HIDDEN TESTS
# One step; other values (negative); n smaller than what step() could give; real tensors.
_Loss.syncs = []
s_h, m_h = timed_loop(_steps([-2.5]), 1, sync_every_step=False)
assert _Loss.syncs == [-2.5] and m_h == -2.5 and s_h >= 0.03, (_Loss.syncs, m_h, s_h)
_Loss.syncs = []
s_h, m_h = timed_loop(_steps([0.5, 1.5, -4.0, 100.0, 7.0]), 3, sync_every_step=True)
assert _Loss.syncs == [0.5, 1.5, -4.0] and abs(m_h - (-2.0 / 3)) < 1e-12 and s_h >= 0.09, (_Loss.syncs, m_h, s_h)
_Loss.syncs = []
s_h, m_h = timed_loop(_steps([0.5, 1.5, -4.0, 100.0, 7.0]), 5, sync_every_step=False)
assert _Loss.syncs == [105.0] and abs(m_h - 21.0) < 1e-12, (_Loss.syncs, m_h)
vals_h = tw.randn(6)
it_h = iter(range(6))
for sync_h in (True, False):
    it_h = iter(range(6))
    s_h, m_h = timed_loop(lambda: vals_h[next(it_h)] * 1.0, 6, sync_every_step=sync_h)
    assert type(m_h) is float and abs(m_h - float(vals_h.numpy().mean())) < 1e-6 and s_h > 0, (sync_h, m_h)
### END HIDDEN TESTS

# %% [markdown]
# On this backend, with a small MLP (where the per-step overhead is largest relative to the
# work), both ways, fastest of three loops:

# %%
SYNC_STEPS = 10 if quick() else 60
small_step = make_mlp_step(64, 32)
timed_loop(small_step, 2, True)                              # warm-up
eager_s = min(timed_loop(small_step, SYNC_STEPS, True)[0] for _ in range(3))
lazy_s = min(timed_loop(small_step, SYNC_STEPS, False)[0] for _ in range(3))
sync_ratio = eager_s / lazy_s
print(f"{SYNC_STEPS} steps on {backend.name}: .item() every step {1000 * eager_s:.1f} ms, "
      f"once at the end {1000 * lazy_s:.1f} ms (ratio {sync_ratio:.2f})")

# %% [markdown]
# **On NumPy the ratio is about 1** (within the noise): NumPy is synchronous — every op has
# finished when it returns, so `.item()` only copies one number and there is nothing to
# wait for. (The deferred loop even does one extra `Add` per step.) **On cuPyNumeric**,
# and on any GPU framework, the eager loop makes the host wait for the device at every
# step and the device wait for the host while Python builds the next step; the deferred
# loop keeps both busy. The gain grows with the number of steps and with the host's
# per-step overhead, and it is largest for small models on a GPU, where launching the ops
# takes as long as running them. The same goes for `print(loss)` in the loop, `.numpy()`
# for a running accuracy, and `if` on a tensor's value: log every N steps, or accumulate on
# the device and read once.
#
# ## 4. When does cuPyNumeric beat NumPy?
#
# Every cuPyNumeric operation is a Legate **task** with a fixed cost (scheduling,
# dependence analysis, launching; ~0.1–1 ms in CPU mode); NumPy's fixed cost per call is
# about a microsecond. The GPU wins once the work per op outgrows that cost. We measure it
# as lab 08 did: the same script on both backends, one of them in a **second process**
# (a process has one backend), for square MLP steps (`batch = width`).

# %%
workdir = Path(tempfile.mkdtemp(prefix="lab13-"))
script = workdir / "crossover.py"
print(script.name, "in", workdir.name)

# %%
# %%writefile {script}
"""Time one training step of a square MLP (batch = width) per width; print the result as JSON.

Nothing here names a backend: run it with TENSORWEAVER_BACKEND=numpy or =cupynumeric.
"""
import json
import sys
import time

import tensorweaver as tw
from tensorweaver import nn, optim


def step_seconds(width, repeats=3):
    tw.manual_seed(0)
    model = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                          nn.Linear(width, 10))
    optimizer = optim.SGD(model.parameters(), lr=0.01)
    x, y = tw.randn(width, width), tw.randint(0, 10, (width,))
    loss_fn = nn.CrossEntropyLoss()
    times = []
    for _ in range(repeats + 1):               # the first step warms up (allocation, task caches)
        t0 = time.perf_counter()
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        loss.item()                            # wait for the backend: the step is done
        times.append(time.perf_counter() - t0)
    return min(times[1:])


def sweep(widths):
    return {"backend": tw.backend.name, "widths": widths, "seconds": [step_seconds(w) for w in widths]}


if __name__ == "__main__":
    print(json.dumps(sweep([int(w) for w in sys.argv[1:]])))

# %% [markdown]
# Here, and in a subprocess on the other backend (lab 08's `run_elsewhere`, again). Where
# cuPyNumeric is not installed, the other process runs NumPy too, and there is no crossover
# to find.

# %%
SWEEP = [32, 128] if quick() else [32, 64, 128, 256, 512]
sys.path.insert(0, str(workdir))
import crossover  # noqa: E402  (written by the cell above)


def run_elsewhere(backend_name, widths):
    proc = subprocess.run([sys.executable, str(script), *map(str, widths)],
                          env=dict(os.environ, TENSORWEAVER_BACKEND=backend_name),
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"the {backend_name} run failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


other = "numpy" if backend.name == "cupynumeric" else "cupynumeric"
if other == "cupynumeric" and importlib.util.find_spec("cupynumeric") is None:
    print("cuPyNumeric is not installed in this environment; comparing with a fresh NumPy process")
    other = "numpy"
here = crossover.sweep(SWEEP)
there = run_elsewhere(other, SWEEP)
runs = {here["backend"]: here, there["backend"] + (" (subprocess)" if there["backend"] == here["backend"] else ""): there}
print(f"{'width':>6}" + "".join(f"{name:>26}" for name in runs))
for i, w in enumerate(SWEEP):
    print(f"{w:>6}" + "".join(f"{1000 * r['seconds'][i]:>23.2f} ms" for r in runs.values()))

# %%
by_backend = {r["backend"]: r["seconds"] for r in (here, there)}
crossover_width = None
if set(by_backend) == {"numpy", "cupynumeric"}:
    faster = [w for w, n_s, c_s in zip(SWEEP, by_backend["numpy"], by_backend["cupynumeric"]) if c_s < n_s]
    crossover_width = faster[0] if faster else None
    print("cuPyNumeric is faster from width", crossover_width if faster else f"(none up to {SWEEP[-1]})",
          "| its Legate mode here:", "GPU" if tw.cuda.is_available() else "CPU (no GPU: expect none)")
assert there["widths"] == here["widths"] == SWEEP and all(s > 0 for r in (here, there) for s in r["seconds"])

plt.figure(figsize=(6, 3.5))
for name, r in runs.items():
    plt.loglog(r["widths"], [1000 * s for s in r["seconds"]], "o-", label=name)
plt.xlabel("width (= batch)"); plt.ylabel("ms per training step"); plt.legend()
plt.title("square MLP step on both backends"); plt.show()

# %% [markdown]
# In Legate's CPU mode (this machine without a GPU) cuPyNumeric does the same arithmetic
# on the same cores as NumPy, plus the per-task cost: it does not win at any size. On a GPU,
# the curves cross: below a width of a few hundred the GPU loses (fixed cost per op), above
# it wins by a factor that grows with the width, until the GPU is busy. Extend `SWEEP` to
# 1024, 2048, 4096 there to see it.
#
# ## 5. TF32: fewer mantissa bits for faster matmuls
#
# A float32 has 1 sign bit, 8 exponent bits and **23** mantissa bits (relative precision
# $2^{-24} \approx 6 \cdot 10^{-8}$). NVIDIA's tensor cores (Ampere and later) multiply in
# **TF32**: the same 8-bit exponent (the same range), but only **10** mantissa bits
# ($2^{-11} \approx 5 \cdot 10^{-4}$), with products accumulated in float32. Several times
# the matmul throughput, for three decimal digits instead of seven. In PyTorch,
# `torch.backends.cuda.matmul.allow_tf32 = True` lets float32 matmuls on a GPU use it (the
# default is False).
#
# In this engine, `tw.backends.cuda.matmul.allow_tf32` exists so PyTorch code runs
# unchanged, and **changes nothing**: not on NumPy (a CPU has no TF32), and not on
# cuPyNumeric either (it decides its matmul precision itself). Checked:

# %%
m1, m2 = tw.randn(64, 64), tw.randn(64, 64)
before = (m1 @ m2).numpy()
tw.backends.cuda.matmul.allow_tf32 = True
try:
    after = (m1 @ m2).numpy()
finally:
    tw.backends.cuda.matmul.allow_tf32 = False
tf32_flag_changes_nothing = bool(np.array_equal(before, after))
print("allow_tf32 = True changed the result:", not tf32_flag_changes_nothing)
if backend.is_numpy:
    assert tf32_flag_changes_nothing

# %% [markdown]
# What would TF32 cost? Emulate it: round both inputs of a matmul to TF32 (keep 10 of the
# 23 mantissa bits), multiply in float32, and compare with the exact product. Rounding works
# on the bits: view the float32 array as `uint32`; the low 13 bits are the ones TF32 drops.
#
# **Exercise 5.** Write `round_to_tf32(a)`: for a float32 NumPy array `a`, return a new
# float32 array of the same shape with every value rounded to the nearest TF32 number, ties
# away from zero (what the hardware's conversion does): add `0x1000` (half of the last
# kept bit) to the bits, then clear the low 13 bits with a mask. A carry into the exponent
# is then right by itself (1.99999 rounds to 2.0). `NaN` and `±inf` stay as they are.
# Do not modify `a`.

# %%
def round_to_tf32(a):
    ### BEGIN SOLUTION
    a = np.asarray(a, dtype=np.float32)
    bits = a.view(np.uint32)                 # the same 32 bits, read as an integer
    half = np.uint32(0x1000)                 # half of the last mantissa bit TF32 keeps
    keep = np.uint32(0xFFFFE000)             # sign, exponent and the 10 high mantissa bits
    rounded = ((bits + half) & keep).view(np.float32)
    return np.where(np.isfinite(a), rounded, a)
    ### END SOLUTION


# %%
# CHECK (3 points): rounding to TF32 against a reference made with float64 arithmetic
# (the value's spacing 2^(e-10) at exponent e), on random values of every magnitude.
def _ref_tf32(a):
    x = a.astype(np.float64)
    out = x.copy()
    nz = (x != 0) & np.isfinite(x)
    spacing = 2.0 ** (np.floor(np.log2(np.abs(x[nz]))) - 10)
    out[nz] = np.sign(x[nz]) * np.floor(np.abs(x[nz]) / spacing + 0.5) * spacing
    return out.astype(np.float32)


rng_c = np.random.default_rng(13)
a_c = (rng_c.standard_normal(1000) * 10.0 ** rng_c.integers(-20, 20, 1000)).astype(np.float32)
copy_c = a_c.copy()
r_c = round_to_tf32(a_c)
assert isinstance(r_c, np.ndarray) and r_c.dtype == np.float32 and r_c.shape == a_c.shape, (type(r_c), getattr(r_c, "dtype", None))
assert np.array_equal(a_c, copy_c), "round_to_tf32 must not modify its input"
bad_c = np.flatnonzero(r_c != _ref_tf32(a_c))
assert bad_c.size == 0, f"{bad_c.size} values differ, e.g. {a_c[bad_c[0]]!r} -> {r_c[bad_c[0]]!r}, expected {_ref_tf32(a_c)[bad_c[0]]!r}"
assert np.all((r_c.view(np.uint32) & 0x1FFF) == 0), "the low 13 mantissa bits must be zero"
print("1/3 in float32:", np.float32(1 / 3), "in TF32:", round_to_tf32(np.array([1 / 3], np.float32))[0])
### BEGIN HIDDEN TESTS
# Exact ties (away from zero, not to even, not truncated), negatives, a carry into the
# exponent, zeros, a 2-D array, inf and NaN kept.
tie_h = np.array([0x3F801000, 0x3F803000, 0xBF801000, 0x3F800FFF, 0x3FFFF000, 0x3FFFFFFF],
                 dtype=np.uint32).view(np.float32)
want_h = np.array([0x3F802000, 0x3F804000, 0xBF802000, 0x3F800000, 0x40000000, 0x40000000],
                  dtype=np.uint32).view(np.float32)
got_h = round_to_tf32(tie_h)
assert np.array_equal(got_h.view(np.uint32), want_h.view(np.uint32)), (
    f"ties and carries: got {[hex(v) for v in got_h.view(np.uint32)]}, expected {[hex(v) for v in want_h.view(np.uint32)]}")
special_h = np.array([[0.0, -0.0, np.inf], [-np.inf, np.nan, 1.0]], dtype=np.float32)
got_h = round_to_tf32(special_h)
assert got_h.shape == (2, 3) and got_h.dtype == np.float32
assert np.array_equal(got_h[~np.isnan(special_h)], special_h[~np.isnan(special_h)]) and np.isnan(got_h[1, 1]), got_h
assert np.signbit(got_h[0, 1]), "-0.0 stays -0.0"
b_h = rng_c.standard_normal((7, 9)).astype(np.float32)
assert np.array_equal(round_to_tf32(b_h), _ref_tf32(b_h.ravel()).reshape(7, 9))
### END HIDDEN TESTS

# %% [markdown]
# The error of a TF32 matmul, emulated: inputs rounded to TF32, products and sums in
# float32, against the exact product (float64), relative in the Frobenius norm; next to it,
# the plain float32 matmul's error, and the error of this backend's own float32 matmul (on a
# GPU, an error near the TF32 one would mean its matmuls use TF32).

# %%
N_TF32 = 256 if quick() else 512
A = tw.randn(N_TF32, N_TF32).numpy()                 # drawn on the host: identical on every backend
Bm = tw.randn(N_TF32, N_TF32).numpy()
exact = A.astype(np.float64) @ Bm.astype(np.float64)


def rel_error(c):
    return float(np.linalg.norm(c.astype(np.float64) - exact) / np.linalg.norm(exact))


tf32_rel_error = rel_error(round_to_tf32(A) @ round_to_tf32(Bm))
fp32_rel_error = rel_error(A @ Bm)
backend_matmul_rel_error = rel_error((tw.tensor(A) @ tw.tensor(Bm)).numpy())
print(f"{N_TF32}x{N_TF32} matmul, relative error: float32 {fp32_rel_error:.1e}, "
      f"TF32 (emulated) {tf32_rel_error:.1e}, {backend.name}'s matmul {backend_matmul_rel_error:.1e}")
assert 50 * fp32_rel_error < tf32_rel_error < 2e-3, (fp32_rel_error, tf32_rel_error)

# %% [markdown]
# About $3 \cdot 10^{-4}$: each input loses up to $2^{-11}$ of its value, and in a dot
# product of random signs those errors partly cancel. For training, where gradients are
# noisy anyway, that is usually harmless, which is why frameworks offer the switch; for a
# solver, a loss near convergence, or a parity test, it is not — which is why this
# project's parity tests run with TF32 off, and why PyTorch made it opt-in.

# %%
record(backend=backend.name, op_count_per_step=op_count_per_step, width=WIDTH, batch=BATCH,
       forward_flops_per_step=forward_flops_per_step, matmul_time_fraction=matmul_time_fraction,
       peak_gflops=peak_flops / 1e9, peak_gbs=peak_bandwidth / 1e9, ridge_flop_per_byte=ridge,
       bounds=bounds, sync_ratio=sync_ratio, sweep_widths=SWEEP, sweep_other_backend=there["backend"],
       crossover_width=crossover_width, tf32_flag_changes_nothing=tf32_flag_changes_nothing,
       tf32_rel_error=tf32_rel_error, fp32_rel_error=fp32_rel_error,
       backend_matmul_rel_error=backend_matmul_rel_error)

# %% [markdown]
# ## What you saw
#
# - A profiler is two hooks around every op and a stack of start times; summing per op type
#   says where a step goes — on NumPy, into the matmuls, and outside the ops into the
#   optimizer and Python.
# - FLOPs and bytes give an op's arithmetic intensity; the roofline of the machine (peak
#   rate and bandwidth, both measured) says whether it is memory- or compute-bound.
#   Elementwise ops are memory-bound everywhere; large matmuls and convolutions are not.
# - On an asynchronous backend, every `.item()` is a sync; keep them out of the inner loop.
# - Accelerators win above a size that depends on their fixed cost per op: measure it.
# - TF32 trades 13 mantissa bits of the matmul inputs for speed: a relative error near
#   $3 \cdot 10^{-4}$ instead of $10^{-7}$.
