"""``python -m tensorweaver.env``: what this process computes on, and why.

Prints the versions, the backend chosen from ``TENSORWEAVER_BACKEND`` and, for
cuPyNumeric, the Legate mode (GPU or CPU), the reason for it, the effective
``LEGATE_CONFIG`` and the processors Legate actually got. Paste its output into
bug reports. ``--json`` prints the same as one JSON object, and nothing else on stdout
(whatever Legate or Realm print goes to stderr).

A backend that cannot be loaded is reported, not raised: the ``backend error`` entry says
what failed and how to fix it, and the exit status is 1.
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


def _this_checkout() -> str:
    """Where the running tensorweaver package lives (the distribution name "tensorweaver"
    on PyPI belongs to another project, so the version alone could name the wrong code)."""
    from pathlib import Path
    return str(Path(__file__).resolve().parent)


def _backend_failure(exc: BaseException) -> str:
    from tensorweaver import _legate
    message = f"{type(exc).__name__}: {exc}"
    if type(exc).__module__ != "tensorweaver.backend":
        # Not one of tensorweaver's own explanations: add what to try.
        message += (". Check the Legate settings above (LEGATE_CONFIG; on a machine without an "
                    "NVIDIA driver the CUDA driver stand-in, `make cuda-stand-in`), reinstall the "
                    "GPU extra from the tensorweaver checkout (`pip install -e '.[gpu]'`), or "
                    "unset TENSORWEAVER_BACKEND to use NumPy.")
    plan = _legate.applied
    if plan is not None:
        message += f" [Legate {plan.mode.upper()} mode was chosen: {plan.reason}]"
    return message


def report(backend_error: BaseException | None = None) -> dict:
    """The environment as an ordered mapping of label -> text.

    Never raises for a backend that fails to load: ``info["backend error"]`` then says
    what failed and the fix. ``backend_error``: the failure, when the caller already has it
    (``backend.py`` itself, for ``python -m tensorweaver.env``).
    """
    from tensorweaver import _legate

    requested = os.environ.get("TENSORWEAVER_BACKEND", "")
    info = {
        "python": f"{platform.python_version()} ({sys.executable})",
        "platform": platform.platform(),
        "tensorweaver": f"{_version('tensorweaver')} ({_this_checkout()})",
        "numpy": _version("numpy"),
        "nvidia-cupynumeric": _version("nvidia-cupynumeric"),
        "legate": _version("legate"),
    }
    cores, memory_mb = _legate.machine_size()
    info["machine"] = f"{cores} usable cores, {memory_mb} MiB memory"
    try:
        if backend_error is not None:
            raise backend_error
        from tensorweaver import backend
    except Exception as exc:  # noqa: BLE001  (reported: that is this command's job)
        info["backend"] = f"FAILED to load (TENSORWEAVER_BACKEND={requested!r}, default numpy)"
        info["backend error"] = _backend_failure(exc)
        for key in ("LEGATE_CONFIG", "LEGATE_AUTO_CONFIG", "REALM_DEFAULT_ARGS"):
            if key in os.environ:
                info[key] = repr(os.environ[key])
        if _legate.stand_in_path:
            info["cuda driver stand-in"] = _legate.stand_in_path
        return info
    info["backend"] = f"{backend.name} ({backend.ENV_VAR}={requested!r}, default numpy)"
    info["device"] = backend.device
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
    info["REALM_DEFAULT_ARGS"] = repr(os.environ.get("REALM_DEFAULT_ARGS", "")) + (
        " (Realm's GPU-discovery messages silenced in CPU mode)"
        if plan.env.get("REALM_DEFAULT_ARGS") else "")
    info["cuda driver stand-in"] = _legate.stand_in_path or "not loaded (a real driver is used)"
    try:
        import legate.core as lc
        machine = lc.get_machine()
        counts = {kind: machine.count(getattr(lc.TaskTarget, kind)) for kind in ("GPU", "OMP", "CPU")}
        info["legate processors"] = ", ".join(f"{n} {kind}" for kind, n in counts.items()) + (
            f"; preferred target {machine.preferred_target.name}")
    except Exception as exc:  # noqa: BLE001
        info["legate processors"] = f"unknown: legate.core.get_machine() failed ({type(exc).__name__}: {exc})"
    return info


def main(argv=None, own_stdout: bool = False, backend_error: BaseException | None = None) -> int:
    """Print the report; 1 if the backend failed to load. ``own_stdout`` (the command line
    sets it): with ``--json``, file descriptor 1 may be taken over for the process."""
    parser = argparse.ArgumentParser(prog="python -m tensorweaver.env", description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object (nothing else on stdout)")
    args = parser.parse_args(argv)
    if args.json and own_stdout:
        from tensorweaver import _legate
        out = _legate.claim_stdout()
    else:
        out = sys.stdout
    info = report(backend_error)
    if args.json:
        out.write(json.dumps(info, indent=2) + "\n")
    else:
        width = max(map(len, info))
        for key, value in info.items():
            out.write(f"{key:<{width}}  {value}\n")
    out.flush()
    return 1 if "backend error" in info else 0


if __name__ == "__main__":
    sys.exit(main(own_stdout=True))
