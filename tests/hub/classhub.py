"""The hub tests' shared pieces: a class's JupyterHub started and stopped with `make hub` /
`make hub-stop`, as an instructor runs them, on a free port on 127.0.0.1.

The hub gets its own state folder and a volume prefix of its own (twtest<random>-), so a real
class's hub and workspaces on the same host are never touched; the test's volumes are
removed at the end. Logins use JupyterHub's shared-password authenticator (tests only; a
class uses OAuth). Needs Docker, Node.js/npm (the proxy) and the lab image (`make build`);
`make hub` builds the hub image and the hub's venv itself.
"""
from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "docker" / "hub"))

from hub_client import Hub  # noqa: E402

DOCKER = os.environ.get("DOCKER", "docker")
STUDENT_PASSWORD = "students-" + secrets.token_hex(4)
ADMIN_PASSWORD = "instructors-" + secrets.token_hex(16)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ClassHub:
    hub: Hub
    env: dict
    prefix: str
    state: Path
    tokens: dict = field(default_factory=dict)

    def make(self, *args, timeout=1800, **env) -> subprocess.CompletedProcess:
        """Run a make target with this hub's settings; fail the test with its output."""
        proc = subprocess.run(["make", "--no-print-directory", *args], cwd=REPO, text=True,
                              env={**self.env, **env}, capture_output=True, timeout=timeout)
        print(proc.stdout)
        if proc.returncode != 0:
            log = (self.state / "hub.log")
            tail = log.read_text()[-4000:] if log.is_file() else ""
            pytest.fail(f"make {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n"
                        f"{proc.stderr[-3000:]}\nhub log:\n{tail}")
        return proc

    def log(self) -> str:
        return (self.state / "hub.log").read_text()


def docker_problem() -> str | None:
    if shutil.which(DOCKER) is None:
        return f"no Docker client ('{DOCKER}' is not on PATH)"
    proc = subprocess.run([DOCKER, "info"], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        return f"no Docker daemon reachable ({proc.stderr.strip().splitlines()[-1:]})"
    return None


def remove_class(prefix: str) -> None:
    """Containers and volumes of the test's class (by its unique prefix only)."""
    for kind, listing in (("container", ["ps", "-aq"]), ("volume", ["volume", "ls", "-q"])):
        names = subprocess.run([DOCKER, *listing, "--filter", f"name={prefix}"], text=True,
                               capture_output=True).stdout.split()
        if names:
            rm = ["rm", "-f"] if kind == "container" else ["volume", "rm", "-f"]
            subprocess.run([DOCKER, *rm, *names], capture_output=True)


@pytest.fixture(scope="module")
def class_hub(tmp_path_factory):
    problem = docker_problem()
    if problem:
        pytest.skip(f"the hub tests need Docker: {problem}")
    state = tmp_path_factory.mktemp("hub-state")
    prefix = f"twtest{secrets.token_hex(3)}-"
    port = free_port()
    env = {**os.environ, "HUB_PORT": str(port), "HUB_STATE": str(state), "HUB_VOLUME_PREFIX": prefix,
           "HUB_PROXY_API_PORT": str(free_port()), "HUB_API_PORT": str(free_port()),
           "HUB_AUTH": "shared-password", "HUB_SHARED_PASSWORD": STUDENT_PASSWORD,
           "HUB_ADMIN_PASSWORD": ADMIN_PASSWORD, "HUB_ADMINS": "instructor", "HUB_MEM": "1G",
           "HUB_CPUS": "1"}
    ctx = ClassHub(Hub(f"http://127.0.0.1:{port}", timeout=60), env, prefix, state)
    try:
        ctx.make("hub")
        yield ctx
    finally:
        subprocess.run(["make", "--no-print-directory", "hub-stop"], cwd=REPO, env=env,
                       capture_output=True, timeout=300)
        remove_class(prefix)
