"""One MLP training step on each backend: NumPy vs cuPyNumeric (Legate), with the ratio.

    python bench/backends.py [--steps 30] [--batch 128] [--threads 1]

Two models, float32, batch 128, cross-entropy, plain SGD, identical weights and data:

- ``mlp``:  784-256-256-10, the labs' MLP; small matmuls, so per-op overhead dominates;
- ``wide``: 784-4096-4096-10; large matmuls, where a GPU pays off.

Each backend runs in its own process (Legate is configured once per process, at import).
On a machine without a GPU, cuPyNumeric runs on Legate's CPU mode and the ratio only
documents Legate's per-task overhead; with a GPU it is the speed-up. The ``mode`` column
says which.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

MODELS = {"mlp": (784, 256, 256, 10), "wide": (784, 4096, 4096, 10)}
BACKENDS = ("numpy", "cupynumeric")
LR = 0.05


def measure(sizes, batch: int, steps: int, warmup: int) -> dict:
    """Train ``steps`` SGD steps on this process's backend; ms per step."""
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
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = step()
    ms = (time.perf_counter() - t0) / steps * 1e3
    mode = "host CPU"
    if not backend.is_numpy:
        from tensorweaver import _legate
        mode = f"Legate {_legate.applied.mode.upper()}"
    return {"ms": ms, "loss": loss, "mode": mode}


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
    p.add_argument("--child", choices=MODELS, help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.child:
        print(json.dumps(measure(MODELS[args.child], args.batch, args.steps, args.warmup)))
        return 0

    print(f"# backends: one SGD step, float32, batch {args.batch}, NumPy with {args.threads} BLAS thread(s)")
    print(f"{'model':<28}{'numpy ms':>10}{'cupynumeric ms':>16}{'ratio':>8}{'loss diff':>11}  mode")
    for model in args.models.split(","):
        res = {b: run_child(b, model, args) for b in BACKENDS}
        ratio = res["cupynumeric"]["ms"] / res["numpy"]["ms"]
        label = f"{model} {'-'.join(map(str, MODELS[model]))}"
        # Same seed, same steps: the final losses agree to float32 rounding (a sanity check).
        loss_diff = abs(res["cupynumeric"]["loss"] - res["numpy"]["loss"])
        print(f"{label:<28}{res['numpy']['ms']:>10.2f}{res['cupynumeric']['ms']:>16.2f}"
              f"{ratio:>7.1f}x{loss_diff:>11.1e}  {res['cupynumeric']['mode']}")
    print("ratio = cupynumeric / numpy time (below 1: cuPyNumeric is faster). On Legate CPU mode "
          "it measures per-task overhead, not GPU speed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
