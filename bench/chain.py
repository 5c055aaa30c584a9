"""A long chain of tiny ops through the engine: does the cost per op grow with the length?

    TENSORWEAVER_BACKEND=cupynumeric python bench/chain.py [--ops 40000] [--every 10000] [--op mul]

Builds ``y = x; y = y * 1.0001`` (``--op mul``: Mul saves its inputs for backward, so every
intermediate array stays alive until backward) or ``y = y + 1e-4`` (``--op add``: saves
nothing, so each intermediate is freed at once), on 16 float32 with ``requires_grad``, then
runs backward. Prints wall and process CPU ms/op for each segment of ``--every`` ops, and
for backward. Each segment ends by reading one value, which waits for Legate's
asynchronous work, so a segment's time is the time its ops really took.

``--no-grad`` builds the same chain under ``tw.no_grad()`` (no graph, nothing kept).
``bench/legate_live_arrays.py`` is the same experiment on cuPyNumeric alone.
"""
from __future__ import annotations

import argparse
import os
import sys
import time


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ops", type=int, default=40_000)
    p.add_argument("--every", type=int, default=10_000)
    p.add_argument("--op", choices=("mul", "add"), default="mul")
    p.add_argument("--no-grad", action="store_true")
    args = p.parse_args()

    import tensorweaver as tw
    from tensorweaver import backend

    x = tw.ones(16, requires_grad=True)
    y = x
    rows = []
    step = (lambda t: t * 1.0001) if args.op == "mul" else (lambda t: t + 1e-4)
    with tw.no_grad() if args.no_grad else tw.enable_grad():
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(1, args.ops + 1):
            y = step(y)
            if i % args.every == 0:
                float(y.data[0])
                t1, c1 = time.perf_counter(), time.process_time()
                rows.append((f"ops {i - args.every + 1}-{i}", (t1 - t0) / args.every * 1e3,
                             (c1 - c0) / args.every * 1e3))
                t0, c0 = t1, c1
    if not args.no_grad:
        t0, c0 = time.perf_counter(), time.process_time()
        y.sum().backward()
        float(x.grad.data[0])
        rows.append((f"backward ({args.ops} ops)", (time.perf_counter() - t0) / args.ops * 1e3,
                     (time.process_time() - c0) / args.ops * 1e3))
    print(f"# chain of {args.ops} x {args.op} on {backend.name}, "
          f"{'no_grad' if args.no_grad else 'grad'}; load average {os.getloadavg()[0]:.1f}")
    print(f"{'segment':<24}{'wall ms/op':>12}{'CPU ms/op':>12}")
    for label, wall, cpu in rows:
        print(f"{label:<24}{wall:>12.3f}{cpu:>12.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
