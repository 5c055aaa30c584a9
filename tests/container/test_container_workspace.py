"""The container-shaped targets on a student's workspace: `make workspace`, `make lab`,
`make release`, `make autograde`, and that no target deletes what a student saved."""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess

import pytest
from conftest import REPO, docker, expected_uid, free_port

pytestmark = pytest.mark.container


def make(*args, timeout=1800, **settings) -> subprocess.CompletedProcess:
    env = dict(os.environ, **{k: str(v) for k, v in settings.items()})
    return subprocess.run(["make", "--no-print-directory", *args, *[f"{k}={v}" for k, v in settings.items()]],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, f"{proc.args} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def student_workspace(cpu_image, tmp_path_factory):
    """A workspace made by `make workspace`, then worked in: a changed lab, a new notebook, a
    file in a new folder, a changed data file."""
    ws = tmp_path_factory.mktemp("ws") / "workspace"
    out = ok(make("workspace", WORKSPACE=ws))
    assert "added 00_environment.ipynb" in out and (ws / "08_gpu.ipynb").is_file()
    saved = {
        "00_environment.ipynb": (ws / "00_environment.ipynb").read_text().replace(
            "raise NotImplementedError()", "return None  # my attempt"),
        "my_experiment.ipynb": json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}),
        "notes/ideas.md": "student notes",
        "data/sonnets.txt": "my own training text",
    }
    for rel, text in saved.items():
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws / rel).write_text(text)
    return ws, saved


def still_there(ws, saved):
    for rel, text in saved.items():
        assert (ws / rel).read_text() == text, f"{rel} was changed or lost"


def test_make_workspace_as_root_gives_the_workspace_to_the_lab_user(student_workspace):
    ws, _ = student_workspace
    assert ws.stat().st_uid == expected_uid()
    assert (ws / "00_environment.ipynb").stat().st_uid == expected_uid()


def test_no_target_deletes_student_work(student_workspace, tmp_path):
    ws, saved = student_workspace
    # make workspace again (nothing new: nothing written)
    assert "is up to date" in ok(make("workspace", WORKSPACE=ws))
    still_there(ws, saved)
    # make lab (student) and make lab-stop; make lab SOLUTIONS=1 and make lab-stop
    port = free_port()
    try:
        ok(make("lab", WORKSPACE=ws, PORT=port, DETACH=1))
    finally:
        ok(make("lab-stop"))
    still_there(ws, saved)
    labs_copy = tmp_path / "labs"
    shutil.copytree(REPO / "labs", labs_copy)
    try:
        ok(make("lab", SOLUTIONS=1, LAB_DIR=labs_copy, PORT=free_port(), DETACH=1))
    finally:
        ok(make("lab-stop"))
    still_there(ws, saved)
    # make release, make autograde with the workspace as a student's submission folder
    ok(make("release", RELEASE_DIR=tmp_path / "release"))
    subs = tmp_path / "subs"
    (subs / "alice").mkdir(parents=True)
    shutil.copy(ws / "00_environment.ipynb", subs / "alice")
    ok(make("autograde", SUBMISSIONS=subs, GRADES_DIR=tmp_path / "grades"))
    still_there(ws, saved)
    # make clean (in a scratch checkout: it removes venvs and build outputs, never a workspace)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    shutil.copy(REPO / "Makefile", scratch)
    (scratch / ".venv").mkdir()
    (scratch / "build").mkdir()
    shutil.copytree(ws, scratch / "workspace")
    proc = subprocess.run(["make", "--no-print-directory", "clean"], cwd=scratch,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert not (scratch / ".venv").exists() and not (scratch / "build").exists()
    still_there(scratch / "workspace", saved)
    # a new release: updated labs arrive beside the student's copies
    state = ws / ".tensorweaver" / "release.json"
    record = json.loads(state.read_text())
    record["files"]["00_environment.ipynb"] = "0" * 64     # as if it came from an older release
    record["files"]["data/sonnets.txt"] = "0" * 64
    state.write_text(json.dumps(record))
    out = ok(make("workspace", WORKSPACE=ws))
    assert "00_environment.updated.ipynb" in out
    assert (ws / "00_environment.updated.ipynb").is_file()
    assert (ws / "data" / "sonnets.updated.txt").is_file()
    still_there(ws, saved)


def test_make_release_writes_the_student_versions(cpu_image, tmp_path):
    out = tmp_path / "release"
    ok(make("release", RELEASE_DIR=out))
    nb = (out / "04_mlp" / "04_mlp.ipynb").read_text()
    assert "raise NotImplementedError()" in nb and "### BEGIN SOLUTION" not in nb
    assert (out / "06_attention" / "data" / "sonnets.txt").is_file()


def test_make_autograde_writes_grades(cpu_image, tmp_path):
    """In the container: a blank submission of lab 00 scores 0, the solved lab all its points."""
    rel = tmp_path / "release"
    ok(make("release", RELEASE_DIR=rel))
    subs = tmp_path / "subs"
    for student, source in (("blank", rel / "00_environment" / "00_environment.ipynb"),
                            ("solved", REPO / "labs" / "00_environment.ipynb")):
        (subs / student).mkdir(parents=True)
        shutil.copy(source, subs / student)
    grades_dir = tmp_path / "grades"
    out = ok(make("autograde", SUBMISSIONS=subs, GRADES_DIR=grades_dir))
    assert "grades.csv" in out
    with open(grades_dir / "grades.csv", newline="") as f:
        rows = {(r["student_id"], r["assignment"]): (float(r["score"]), float(r["max_score"]))
                for r in csv.DictReader(f)}
    # The lab's points, counted from its source (as labs/README.md's table is).
    from tensorweaver.labs.build import lab_summary
    points = float(lab_summary(REPO / "labs" / "src" / "00_environment.py")["points"])
    assert points >= 1
    assert rows[("blank", "00_environment")] == (0.0, points)
    assert rows[("solved", "00_environment")] == (points, points)


def test_make_autograde_without_submissions_says_how(cpu_image):
    proc = make("autograde")
    assert proc.returncode != 0 and "SUBMISSIONS=DIR" in proc.stderr
