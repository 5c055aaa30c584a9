#!/usr/bin/env python3
"""Docker HEALTHCHECK: healthy when the Jupyter server in this container answers on /api.

/api (the server version) needs no token, so the check works whatever token the lab uses.
Under JupyterHub the server lives at /user/<name>/: the spawner sets JUPYTERHUB_SERVICE_PREFIX
to that prefix, and the check follows it.
A container started for another command (`make test`, `make shell`) serves nothing, so it is
not reported unhealthy for that. Exit 0 = healthy, 1 = unhealthy (Docker's convention).
"""
import json
import os
import sys
import urllib.request

# PID 1 is tini; its arguments are the container's command (after the entry point).
with open("/proc/1/cmdline", "rb") as f:
    command = [os.path.basename(arg.decode()) for arg in f.read().split(b"\0") if arg]
if not any(arg.startswith("jupyter") for arg in command):
    print(f"healthy: no Jupyter server in this container ({' '.join(command[4:])})")
    sys.exit(0)

prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/")
url = f"http://127.0.0.1:{os.environ.get('JUPYTER_PORT', '8888')}{prefix.rstrip('/')}/api"
try:
    with urllib.request.urlopen(url, timeout=2) as response:
        version = json.load(response)["version"]
except Exception as exc:  # any failure means "not serving"
    print(f"unhealthy: {url}: {exc}")
    sys.exit(1)
print(f"healthy: Jupyter server {version}")
