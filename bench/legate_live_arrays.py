"""Reproducer: cuPyNumeric's cost per operation grows with the number of live arrays.

Written to be filed upstream (nv-legate/cupynumeric): it uses cuPyNumeric only, no
tensorweaver. It runs the same tiny elementwise op (``a = a * 1.0001`` on 16 float32)
N times, in two variants:

- ``drop``: each result replaces the previous one, so one array is alive at a time;
- ``keep``: every result is also appended to a list, so after i steps i arrays are alive
  (what an autodiff tape does: it keeps the intermediates the backward pass needs).

Expected: the same cost per op in both (each op touches one 16-element array).
Observed (nvidia-cupynumeric / legate 26.6.1, Legate CPU mode, one CPU, see
tensorweaver's bench/RESULTS.md for the numbers): ``drop`` stays flat, ``keep`` grows
roughly linearly with the number of live arrays.

Run (needs a Legate that can start; on a machine without an NVIDIA driver, tensorweaver's
CUDA driver stand-in provides libcuda.so.1, e.g. ``LD_PRELOAD=build/cuda-stand-in/libcuda.so.1``)::

    LEGATE_AUTO_CONFIG=0 LEGATE_CONFIG="--cpus 1 --gpus 0 --omps 0 --utility 1 --sysmem 4096" \\
        python bench/legate_live_arrays.py --ops 40000 --every 5000
    ... --variant keep --profile 20      # where the time goes, at the end of the run

Each segment ends with a read of one element (``float(a[0])``), which waits for all the
work queued so far, so a segment's time is the time its ops really took. Process CPU time
(all threads: Legate's workers run inside the process) is printed beside wall time: on a
shared machine it is the steadier number.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time


def run(variant: str, ops: int, every: int, profile_top: int) -> list[tuple[int, float, float]]:
    """(ops so far, wall ms/op, process CPU ms/op) per segment; with ``profile_top``, the
    first and the last segment are profiled and their top functions printed (stderr)."""
    import cupynumeric as cn

    a = cn.ones((16,), dtype=cn.float32)
    keep = []
    segments = []
    profiles = {}
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(1, ops + 1):
        if profile_top and i in (1, ops - every + 1):
            profiles[i] = cProfile.Profile()
            profiles[i].enable()
        if variant == "keep":
            keep.append(a)
        a = a * 1.0001
        if i % every == 0:
            float(a[0])
            t1, c1 = time.perf_counter(), time.process_time()
            for profile in profiles.values():
                profile.disable()
            segments.append((i, (t1 - t0) / every * 1e3, (c1 - c0) / every * 1e3))
            t0, c0 = t1, c1
    for start, profile in profiles.items():
        text = io.StringIO()
        pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(profile_top)
        print(f"--- {variant}: ops {start}-{start + every - 1}, top {profile_top} by own time\n"
              f"{text.getvalue()}", file=sys.stderr)
    return segments


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ops", type=int, default=40_000)
    p.add_argument("--every", type=int, default=5_000, help="ops per timed segment")
    p.add_argument("--variant", choices=("keep", "drop", "both"), default="both")
    p.add_argument("--profile", type=int, default=0, metavar="N",
                   help="cProfile the first and the last segment; print the top N functions by own time (stderr)")
    args = p.parse_args()
    if args.variant == "both":
        # One process per variant: the first run's arrays must not linger into the second.
        import subprocess
        for variant in ("drop", "keep"):
            subprocess.run([sys.executable, __file__, "--ops", str(args.ops), "--every", str(args.every),
                            "--variant", variant, "--profile", str(args.profile)], check=True)
        return 0
    import cupynumeric  # noqa: F401  (started before the clock)
    segments = run(args.variant, args.ops, args.every, args.profile)
    print(f"# {args.variant}: one array alive" if args.variant == "drop" else
          f"# {args.variant}: every result kept alive", f"(load average {os.getloadavg()[0]:.1f})")
    print(f"{'ops':>14}{'live arrays':>13}{'wall ms/op':>12}{'CPU ms/op':>11}")
    for i, wall, cpu in segments:
        live = i if args.variant == "keep" else 1
        print(f"{i - args.every + 1:>6}-{i:<7}{live:>13}{wall:>12.3f}{cpu:>11.3f}", flush=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("LEGATE_AUTO_CONFIG", "0")
    sys.exit(main())
