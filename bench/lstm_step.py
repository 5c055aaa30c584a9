"""LSTM training step: this engine vs PyTorch, in one run, same weights, same threads.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/lstm_step.py [--threads 1]

A 2-layer ``nn.LSTM(256, 256)`` on a (35, 20, 256) float32 sequence (seq 35, batch 20: the
classic word-language-model setting), loss = mean of the squared outputs plus the squared
final states, backward, plain SGD update. Both engines start from the same weights (torch's
state dict loaded into tensorweaver) and run with the same BLAS/OpenMP thread count.
Reports CPU time per step (the median of ``--repeats`` runs), the BLAS libraries and the
OpenBLAS kernel threadpoolctl sees, and the OpenBLAS variables set in the environment.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time


def _parse():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads for both engines")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeats", type=int, default=5, help="timed repeats; the median is reported")
    return p.parse_args()


ARGS = _parse()
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)      # before NumPy/torch load their BLAS

import numpy as np  # noqa: E402

import tensorweaver as tw  # noqa: E402
from tensorweaver import nn  # noqa: E402

SEQ, BATCH, HIDDEN, LAYERS, LR = 35, 20, 256, 2, 0.1


def blas_in_use() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (threadpoolctl not installed)"
    found = [f"{os.path.basename(i.get('filepath', '?'))}: {i.get('internal_api')} {i.get('version')} "
             f"kernel {i.get('architecture', '?')}, {i.get('num_threads')} thread(s)"
             for i in threadpool_info() if i.get("user_api") == "blas"]
    return "; ".join(found) or "no BLAS library loaded"


def tw_step(model, x):
    out, (h, c) = model(x)
    loss = (out * out).mean() + (h * h).mean() + (c * c).mean()
    for p in model.parameters():
        p.grad = None
    loss.backward()
    with tw.no_grad():
        for p in model.parameters():
            p -= LR * p.grad
    return float(loss.item())


def torch_step(torch, model, x):
    out, (h, c) = model(x)
    loss = (out * out).mean() + (h * h).mean() + (c * c).mean()
    model.zero_grad(set_to_none=True)
    loss.backward()
    with torch.no_grad():
        for p in model.parameters():
            p -= LR * p.grad
    return float(loss.item())


def time_steps(step, steps, warmup, repeats):
    """Median CPU ms/step over ``repeats`` runs of ``steps`` steps (CPU time of this process:
    fair on a shared machine, where wall time also counts other processes), and the last loss."""
    for _ in range(warmup):
        loss = step()
    cpu = []
    for _ in range(repeats):
        c0 = time.process_time()
        for _ in range(steps):
            loss = step()
        cpu.append((time.process_time() - c0) / steps * 1e3)
    return sorted(cpu)[len(cpu) // 2], loss


def main():
    import torch
    torch.set_num_threads(ARGS.threads)
    torch.manual_seed(0)
    ref = torch.nn.LSTM(HIDDEN, HIDDEN, LAYERS)
    ours = nn.LSTM(HIDDEN, HIDDEN, LAYERS)
    ours.load_state_dict(ref.state_dict())
    x = np.random.default_rng(0).standard_normal((SEQ, BATCH, HIDDEN)).astype(np.float32)
    x_tw, x_t = tw.tensor(x), torch.tensor(x)

    # Same weights, same input: the first losses agree to float32 rounding (a sanity check).
    first_tw, first_t = tw_step(ours, x_tw), torch_step(torch, ref, x_t)
    ours_ms, ours_loss = time_steps(lambda: tw_step(ours, x_tw), ARGS.steps, ARGS.warmup, ARGS.repeats)
    torch_ms, torch_loss = time_steps(lambda: torch_step(torch, ref, x_t), ARGS.steps, ARGS.warmup, ARGS.repeats)

    pinned = {v: os.environ[v] for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if v in os.environ}
    print(f"# LSTM step: {LAYERS} layers, hidden {HIDDEN}, seq {SEQ}, batch {BATCH}, float32, forward + BPTT + SGD")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"NumPy {np.__version__}, torch {torch.__version__}, {ARGS.threads} thread(s), "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"BLAS: {blas_in_use()}")
    print(f"OpenBLAS settings from the environment: {pinned or 'none (OpenBLAS picks its kernel)'}")
    print(f"command: {' '.join([os.path.basename(sys.executable)] + sys.argv)}")
    print()
    print("| implementation | CPU ms/step (median) | ÷ PyTorch | first loss | loss after the timed steps |")
    print("|---|---:|---:|---:|---:|")
    print(f"| tensorweaver | {ours_ms:.2f} | {ours_ms / torch_ms:.2f}x | {first_tw:.6f} | {ours_loss:.6f} |")
    print(f"| PyTorch {torch.__version__} | {torch_ms:.2f} | 1.00x | {first_t:.6f} | {torch_loss:.6f} |")
    print()
    print("target: tensorweaver <= 3x PyTorch")
    return 0


if __name__ == "__main__":
    sys.exit(main())
