"""The lab as `make lab` starts it: ready fast, token-protected, loopback-only, healthy,
serving the student's workspace (released labs, no solutions), saving there as the user,
and able to run a lab notebook in its kernel; `make lab SOLUTIONS=1` for instructors."""
from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from conftest import CPU_IMAGE, DOCKER, REPO, docker, expected_uid, free_port, lab_env

SERVER_RUNNER = REPO / "docker" / "run_in_running_server.py"

pytestmark = pytest.mark.container

READY_TARGET_S = 5.0   # the README's target for `make lab` once the image is built (measured)
HUNG_S = 60.0          # a start this slow is broken, not busy


def status(url: str, token: str | None = None) -> int:
    headers = {"Authorization": f"token {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def ready_seconds(start_output: str) -> float:
    return float(re.search(r"JupyterLab ready in ([0-9.]+) s", start_output)[1])


def test_lab_prints_its_url_with_the_token(lab):
    assert f"http://127.0.0.1:{lab.port}/lab?token={lab.token}" in lab.start_output


def test_lab_becomes_ready(lab):
    """From `docker run` to /api answering. The README's <= 5 s is a measured target (its
    table), not asserted here: a timed assertion fails whenever the machine is busy. This
    prints the time, and fails only on a start that is clearly broken (a minute or more)."""
    seconds = ready_seconds(lab.start_output)
    print(f"make lab ready in {seconds} s (target {READY_TARGET_S} s); load average {os.getloadavg()}")
    assert seconds < HUNG_S, f"the lab took {seconds} s to answer; load average {os.getloadavg()}"


def test_api_needs_the_token(lab):
    assert status(lab.url("/api/status"), lab.token) == 200
    assert status(lab.url(f"/api/status?token={lab.token}")) == 200
    assert status(lab.url("/api/status")) == 403
    assert status(lab.url("/api/status"), "not-the-token") == 403


def test_published_on_loopback_only(lab):
    bindings = docker("port", lab.name, "8888/tcp").stdout.split()
    assert bindings and all(b.startswith("127.0.0.1:") for b in bindings), bindings


def test_healthcheck_reports_healthy(lab):
    deadline = time.monotonic() + 60
    while (state := docker("inspect", "--format", "{{.State.Health.Status}}", lab.name)
           .stdout.strip()) != "healthy":
        assert state in ("starting", "healthy"), f"health: {state}"
        assert time.monotonic() < deadline, "not healthy within 60 s"
        time.sleep(1)


def test_runs_as_the_users_uid_not_root(lab):
    uid = int(docker("exec", lab.name, "id", "-u").stdout)
    assert uid == expected_uid() and uid != 0
    assert "tini" in docker("exec", lab.name, "cat", "/proc/1/cmdline").stdout


def api(lab, method: str, path: str, body=None):
    request = urllib.request.Request(
        lab.url(path), method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"token {lab.token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status, json.loads(response.read() or b"null")


def test_student_lab_serves_the_workspace_with_the_released_labs(lab):
    status_code, listing = api(lab, "GET", "/api/contents")
    names = {item["name"] for item in listing["content"]}
    assert {p.name for p in (REPO / "labs").glob("[0-9][0-9]_*.ipynb")} <= names, names
    assert "data" in names
    assert not {"tensorweaver", "tests", "labs"} & names, f"the student lab shows more: {names}"
    released = (lab.lab_dir / "00_environment.ipynb").read_text()
    assert "raise NotImplementedError()" in released and "### BEGIN SOLUTION" not in released
    assert (lab.lab_dir / ".tensorweaver" / "release.json").is_file()


def test_saving_a_notebook_returns_200_and_lands_in_the_workspace(lab):
    """The Save button's request (PUT on the student's copy) returns 200, and the file is
    written into the workspace on the host, owned by the lab's uid. As root, the workspace
    `make lab` created is the lab's (uid 1000)."""
    status_code, model = api(lab, "GET", "/api/contents/00_environment.ipynb?content=1")
    content = model["content"]
    content["cells"].append({"cell_type": "markdown", "metadata": {}, "source": "my answer",
                             "id": "student-answer"})
    status_code, _ = api(lab, "PUT", "/api/contents/00_environment.ipynb",
                         {"type": "notebook", "format": "json", "content": content})
    assert status_code == 200
    saved = lab.lab_dir / "00_environment.ipynb"
    assert "my answer" in saved.read_text()
    assert saved.stat().st_uid == expected_uid()
    status_code, _ = api(lab, "PUT", "/api/contents/new_by_student.ipynb", {
        "type": "notebook", "format": "json",
        "content": {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}})
    assert status_code == 201 and (lab.lab_dir / "new_by_student.ipynb").is_file()


def test_a_lab_notebook_runs_in_the_servers_kernel(lab):
    with open(SERVER_RUNNER) as script:
        proc = subprocess.run([DOCKER, "exec", "-i", lab.name, "python", "-", "00_environment.ipynb"],
                              stdin=script, capture_output=True, text=True, timeout=900)
    # The student's copy is unsolved: it runs until the exercise, which raises.
    assert proc.returncode == 1 and "NotImplementedError" in proc.stderr, proc.stdout + proc.stderr


def test_instructor_lab_runs_a_solved_lab(solutions_lab):
    with open(SERVER_RUNNER) as script:
        proc = subprocess.run([DOCKER, "exec", "-i", solutions_lab.name, "python", "-",
                               "labs/00_environment.ipynb"],
                              stdin=script, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "code cells ran in the server's kernel" in proc.stdout
    assert "instructor lab" in solutions_lab.start_output


def test_second_make_lab_with_other_settings_says_what_runs(lab, tmp_path):
    env = lab_env(IMAGE=CPU_IMAGE, NAME=lab.name, PORT=free_port(), WORKSPACE=tmp_path)
    proc = subprocess.run([str(REPO / "docker" / "lab.sh"), "start"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "already running" in proc.stderr and "other settings" in proc.stderr
    assert f"PORT={lab.port}" in proc.stderr and "make lab-stop" in proc.stderr
    same = lab_env(IMAGE=CPU_IMAGE, NAME=lab.name, PORT=lab.port, WORKSPACE=lab.lab_dir)
    proc = subprocess.run([str(REPO / "docker" / "lab.sh"), "start"], env=same, cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "already running" in proc.stdout
    assert f"token={lab.token}" in proc.stdout


def test_empty_token_is_refused_by_make_lab(tmp_path):
    env = lab_env(IMAGE=CPU_IMAGE, NAME="tensorweaver-lab-test-empty-token", PORT=free_port(),
                  WORKSPACE=tmp_path, JUPYTER_TOKEN="")
    proc = subprocess.run([str(REPO / "docker" / "lab.sh"), "start"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "JUPYTER_TOKEN is set but empty" in proc.stderr


def test_blas_threads_follow_the_cpu_quota(cpu_image):
    code = "import os; print(os.environ['OPENBLAS_NUM_THREADS'], os.environ['OMP_NUM_THREADS'])"
    out = docker("run", "--rm", "--cpus", "1", CPU_IMAGE, "python", "-c", code).stdout.split()
    assert out == ["1", "1"], out
    out = docker("run", "--rm", "--env", "OMP_NUM_THREADS=3", CPU_IMAGE, "python", "-c", code).stdout.split()
    assert out[1] == "3"        # a value the user set is kept


def test_port_in_use_is_reported_with_the_fix(lab):
    env = lab_env(IMAGE=CPU_IMAGE, NAME=f"{lab.name}-second", PORT=lab.port, WORKSPACE=lab.lab_dir)
    proc = subprocess.run([str(REPO / "docker" / "lab.sh"), "start"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert f"port {lab.port} on 127.0.0.1 is already in use" in proc.stderr
    assert "PORT=" in proc.stderr


def test_empty_token_is_refused(cpu_image):
    proc = docker("run", "--rm", "--env", "JUPYTER_TOKEN=", CPU_IMAGE, check=False, timeout=120)
    assert proc.returncode != 0
    assert "JUPYTER_TOKEN is set but empty" in proc.stderr


def test_unwritable_lab_folder_is_explained(cpu_image, tmp_path):
    """A mounted folder the lab's uid cannot write to is named, with the fix, at start."""
    folder = tmp_path / "readonly"
    folder.mkdir(mode=0o755)
    uid = 4321 if os.getuid() != 4321 else 4322   # not the folder's owner, not in its group
    proc = docker("run", "--rm", "--user", f"{uid}:100", "-v", f"{folder}:/home/jovyan/work/labs",
                  CPU_IMAGE, "true", timeout=120)
    assert "/home/jovyan/work/labs" in proc.stderr and "not writable" in proc.stderr
    assert "chmod" in proc.stderr


def test_lab_stop_removes_the_container(cpu_image):
    name, port = "tensorweaver-lab-test-stop", free_port()
    env = lab_env(IMAGE=CPU_IMAGE, NAME=name, PORT=port, SOLUTIONS=1, LAB_DIR=REPO / "labs")
    start = subprocess.run([str(REPO / "docker" / "lab.sh"), "start"], env=env, cwd=REPO,
                           capture_output=True, text=True, timeout=300)
    stop = subprocess.run([str(REPO / "docker" / "lab.sh"), "stop"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert start.returncode == 0, start.stderr
    assert stop.returncode == 0 and f"stopped {name}" in stop.stdout
    assert docker("container", "inspect", name, check=False).returncode != 0
