"""Fixtures for the container tests: they check the images that `make build` and
`make build-gpu` made, and a lab started by docker/lab.sh (what `make lab` runs).

They need a Docker daemon and skip, saying so, without one. They do not build the images
(that is make's job, and takes minutes): a missing image fails with the command to run.
Image names come from $CPU_IMAGE / $GPU_IMAGE (defaults: the Makefile's).
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKER = os.environ.get("DOCKER", "docker")
CPU_IMAGE = os.environ.get("CPU_IMAGE", "tensorweaver-lab:cpu")
GPU_IMAGE = os.environ.get("GPU_IMAGE", "tensorweaver-lab:gpu")


def docker(*args, check=True, timeout=300, **kwargs) -> subprocess.CompletedProcess:
    """Run the docker client; on failure (check=True) fail the test with its stderr."""
    proc = subprocess.run([DOCKER, *args], capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and proc.returncode != 0:
        pytest.fail(f"`docker {' '.join(args)}` failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def _docker_problem() -> str | None:
    if shutil.which(DOCKER) is None:
        return f"no Docker client ('{DOCKER}' is not on PATH)"
    proc = subprocess.run([DOCKER, "info"], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        return f"no Docker daemon reachable ({proc.stderr.strip().splitlines()[-1:]})"
    return None


@pytest.fixture(scope="session", autouse=True)
def docker_daemon():
    problem = _docker_problem()
    if problem:
        pytest.skip(f"container tests need Docker: {problem}")


def inspect(image: str, build_target: str) -> dict:
    proc = docker("image", "inspect", image, check=False)
    if proc.returncode != 0:
        pytest.fail(f"image {image} not found: build it with `make {build_target}` "
                    "(these tests check the images, they do not build them)")
    return json.loads(proc.stdout)[0]


@pytest.fixture(scope="session")
def cpu_image() -> dict:
    return inspect(CPU_IMAGE, "build")


@pytest.fixture(scope="session")
def gpu_image() -> dict:
    return inspect(GPU_IMAGE, "build-gpu")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def expected_uid() -> int:
    """The uid `make lab` runs the lab as: yours, or jovyan's 1000 for root."""
    return os.getuid() or 1000


@dataclass
class Lab:
    name: str
    port: int
    token: str
    lab_dir: Path          # what the lab serves: the workspace, or the labs (SOLUTIONS=1)
    start_output: str

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def lab_env(**settings) -> dict:
    return dict(os.environ, DOCKER=DOCKER, DETACH="1", **{k: str(v) for k, v in settings.items()})


def start_lab(lab_dir: Path, solutions: bool = False, **settings) -> Lab:
    name = f"tensorweaver-lab-test-{secrets.token_hex(3)}"
    port, token = free_port(), secrets.token_hex(16)
    where = {"LAB_DIR": lab_dir, "SOLUTIONS": 1} if solutions else {"WORKSPACE": lab_dir}
    env = lab_env(IMAGE=CPU_IMAGE, NAME=name, PORT=port, JUPYTER_TOKEN=token, **where, **settings)
    proc = subprocess.run([str(REPO / "docker" / "lab.sh"), "start"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    lab = Lab(name, port, token, lab_dir, proc.stdout + proc.stderr)
    if proc.returncode != 0:
        stop_lab(lab)
        pytest.fail(f"docker/lab.sh start failed:\n{proc.stdout}\n{proc.stderr}")
    return lab


def stop_lab(lab: Lab) -> None:
    subprocess.run([str(REPO / "docker" / "lab.sh"), "stop"], env=lab_env(NAME=lab.name),
                   cwd=REPO, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def lab(cpu_image, tmp_path_factory):
    """A running student lab (docker/lab.sh start, as `make lab DETACH=1`) on a free port, on a
    new, empty workspace folder, as a student's first `make lab` (as root: created by root,
    and the lab must still be able to save there); stopped afterwards."""
    workspace = tmp_path_factory.mktemp("workspace")
    lab = start_lab(workspace)
    try:
        yield lab
    finally:
        stop_lab(lab)


@pytest.fixture(scope="module")
def solutions_lab(cpu_image, tmp_path_factory):
    """An instructor lab (SOLUTIONS=1) on a writable copy of labs/; stopped afterwards."""
    lab_dir = tmp_path_factory.mktemp("labs")
    shutil.copytree(REPO / "labs", lab_dir, dirs_exist_ok=True)
    if os.getuid() == 0:  # the lab runs as 1000 then: give it the folder, as the README says
        for path in [lab_dir, *lab_dir.rglob("*")]:
            os.chown(path, 1000, 100)
    lab = start_lab(lab_dir, solutions=True)
    try:
        yield lab
    finally:
        stop_lab(lab)
