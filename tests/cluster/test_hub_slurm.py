"""The class's JupyterHub on Slurm: batchspawner starts a student's server as a Slurm job.

Runs on the one-node Slurm of `.ci/cluster.sh`, as root (hub users are Unix users: the test
creates a throwaway one and removes it). The hub and the job use the venvs that
docker/cluster/hub/build-venvs.sh builds (the hub's lock; the lab's lock with JupyterHub's
single-user side), the proxy comes from docker/hub/package-lock.json (npm ci). Apptainer is
not packaged here, so the server runs in the venv runtime.
"""
from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from slurmjobs import REPO

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("slurm")]

HUB_DIR = REPO / "docker" / "cluster" / "hub"
VENVS = REPO / "build" / "hub-slurm"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hub_problem() -> str:
    if os.geteuid() != 0:
        return "the hub submits jobs as its users (runuser/sudo) and the test adds a Unix user: run as root"
    for tool in ("useradd", "userdel", "runuser", "npm", "node"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (.ci/cluster.sh installs nodejs and npm)"
    return ""


@pytest.fixture(scope="module")
def hub_env(tmp_path_factory):
    """The venvs and the proxy (built once; reused while their locks do not change)."""
    problem = hub_problem()
    if problem and os.environ.get("CLUSTER_HUB_REQUIRED") == "1":
        pytest.fail(f"CLUSTER_HUB_REQUIRED=1 but {problem}")
    if problem:
        pytest.skip(problem)
    subprocess.run(["bash", str(HUB_DIR / "build-venvs.sh"), str(VENVS)], check=True, timeout=1200)
    proxy_dir = VENVS / "proxy"
    lock = (REPO / "docker/hub/package-lock.json").read_bytes()
    if not (proxy_dir / "package-lock.json").is_file() or (proxy_dir / "package-lock.json").read_bytes() != lock:
        shutil.rmtree(proxy_dir, ignore_errors=True)
        proxy_dir.mkdir(parents=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(REPO / "docker/hub" / name, proxy_dir / name)
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=proxy_dir,
                       check=True, timeout=600)
    return {"spawner": VENVS / "spawner", "lab": VENVS / "lab",
            "proxy": proxy_dir / "node_modules" / ".bin" / "configurable-http-proxy"}


@pytest.fixture
def student():
    """A throwaway Unix user with a home, removed (with its jobs and home) afterwards."""
    name = f"twstu{uuid.uuid4().hex[:6]}"
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", name], check=True)
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["scancel", "-u", name], timeout=30)
        for _ in range(20):
            if not subprocess.run(["squeue", "-h", "-u", name], capture_output=True,
                                  text=True).stdout.strip():
                break
            time.sleep(0.5)
        # userdel refuses while a process of the user runs (a cancelled job's server may take
        # a few seconds to exit).
        for _ in range(40):
            if subprocess.run(["pgrep", "-u", name], capture_output=True).returncode != 0:
                break
            time.sleep(0.5)
        removed = subprocess.run(["userdel", "--remove", name], capture_output=True, text=True)
        assert removed.returncode == 0, f"userdel {name}: {removed.stderr}"


class Hub:
    def __init__(self, url, token, process, log):
        self.url, self.token, self.process, self.log = url, token, process, log

    def api(self, method, path, body=None, token=None):
        request = urllib.request.Request(
            f"{self.url}{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {token or self.token}"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{method} {path}: {exc.code} {exc.read().decode()[:500]}\n"
                                 f"hub log:\n{self.tail()}") from None
        return json.loads(text) if text.strip() else {}

    def tail(self):
        return self.log.read_text()[-6000:] if self.log.exists() else ""


@pytest.fixture
def hub(hub_env, tmp_path):
    state = tmp_path / "hub"
    port, api_port, proxy_api = free_port(), free_port(), free_port()
    token = secrets.token_hex(32)
    # A test service that drives the hub through its API (a class logs in through PAM).
    extra = tmp_path / "extra_config.py"
    extra.write_text(f"""
c.JupyterHub.services = [{{"name": "test", "api_token": {token!r}}}]
c.JupyterHub.load_roles = [{{"name": "test", "services": ["test"],
    "scopes": ["admin:users", "admin:servers", "tokens", "list:users", "read:users"]}}]
c.Authenticator.allow_all = True
""")
    env = {**os.environ, "TW_HUB_STATE": str(state), "TW_HUB_PORT": str(port),
           "TW_HUB_HUB_API_PORT": str(api_port), "TW_HUB_PROXY_API_PORT": str(proxy_api),
           "TW_HUB_PROXY": str(hub_env["proxy"]), "TW_HUB_RUNTIME": "venv",
           "TW_HUB_VENV": str(hub_env["lab"]), "TW_HUB_CPUS": "1", "TW_HUB_MEM": "3000",
           "TW_HUB_TIME": "00:10:00", "TW_HUB_EXTRA_CONFIG": str(extra),
           "TW_HUB_START_TIMEOUT": "240"}
    log = tmp_path / "hub.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(hub_env["spawner"] / "bin" / "jupyterhub"), "-f", str(HUB_DIR / "jupyterhub_config.py")],
            cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    running = Hub(f"http://127.0.0.1:{port}", token, process, log)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert process.poll() is None, f"the hub exited:\n{running.tail()}"
            try:
                running.api("GET", "/hub/api/")
                break
            except (urllib.error.URLError, ConnectionError, AssertionError):   # proxy up, hub not yet
                time.sleep(0.5)
        else:
            pytest.fail(f"the hub did not answer in 90 s:\n{running.tail()}")
        yield running
    finally:
        # The hub stops the proxy it started; by PID, its process group only.
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def execute(server_url: str, token: str, code: str) -> str:
    """Start a kernel on the student's server, run code, return its stdout."""
    import websocket

    request = urllib.request.Request(f"{server_url}/api/kernels", method="POST", data=b"{}",
                                     headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        kernel = json.loads(response.read())
    ws = websocket.create_connection(
        f"{server_url.replace('http', 'ws', 1)}/api/kernels/{kernel['id']}/channels",
        header=[f"Authorization: token {token}"], timeout=120)
    msg_id = uuid.uuid4().hex
    ws.send(json.dumps({
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test",
                   "session": uuid.uuid4().hex, "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell",
        "content": {"code": code, "silent": False, "store_history": False,
                    "user_expressions": {}, "allow_stdin": False}}))
    out, deadline = [], time.monotonic() + 120
    while time.monotonic() < deadline:
        msg = json.loads(ws.recv())
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            raise AssertionError("\n".join(msg["content"]["traceback"]))
        elif msg["msg_type"] == "execute_reply":
            break
    ws.close()
    return "".join(out)


def test_hub_spawns_a_students_server_as_a_slurm_job_and_its_kernel_answers(hub, student):
    name = student.pw_name
    hub.api("POST", f"/hub/api/users/{name}")
    t0 = time.monotonic()
    hub.api("POST", f"/hub/api/users/{name}/server")
    deadline, user = t0 + 240, {}
    while time.monotonic() < deadline:
        user = hub.api("GET", f"/hub/api/users/{name}")
        if user["servers"].get("", {}).get("ready"):
            break
        assert user["servers"].get("") or user.get("pending"), \
            f"the server stopped while starting:\n{hub.tail()}"
        time.sleep(1)
    else:
        logs = "\n".join(p.read_text()[-3000:] for p in Path(student.pw_dir).glob("jupyterhub_slurmspawner_*.log"))
        pytest.fail(f"no server for {name} after 240 s:\nhub:\n{hub.tail()}\njob:\n{logs}")
    spawn_s = time.monotonic() - t0

    # It is a Slurm job of the student, on the partition's node, with the job's name.
    jobs = subprocess.run(["squeue", "-h", "-u", name, "-o", "%i %j %T"], capture_output=True,
                          text=True).stdout.split()
    assert len(jobs) == 3 and jobs[1] == f"tw-hub-{name}" and jobs[2] == "RUNNING", jobs
    job_id = jobs[0]

    token = hub.api("POST", f"/hub/api/users/{name}/tokens", {"note": "test"})["token"]
    out = execute(f"{hub.url}/user/{name}", token,
                  "import os, tensorweaver as tw\n"
                  "print(os.environ['SLURM_JOB_ID'], os.getuid(), os.getcwd())\n"
                  "print(float(tw.tensor([1.0, 2.0]).sum()))\n")
    job_in_kernel, uid, cwd, total = out.split()
    assert job_in_kernel == job_id and int(uid) == student.pw_uid and cwd == student.pw_dir
    assert float(total) == 3.0
    log = Path(student.pw_dir) / f"jupyterhub_slurmspawner_{job_id}.log"
    assert "runtime venv" in log.read_text()
    print(f"server of {name}: Slurm job {job_id}, ready {spawn_s:.1f} s after the spawn request")

    # Stopping the server cancels the job.
    t1 = time.monotonic()
    request = urllib.request.Request(f"{hub.url}/hub/api/users/{name}/server", method="DELETE",
                                     headers={"Authorization": f"token {hub.token}"})
    urllib.request.urlopen(request, timeout=60).close()
    while time.monotonic() - t1 < 60:
        if not subprocess.run(["squeue", "-h", "-j", job_id], capture_output=True,
                              text=True).stdout.strip():
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"job {job_id} still queued 60 s after the server was stopped")
