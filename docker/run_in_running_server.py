"""Drive a running Jupyter server: execute a notebook through its kernel, as JupyterLab does.

Not nbclient (which starts its own kernel): this opens a session on the server (REST),
sends each code cell over the kernel's websocket and waits for its reply. So it proves
that the lab a student opens can run the labs: server, token, kernel, packages, engine.
It runs inside the lab container, where the server and websocket-client are:

    docker exec -i tensorweaver-lab python - labs/00_environment.ipynb < docker/run_in_running_server.py
    docker exec -i tensorweaver-lab python - < docker/run_in_running_server.py   # a built-in check

PATH is relative to the server's root (the workspace in a student lab, ~/work with
SOLUTIONS=1); the kernel runs in the notebook's folder.
The token is $JUPYTER_TOKEN (the lab container's own). Exit status 0 = every cell ran.
"""
import datetime
import json
import os
import sys
import time
import urllib.parse
import urllib.request
import uuid

import websocket  # websocket-client, a JupyterLab dependency

SERVER = "127.0.0.1:" + os.environ.get("JUPYTER_PORT", "8888")
TOKEN = os.environ.get("JUPYTER_TOKEN", "")
CELL_TIMEOUT = 600  # seconds; the labs train small models

# Run when no notebook is given: the engine, its backend and a plot, in the server's kernel.
BUILT_IN = [
    "import tensorweaver, tensorweaver.backend as backend\nprint(backend.name)",
    "import numpy as np\nx = np.arange(6.0).reshape(2, 3)\nassert x.sum() == 15.0",
    "%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.plot([0, 1]); plt.show()",
]


def api(method, path, body=None):
    """A REST call to the server with the token; returns the decoded JSON (or None)."""
    request = urllib.request.Request(
        f"http://{SERVER}{path}", method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        data = response.read()
    return json.loads(data) if data else None


def code_cells(path):
    """The code cells' sources of the notebook at ``path``, read through the server."""
    model = api("GET", f"/api/contents/{urllib.parse.quote(path)}?content=1&type=notebook")
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in model["content"]["cells"] if c["cell_type"] == "code"]


def execute(ws, session_id, code):
    """Run one cell; return (ok, text) where text is its stream output or the traceback."""
    msg_id = uuid.uuid4().hex
    ws.send(json.dumps({
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "session": session_id,
                   "username": "run_in_running_server", "version": "5.3",
                   "date": datetime.datetime.now(datetime.timezone.utc).isoformat()},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": True,
                    "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
    }))
    output, error, replied, idle = [], None, False, False
    deadline = time.monotonic() + CELL_TIMEOUT
    while not (replied and idle):
        if time.monotonic() > deadline:
            return False, f"no reply within {CELL_TIMEOUT} s"
        msg = json.loads(ws.recv())
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            output.append(content["text"])
        elif kind == "error":
            error = "\n".join(content["traceback"])
        elif kind == "execute_reply":
            replied = True
            if content["status"] != "ok" and error is None:
                error = f"{content.get('ename')}: {content.get('evalue')}"
        elif kind == "status" and content["execution_state"] == "idle":
            idle = True
    return error is None, error or "".join(output)


def main(argv):
    path = argv[1] if len(argv) > 1 else "run_in_running_server_check.ipynb"
    cells = code_cells(path) if len(argv) > 1 else BUILT_IN
    # A session is what JupyterLab opens for a notebook: its kernel's cwd is the notebook's folder.
    session = api("POST", "/api/sessions", {"path": path, "name": os.path.basename(path),
                                            "type": "notebook", "kernel": {"name": "python3"}})
    kernel_id = session["kernel"]["id"]
    t0 = time.monotonic()
    try:
        ws = websocket.create_connection(
            f"ws://{SERVER}/api/kernels/{kernel_id}/channels?session_id={session['id']}",
            header=[f"Authorization: token {TOKEN}"], timeout=CELL_TIMEOUT)
        try:
            for number, code in enumerate(cells, 1):
                ok, text = execute(ws, session["id"], code)
                if not ok:
                    print(f"{path}: code cell {number} failed:\n{text}", file=sys.stderr)
                    return 1
        finally:
            ws.close()
    finally:
        api("DELETE", f"/api/sessions/{session['id']}")
    print(f"{path}: {len(cells)} code cells ran in the server's kernel "
          f"in {time.monotonic() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
