"""Jupyter server settings for the TensorWeaver Lab images (read from /etc/jupyter).

Inside the container the server listens on all interfaces, because Docker's port publishing
reaches it through the container's network interface; `make lab` publishes the port on the
host's 127.0.0.1 only, so nothing outside the machine can connect.

Authentication is a token, never nothing: set JUPYTER_TOKEN (as `make lab` does) or let the
server generate one (it is printed in `docker logs`). An empty token would disable
authentication, so it is refused.
"""
import os

c = get_config()  # noqa: F821 -- provided by Jupyter when it loads this file

if "JUPYTER_TOKEN" in os.environ and not os.environ["JUPYTER_TOKEN"].strip():
    raise SystemExit(
        "JUPYTER_TOKEN is set but empty, which would turn authentication off. "
        "Unset it (a random token is generated) or give it a value.")

c.ServerApp.ip = "0.0.0.0"
c.ServerApp.port = int(os.environ.get("JUPYTER_PORT", "8888"))
c.ServerApp.port_retries = 0          # fail loudly instead of silently moving to another port
c.ServerApp.open_browser = False      # there is no browser in the container
# What the file browser shows: the student's workspace for `make lab`
# (TENSORWEAVER_LAB_ROOT=/home/jovyan/workspace), the repository (labs with their solutions,
# tests, the engine source) for `make lab SOLUTIONS=1` and by default.
c.ServerApp.root_dir = os.environ.get("TENSORWEAVER_LAB_ROOT", "/home/jovyan/work")
# No token setting here on purpose: Jupyter reads JUPYTER_TOKEN itself, or generates a token.
