"""Drive the class's JupyterHub over HTTP, as a browser and the REST API do.

Used by the hub tests (tests/hub/) and the load bench (bench/hub_load.py); needs `requests`
and `websocket-client` (both come with the lab extra: pip install -e '.[lab]').

    hub = Hub("http://127.0.0.1:8000")
    hub.signup("alice", "a-long-password")          # NativeAuthenticator's sign-up form
    page = hub.login("instructor", "...")            # the instructor, logged in as in a browser
    hub.authorize(page, "alice")                     # approves alice
    alice = hub.token("alice", "a-long-password")
    hub.spawn(alice, "alice")                        # seconds until her server is ready
    hub.execute(alice, "alice", "print(1 + 1)")      # -> ("ok", "2\n") through a kernel
"""
from __future__ import annotations

import json
import time
import uuid

import requests
import websocket


class HubError(RuntimeError):
    """The hub or a student's server answered something other than what was expected."""


class Hub:
    def __init__(self, url: str, timeout: float = 30):
        self.url = url.rstrip("/")
        self.timeout = timeout

    # ------------------------------------------------------------------ accounts
    def signup(self, name: str, password: str) -> str:
        """Sign up through the form; returns the page's message (the account may await approval)."""
        session = requests.Session()
        page = session.get(f"{self.url}/hub/signup", timeout=self.timeout)
        page.raise_for_status()
        xsrf = session.cookies.get("_xsrf")
        response = session.post(f"{self.url}/hub/signup", timeout=self.timeout, data={
            "username": name, "signup_password": password,
            "signup_password_confirmation": password, "_xsrf": xsrf})
        response.raise_for_status()
        for marker in ("The signup was successful", "Your information has been sent to the admin"):
            if marker in response.text:
                return marker
        raise HubError(f"sign-up of {name} refused: {_alert(response.text)}")

    def token(self, name: str, password: str, note: str = "hub_client") -> str:
        """Log in through the API (username and password in the body): a new API token."""
        response = requests.post(f"{self.url}/hub/api/users/{name}/tokens", timeout=self.timeout,
                                 json={"auth": {"username": name, "password": password}, "note": note})
        if response.status_code not in (200, 201):
            raise HubError(f"login of {name}: HTTP {response.status_code} {response.text[:200]}")
        return response.json()["token"]

    def login(self, name: str, password: str) -> requests.Session:
        """Log in through the form, as a browser does: a session holding the hub's cookie."""
        session = requests.Session()
        session.get(f"{self.url}/hub/login", timeout=self.timeout).raise_for_status()
        response = session.post(f"{self.url}/hub/login", timeout=self.timeout, allow_redirects=False,
                                data={"username": name, "password": password,
                                      "_xsrf": session.cookies.get("_xsrf")})
        if response.status_code != 302:
            raise HubError(f"login of {name} through the form: HTTP {response.status_code}")
        return session

    def authorize(self, admin: requests.Session, name: str) -> None:
        """An admin approves a signed-up account on NativeAuthenticator's /hub/authorize page
        (``admin``: the session from ``login``; the page takes the cookie, not a token)."""
        response = admin.get(f"{self.url}/hub/authorize/{name}", timeout=self.timeout,
                             allow_redirects=False)
        if response.status_code != 302:
            raise HubError(f"authorizing {name}: HTTP {response.status_code} {response.text[:200]}")

    # ------------------------------------------------------------------ REST API
    def api(self, token: str, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, f"{self.url}/hub/api{path}", headers=_auth(token),
                                timeout=self.timeout, **kwargs)

    def user(self, token: str, name: str) -> dict:
        response = self.api(token, "GET", f"/users/{name}")
        response.raise_for_status()
        return response.json()

    def server_ready(self, token: str, name: str) -> bool:
        server = self.user(token, name).get("servers", {}).get("")
        return bool(server and server.get("ready"))

    def spawn(self, token: str, name: str, options: dict | None = None, timeout: float = 600) -> float:
        """Start the user's server and wait until it is ready; returns the seconds it took."""
        t0 = time.monotonic()
        response = self.api(token, "POST", f"/users/{name}/server", json=options or {})
        if response.status_code not in (201, 202):
            raise HubError(f"spawning {name}: HTTP {response.status_code} {response.text[:300]}")
        while not self.server_ready(token, name):
            pending = self.user(token, name).get("servers", {}).get("")
            if pending is None:
                raise HubError(f"the server of {name} stopped while starting (see the hub's log)")
            if time.monotonic() - t0 > timeout:
                raise HubError(f"the server of {name} was not ready within {timeout} s")
            time.sleep(0.25)
        return time.monotonic() - t0

    def stop(self, token: str, name: str, timeout: float = 120) -> None:
        response = self.api(token, "DELETE", f"/users/{name}/server")
        if response.status_code not in (202, 204):
            raise HubError(f"stopping {name}: HTTP {response.status_code} {response.text[:300]}")
        t0 = time.monotonic()
        while self.user(token, name).get("servers", {}).get(""):
            if time.monotonic() - t0 > timeout:
                raise HubError(f"the server of {name} did not stop within {timeout} s")
            time.sleep(0.25)

    # ------------------------------------------------------------------ a student's server
    def server(self, token: str, name: str, method: str, path: str, **kwargs) -> requests.Response:
        """A request to the user's single-user server (through the proxy), as ``token``."""
        return requests.request(method, f"{self.url}/user/{name}/api{path}", headers=_auth(token),
                                timeout=kwargs.pop("timeout", self.timeout), **kwargs)

    def save_notebook(self, token: str, name: str, path: str, cells: list) -> None:
        notebook = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
            {"cell_type": "code", "id": uuid.uuid4().hex[:8], "metadata": {}, "source": source,
             "outputs": [], "execution_count": None} for source in cells]}
        response = self.server(token, name, "PUT", f"/contents/{path}",
                               json={"type": "notebook", "format": "json", "content": notebook})
        if response.status_code not in (200, 201):
            raise HubError(f"saving {path} for {name}: HTTP {response.status_code} {response.text[:300]}")

    def read_notebook(self, token: str, name: str, path: str) -> list:
        """The sources of the notebook's cells (HubError when it is not there)."""
        response = self.server(token, name, "GET", f"/contents/{path}")
        if response.status_code != 200:
            raise HubError(f"reading {path} for {name}: HTTP {response.status_code}")
        return ["".join(cell["source"]) for cell in response.json()["content"]["cells"]]

    def execute(self, token: str, name: str, code: str, timeout: float = 300) -> tuple:
        """Run ``code`` in a new kernel of the user's server; returns (status, stdout + errors)."""
        response = self.server(token, name, "POST", "/kernels", json={"name": "python3"}, timeout=120)
        if response.status_code != 201:
            raise HubError(f"starting a kernel for {name}: HTTP {response.status_code} {response.text[:300]}")
        kernel = response.json()["id"]
        ws_url = self.url.replace("http", "ws", 1) + f"/user/{name}/api/kernels/{kernel}/channels"
        try:
            ws = websocket.create_connection(ws_url, header=[f"Authorization: token {token}"],
                                             timeout=timeout)
            try:
                return _run(ws, code, timeout)
            finally:
                ws.close()
        finally:
            self.server(token, name, "DELETE", f"/kernels/{kernel}")


def _auth(token: str) -> dict:
    return {"Authorization": f"token {token}"}


def _alert(html: str) -> str:
    start = html.find("alert-")
    return " ".join(html[start:start + 400].split()) if start >= 0 else html[:200]


def _run(ws, code: str, timeout: float) -> tuple:
    msg_id = uuid.uuid4().hex
    ws.send(json.dumps({
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "", "session":
                   uuid.uuid4().hex, "version": "5.3", "date": ""},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": False,
                    "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}}))
    output, status = [], None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = json.loads(ws.recv())
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            output.append(content["text"])
        elif kind == "error":
            output.append("\n".join(content["traceback"]))
        elif kind == "execute_reply":
            status = content["status"]
            break
    if status is None:
        raise HubError(f"no execute_reply within {timeout} s; output so far: {''.join(output)[-500:]}")
    return status, "".join(output)
