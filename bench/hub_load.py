"""Load on the class's hub: N students spawn at once, each trains a small MLP, each saves work.

    .venv/bin/python bench/hub_load.py [--students 10]      # needs Docker, Node.js, make build

Starts its own hub with `make hub` (a free port on 127.0.0.1, its own state folder and volume
prefix, the shared-password login of the tests), then, for every student at the same time:
log in, spawn a server, run a training cell through the kernel, save a notebook. It reports
each spawn time (POST to ready) as median/max, each container's memory (`docker stats`, with
the kernel still running), and checks after `make hub-stop` that every saved notebook is in
its student's volume. Its volumes are removed at the end. Exit 1 on any failure.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "hub"))
sys.path.insert(0, str(REPO / "docker" / "hub"))

from classhub import DOCKER, free_port, remove_class  # noqa: E402
from hub_client import Hub  # noqa: E402

TRAIN = """\
import time, tensorweaver as tw
tw.manual_seed(0)
x = tw.randn(512, 20); y = (x[:, 0] > 0).long()
model = tw.nn.Sequential(tw.nn.Linear(20, 64), tw.nn.ReLU(), tw.nn.Linear(64, 2))
opt = tw.optim.SGD(model.parameters(), lr=0.5)
t0 = time.perf_counter()
for step in range(100):
    opt.zero_grad(); loss = tw.nn.functional.cross_entropy(model(x), y); loss.backward(); opt.step()
print(f"{float(loss):.4f} {time.perf_counter() - t0:.2f}")
"""


def make(target: str, env: dict) -> None:
    proc = subprocess.run(["make", "--no-print-directory", target], cwd=REPO, env=env, text=True,
                          capture_output=True)
    if proc.returncode != 0:
        raise SystemExit(f"make {target} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")


def memory_mib(prefix: str) -> dict:
    out = subprocess.run([DOCKER, "stats", "--no-stream", "--format", "{{json .}}"],
                         capture_output=True, text=True, check=True).stdout
    sizes = {}
    for line in out.splitlines():
        row = json.loads(line)
        if row["Name"].startswith(prefix):
            used = row["MemUsage"].split("/")[0].strip()
            number, unit = float(used[:-3]), used[-3:]
            sizes[row["Name"][len(prefix):]] = number * {"KiB": 1 / 1024, "MiB": 1, "GiB": 1024}[unit]
    return sizes


def student(hub: Hub, name: str, password: str) -> dict:
    hub.login(name, password)
    token = hub.token(name, password)
    spawn = hub.spawn(token, name, timeout=900)
    status, out = hub.execute(token, name, TRAIN, timeout=900)
    if status != "ok":
        raise RuntimeError(f"{name}: the training cell failed:\n{out[-1500:]}")
    loss, train_s = out.split()
    hub.save_notebook(token, name, "load_test.ipynb", [TRAIN, f"# {name}: loss {loss}"])
    return {"name": name, "spawn_s": spawn, "loss": float(loss), "train_s": float(train_s)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=10)
    args = parser.parse_args()
    state = REPO / "out" / f"hub-load-{secrets.token_hex(3)}"
    prefix = f"twload{secrets.token_hex(3)}-"
    password = "students-" + secrets.token_hex(4)
    port = free_port()
    env = {**os.environ, "HUB_PORT": str(port), "HUB_STATE": str(state), "HUB_VOLUME_PREFIX": prefix,
           "HUB_PROXY_API_PORT": str(free_port()), "HUB_API_PORT": str(free_port()),
           "HUB_AUTH": "shared-password", "HUB_SHARED_PASSWORD": password,
           "HUB_ADMIN_PASSWORD": "instructors-" + secrets.token_hex(16), "HUB_MEM": "1G", "HUB_CPUS": "1"}
    names = [f"student{i:02d}" for i in range(args.students)]
    hub = Hub(f"http://127.0.0.1:{port}", timeout=300)
    failures = []
    try:
        make("hub", env)
        load0 = os.getloadavg()[0]
        t0 = time.monotonic()
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            futures = {name: pool.submit(student, hub, name, password) for name in names}
        results = []
        for name, future in futures.items():
            try:
                results.append(future.result())
            except Exception as exc:  # every student's failure is reported
                failures.append(f"{name}: {exc}")
        wall = time.monotonic() - t0
        memory = memory_mib(prefix)
        make("hub-stop", env)
        mounts = [arg for name in names for arg in ("-v", f"{prefix}{name}:/in/{name}:ro")]
        listing = subprocess.run([DOCKER, "run", "--rm", "--network", "none", "--entrypoint", "/bin/sh",
                                  *mounts, "tensorweaver-lab-hub:cpu", "-c",
                                  "ls /in/*/load_test.ipynb"], capture_output=True, text=True).stdout
        saved = {line.split("/")[2] for line in listing.split()}
        failures += [f"{name}: load_test.ipynb not in its volume after make hub-stop"
                     for name in names if name not in saved]
    finally:
        subprocess.run(["make", "--no-print-directory", "hub-stop"], cwd=REPO, env=env, capture_output=True)
        remove_class(prefix)
    spawns = sorted(r["spawn_s"] for r in results)
    trains = sorted(r["train_s"] for r in results)
    mem = sorted(memory.values())
    print(f"students: {len(names)} at once; ok: {len(results)}; saved after hub-stop: {len(saved)}; "
          f"wall {wall:.0f} s; load average at start {load0:.1f}, now {os.getloadavg()[0]:.1f}; "
          f"{os.cpu_count()} CPUs")
    if spawns:
        print(f"spawn (POST to ready): median {statistics.median(spawns):.1f} s, max {spawns[-1]:.1f} s, "
              f"min {spawns[0]:.1f} s")
        print(f"training cell (100 MLP steps): median {statistics.median(trains):.2f} s, max {trains[-1]:.2f} s")
    if mem:
        print(f"memory per server (docker stats, kernel running): median {statistics.median(mem):.0f} MiB, "
              f"max {mem[-1]:.0f} MiB ({len(mem)} containers)")
    for failure in failures:
        print("FAILED", failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
