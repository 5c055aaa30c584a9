"""Real Slurm jobs: render a template, sbatch it, wait, and check what it left behind.

CI runs these through `.ci/cluster.sh`, which starts a one-node Slurm on 127.0.0.1. Apptainer
is not packaged in Debian 12, so the jobs here run the lab in the project's venv
(TW_RUNTIME=venv); the Apptainer path runs where apptainer is installed.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from slurmjobs import REPO, job_info, read_json, render, submit, wait

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("slurm")]

QUICK_LAB = "labs/00_environment.ipynb"       # a few seconds on NumPy
VENV = REPO / ".venv"
# The cuPyNumeric venv (`make venv-gpu`); GPU_VENV=... picks another, as in the Makefile.
GPU_VENV = REPO / os.environ.get("GPU_VENV", ".venv-gpu")


def needs_venv():
    if not (VENV / "bin" / "python").is_file():
        pytest.fail(f"no project venv at {VENV}: run `make venv` (.ci/cluster.sh does)")


def test_cpu_job_runs_the_lab_and_writes_notebook_and_metrics(tmp_path):
    needs_venv()
    job = render("cpu", tmp_path, "--lab", QUICK_LAB, "--runtime", "venv", "--quick")
    t0 = time.monotonic()
    done = wait(submit(job), tmp_path)
    elapsed = time.monotonic() - t0
    assert done.state == "COMPLETED", f"job {done.job_id} ended {done.state}:\n{done.log[-4000:]}"
    assert done.info["ExitCode"] == "0:0"

    report = read_json(tmp_path / "00_environment.metrics.json")
    assert report["status"] == "ok" and report["backend"] == "numpy" and report["quick"]
    assert report["metrics"]["backend"] == "numpy"
    assert report["metrics"]["grad_error"] < 1e-4

    notebook = json.loads((tmp_path / "00_environment.executed.ipynb").read_text())
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert code and all(c["execution_count"] for c in code), "not every code cell was executed"
    assert not [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
    assert "00_environment.ipynb [numpy, quick] ok" in done.log
    print(f"cpu job {done.job_id}: submit to COMPLETED in {elapsed:.1f} s")


def test_roster_job_array_writes_one_folder_per_student(tmp_path):
    """Three students, one job array: each task runs the lab into its student's folder."""
    needs_venv()
    roster = tmp_path / "students.txt"
    roster.write_text("# CS101\nalice\nbob\ncarol\n")
    jobs = tmp_path / "jobs"
    job = render("cpu", jobs, "--lab", QUICK_LAB, "--runtime", "venv", "--quick", "--cpus", "1",
                 "--mem", "2000", "--roster", str(roster), "--job-name", "cs101")
    array_id = submit(job)
    tasks = {name: wait(f"{array_id}_{index}", jobs) for index, name in
             enumerate(["alice", "bob", "carol"])}
    for index, (name, done) in enumerate(tasks.items()):
        folder = jobs / name
        log = folder / f"cs101-{array_id}_{index}.out"
        text = log.read_text() if log.is_file() else f"(no {log.name} in {folder})"
        assert done.state == "COMPLETED", f"task {name} ended {done.state}:\n{text[-4000:]}"
        report = read_json(folder / "00_environment.metrics.json")
        assert report["status"] == "ok" and report["metrics"]["backend"] == "numpy"
        assert (folder / "00_environment.executed.ipynb").is_file()
        # The task's log: its student, the allocation Slurm gave it, Legate's memory, usage.
        assert f"student {name}" in text and "allocation:" in text
        assert "memory 2000 MB per node" in text and f"sacct -j {array_id}_{index}" in text
        # The Slurm log of the task only points at it.
        slurm_log = (jobs / f"cs101-{array_id}_{index}.out").read_text()
        assert f"is student {name}" in slurm_log and str(log) in slurm_log
    assert sorted(p.name for p in jobs.iterdir() if p.is_dir()) == ["alice", "bob", "carol"]
    assert not list(jobs.glob("*.metrics.json"))        # nothing written beside the folders


def test_a_failing_lab_fails_the_job_and_names_the_cell(tmp_path):
    needs_venv()
    # A checkout whose only lab raises in its second code cell (TW_REPO/TW_LAB at submit time).
    labs = tmp_path / "checkout" / "labs"
    labs.mkdir(parents=True)
    import nbformat
    from nbformat import v4

    nb = v4.new_notebook(cells=[v4.new_code_cell("x = 1"),
                                v4.new_code_cell("raise ValueError('broken on purpose')")])
    nbformat.write(nb, str(labs / "99_broken.ipynb"))
    jobs = tmp_path / "jobs"
    job = render("cpu", jobs, "--runtime", "venv")
    done = wait(submit(job, env={"TW_REPO": str(labs.parent), "TW_LAB": "labs/99_broken.ipynb",
                                 "TW_VENV": str(VENV)}), jobs)
    assert done.state == "FAILED", f"job {done.job_id} ended {done.state}:\n{done.log[-4000:]}"
    report = read_json(jobs / "99_broken.metrics.json")
    assert report["status"] == "failed"
    assert report["errors"][0]["cell"] == 1 and report["errors"][0]["ename"] == "ValueError"
    assert "broken on purpose" in done.log


def test_a_missing_venv_fails_the_job_with_the_fix(tmp_path):
    job = render("cpu", tmp_path, "--runtime", "venv", "--venv", str(tmp_path / "no-venv"))
    done = wait(submit(job), tmp_path)
    assert done.state == "FAILED"
    assert "no Python venv at" in done.log and "make venv" in done.log


def test_apptainer_runtime_without_apptainer_says_so(tmp_path):
    if subprocess.run(["which", "apptainer"], capture_output=True).returncode == 0:
        pytest.skip("apptainer is installed here, so this failure path cannot happen")
    job = render("cpu", tmp_path, "--runtime", "apptainer")
    done = wait(submit(job), tmp_path)
    assert done.state == "FAILED"
    assert "apptainer is not installed" in done.log and "TW_RUNTIME=venv" in done.log


# --------------------------------------------------------------------------- Legate launcher
def legate_venv_problem() -> str:
    python = GPU_VENV / "bin" / "python"
    if not python.is_file():
        return (f"no cuPyNumeric venv at {GPU_VENV} (create it with `make venv-gpu`, or name "
                "another with GPU_VENV=)")
    probe = subprocess.run([str(python), "-c", "import legate.driver, IPython, nbformat"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return (f"{GPU_VENV} lacks the legate driver or the lab tools (IPython, nbformat) that "
                f"run_lab_ranks.py needs: {probe.stderr.strip().splitlines()[-1]}; install "
                "the lab extra there (pip install -e '.[gpu,lab]')")
    return ""


@pytest.fixture(scope="module")
def legate_venv():
    problem = legate_venv_problem()
    if problem and os.environ.get("CLUSTER_LEGATE_REQUIRED") == "1":
        # .ci/cluster.sh built the venv for these tests: a skip here would hide a broken one.
        pytest.fail(f"CLUSTER_LEGATE_REQUIRED=1 but {problem}")
    if problem:
        pytest.skip(problem)


@pytest.mark.usefixtures("legate_venv")
def test_multi_template_runs_the_lab_through_legate_srun(tmp_path):
    """`legate --launcher srun` inside the job: one rank, Legate in CPU mode (no GPU here)."""
    job = render("multi", tmp_path, "--lab", QUICK_LAB, "--runtime", "venv", "--nodes", "1",
                 "--ranks-per-node", "1", "--gpus", "0", "--cpus", "2", "--sysmem", "1000",
                 "--quick", "--venv", str(GPU_VENV))
    done = wait(submit(job), tmp_path)
    assert done.state == "COMPLETED", f"job {done.job_id} ended {done.state}:\n{done.log[-4000:]}"
    report = read_json(tmp_path / "00_environment.metrics.json")
    assert report["status"] == "ok" and report["backend"] == "cupynumeric"
    assert report["ranks"] == 1
    assert "--cpus 1" in report["legate_config"] and "--gpus 0" in report["legate_config"]
    assert report["metrics"]["backend"] == "cupynumeric"
    assert report["metrics"]["grad_error"] < 1e-4
    notebook = json.loads((tmp_path / "00_environment.executed.ipynb").read_text())
    outputs = [o for c in notebook["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
    assert not [o for o in outputs if o["output_type"] == "error"]
    assert any("cupynumeric" in "".join(o.get("text", "")) for o in outputs)
    assert "1 rank(s) ok" in done.log


@pytest.mark.usefixtures("legate_venv")
def test_two_ranks_on_a_legate_without_networking_fail_early_with_the_fix(tmp_path):
    networks = subprocess.run(
        [str(GPU_VENV / "bin" / "python"), str(REPO / "docker" / "cluster" / "run_lab_ranks.py"),
         "--check-networking", "1"], capture_output=True, text=True).stdout
    if "networks: none" not in networks:
        pytest.skip(f"this Legate has networking ({networks.strip()}): two ranks can run")
    job = render("multi", tmp_path, "--lab", QUICK_LAB, "--runtime", "venv", "--nodes", "1",
                 "--ranks-per-node", "2", "--gpus", "0", "--cpus", "1", "--sysmem", "500",
                 "--venv", str(GPU_VENV))
    done = wait(submit(job), tmp_path)
    assert done.state == "FAILED"
    assert "2 Legate ranks were asked for, but this Legate build has no networking" in done.log
    assert not (tmp_path / "00_environment.metrics.json").exists()


# --------------------------------------------------------------------------- JupyterLab
def test_jupyter_job_serves_lab_and_prints_the_tunnel(tmp_path):
    needs_venv()
    job = render("jupyter", tmp_path, "--runtime", "venv", "--time", "5")
    job_id = submit(job)
    try:
        deadline, log, url = time.monotonic() + 120, "", None
        while time.monotonic() < deadline:
            out = tmp_path / f"{job.stem}-{job_id}.out"
            log = out.read_text() if out.exists() else ""
            url = re.search(r"answers at (http://127\.0\.0\.1:(\d+))/lab", log)
            if url and "Jupyter Server" in log and "is running at" in log:
                break
            assert job_info(job_id)["JobState"] in ("PENDING", "RUNNING"), log[-3000:]
            time.sleep(0.5)
        assert url, f"no server address in the job's output:\n{log[-3000:]}"
        tunnel = re.search(r"ssh -N -L 8888:127\.0\.0\.1:(\d+) -J \S+@\S+ \S+@\S+", log)
        assert tunnel and tunnel.group(1) == url.group(2), f"no tunnel command:\n{log[-3000:]}"
        token = re.search(r"token=([0-9a-f]{48})", log).group(1)
        with urllib.request.urlopen(f"{url.group(1)}/api/status?token={token}", timeout=10) as r:
            assert r.status == 200 and "started" in json.loads(r.read())
        with pytest.raises(urllib.error.HTTPError) as refused:   # the token is required
            urllib.request.urlopen(f"{url.group(1)}/api/contents", timeout=10)
        assert refused.value.code == 403
    finally:
        subprocess.run(["scancel", job_id], timeout=30)
    assert wait(job_id, tmp_path, timeout=60).state == "CANCELLED"
