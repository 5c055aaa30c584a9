"""The lab notebooks' tooling: a headless runner, student copies, and ``record()``.

Run a lab top to bottom, on either backend, with no change to its code::

    python -m tensorweaver.labs run labs/04_mlp.ipynb --backend numpy --output out/04.ipynb
    python -m tensorweaver.labs run labs/04_mlp.ipynb --backend cupynumeric --quick \\
        --output out/04-gpu.ipynb --metrics out/04-gpu.json

The runner executes the notebook with nbclient in a fresh kernel whose environment has
``TENSORWEAVER_BACKEND`` set, writes the executed notebook, and writes a metrics JSON: what
the lab passed to ``record()`` plus the wall time and the status. A failing cell makes it
exit non-zero with the cell's index, its first line and the error.

Inside a lab::

    from tensorweaver.labs import record, quick
    EPOCHS = 3 if quick() else 20          # --quick shortens training, never changes code
    ...
    record(final_loss=loss.item(), accuracy=acc)

Student copies (every ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region replaced by
``raise NotImplementedError()``, as nbgrader does)::

    python -m tensorweaver.labs student labs/ --out student/

The notebooks are generated from readable percent-format sources (``labs/src/*.py``)::

    python -m tensorweaver.labs build labs/src --out labs
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

#: Set by the runner in the kernel's environment: where ``record()`` writes.
METRICS_ENV = "TENSORWEAVER_LAB_METRICS"
#: Set to 1 by ``run --quick``: labs train for fewer epochs (same code, shorter schedule).
QUICK_ENV = "TENSORWEAVER_LAB_QUICK"
BACKEND_ENV = "TENSORWEAVER_BACKEND"

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
STUDENT_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")


# =========================================================================== inside a lab
def quick() -> bool:
    """True when the runner was asked for a short run (``--quick``, or TENSORWEAVER_LAB_QUICK=1).

    Labs use it to pick the number of epochs or steps only; the code is the same.
    """
    return os.environ.get(QUICK_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _plain(value):
    """A JSON-ready copy of ``value``: tensors and NumPy values become Python numbers/lists."""
    if hasattr(value, "detach") and hasattr(value, "numel"):      # a Tensor
        value = value.detach().numpy()
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # NumPy array/scalar
        value = value.tolist()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)            # "nan" / "inf": strict JSON has no NaN
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"record(): cannot store a {type(value).__name__} ({value!r}) as a metric; "
                    "pass numbers, strings, lists or dicts of them, or tensors")


def record(**metrics) -> None:
    """Record a lab's results (final loss, accuracy, ...) for the headless runner.

    They are printed, and under the runner also merged into the JSON file named by
    ``TENSORWEAVER_LAB_METRICS`` (run interactively, nothing is written).
    """
    clean = {name: _plain(v) for name, v in metrics.items()}
    print("recorded:", ", ".join(f"{k}={_short(v)}" for k, v in clean.items()))
    path = os.environ.get(METRICS_ENV)
    if not path:
        return
    path = Path(path)
    data = json.loads(path.read_text()) if path.exists() and path.stat().st_size else {}
    data.update(clean)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)      # atomic: the runner never reads a half-written file


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list) and len(value) > 4:
        return f"[{len(value)} values]"
    return str(value)


# =========================================================================== the runner
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


def _normalise_backend(name: str) -> str:
    aliases = {"numpy": "numpy", "np": "numpy", "cpu": "numpy",
               "cupynumeric": "cupynumeric", "cunumeric": "cupynumeric", "gpu": "cupynumeric"}
    key = (name or "numpy").strip().lower()
    if key not in aliases:
        raise ValueError(f"backend {name!r} is not a backend; use numpy or cupynumeric")
    return aliases[key]


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
    backend = _normalise_backend(backend or os.environ.get(BACKEND_ENV, "numpy"))
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


# =========================================================================== student copies
class SolutionMarkerError(ValueError):
    """A ``### BEGIN SOLUTION`` without its ``### END SOLUTION`` (or the reverse)."""


def strip_solutions(source: str, where: str = "cell") -> tuple[str, int]:
    """``source`` with every solution region replaced by ``raise NotImplementedError()``.

    The stub keeps the indentation of the ``### BEGIN SOLUTION`` line, so a region inside a
    function body stays a valid body. Returns (new source, number of regions replaced).
    """
    out, inside, count, indent = [], False, 0, ""
    for lineno, line in enumerate(source.splitlines(), 1):
        marker = line.strip()
        if marker == BEGIN_SOLUTION:
            if inside:
                raise SolutionMarkerError(f"{where}, line {lineno}: {BEGIN_SOLUTION} inside another "
                                          f"solution region; close the first with {END_SOLUTION}")
            inside, count = True, count + 1
            indent = line[: len(line) - len(line.lstrip())]
            out.extend(indent + stub for stub in STUDENT_STUB)
        elif marker == END_SOLUTION:
            if not inside:
                raise SolutionMarkerError(f"{where}, line {lineno}: {END_SOLUTION} without a "
                                          f"{BEGIN_SOLUTION} before it")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise SolutionMarkerError(f"{where}: {BEGIN_SOLUTION} is never closed; add {END_SOLUTION}")
    return "\n".join(out), count


def student_notebook(nb, name: str = "notebook"):
    """A copy of ``nb`` with solutions stripped and outputs cleared."""
    import copy

    nb = copy.deepcopy(nb)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            cell.source, _ = strip_solutions(cell.source, f"{name}, cell {index}")
            cell.outputs, cell.execution_count = [], None
    return nb


def write_student_copies(labs_dir, out_dir) -> list:
    """Write student copies of every ``labs_dir/*.ipynb`` to ``out_dir``, with ``data/``.

    Returns the paths written. The copies are self-contained: the data the labs read and
    the README travel with them.
    """
    import nbformat

    labs_dir, out_dir = Path(labs_dir), Path(out_dir)
    notebooks = sorted(labs_dir.glob("*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"no .ipynb notebooks in {labs_dir}")
    if out_dir.resolve() == labs_dir.resolve():
        raise ValueError("student copies must go to another folder than the labs (--out DIR); "
                         "they would overwrite the solutions")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks:
        nb = student_notebook(nbformat.read(path, as_version=4), path.name)
        target = out_dir / path.name
        nbformat.write(nb, str(target))
        written.append(target)
    for extra in ("data", "README.md"):
        src = labs_dir / extra
        if src.is_dir():
            shutil.copytree(src, out_dir / extra, dirs_exist_ok=True)
        elif src.is_file():
            shutil.copy2(src, out_dir / extra)
    return written


# =========================================================================== building labs
# Sources are "percent" scripts (the format jupytext reads): `# %% [markdown]` starts a
# markdown cell whose lines are comments, `# %%` starts a code cell.
_CELL_MARK = re.compile(r"^# %%(?P<rest>( .*)?)$")
# IPython magics are commented out in the source (so it stays valid Python), as jupytext does.
_MAGIC = re.compile(r"^(?P<indent>\s*)# (?P<magic>%{1,2}(matplotlib|time|timeit|writefile|pycat)\b.*)$")


def parse_percent(text: str) -> list:
    """[(cell_type, source)] from a percent-format script."""
    cells, kind, lines = [], None, []

    def flush():
        if kind is not None:
            body = "\n".join(lines).strip("\n")
            if kind == "markdown":
                body = "\n".join(l[2:] if l.startswith("# ") else l.lstrip("#")
                                 for l in body.splitlines())
            else:
                body = "\n".join(_MAGIC.sub(r"\g<indent>\g<magic>", l) for l in body.splitlines())
            if body.strip():
                cells.append((kind, body))

    for line in text.splitlines():
        m = _CELL_MARK.match(line)
        if m:
            flush()
            kind = "markdown" if "[markdown]" in m.group("rest") else "code"
            lines = []
        elif kind is not None:
            lines.append(line)
        elif line.strip() and not line.startswith("#"):
            raise ValueError(f"code before the first `# %%` marker: {line!r}")
    flush()
    return cells


def build_notebook(source_path) -> "nbformat.NotebookNode":
    """The notebook for one percent-format source: clean (no outputs), deterministic ids,
    and nbgrader metadata on exercise cells (solution regions) and check cells (`# CHECK`)."""
    import nbformat
    from nbformat import v4

    source_path = Path(source_path)
    stem = source_path.stem
    nb = v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    exercise = check = 0
    for index, (kind, body) in enumerate(parse_percent(source_path.read_text())):
        if kind == "markdown":
            cell = v4.new_markdown_cell(body)
        else:
            cell = v4.new_code_cell(body)
            strip_solutions(body, f"{source_path.name}, cell {index}")   # markers must pair
            if BEGIN_SOLUTION in body:
                exercise += 1
                cell.metadata["nbgrader"] = {"grade": False, "grade_id": f"exercise-{exercise}",
                                             "locked": False, "schema_version": 3,
                                             "solution": True, "task": False}
            elif body.lstrip().startswith("# CHECK"):
                check += 1
                cell.metadata["nbgrader"] = {"grade": True, "grade_id": f"check-{check}",
                                             "locked": True, "points": 1, "schema_version": 3,
                                             "solution": False, "task": False}
        cell.id = f"{stem[:40]}-{index:03d}"
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def build_labs(src_dir, out_dir) -> list:
    """Regenerate ``out_dir/<name>.ipynb`` from every ``src_dir/<name>.py``."""
    import nbformat

    src_dir, out_dir = Path(src_dir), Path(out_dir)
    sources = sorted(src_dir.glob("[0-9]*.py"))
    if not sources:
        raise FileNotFoundError(f"no lab sources (NN_name.py) in {src_dir}")
    written = []
    for src in sources:
        target = out_dir / (src.stem + ".ipynb")
        text = nbformat.writes(build_notebook(src)) + "\n"
        if not target.exists() or target.read_text() != text:
            target.write_text(text)
        written.append(target)
    return written


# =========================================================================== command line
def _run_command(args) -> int:
    if "legate" in sys.modules:
        # `import tensorweaver` (run by `python -m tensorweaver.labs`) already started Legate
        # in this process, which computes nothing: the kernel is where the lab runs.
        print("tensorweaver.labs: note: this runner process started Legate too, because "
              f"{BACKEND_ENV}={os.environ.get(BACKEND_ENV)} is set in its environment; it "
              "computes nothing, so start it with "
              f"{BACKEND_ENV}=numpy (the kernel still gets --backend) to leave the GPUs "
              "and cores to the kernel.", file=sys.stderr)
    output = Path(args.output) if args.output else None
    metrics = Path(args.metrics) if args.metrics else (output.with_suffix(".json") if output else None)
    result = run_notebook(args.notebook, args.backend, output, metrics, quick_run=args.quick,
                          allow_errors=args.allow_errors, timeout=args.timeout)
    name = Path(args.notebook).name
    where = f" -> {output}" if output else ""
    if result.errors:
        first = result.errors[0]
        print(f"{name} [{result.backend}] FAILED at {first.describe()}{where}", file=sys.stderr)
        tail = "\n".join(first.traceback.strip().splitlines()[-12:])
        if tail:
            print(tail, file=sys.stderr)
        return 0 if args.allow_errors else 1
    shown = ", ".join(f"{k}={v}" for k, v in result.metrics.items() if not isinstance(v, (list, dict)))
    print(f"{name} [{result.backend}{', quick' if result.quick else ''}] ok in "
          f"{result.wall_time_s:.1f} s{where}" + (f"; {shown}" if shown else ""))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tensorweaver.labs", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="execute a lab notebook headless on a backend")
    run.add_argument("notebook")
    run.add_argument("--backend", default=None,
                     help="numpy or cupynumeric (default: $TENSORWEAVER_BACKEND, else numpy)")
    run.add_argument("--output", "-o", help="where to write the executed notebook")
    run.add_argument("--metrics", help="where to write the metrics JSON "
                     "(default: the --output path with .json)")
    run.add_argument("--quick", action="store_true",
                     help="short training schedules (sets TENSORWEAVER_LAB_QUICK=1 in the kernel)")
    run.add_argument("--allow-errors", action="store_true",
                     help="run every cell even after errors; list them all, exit 0")
    run.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")

    student = sub.add_parser("student", help="write student copies with solutions stripped")
    student.add_argument("labs_dir")
    student.add_argument("--out", required=True, help="folder for the copies")

    build = sub.add_parser("build", help="regenerate the .ipynb notebooks from labs/src/*.py")
    build.add_argument("src_dir", nargs="?", default="labs/src")
    build.add_argument("--out", default=None, help="folder for the notebooks (default: src/..)")

    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            return _run_command(args)
        if args.command == "student":
            written = write_student_copies(args.labs_dir, args.out)
        else:
            written = build_labs(args.src_dir, args.out or str(Path(args.src_dir).parent))
    except (ValueError, FileNotFoundError) as exc:      # bad input: a message, not a traceback
        print(f"python -m tensorweaver.labs {args.command}: error: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
