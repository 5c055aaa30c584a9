"""The hub's files that need no Docker: the locks agree, the Kubernetes values are valid YAML.

(Runs in the fast suite: no `hub` marker.)
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

HUB = Path(__file__).resolve().parents[2] / "docker" / "hub"


def pins(lock: Path) -> dict:
    return dict(re.findall(r"^([a-z0-9_.-]+)==([^ \\]+)", lock.read_text(), re.M))


def test_hub_and_single_user_servers_run_the_same_jupyterhub():
    hub, singleuser = pins(HUB / "requirements.txt"), pins(HUB / "singleuser.txt")
    assert hub["jupyterhub"] == singleuser["jupyterhub"]
    assert hub["batchspawner"] == "1.3.0"          # the Slurm side reuses this lock
    for lock in ("requirements.txt", "singleuser.txt"):
        text = (HUB / lock).read_text()
        hashed = re.findall(r"^([a-z0-9_.-]+)==\S+ \\\n    --hash=sha256:[0-9a-f]{64}", text, re.M)
        assert sorted(hashed) == sorted(pins(HUB / lock)), f"{lock}: a pin without its hash"


def test_the_proxy_is_locked():
    package = json.loads((HUB / "package.json").read_text())
    lock = json.loads((HUB / "package-lock.json").read_text())
    version = package["dependencies"]["configurable-http-proxy"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), "an exact version, as npm ci installs it"
    assert lock["packages"]["node_modules/configurable-http-proxy"]["version"] == version
    assert all("integrity" in entry for key, entry in lock["packages"].items() if key)


def test_the_kubernetes_values_are_valid_yaml_and_match_the_docker_hub():
    values = yaml.safe_load((HUB / "z2jh-values.yaml").read_text())
    single = values["singleuser"]
    assert single["image"]["name"].endswith("/tensorweaver-lab-hub") and single["image"]["tag"] == "cpu"
    assert single["cmd"] == "jupyterhub-singleuser"
    # The workspace only in the volume, never the engine (/home/jovyan/work).
    assert single["storage"]["homeMountPath"] == "/home/jovyan/workspace"
    assert single["notebookDir"] == "/home/jovyan/workspace"
    gpu = [p for p in single["profileList"] if "GPU" in p["display_name"]]
    assert gpu and gpu[0]["kubespawner_override"]["image"].endswith("tensorweaver-lab-hub:gpu")
    assert gpu[0]["kubespawner_override"]["extra_resource_limits"] == {"nvidia.com/gpu": "1"}
    assert values["cull"]["enabled"] is True
