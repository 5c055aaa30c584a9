"""Helpers for the cluster tests: render a job, submit it to Slurm, wait for it.

The Slurm tests need a reachable slurmctld (`.ci/cluster.sh` starts a one-node cluster on
127.0.0.1 and sets SLURM_CONF); without one they are skipped, and say why.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RENDER = REPO / "docker" / "cluster" / "render.py"
JOB_TIMEOUT_S = 600
FINISHED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY",
            "BOOT_FAIL", "DEADLINE", "PREEMPTED"}


def render(mode: str, out_dir: Path, *options: str) -> Path:
    """Run render.py and return the job script it wrote."""
    done = subprocess.run([sys.executable, str(RENDER), mode, "--out", str(out_dir), *options],
                          capture_output=True, text=True)
    assert done.returncode == 0, f"render.py {mode} {' '.join(options)} failed:\n{done.stderr}"
    return Path(done.stdout.strip())


def slurm_problem() -> str:
    """Why no Slurm cluster can be used here, or "" when one answers."""
    for tool in ("sbatch", "squeue", "scontrol", "sinfo"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (the CI stage .ci/cluster.sh installs slurm-wlm)"
    ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=30)
    if ping.returncode != 0 or "UP" not in ping.stdout:
        return ("no slurmctld answers `scontrol ping` (SLURM_CONF="
                f"{os.environ.get('SLURM_CONF', 'unset')}); run the tests through "
                "`bash .ci/cluster.sh`, which starts a one-node cluster")
    idle = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=30)
    if not re.search(r"\b(idle|mix)\b", idle.stdout):
        return f"no Slurm node is idle or mixed (sinfo says {idle.stdout.split()})"
    return ""


@dataclass
class Job:
    job_id: str
    submit_dir: Path
    info: dict                     # `scontrol show job` fields of the finished job

    @property
    def state(self) -> str:
        return self.info.get("JobState", "?")

    @property
    def log(self) -> str:
        path = Path(self.info.get("StdOut", ""))
        return path.read_text() if path.is_file() else f"(no log at {path})"


def submit(job: Path, env: dict = None) -> str:
    """``sbatch`` a job script from its folder; the job id."""
    done = subprocess.run(["sbatch", "--parsable", job.name], cwd=job.parent,
                          capture_output=True, text=True, timeout=60,
                          env=None if env is None else {**os.environ, **env})
    assert done.returncode == 0, f"sbatch {job} failed:\n{done.stderr}"
    return done.stdout.strip().split(";")[0]


def job_info(job_id: str) -> dict:
    """`scontrol show job` as a dict (there is no sacct without slurmdbd)."""
    done = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, f"scontrol show job {job_id}: {done.stderr}"
    # key=value pairs; values may contain spaces only in a few fields we do not read.
    return dict(re.findall(r"(\w+)=(\S*)", done.stdout))


def wait(job_id: str, submit_dir: Path, timeout: float = JOB_TIMEOUT_S) -> Job:
    """Poll squeue until the job leaves the queue, then read its final state."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        queued = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True,
                                text=True, timeout=30).stdout.strip()
        if not queued or queued in FINISHED:
            info = job_info(job_id)
            if info.get("JobState") in FINISHED:
                return Job(job_id, submit_dir, info)
        time.sleep(0.5)
    subprocess.run(["scancel", job_id], timeout=30)
    job = Job(job_id, submit_dir, job_info(job_id))
    pytest.fail(f"job {job_id} did not finish in {timeout} s (state {job.state}):\n{job.log[-4000:]}")


def read_json(path: Path) -> dict:
    assert path.is_file(), f"no {path.name} in {path.parent}: {sorted(p.name for p in path.parent.iterdir())}"
    return json.loads(path.read_text())
