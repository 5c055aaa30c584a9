"""A class on JupyterHub, end to end (`make hub`, DockerSpawner, the lab's hub image).

One hub for the module; the tests run in order and build on each other, as a class does:
log in, spawn, run cells, isolation, grading by the instructor, a hub restart that keeps the
students' work, then the idle culler.
"""
from __future__ import annotations

import csv
import io
import json
import subprocess
import time

import pytest

from classhub import ADMIN_PASSWORD, DOCKER, STUDENT_PASSWORD
from hub_client import HubError

pytestmark = pytest.mark.hub

STUDENTS = ("alice", "bob")
SAVED = ["# alice's own work\n", "print('saved by alice')"]


def container(prefix: str, name: str) -> dict:
    proc = subprocess.run([DOCKER, "container", "inspect", f"{prefix}{name}"], capture_output=True, text=True)
    assert proc.returncode == 0, f"no container {prefix}{name}: {proc.stderr}"
    return json.loads(proc.stdout)[0]


def test_login_and_spawn_from_the_cpu_image(class_hub):
    hub = class_hub.hub
    class_hub.tokens["instructor"] = hub.token("instructor", ADMIN_PASSWORD)
    with pytest.raises(HubError):
        hub.login("alice", "not-the-password")
    for name in STUDENTS:
        hub.login(name, STUDENT_PASSWORD)          # the form creates the account, as a browser
        class_hub.tokens[name] = hub.token(name, STUDENT_PASSWORD)
    for name in STUDENTS:
        seconds = hub.spawn(class_hub.tokens[name], name)
        print(f"{name}: server ready in {seconds:.1f} s")
        info = container(class_hub.prefix, name)
        assert info["Config"]["Image"] == "tensorweaver-lab-hub:cpu"
        assert info["HostConfig"]["Memory"] == 1024 ** 3                      # HUB_MEM=1G
        assert info["HostConfig"]["CpuQuota"] == info["HostConfig"]["CpuPeriod"]  # HUB_CPUS=1
        mounts = {m["Destination"]: m for m in info["Mounts"]}
        volume = mounts["/home/jovyan/workspace"]
        assert volume["Type"] == "volume" and volume["Name"] == f"{class_hub.prefix}{name}"
        # The workspace only: the engine and the rest of the image are not in a volume.
        assert "/home/jovyan/work" not in mounts
    users = hub.api(class_hub.tokens["instructor"], "GET", "/users").json()
    assert {u["name"] for u in users if u["admin"]} == {"instructor"}


def test_a_cell_runs_in_each_students_kernel(class_hub):
    code = ("import os, tensorweaver as tw\n"
            "print(os.getcwd()); print(tw.__file__)\n"
            "print(sorted(f for f in os.listdir() if f.endswith('.ipynb'))[0])\n"
            "print(float(tw.tensor([1.0, 2.0, 3.0]).sum()))")
    for name in STUDENTS:
        status, out = class_hub.hub.execute(class_hub.tokens[name], name, code)
        assert status == "ok", out
        cwd, engine, first_lab, total = out.split()
        assert cwd == "/home/jovyan/workspace"           # the workspace volume
        assert not engine.startswith("/home/jovyan/workspace")   # the engine: the image's
        assert first_lab == "00_environment.ipynb"       # the released labs, copied in
        assert total == "6.0"


def test_a_student_cannot_reach_another_students_server(class_hub):
    hub, alice = class_hub.hub, class_hub.tokens["alice"]
    assert hub.server(alice, "bob", "GET", "/kernels").status_code == 403
    assert hub.server(alice, "bob", "GET", "/contents/00_environment.ipynb").status_code == 403
    assert hub.server(alice, "alice", "GET", "/kernels").status_code == 200
    assert hub.api(alice, "POST", "/users/bob/server").status_code in (403, 404)
    assert hub.api(alice, "GET", "/users").status_code == 403


def test_the_instructor_grades_every_workspace(class_hub, tmp_path):
    """In the hub: the instructor's server has the students' workspaces read-only and runs
    the autograder over them. On the host: make hub-grade (collect, then make autograde)."""
    hub, token = class_hub.hub, class_hub.tokens["instructor"]
    hub.spawn(token, "instructor")
    info = container(class_hub.prefix, "instructor")
    mounts = {m["Destination"]: m for m in info["Mounts"]}
    for name in STUDENTS:
        assert mounts[f"/home/jovyan/submissions/{name}"]["RW"] is False
    status, out = hub.execute(token, "instructor", (
        "import subprocess, sys\n"
        "p = subprocess.run([sys.executable, '-m', 'tensorweaver.labs', 'autograde',\n"
        "    '/home/jovyan/submissions', '--labs', '/home/jovyan/work/labs',\n"
        "    '--out', '/home/jovyan/workspace/grades', '--lab', '00_environment'],\n"
        "    capture_output=True, text=True)\n"
        "print(p.stderr[-3000:] if p.returncode else open('/home/jovyan/workspace/grades/grades.csv').read())"),
        timeout=600)
    assert status == "ok", out
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["student_id"] for r in rows} == set(STUDENTS), out
    assert {r["assignment"] for r in rows} == {"00_environment"}

    submissions, grades = tmp_path / "submissions", tmp_path / "grades"
    class_hub.make("hub-grade", HUB_LABS="00_environment", HUB_SUBMISSIONS=str(submissions),
                   GRADES_DIR=str(grades))
    assert sorted(p.name for p in submissions.iterdir()) == sorted(STUDENTS)   # not the instructor
    assert sorted(p.name for p in (submissions / "alice").iterdir()) == ["00_environment.ipynb"]
    with open(grades / "grades.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["student_id"] for r in rows} == set(STUDENTS)

    # An engine-track lab is graded on the student's engine modules: they come along with it.
    engine_track = tmp_path / "engine-track"
    class_hub.make("hub-collect", HUB_LABS="10_engine_optim", HUB_SUBMISSIONS=str(engine_track))
    assert sorted(p.name for p in (engine_track / "alice").iterdir()) == [
        "10_engine_optim.ipynb", "engine"]
    assert (engine_track / "alice" / "engine" / "optim" / "sgd.py").is_file()


def test_saved_work_survives_hub_stop_and_start(class_hub):
    hub = class_hub.hub
    alice = class_hub.tokens["alice"]
    hub.save_notebook(alice, "alice", "my_work.ipynb", SAVED)
    class_hub.make("hub-stop")
    for name in (*STUDENTS, "instructor"):
        proc = subprocess.run([DOCKER, "container", "inspect", f"{class_hub.prefix}{name}"],
                              capture_output=True)
        assert proc.returncode != 0, f"the container of {name} outlived make hub-stop"
    volumes = subprocess.run([DOCKER, "volume", "ls", "-q", "--filter", f"name={class_hub.prefix}"],
                             capture_output=True, text=True).stdout.split()
    assert sorted(volumes) == sorted(f"{class_hub.prefix}{n}" for n in (*STUDENTS, "instructor"))
    # The restart gets a short idle timeout, for the culler test that follows.
    class_hub.env.update(HUB_IDLE_TIMEOUT="30", HUB_CULL_EVERY="5")
    class_hub.make("hub")
    hub.spawn(alice, "alice")                          # her token outlives the restart
    assert hub.read_notebook(alice, "alice", "my_work.ipynb") == SAVED


def test_the_idle_culler_stops_an_idle_server(class_hub):
    hub, token = class_hub.hub, class_hub.tokens["instructor"]
    assert hub.server_ready(token, "alice")
    t0 = time.monotonic()
    while hub.user(token, "alice").get("servers", {}).get(""):
        assert time.monotonic() - t0 < 180, "alice's idle server was not culled within 180 s"
        time.sleep(2)
    print(f"culled {time.monotonic() - t0:.0f} s after the last request")
    assert "Culling server alice" in class_hub.log()
