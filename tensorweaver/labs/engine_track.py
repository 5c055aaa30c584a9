"""The engine track (labs 10 and 12): students write pieces of the real engine.

The pieces are regions of the engine's own modules between ``### BEGIN SOLUTION`` and
``### END SOLUTION`` (comments: the engine runs unchanged); ``engine_manifest.py`` lists
them per assignment, with the project tests and parity cases that grade each one.

- **Student copies.** ``student_source`` turns a module into the student's copy: each
  region becomes ``raise NotImplementedError("<piece>: write this part ...")`` at the
  region's indentation, so signatures, docstrings and the machinery around stay. A line
  ``### STUDENT COPY: <code>`` replaces the line after it in the copy: where the engine has
  a fast path beside the general one (conv2d's stride-1 runs, max-pool's tiled windows),
  the copy turns the fast path off, so the student writes, and the tests run, the general
  path. The release puts the copies in ``<assignment>/engine/`` (``release``); the workspace
  sync carries them into the student's ``engine/`` folder and never overwrites them.
- **The seam.** ``TENSORWEAVER_STUDENT_ENGINE=DIR`` makes ``import tensorweaver`` load those
  modules from DIR (``tensorweaver/_student_engine.py``). The notebooks set it to their
  ``engine/`` folder in their first cell; without that folder (the instructor's solved
  notebooks in ``labs/``) the engine's own modules, i.e. the solutions, are used.
- **Grading.** A piece's CHECK runs its test groups with pytest in a subprocess, with the
  variable set to a folder holding only that piece's modules from the student's engine
  (``run_tests``): each piece is graded on its own. Its hidden tests run the piece's parity
  cases, cuPyNumeric against NumPy, on an interpreter that has cuPyNumeric (``run_parity``):
  this one, else ``$TENSORWEAVER_GPU_PYTHON``, else the checkout's ``.venv-gpu`` (with the
  CUDA driver stand-in when there is no driver). With none, the check fails and says where
  to grade (the GPU image: ``make autograde-gpu``).
- **Submissions.** ``autograde`` copies a submission's ``engine/`` folder (beside its
  notebook) next to the notebook it grades; a module missing there is graded as the
  student copy (unwritten), never as the solution. The solutions are graded by carrying
  the engine's own modules as the submission's engine (``write_engine(..., solved=True)``).
"""
from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path

from tensorweaver.labs.build import BEGIN_SOLUTION, END_SOLUTION, region_spans
from tensorweaver.labs.engine_manifest import ASSIGNMENTS, PIECES

ENGINE_DIR = "engine"
ENGINE_ENV = "TENSORWEAVER_STUDENT_ENGINE"
GPU_PYTHON_ENV = "TENSORWEAVER_GPU_PYTHON"
TESTS_ENV = "TENSORWEAVER_TESTS"
STUDENT_COPY = "### STUDENT COPY:"
PACKAGE = Path(__file__).resolve().parents[1]          # tensorweaver/
#: Seconds for one piece's tests, and for its parity cases (Legate starts in each).
TEST_TIMEOUT_S = 600
PARITY_TIMEOUT_S = 1200


# ----------------------------------------------------------------------------- regions
@dataclass(frozen=True)
class Region:
    function: str       # qualified name of the function holding the region
    begin: int          # line of ### BEGIN SOLUTION (1-based)
    end: int            # line of ### END SOLUTION
    indent: str
    code: tuple         # the lines between the markers


def _functions(tree) -> list:
    """[(qualified name, first line, last line)] of every function in a module."""
    found = []

    def walk(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    found.append((name, child.lineno, child.end_lineno))
                walk(child, name + ".")
    walk(tree, "")
    return found


def module_regions(text: str, where: str = "module") -> list:
    """The solution regions of a module's source, each named by the innermost function
    that holds it (build.py's marker parser: unpaired or nested markers are an error)."""
    lines = text.splitlines()
    functions = _functions(ast.parse(text))
    regions = []
    for begin, end in region_spans(text, BEGIN_SOLUTION, END_SOLUTION, where):
        # (a function ends at its last code line: the END marker, a comment, may come after it)
        holders = [f for f in functions if f[1] < begin <= f[2]]
        if not holders:
            raise ValueError(f"{where}, line {begin}: a solution region outside any function")
        name = max(holders, key=lambda f: f[1])[0]
        line = lines[begin - 1]
        regions.append(Region(name, begin, end, line[:len(line) - len(line.lstrip())],
                              tuple(lines[begin:end - 1])))
    return regions


def engine_file(module_path: str) -> Path:
    """The engine's own module ``module_path`` (``optim/sgd.py``)."""
    return PACKAGE / module_path


def piece_of_region(module_path: str, function: str):
    return next((p for p in PIECES.values() if (module_path, function) in p.regions), None)


def _check_manifest_regions(module_path: str, regions: list) -> None:
    found = {r.function for r in regions}
    wanted = {f for p in PIECES.values() for m, f in p.regions if m == module_path}
    stray = sorted(r.function for r in regions if piece_of_region(module_path, r.function) is None)
    if stray or wanted - found or len(found) != len(regions):
        raise ValueError(f"tensorweaver/{module_path}: its solution regions ({sorted(found)}) and "
                         f"the engine manifest's ({sorted(wanted)}) differ; every region is one "
                         "piece's, once")


def student_source(module_path: str, text: str | None = None, fill: dict | None = None) -> str:
    """The student copy of an engine module: regions replaced by ``raise
    NotImplementedError``, ``### STUDENT COPY:`` lines applied. ``fill`` ({function: code})
    puts code in some regions instead (dedented code, re-indented to the region's level)."""
    text = engine_file(module_path).read_text() if text is None else text
    regions = module_regions(text, f"tensorweaver/{module_path}")
    _check_manifest_regions(module_path, regions)
    fill = fill or {}
    lines = text.splitlines()
    out, skip_to, by_begin, route = [], 0, {r.begin: r for r in regions}, None
    for lineno, line in enumerate(lines, 1):
        if lineno <= skip_to:
            continue
        if lineno in by_begin:
            region = by_begin[lineno]
            if region.function in fill:
                body = fill[region.function].strip("\n").splitlines()
                out += [region.indent + b if b.strip() else "" for b in _dedent(body)]
            else:
                piece = piece_of_region(module_path, region.function)
                out.append(f'{region.indent}raise NotImplementedError("{piece.name}: write this '
                           f'part (see the assignment notebook)")')
            skip_to = region.end
            continue
        stripped = line.strip()
        if stripped.startswith(STUDENT_COPY):
            route = stripped[len(STUDENT_COPY):].strip()
            continue
        if route is not None:
            indent = line[:len(line) - len(line.lstrip())]
            out.append(f"{indent}{route}  # the engine's own line: {stripped}")
            route = None
            continue
        out.append(line)
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def _dedent(lines):
    widths = [len(l) - len(l.lstrip()) for l in lines if l.strip()]
    cut = min(widths) if widths else 0
    return [l[cut:] for l in lines]


def solution_lines(piece) -> int:
    """Non-empty, non-comment lines in a piece's regions of the engine's modules."""
    piece = PIECES[piece] if isinstance(piece, str) else piece
    total = 0
    for module_path in piece.modules:
        for region in module_regions(engine_file(module_path).read_text()):
            if (module_path, region.function) in piece.regions:
                total += sum(1 for l in region.code if l.strip() and not l.strip().startswith("#"))
    return total


def assignment_modules(assignment: str) -> tuple:
    return tuple(sorted({m for p in ASSIGNMENTS[assignment] for m in p.modules}))


def write_engine(dest, assignment: str, solved: bool = False, fill: dict | None = None) -> list:
    """Write an assignment's engine modules under ``dest`` (``dest/optim/sgd.py``): the
    student copies, or the engine's own modules (``solved``), or the solutions with some
    regions replaced (``fill``: {(module path, function): code}). Returns the files."""
    dest = Path(dest)
    written = []
    for module_path in assignment_modules(assignment):
        target = dest / module_path
        target.parent.mkdir(parents=True, exist_ok=True)
        text = engine_file(module_path).read_text()
        if fill:
            mine = {f: code for (m, f), code in fill.items() if m == module_path}
            regions = module_regions(text)
            keep = {r.function: "\n".join(r.code) for r in regions if r.function not in mine}
            text = student_source(module_path, text, {**keep, **mine})
        elif not solved:
            text = student_source(module_path, text)
        target.write_text(text)
        written.append(target)
    return written


def carry_solutions(folder, assignment: str) -> list:
    """For a solved submission: the engine's own modules as ``folder/engine/``; nothing
    for a lab outside the engine track."""
    if assignment not in ASSIGNMENTS:
        return []
    return write_engine(Path(folder) / ENGINE_DIR, assignment, solved=True)


def is_engine_lab(stem: str) -> bool:
    return stem in ASSIGNMENTS


def piece_cells(nb) -> list:
    """[(cell index, piece name)] of a notebook's ``# ENGINE PIECE:`` cells (the exercises)."""
    from tensorweaver.labs.build import engine_piece

    return [(i, engine_piece(c.source)) for i, c in enumerate(nb.cells)
            if c.cell_type == "code" and engine_piece(c.source)]


# ----------------------------------------------------------------------------- grading
def repo_root() -> Path:
    """The checkout (or image work dir) holding ``tests/``: ``$TENSORWEAVER_TESTS``'s parent,
    else the one this package sits in, else the current folder, else ``~/work`` (the images'
    work dir; ``autograde`` tells its kernels the one it found, through the variable)."""
    candidates = []
    if os.environ.get(TESTS_ENV):
        candidates.append(Path(os.environ[TESTS_ENV]).parent)
    candidates += [PACKAGE.parent, Path.cwd(), Path.home() / "work"]
    for root in candidates:
        if (root / "tests" / "test_engine_pieces.py").is_file():
            return root
    raise FileNotFoundError("the engine track grades with the project's tests, and none were "
                            f"found (set {TESTS_ENV} to the checkout's tests/ folder)")


@dataclass
class Outcome:
    """What one piece's tests (or parity cases) gave."""
    piece: str
    what: str                                   # "tests" or "parity"
    passed: bool
    failed: list = field(default_factory=list)  # failing test ids
    detail: str = ""                            # first error lines, or why nothing ran
    counts: dict = field(default_factory=dict)

    def report(self) -> str:
        """One line naming the failing tests (checks.csv keeps the first line), then detail."""
        if self.passed:
            return f"{self.piece}: every {'test' if self.what == 'tests' else 'parity case'} passes"
        what = "tests" if self.what == "tests" else "parity cases"
        if self.failed:
            shown = ", ".join(self.failed[:6]) + (f" and {len(self.failed) - 6} more" if len(self.failed) > 6 else "")
            head = f"{self.piece}: {len(self.failed)} {what} failing: {shown}"
        else:
            head = f"{self.piece}: the {what} did not run"
        return head + ("\n" + self.detail if self.detail else "")


def engine_for(piece, engine=ENGINE_DIR):
    """A temporary folder holding only ``piece``'s modules from the student's ``engine``
    folder (None: no such folder, so the engine's own modules, the solutions, are used)."""
    engine = Path(engine)
    if not engine.is_dir():
        return None
    tmp = Path(tempfile.mkdtemp(prefix=f"tw-piece-{piece.name}-"))
    for module_path in piece.modules:
        source = engine / module_path
        target = tmp / module_path
        target.parent.mkdir(parents=True, exist_ok=True)
        # Missing: the student copy (unwritten), never the solution.
        text = source.read_text() if source.is_file() else student_source(module_path)
        target.write_text(text)
    return tmp


def _junit(path: Path, root: Path) -> tuple:
    """(failing test ids, first error lines, counts) from pytest's JUnit XML."""
    failed, details, counts = [], [], {"passed": 0, "failed": 0, "skipped": 0}
    if not path.is_file():
        return failed, details, counts
    for case in ET.parse(path).getroot().iter("testcase"):
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        if bad is not None:
            counts["failed"] += 1
            file = case.get("file") or case.get("classname", "").replace(".", "/") + ".py"
            failed.append(f"{file}::{case.get('name')}")
            message = (bad.get("message") or bad.text or "").strip().splitlines()
            if message and len(details) < 3:
                details.append(f"  {failed[-1]}: {message[0][:300]}")
        elif case.find("skipped") is not None:
            counts["skipped"] += 1
        else:
            counts["passed"] += 1
    return failed, details, counts


def _pytest(python, args, env, root, timeout) -> tuple:
    with tempfile.TemporaryDirectory(prefix="tw-junit-") as tmp:
        junit = Path(tmp) / "junit.xml"
        cmd = [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}",
               "-o", "junit_family=xunit1", *args]
        try:
            proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None, [], [f"  ran past {timeout} s"], {}
        failed, details, counts = _junit(junit, root)
        return proc, failed, details, counts


def _selection(piece) -> list:
    """One pytest run per piece (one start-up, not one per group): every group's files and
    the union of their ``-k`` filters (each group is ``(files..., "-k", expression)``)."""
    files, keys = [], []
    for group in piece.tests:
        *paths, flag, expression = group.args
        if flag != "-k":
            raise ValueError(f"{piece.name}: a test group is (files..., '-k', expression), not {group.args}")
        files += [p for p in paths if p not in files]
        keys.append(f"({expression})")
    return files + ["-k", " or ".join(keys)]


def _env(engine_dir) -> dict:
    env = dict(os.environ, TENSORWEAVER_BACKEND="numpy", PYTHONDONTWRITEBYTECODE="1")
    env.pop(ENGINE_ENV, None)
    if engine_dir is not None:
        env[ENGINE_ENV] = str(engine_dir)
    return env


def run_tests(name: str, engine=ENGINE_DIR) -> Outcome:
    """Run piece ``name``'s tests on NumPy with that piece's modules from ``engine``."""
    piece = PIECES[name]
    root = repo_root()
    isolated = engine_for(piece, engine)
    try:
        proc, failed, details, counts = _pytest(sys.executable, _selection(piece), _env(isolated),
                                                root, TEST_TIMEOUT_S)
    finally:
        if isolated is not None:
            shutil.rmtree(isolated, ignore_errors=True)
    return _outcome(piece, "tests", proc, failed, details, counts)


def _outcome(piece, what, proc, failed, details, counts) -> Outcome:
    if proc is None:
        return Outcome(piece.name, what, False, failed, "\n".join(details), counts)
    ran = counts.get("passed", 0) + counts.get("failed", 0) + counts.get("skipped", 0)
    if proc.returncode == 0 and ran and not failed:
        return Outcome(piece.name, what, True, [], "", counts)
    if not failed:     # collection or usage error: say what pytest said
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        details = [f"  pytest exited with {proc.returncode}:\n{tail}"]
    return Outcome(piece.name, what, False, failed, "\n".join(details), counts)


def has_cupynumeric() -> bool:
    return find_spec("cupynumeric") is not None


def parity_python():
    """(interpreter, extra environment) with cuPyNumeric, or None: this interpreter, else
    ``$TENSORWEAVER_GPU_PYTHON``, else the checkout's ``.venv-gpu`` (``make venv-gpu``; with
    the CUDA driver stand-in ``build/cuda-stand-in/libcuda.so.1`` it builds, used only when
    no driver is found)."""
    if has_cupynumeric():
        return sys.executable, {}
    extra = {}
    try:
        root = repo_root()
    except FileNotFoundError:
        root = None
    stand_in = root / "build" / "cuda-stand-in" / "libcuda.so.1" if root else None
    if stand_in is not None and stand_in.is_file() and not os.environ.get("TENSORWEAVER_CUDA_STAND_IN"):
        extra["TENSORWEAVER_CUDA_STAND_IN"] = str(stand_in)
    if os.environ.get(GPU_PYTHON_ENV):
        return os.environ[GPU_PYTHON_ENV], extra
    venv = root / ".venv-gpu" / "bin" / "python" if root else None
    if venv is not None and venv.is_file():
        return str(venv), extra
    return None


WHERE_TO_GRADE = ("grade this assignment where cuPyNumeric is installed: the GPU image "
                  "(`make autograde-gpu SUBMISSIONS=...`), .venv-gpu (`make venv-gpu`), or set "
                  f"{GPU_PYTHON_ENV} to an interpreter that has it")


def run_parity(name: str, engine=ENGINE_DIR) -> Outcome:
    """Piece ``name``'s parity cases, cuPyNumeric against NumPy, on its student modules."""
    piece = PIECES[name]
    found = parity_python()
    if found is None:
        return Outcome(piece.name, "parity", False, [],
                       f"  cuPyNumeric is not installed for {sys.executable}; {WHERE_TO_GRADE}")
    python, extra = found
    root = repo_root()
    isolated = engine_for(piece, engine)
    env = dict(_env(isolated), **extra)
    env.pop("TENSORWEAVER_BACKEND", None)       # the parity workers set their own
    try:
        with tempfile.TemporaryDirectory(prefix="tw-parity-") as tmp:
            env["PARITY_REPORT"] = str(Path(tmp) / "parity.md")
            args = ["tests/parity/test_parity.py", "-k", f"test_case_agrees and ({piece.parity})"]
            proc, failed, details, counts = _pytest(python, args, env, root, PARITY_TIMEOUT_S)
    finally:
        if isolated is not None:
            shutil.rmtree(isolated, ignore_errors=True)
    return _outcome(piece, "parity", proc, failed, details, counts)


def describe(assignment: str) -> str:
    """Where each of an assignment's modules was loaded from, one line each (after
    ``import tensorweaver``): the student's file, or the engine's own."""
    import importlib

    lines = []
    for module_path in assignment_modules(assignment):
        name = "tensorweaver." + module_path[:-3].replace("/", ".")
        file = Path(importlib.import_module(name).__file__)
        whose = "the engine's own" if file.resolve() == engine_file(module_path).resolve() else "yours"
        lines.append(f"{name:34} {whose}: {file}")
    return "\n".join(lines)
