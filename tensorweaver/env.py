"""``python -m tensorweaver.env``: what this process computes on, and why.

Prints the versions, the backend chosen from ``TENSORWEAVER_BACKEND`` and, for
cuPyNumeric, the Legate mode (GPU or CPU), the reason for it, the effective
``LEGATE_CONFIG`` and the processors Legate actually got. Paste its output into
bug reports. ``--json`` prints the same as one JSON object.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import sys


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _driver_line(probe) -> str:
    if not probe.loaded:
        return f"none ({probe.detail})"
    if probe.stand_in:
        return f"CUDA driver stand-in at {probe.path} (no NVIDIA driver)"
    if probe.init_error:
        return f"{probe.path}, no usable GPU (cuInit: {probe.init_error})"
    return f"{probe.path}, {probe.devices} GPU(s)"


def report() -> dict:
    """The environment as an ordered mapping of label -> text."""
    from tensorweaver import _legate, backend

    info = {
        "python": f"{platform.python_version()} ({sys.executable})",
        "platform": platform.platform(),
        "tensorweaver": _version("tensorweaver"),
        "numpy": _version("numpy"),
        "nvidia-cupynumeric": _version("nvidia-cupynumeric"),
        "legate": _version("legate"),
        "backend": f"{backend.name} ({backend.ENV_VAR}={os.environ.get(backend.ENV_VAR, '')!r}, "
                   "default numpy)",
        "device": backend.device,
    }
    cores, memory_mb = _legate.machine_size()
    info["machine"] = f"{cores} usable cores, {memory_mb} MiB memory"
    if backend.is_numpy:
        # The driver is probed only to tell the user what the other backend would get.
        info["nvidia driver"] = _driver_line(_legate.probe_driver())
        info["legate"] += " (not used: the NumPy backend runs on the host CPU)"
        return info

    plan = _legate.applied
    info["legate mode"] = f"{plan.mode.upper()}: {plan.reason}"
    info["LEGATE_CONFIG"] = repr(os.environ.get("LEGATE_CONFIG", "")) + (
        " (set by the user)" if plan.user_config else " (set by tensorweaver)" if plan.env else "")
    info["LEGATE_AUTO_CONFIG"] = repr(os.environ.get("LEGATE_AUTO_CONFIG", "(unset: Legate's default)"))
    info["cuda driver stand-in"] = _legate.stand_in_path or "not loaded (a real driver is used)"
    import legate.core as lc
    machine = lc.get_machine()
    counts = {kind: machine.count(getattr(lc.TaskTarget, kind)) for kind in ("GPU", "OMP", "CPU")}
    info["legate processors"] = ", ".join(f"{n} {kind}" for kind, n in counts.items()) + (
        f"; preferred target {machine.preferred_target.name}")
    return info


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tensorweaver.env", description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    info = report()
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        width = max(map(len, info))
        for key, value in info.items():
            print(f"{key:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
