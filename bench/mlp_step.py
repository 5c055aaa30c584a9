"""MLP training step: this engine vs hand-written NumPy vs PyTorch, in one run.

    python bench/mlp_step.py [--threads 1] [--steps 200] [--batch 128] [--interleave]

A 784-256-256-10 ReLU MLP, batch 128, float32, cross-entropy, plain SGD. All three
implementations start from the same weights and use the same BLAS thread count.
The engine runs it twice: with ``nn.Linear`` layers and ``optim.SGD``, and written with
tensor ops (``h @ W.T + b``, the update by hand). Also prints the per-op overhead of
``a + b`` on 1-element tensors with grad on.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time


def _parse():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads for every implementation")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--repeats", type=int, default=5, help="timed repeats; the median is reported")
    p.add_argument("--interleave", action="store_true",
                   help="time the implementations in alternating rounds (one repeat each), so that "
                        "a change in the machine's load hits all of them alike")
    return p.parse_args()


ARGS = _parse()
# Thread counts must be fixed before NumPy (and its BLAS) is imported.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402

import tensorweaver as tw  # noqa: E402
from tensorweaver import nn, optim  # noqa: E402
import tensorweaver.nn.functional as F  # noqa: E402

SIZES = (784, 256, 256, 10)
LR = 0.05


def make_data(batch, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], size=batch)
    return x, y


def make_weights(seed=0):
    """(W, b) per layer, torch's Linear layout: W is (out, in)."""
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
        bound = 1 / np.sqrt(fan_in)
        params.append((rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32),
                       rng.uniform(-bound, bound, fan_out).astype(np.float32)))
    return params


# ---------------------------------------------------------------- hand-written NumPy
class NumpyMLP:
    """The same step written out by hand: the speed this engine is measured against."""

    def __init__(self, weights):
        self.params = [(W.copy(), b.copy()) for W, b in weights]

    def step(self, x, y):
        acts = [x]
        for i, (W, b) in enumerate(self.params):
            z = acts[-1] @ W.T + b
            acts.append(np.maximum(z, 0) if i < len(self.params) - 1 else z)
        logits = acts[-1]
        shifted = logits - logits.max(axis=1, keepdims=True)
        logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        n = len(y)
        loss = -logp[np.arange(n), y].mean()
        grad = np.exp(logp)
        grad[np.arange(n), y] -= 1
        grad /= n
        for i in range(len(self.params) - 1, -1, -1):
            W, b = self.params[i]
            gW, gb = grad.T @ acts[i], grad.sum(axis=0)
            if i:
                grad = (grad @ W) * (acts[i] > 0)
            W -= LR * gW
            b -= LR * gb
        return float(loss)


# ---------------------------------------------------------------- this engine
class EngineMLP:
    def __init__(self, weights):
        layers = []
        for i, (W, b) in enumerate(weights):
            lin = nn.Linear(W.shape[1], W.shape[0])
            lin.load_state_dict({"weight": tw.tensor(W), "bias": tw.tensor(b)})
            layers += [lin, nn.ReLU()] if i < len(weights) - 1 else [lin]
        self.model = nn.Sequential(*layers)
        self.opt = optim.SGD(self.model.parameters(), lr=LR)

    def step(self, x, y):
        loss = F.cross_entropy(self.model(x), y)
        loss.backward()
        self.opt.step()
        self.opt.zero_grad()
        return loss.item()


class EngineTensorMLP:
    """The same model written with tensor ops, the way tutorials write it: ``h @ W.T + b``,
    ``relu``, ``F.cross_entropy``, and the SGD update by hand under ``no_grad``."""

    def __init__(self, weights):
        self.params = [(tw.tensor(W, requires_grad=True), tw.tensor(b, requires_grad=True))
                       for W, b in weights]

    def step(self, x, y):
        h = x
        for i, (W, b) in enumerate(self.params):
            h = h @ W.T + b
            if i < len(self.params) - 1:
                h = h.relu()
        loss = F.cross_entropy(h, y)
        loss.backward()
        with tw.no_grad():
            for W, b in self.params:
                W -= LR * W.grad
                b -= LR * b.grad
                W.grad = None
                b.grad = None
        return loss.item()


# ---------------------------------------------------------------- PyTorch
class TorchMLP:
    def __init__(self, weights, torch):
        self.torch = torch
        layers = []
        for i, (W, b) in enumerate(weights):
            lin = torch.nn.Linear(W.shape[1], W.shape[0])
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(W))
                lin.bias.copy_(torch.from_numpy(b))
            layers += [lin, torch.nn.ReLU()] if i < len(weights) - 1 else [lin]
        self.model = torch.nn.Sequential(*layers)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=LR)

    def step(self, x, y):
        loss = self.torch.nn.functional.cross_entropy(self.model(x), y)
        loss.backward()
        self.opt.step()
        self.opt.zero_grad()
        return loss.item()


def _median(values):
    return sorted(values)[len(values) // 2]


def time_steps(step, x, y, steps, warmup, repeats):
    """Median CPU and wall ms/step over ``repeats`` runs of ``steps`` steps, and the loss.

    CPU time (this process, one BLAS thread) is the fair number on a shared machine:
    wall time also counts the time other processes held the core.
    """
    for _ in range(warmup):
        loss = step(x, y)
    cpu, wall = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        for _ in range(steps):
            loss = step(x, y)
        cpu.append((time.process_time() - c0) / steps * 1e3)
        wall.append((time.perf_counter() - t0) / steps * 1e3)
    return _median(cpu), _median(wall), loss


def time_interleaved(runs, steps, warmup, repeats):
    """``time_steps`` for several (step, x, y) at once, one repeat of each per round."""
    for step, x, y in runs:
        for _ in range(warmup):
            step(x, y)
    cpu, wall, loss = [[] for _ in runs], [[] for _ in runs], [None] * len(runs)
    for _ in range(repeats):
        for i, (step, x, y) in enumerate(runs):
            c0, t0 = time.process_time(), time.perf_counter()
            for _ in range(steps):
                loss[i] = step(x, y)
            cpu[i].append((time.process_time() - c0) / steps * 1e3)
            wall[i].append((time.perf_counter() - t0) / steps * 1e3)
    return [(_median(c), _median(w), l) for c, w, l in zip(cpu, wall, loss)]


def op_overhead(n=10_000, repeats=5):
    """µs per ``a + b`` on 1-element float32 tensors with requires_grad=True."""
    a = tw.tensor([1.0], requires_grad=True)
    b = tw.tensor([2.0], requires_grad=True)
    na, nb = np.ones(1, np.float32), np.ones(1, np.float32)
    ours, bare = float("inf"), float("inf")
    for _ in range(repeats):
        t0 = time.process_time()
        for _ in range(n):
            a + b
        ours = min(ours, (time.process_time() - t0) / n * 1e6)
        t0 = time.process_time()
        for _ in range(n):
            na + nb
        bare = min(bare, (time.process_time() - t0) / n * 1e6)
    return ours, bare


def main():
    x, y = make_data(ARGS.batch)
    weights = make_weights()
    runs = [("hand-written NumPy", NumpyMLP(weights).step, x, y),
            ("tensorweaver", EngineMLP(weights).step, tw.tensor(x), tw.tensor(y)),
            ("tensorweaver, tensor ops", EngineTensorMLP(weights).step, tw.tensor(x), tw.tensor(y))]
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(ARGS.threads)
        runs.append((f"PyTorch {torch.__version__}", TorchMLP(weights, torch).step,
                     torch.from_numpy(x), torch.from_numpy(y)))
    if ARGS.interleave:
        timed = time_interleaved([r[1:] for r in runs], ARGS.steps, ARGS.warmup, ARGS.repeats)
    else:
        timed = [time_steps(*r[1:], ARGS.steps, ARGS.warmup, ARGS.repeats) for r in runs]
    rows = [(r[0], *t) for r, t in zip(runs, timed)]

    ours_cpu, ours_wall = rows[1][1], rows[1][2]
    print(f"# MLP {'-'.join(map(str, SIZES))} step, batch {ARGS.batch}, float32, SGD")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"NumPy {np.__version__}, threads={ARGS.threads}, backend={tw.backend.name}, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"command: {' '.join([os.path.basename(sys.executable)] + sys.argv)}")
    print()
    print("| implementation | CPU ms/step | tensorweaver ÷ this (CPU) | wall ms/step | tensorweaver ÷ this (wall) | final loss |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, cpu, wall, loss in rows:
        print(f"| {name} | {cpu:.3f} | {ours_cpu / cpu:.2f}x | {wall:.3f} | {ours_wall / wall:.2f}x | {loss:.5f} |")
    overhead, numpy_add = op_overhead()
    print()
    print(f"per-op forward overhead, 10,000 x (a + b) on 1-element tensors with grad (CPU time, best of 5): "
          f"{overhead:.2f} µs/op, of which the bare NumPy add is {numpy_add:.2f} µs/op")
    print()
    tensor_ops, numpy_step = rows[2][1], rows[0][1]
    print(f"tensor ops (h @ W.T + b) vs hand-written NumPy (CPU): {tensor_ops / numpy_step:.2f}x")
    print()
    print("targets: step <= 1.2x hand-written NumPy, <= 1.0x PyTorch; overhead <= 3 µs/op; "
          "tensor ops <= 1.1x hand-written NumPy")


if __name__ == "__main__":
    main()
