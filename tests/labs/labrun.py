"""Shared helpers: run a lab through the headless runner's command line, as `make` does."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LABS = REPO / "labs"
NOTEBOOKS = sorted(LABS.glob("[0-9][0-9]_*.ipynb"))
RUN_TIMEOUT_S = 900


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
