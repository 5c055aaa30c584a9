"""Shared helpers: run a lab through the headless runner's command line, as `make` does."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LABS = REPO / "labs"
NOTEBOOKS = sorted(LABS.glob("[0-9][0-9]_*.ipynb"))
RUN_TIMEOUT_S = 900
#: How many labs run at once. Each runs in its own kernel process, on one core, while pytest
#: waits: running them side by side cuts the suite's wall time by about the number of cores.
#: TENSORWEAVER_LAB_WORKERS=1 runs them one after another.
WORKERS = int(os.environ.get("TENSORWEAVER_LAB_WORKERS") or os.cpu_count() or 1)


@dataclass
class LabRun:
    returncode: int
    stdout: str
    stderr: str
    report: dict          # the runner's metrics JSON
    output: Path          # the executed notebook

    @property
    def metrics(self) -> dict:
        return self.report["metrics"]


def run_lab(notebook: Path, backend: str, out_dir: Path, *extra: str) -> LabRun:
    """``python -m tensorweaver.labs run NOTEBOOK --backend BACKEND ...`` in a subprocess.

    The runner process itself always imports tensorweaver on NumPy (it computes nothing);
    only the kernel gets ``backend``, so one Legate runtime is started, not two.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{notebook.stem}-{backend}"
    output, metrics = out_dir / f"{stem}.ipynb", out_dir / f"{stem}.json"
    env = dict(os.environ, TENSORWEAVER_BACKEND="numpy", CUPYNUMERIC_FAST_MATH="0")
    if WORKERS > 1:
        # Labs side by side, each on its core: a BLAS that also starts a thread per core
        # oversubscribes them (a small matmul then waits milliseconds for its threads).
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env.setdefault(name, "1")
    proc = subprocess.run(
        [sys.executable, "-m", "tensorweaver.labs", "run", str(notebook), "--backend", backend,
         "--output", str(output), "--metrics", str(metrics), *extra],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    if not metrics.exists():
        pytest.fail(f"the runner wrote no metrics JSON (exit {proc.returncode}):\n"
                    f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return LabRun(proc.returncode, proc.stdout, proc.stderr, json.loads(metrics.read_text()), output)


def assert_ran(run: LabRun) -> None:
    assert run.returncode == 0 and run.report["status"] == "ok", (
        f"{run.report['notebook']} failed on {run.report['backend']}:\n{run.stderr[-4000:]}")


def selected(request, argname, test=None) -> list:
    """The values of the parametrized argument ``argname`` in this module's tests (or only
    in the test function named ``test``) that this session runs (after -k/-m selection),
    in order: what a module fixture has to prepare."""
    values = []
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if getattr(item, "module", None) is request.module and callspec is not None \
                and (test is None or getattr(item, "originalname", None) == test) \
                and argname in callspec.params and callspec.params[argname] not in values:
            values.append(callspec.params[argname])
    return values


def run_all(jobs: dict) -> dict:
    """{key: zero-argument callable} -> {key: its result, or the exception it raised}, with at
    most WORKERS running at once (each typically waits on a lab's subprocess)."""
    def call(job):
        try:
            return job()
        except BaseException as exc:       # pytest.fail raises Failed, a BaseException
            return exc
    with ThreadPoolExecutor(max_workers=max(1, WORKERS)) as pool:
        futures = {key: pool.submit(call, job) for key, job in jobs.items()}
        return {key: future.result() for key, future in futures.items()}


def result_of(results: dict, key):
    """One result of run_all: raises what the job raised, in the test that needs it."""
    value = results[key]
    if isinstance(value, BaseException):
        raise value
    return value
