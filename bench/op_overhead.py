"""Where the per-op overhead goes: ``a + b`` (and ``a * b``) on 1-element tensors, layer by layer.

    python bench/op_overhead.py [--n 20000] [--repeats 7]

Each row adds one layer of the engine on top of the previous row, so the difference between
two rows is what that layer costs. CPU time per op, the best of ``--repeats`` runs of ``--n``
ops (the best, not the median: the floor is what the code costs; the load only adds to it).
PyTorch's own ``a + b`` with grad is measured in the same run when it is installed.
"""
from __future__ import annotations

import argparse
import gc
import os
import platform
import time

import numpy as np

import tensorweaver as tw
from tensorweaver.ops import elementwise as ew
from tensorweaver.tensor import _make_tensor


def _parse():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=20_000, help="ops per timed run")
    p.add_argument("--repeats", type=int, default=7, help="timed runs per row; the best is reported")
    return p.parse_args()


def _best_us(fn, n, repeats):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.process_time()
        fn(n)
        best = min(best, (time.process_time() - t0) / n * 1e6)
    return best


def rows():
    """(label, what the step adds, row it adds to, loop) per layer; a loop runs its op n times."""
    na, nb = np.ones(1, np.float32), np.ones(1, np.float32)
    c, d = tw.ones(1), tw.ones(1)                                   # no grad
    a, b = tw.ones(1, requires_grad=True), tw.ones(1, requires_grad=True)
    Add, Mul = ew.Add, ew.Mul

    def bare(n):
        for _ in range(n):
            na + nb

    def wrapped(n):
        for _ in range(n):
            _make_tensor(na + nb, False, None)

    def apply_no_grad(n):
        for _ in range(n):
            Add.apply(c, d)

    def apply_grad(n):
        for _ in range(n):
            Add.apply(a, b)

    def function(n):
        for _ in range(n):
            ew.add(a, b)

    def operator(n):
        for _ in range(n):
            a + b

    def scalar(n):
        for _ in range(n):
            a + 1.0

    def mul_saves(n):
        for _ in range(n):
            Mul.apply(a, b)

    return [
        ("NumPy `na + nb`", "the arithmetic itself", None, bare),
        ("+ Tensor construction", "`_make_tensor`: a Tensor around the result", 0, wrapped),
        ("`Add.apply`, no grad", "`Function.apply`: unwrap inputs, forward, flags, hooks", 1, apply_no_grad),
        ("`Add.apply`, with grad", "recording: edges, the node as `grad_fn`", 2, apply_grad),
        ("`tw.add(a, b)`", "dtype check (same dtype: no promotion)", 3, function),
        ("`a + b`", "`Tensor.__add__`", 4, operator),
        ("`a + 1.0`", "promotion of a Python scalar (torch's rules), instead of the dtype check", 5, scalar),
        ("`Mul.apply`, with grad", "saving both inputs, their version counters noted", 3, mul_saves),
    ]


def main():
    args = _parse()
    gc.disable()                     # a collection inside one timed run would land on one row
    print("# Per-op overhead, layer by layer (1-element float32 tensors)")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"NumPy {np.__version__}, backend={tw.backend.name}, load average {os.getloadavg()[0]:.1f}")
    print(f"CPU time per op, best of {args.repeats} runs of {args.n:,} ops")
    print()
    print("| step | adds | µs/op | the step costs (µs) |")
    print("|---|---|---:|---:|")
    layers = rows()
    measured = [_best_us(fn, args.n, args.repeats) for *_, fn in layers]
    for (label, adds, base, _), us in zip(layers, measured):
        step = "" if base is None else f"{us - measured[base]:+.2f} (vs row {base + 1})"
        print(f"| {label} | {adds} | {us:.2f} | {step} |")
    try:
        import torch
    except ImportError:
        print("\nPyTorch is not installed: no comparison (pip install -e '.[torch]')")
        return
    torch.set_num_threads(1)
    ta, tb = torch.ones(1, requires_grad=True), torch.ones(1, requires_grad=True)

    def torch_add(n):
        for _ in range(n):
            ta + tb

    # Alternate the two, so that a change in the machine's load hits both alike.
    ours = theirs = float("inf")
    for _ in range(args.repeats):
        ours = min(ours, _best_us(layers[5][3], args.n, 1))
        theirs = min(theirs, _best_us(torch_add, args.n, 1))
    print()
    print(f"`a + b` with grad: tensorweaver {ours:.2f} µs/op, PyTorch {torch.__version__} {theirs:.2f} µs/op: "
          f"{ours / theirs:.2f}x (target <= 1.0x)")


if __name__ == "__main__":
    main()
