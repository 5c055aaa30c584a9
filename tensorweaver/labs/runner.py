"""The headless runner: execute a lab notebook top to bottom in a fresh kernel (nbclient).

    python -m tensorweaver.labs run labs/04_mlp.ipynb --backend numpy --output out/04.ipynb
    python -m tensorweaver.labs run labs/04_mlp.ipynb --backend cupynumeric --quick \\
        --output out/04-gpu.ipynb --metrics out/04-gpu.json

The kernel's environment has ``TENSORWEAVER_BACKEND`` set; the executed notebook and a
metrics JSON (what the lab passed to ``record()``, the wall time, the status) are written.
A failing cell is reported with its index, its first line and the error.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tensorweaver.labs.record import METRICS_ENV, QUICK_ENV

BACKEND_ENV = "TENSORWEAVER_BACKEND"


@dataclass
class CellError:
    """Where and how a cell failed."""
    cell: int                 # index in the notebook's cell list (markdown cells count)
    first_line: str
    ename: str
    evalue: str
    traceback: str = ""

    def describe(self) -> str:
        return f"cell {self.cell} (`{self.first_line}`): {self.ename}: {self.evalue}"


@dataclass
class RunResult:
    notebook: str
    backend: str
    quick: bool
    status: str                              # "ok" or "failed"
    wall_time_s: float
    metrics: dict = field(default_factory=dict)
    errors: list = field(default_factory=list)    # CellError, in cell order
    cell_times_s: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_json(self) -> dict:
        slowest = sorted(self.cell_times_s.items(), key=lambda kv: -kv[1])[:5]
        return {
            "notebook": self.notebook,
            "backend": self.backend,
            "quick": self.quick,
            "status": self.status,
            "wall_time_s": round(self.wall_time_s, 3),
            "metrics": self.metrics,
            "errors": [vars(e) | {"traceback": e.traceback[-2000:]} for e in self.errors],
            "slowest_cells": [{"cell": i, "seconds": round(s, 3)} for i, s in slowest],
        }


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _first_line(source: str) -> str:
    for line in source.splitlines():
        if line.strip():
            return line.strip()[:100]
    return ""


def normalise_backend(name: str | None) -> str:
    """The canonical backend name for ``name``, with the aliases ``tensorweaver.backend``
    accepts (the one list of names; ``gpu`` is not one of them)."""
    from tensorweaver.backend import _ALIASES

    key = (name or "numpy").strip().lower()
    if key not in _ALIASES:
        names = ", ".join(sorted(_ALIASES))
        raise ValueError(f"backend {name!r} is not a backend; use numpy or cupynumeric "
                         f"(accepted names: {names})")
    return _ALIASES[key]


def _cell_errors(nb) -> list:
    errors = []
    for index, cell in enumerate(nb.cells):
        for out in cell.get("outputs", ()):
            if out.get("output_type") == "error":
                errors.append(CellError(index, _first_line(cell.source), out.get("ename", ""),
                                        out.get("evalue", ""),
                                        _ANSI.sub("", "\n".join(out.get("traceback", ())))))
                break
    return errors


def run_notebook(path, backend: str = None, output=None, metrics=None, quick_run: bool = False,
                 allow_errors: bool = False, timeout: int = 600, env: dict = None) -> RunResult:
    """Execute the notebook at ``path`` in a fresh kernel on ``backend``.

    The kernel runs with the notebook's folder as working directory (labs read ``data/``)
    and this process's environment plus TENSORWEAVER_BACKEND, TENSORWEAVER_LAB_METRICS and,
    for ``quick_run``, TENSORWEAVER_LAB_QUICK=1. Without ``allow_errors`` execution stops
    at the first failing cell. The executed notebook is written to ``output`` and the
    metrics JSON to ``metrics`` (both optional), also when a cell fails.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
    from traitlets.config import Config

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no notebook at {path}")
    backend = normalise_backend(backend or os.environ.get(BACKEND_ENV, "numpy"))
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:                  # run from a clean state, whatever was saved
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None

    fd, metrics_tmp = tempfile.mkstemp(prefix="tw-lab-", suffix=".json")
    os.close(fd)
    kernel_env = dict(os.environ if env is None else env)
    kernel_env.update({BACKEND_ENV: backend, METRICS_ENV: metrics_tmp})
    if quick_run:
        kernel_env[QUICK_ENV] = "1"
    else:
        kernel_env.pop(QUICK_ENV, None)
    kernel_env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")   # silences a debugpy warning

    started, times = {}, {}

    def on_start(cell, cell_index):
        started[cell_index] = time.perf_counter()

    def on_done(cell, cell_index, execute_reply):
        times[cell_index] = time.perf_counter() - started.get(cell_index, time.perf_counter())

    # Kernel and runner talk over Unix sockets in a private (mode 0700) temporary folder, not
    # TCP on localhost: no other user of the machine can connect to the kernel.
    sockets = tempfile.TemporaryDirectory(prefix="tw-lab-kernel-")
    config = Config({"KernelManager": {"transport": "ipc", "ip": os.path.join(sockets.name, "kernel")}})
    client = NotebookClient(nb, config=config, kernel_name="python3", timeout=timeout,
                            allow_errors=allow_errors,
                            resources={"metadata": {"path": str(path.parent.resolve())}},
                            on_cell_start=on_start, on_cell_executed=on_done)
    t0 = time.perf_counter()
    errors = []
    try:
        client.execute(env=kernel_env, cwd=str(path.parent.resolve()))
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:
        index = max(started) if started else 0
        cell = nb.cells[index]
        found = _cell_errors(nb)
        if found:
            errors = found[:1]
        else:   # a timeout or a dead kernel leaves no error output in the cell
            ename = type(exc).__name__
            evalue = _ANSI.sub("", str(exc)).strip().splitlines()[-1] if str(exc).strip() else ""
            errors = [CellError(index, _first_line(cell.source), ename, evalue)]
    finally:
        sockets.cleanup()
    wall = time.perf_counter() - t0
    if allow_errors:
        errors = _cell_errors(nb)

    try:
        text = Path(metrics_tmp).read_text()
        recorded = json.loads(text) if text.strip() else {}
    finally:
        Path(metrics_tmp).unlink(missing_ok=True)
    result = RunResult(notebook=str(path), backend=backend, quick=quick_run,
                       status="failed" if errors else "ok", wall_time_s=wall,
                       metrics=recorded, errors=errors, cell_times_s=times)
    if output is not None:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, str(output))
    if metrics is not None:
        Path(metrics).parent.mkdir(parents=True, exist_ok=True)
        Path(metrics).write_text(json.dumps(result.to_json(), indent=1) + "\n")
    return result
