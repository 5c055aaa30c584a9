"""One MLP training step on each backend: NumPy vs cuPyNumeric (Legate), with the ratio.

    python bench/backends.py [--steps 30] [--wide-steps 5] [--batch 128] [--threads 1]

Two models, float32, batch 128, cross-entropy, plain SGD, identical weights and data:

- ``mlp``:  784-256-256-10, the labs' MLP; small matmuls, so per-op overhead dominates;
- ``wide``: 784-4096-4096-10; large matmuls, where a GPU pays off.

Each backend runs in its own process (Legate is configured once per process, at import).
On a machine without a GPU, cuPyNumeric runs on Legate's CPU mode and the ratio only
documents Legate's per-task overhead; with a GPU it is the speed-up. The ``mode`` column
says which.

Every step ends with ``loss.item()``, which waits for Legate's asynchronous work, so each
step is timed on its own: the table gives the **median** wall-clock ms/step over the timed
steps (the mean and the fastest step are in ``--json``), and the median process CPU time
(all threads: Legate's workers run inside the process). The BLAS library each side loaded
is reported from threadpoolctl (for OpenBLAS: its version and the CPU kernel it chose, which
``OPENBLAS_CORETYPE`` can force).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

MODELS = {"mlp": (784, 256, 256, 10), "wide": (784, 4096, 4096, 10)}
BACKENDS = ("numpy", "cupynumeric")
LR = 0.05


def blas_in_use() -> str:
    """The BLAS libraries this process loaded, as threadpoolctl reports them."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (pip install threadpoolctl to report it)"
    found = [f"{i.get('internal_api')} {i.get('version')} kernel {i.get('architecture', '?')}, "
             f"{i.get('num_threads')} thread(s)" for i in threadpool_info() if i.get("user_api") == "blas"]
    return "; ".join(found) or "no BLAS library loaded"


def measure(sizes, batch: int, steps: int, warmup: int) -> dict:
    """Train ``steps`` SGD steps on this process's backend; per-step times in ms."""
    import tensorweaver as tw
    import tensorweaver.nn.functional as F
    from tensorweaver import backend, nn, optim

    tw.manual_seed(0)
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers)
    opt = optim.SGD(model.parameters(), lr=LR)
    x = tw.randn(batch, sizes[0])
    y = tw.randint(0, sizes[-1], (batch,))

    def step() -> float:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()           # waits for the step to finish (Legate runs asynchronously)

    for _ in range(warmup):
        step()
    wall, cpu = [], []
    for _ in range(steps):
        c0, t0 = time.process_time(), time.perf_counter()
        loss = step()
        wall.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    mode = "host CPU"
    if not backend.is_numpy:
        from tensorweaver import _legate
        mode = f"Legate {_legate.applied.mode.upper()}"
    return {"median_ms": statistics.median(wall), "mean_ms": statistics.fmean(wall), "min_ms": min(wall),
            "cpu_median_ms": statistics.median(cpu), "steps": steps, "loss": loss, "mode": mode,
            "blas": blas_in_use()}


def run_child(backend_name: str, model: str, args) -> dict:
    env = dict(os.environ, TENSORWEAVER_BACKEND=backend_name, CUPYNUMERIC_FAST_MATH="0")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(args.threads)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", model,
           "--steps", str(args.steps if model == "mlp" else args.wide_steps),
           "--batch", str(args.batch), "--warmup", str(args.warmup)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{backend_name} / {model} failed:\n{proc.stderr[-3000:]}")
    # Legate may log to stdout too; the result is the last line.
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=30, help="timed steps of the 784-256-256-10 MLP")
    p.add_argument("--wide-steps", type=int, default=5, help="timed steps of the width-4096 MLP")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps first (Legate maps and caches on the first ones)")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--threads", type=int, default=1, help="BLAS threads for the NumPy side")
    p.add_argument("--models", default="mlp,wide", help="comma-separated subset of: " + ", ".join(MODELS))
    p.add_argument("--json", action="store_true", help="print every measurement as JSON lines too")
    p.add_argument("--child", choices=MODELS, help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.child:
        print(json.dumps(measure(MODELS[args.child], args.batch, args.steps, args.warmup)))
        return 0

    print(f"# backends: one SGD step, float32, batch {args.batch}, NumPy with {args.threads} BLAS thread(s); "
          f"median of the timed steps (wall clock; CPU = process CPU time, all threads)")
    pinned = {v: os.environ[v] for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if v in os.environ}
    print(f"# OpenBLAS settings from the environment: {pinned or 'none (OpenBLAS picks its kernel)'}; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'model':<28}{'numpy ms':>10}{'(CPU)':>8}{'cupynumeric ms':>16}{'(CPU)':>8}{'ratio':>8}"
          f"{'loss diff':>11}  mode")
    blas = {}
    for model in args.models.split(","):
        res = {b: run_child(b, model, args) for b in BACKENDS}
        ratio = res["cupynumeric"]["median_ms"] / res["numpy"]["median_ms"]
        label = f"{model} {'-'.join(map(str, MODELS[model]))}"
        # Same seed, same steps: the final losses agree to float32 rounding (a sanity check).
        loss_diff = abs(res["cupynumeric"]["loss"] - res["numpy"]["loss"])
        print(f"{label:<28}{res['numpy']['median_ms']:>10.2f}{res['numpy']['cpu_median_ms']:>8.2f}"
              f"{res['cupynumeric']['median_ms']:>16.2f}{res['cupynumeric']['cpu_median_ms']:>8.2f}"
              f"{ratio:>7.2f}x{loss_diff:>11.1e}  {res['cupynumeric']['mode']}")
        blas.update({b: r["blas"] for b, r in res.items()})
        if args.json:
            for b, r in res.items():
                print(json.dumps({"model": model, "backend": b, **r}))
    for b, text in blas.items():
        print(f"# BLAS ({b} process): {text}")
    print("ratio = cupynumeric / numpy median wall time (below 1: cuPyNumeric is faster). On Legate CPU "
          "mode it measures per-task overhead, not GPU speed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
