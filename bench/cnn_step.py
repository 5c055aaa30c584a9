"""CNN training step: this engine vs PyTorch on the CPU, at the same thread count.

    python bench/cnn_step.py [--threads 1] [--steps 30] [--batch 64] [--interleave] [--im2col] [--malloc default|keep]

Conv2d(1, 16, 3, padding=1) - ReLU - Conv2d(16, 32, 3, padding=1) - ReLU - MaxPool2d(2)
- Flatten - Linear(32*14*14, 10) on a synthetic batch of 1x28x28 images, float32,
cross-entropy, plain SGD. Both start from the same weights (copied with
``load_state_dict``). Prints ms/step (median of repeats; ``--interleave`` alternates the
two engines repeat by repeat, so load changes hit both), the ratio, the split into
forward, the page faults per step, the BLAS kernel in use (threadpoolctl), and where this
engine spends its time per op. OpenBLAS's kernel can be pinned by ``OPENBLAS_CORETYPE``;
the target is measured with it unset: ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE``.

``--im2col`` also times this engine with its grid path turned off (every convolution on
im2col + one product per block, as before the grid; see ``tensorweaver/ops/conv.py``), from
the same weights, in the same alternating rounds: the before/after of that change in one run.

``--malloc keep`` re-runs the benchmark with glibc told to keep freed memory
(``MALLOC_TRIM_THRESHOLD_``/``MALLOC_MMAP_THRESHOLD_``): by default glibc returns the
heap to the OS at the end of every step, and the next step's activations fault it
back in (kernel page zeroing). Both engines run under the same setting.
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time


def _parse():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads for both implementations")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=5, help="timed repeats; the median is reported")
    p.add_argument("--interleave", action="store_true",
                   help="time the engines' steps in alternating rounds (steadier ratios on a loaded machine)")
    p.add_argument("--im2col", action="store_true",
                   help="also time the engine with the grid path off (im2col for every convolution), interleaved")
    p.add_argument("--malloc", choices=("default", "keep"), default="default",
                   help="'keep': glibc keeps freed memory instead of returning it to the OS every step")
    return p.parse_args()


ARGS = _parse()
KEEP_ENV = {"MALLOC_TRIM_THRESHOLD_": str(1 << 30), "MALLOC_MMAP_THRESHOLD_": str(1 << 30)}
if ARGS.malloc == "keep" and any(os.environ.get(k) != v for k, v in KEEP_ENV.items()):
    # glibc reads these once, at process start: re-execute with them set.
    os.execve(sys.executable, [sys.executable] + sys.argv, dict(os.environ, **KEEP_ENV))
# Thread counts must be fixed before NumPy (and its BLAS) or torch is imported.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402

import tensorweaver as tw  # noqa: E402
import tensorweaver.nn.functional as F  # noqa: E402
from tensorweaver import nn, optim  # noqa: E402
from tensorweaver.autograd import function as _function  # noqa: E402
from tensorweaver.ops import conv as _conv  # noqa: E402

LR = 0.01


def build(lib):
    return lib.Sequential(
        lib.Conv2d(1, 16, 3, padding=1), lib.ReLU(),
        lib.Conv2d(16, 32, 3, padding=1), lib.ReLU(), lib.MaxPool2d(2),
        lib.Flatten(), lib.Linear(32 * 14 * 14, 10))


def make_data(batch, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, size=batch)


class Engine:
    def __init__(self, state):
        self.model = build(nn)
        self.model.load_state_dict(state)
        self.opt = optim.SGD(self.model.parameters(), lr=LR)

    def forward(self, x, y):
        return F.cross_entropy(self.model(x), y)

    def step(self, x, y):
        loss = self.forward(x, y)
        loss.backward()
        self.opt.step()
        self.opt.zero_grad()
        return loss.item()


class Im2colEngine(Engine):
    """The engine with the grid path off: every convolution runs im2col (``--im2col``)."""

    def step(self, x, y):
        saved, _conv._GRID_MIN_CHANNELS = _conv._GRID_MIN_CHANNELS, float("inf")
        try:
            return super().step(x, y)
        finally:
            _conv._GRID_MIN_CHANNELS = saved


class Torch:
    def __init__(self, torch, model):
        self.torch, self.model = torch, model
        self.opt = torch.optim.SGD(model.parameters(), lr=LR)

    def forward(self, x, y):
        return self.torch.nn.functional.cross_entropy(self.model(x), y)

    def step(self, x, y):
        loss = self.forward(x, y)
        loss.backward()
        self.opt.step()
        self.opt.zero_grad()
        return loss.item()


def blas_in_use():
    """The BLAS libraries this process loaded and OpenBLAS's kernel (threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (threadpoolctl not installed)"
    found = [f"{os.path.basename(i.get('filepath', '?'))}: {i.get('internal_api')} {i.get('version')} "
             f"kernel {i.get('architecture', '?')}" for i in threadpool_info() if i.get("user_api") == "blas"]
    return "; ".join(found) or "no BLAS library loaded"


def median_ms(fn, steps, warmup, repeats):
    """Median (wall ms, CPU ms) per call over ``repeats`` runs of ``steps`` calls.

    CPU time (this process, all its threads) is the steadier number on a shared
    machine; with one thread it is the time the step really costs.
    """
    for _ in range(warmup):
        fn()
    walls, cpus = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(steps):
            fn()
        walls.append((time.perf_counter() - t0) / steps * 1e3)
        cpus.append((time.process_time() - c0) / steps * 1e3)
    return sorted(walls)[len(walls) // 2], sorted(cpus)[len(cpus) // 2]


def interleaved_ms(fns, steps, warmup, repeats):
    """``median_ms`` for several functions timed in alternating rounds: each repeat runs
    ``steps`` calls of each in turn, so a change in the machine's load falls on all of
    them alike. Returns one (wall ms, CPU ms) median per function."""
    for fn in fns:
        for _ in range(warmup):
            fn()
    samples = [([], []) for _ in fns]
    for _ in range(repeats):
        for fn, (walls, cpus) in zip(fns, samples):
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(steps):
                fn()
            walls.append((time.perf_counter() - t0) / steps * 1e3)
            cpus.append((time.process_time() - c0) / steps * 1e3)
    return [(sorted(w)[len(w) // 2], sorted(c)[len(c) // 2]) for w, c in samples]


def faults_per_step(fn, steps=10):
    """Minor page faults per call (each one a fresh, kernel-zeroed 4 KiB page)."""
    fn()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(steps):
        fn()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / steps


def profile_ops(engine, x, y, steps=10):
    """CPU ms per step spent in each Function's forward and backward."""
    totals = {}

    def timed(cls, kind, method):
        def wrapper(self, *args, **kwargs):
            t0 = time.process_time()
            out = method(self, *args, **kwargs)
            key = (cls.__name__, kind)
            totals[key] = totals.get(key, 0.0) + time.process_time() - t0
            return out
        return wrapper

    patched = []
    seen = set()
    stack = [_function.Function]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls in seen or cls is _function.Function:
            continue
        seen.add(cls)
        for kind in ("forward", "backward"):
            if kind in cls.__dict__:
                patched.append((cls, kind, cls.__dict__[kind]))
                setattr(cls, kind, timed(cls, kind, cls.__dict__[kind]))
    try:
        for _ in range(steps):
            engine.step(x, y)
    finally:
        for cls, kind, method in patched:
            setattr(cls, kind, method)
    return sorted(((k, v / steps * 1e3) for k, v in totals.items()), key=lambda kv: -kv[1])


def main():
    x, y = make_data(ARGS.batch)
    try:
        import torch
    except ImportError:
        torch = None
    tw.manual_seed(0)
    if torch is not None:
        torch.set_num_threads(ARGS.threads)
        torch.manual_seed(0)
        torch_model = build(torch.nn)
        state = {k: v.detach().numpy().copy() for k, v in torch_model.state_dict().items()}
    else:
        state = build(nn).state_dict()
    engines = [("tensorweaver", Engine(state))]
    if ARGS.im2col:
        engines.append(("tensorweaver, grid off (im2col)", Im2colEngine(state)))
    engine = engines[0][1]
    xt, yt = tw.tensor(x), tw.tensor(y)
    steps = [lambda e=e: e.step(xt, yt) for _, e in engines]
    if torch is not None:
        ref = Torch(torch, torch_model)
        xs, ys = torch.from_numpy(x), torch.from_numpy(y)
        steps.append(lambda: ref.step(xs, ys))
    if ARGS.interleave:
        step_ms = interleaved_ms(steps, ARGS.steps, ARGS.warmup, ARGS.repeats)
    else:
        step_ms = [median_ms(fn, ARGS.steps, ARGS.warmup, ARGS.repeats) for fn in steps]
    rows = []
    for (name, e), ms in zip(engines, step_ms):
        fwd_ms = median_ms(lambda e=e: e.forward(xt, yt).item(), ARGS.steps, 2, ARGS.repeats)[0]
        rows.append((name, ms, fwd_ms, faults_per_step(lambda e=e: e.step(xt, yt)), e.step(xt, yt)))
    if torch is not None:
        with torch.no_grad():
            fwd_ms = median_ms(lambda: ref.forward(xs, ys).item(), ARGS.steps, 2, ARGS.repeats)[0]
        rows.append((f"PyTorch {torch.__version__}", step_ms[-1], fwd_ms, faults_per_step(lambda: ref.step(xs, ys)),
                     ref.step(xs, ys)))

    print(f"# CNN step: conv(1->16,3x3) relu conv(16->32,3x3) relu maxpool2 linear(6272->10); batch {ARGS.batch}, "
          "1x28x28, float32, SGD")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"NumPy {np.__version__}, threads={ARGS.threads}, backend={tw.backend.name}, malloc={ARGS.malloc}")
    print(f"BLAS: {blas_in_use()}")
    pinned = {v: os.environ[v] for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if v in os.environ}
    print(f"OpenBLAS settings from the environment: {pinned or 'none (OpenBLAS picks its kernel)'}")
    print(f"command: {' '.join([os.path.basename(sys.executable)] + sys.argv)}")
    print()
    print("| implementation | ms/step (wall) | ratio | CPU ms/step | ratio | forward ms (wall; torch: no grad) "
          "| page faults/step | loss after the timed steps |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    ref_wall, ref_cpu = rows[-1][1]
    for name, (wall, cpu), fwd, faults, loss in rows:
        print(f"| {name} | {wall:.2f} | {wall / ref_wall:.2f}x | {cpu:.2f} | {cpu / ref_cpu:.2f}x | {fwd:.2f} "
              f"| {faults:.0f} | {loss:.5f} |")
    print()
    print("tensorweaver CPU time per op (ms/step):")
    for (op, kind), ms in profile_ops(engine, xt, yt)[:10]:
        print(f"  {op}.{kind}: {ms:.2f}")
    print(f"load average while running: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
          "(wall-clock ratios are unreliable when it exceeds the core count)")
    print()
    print("target: tensorweaver <= 1.2x PyTorch CPU time at the same thread count, on OpenBLAS's own kernel "
          "(run with `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`)")


if __name__ == "__main__":
    main()
