#!/usr/bin/env python3
"""Docker HEALTHCHECK: healthy when the Jupyter server in this container answers on /api.

/api (the server version) needs no token, so the check works whatever token the lab uses.
Exit 0 = healthy, 1 = unhealthy (Docker's convention).
"""
import json
import os
import sys
import urllib.request

url = f"http://127.0.0.1:{os.environ.get('JUPYTER_PORT', '8888')}/api"
try:
    with urllib.request.urlopen(url, timeout=2) as response:
        version = json.load(response)["version"]
except Exception as exc:  # any failure means "not serving"
    print(f"unhealthy: {url}: {exc}")
    sys.exit(1)
print(f"healthy: Jupyter server {version}")
