"""Run the parity cases once per backend (in their own processes: NumPy's in one,
cuPyNumeric's in fresh chunks of LEGATE_CHUNK cases) and compare them.

Both sides run in subprocesses with an explicit ``TENSORWEAVER_BACKEND``, so the
comparison is NumPy vs cuPyNumeric whatever the pytest process itself uses (the GPU
image sets ``TENSORWEAVER_BACKEND=cupynumeric``). The per-op error table is written as
soon as both runs are in, to ``$PARITY_REPORT`` (default ``build/parity.md``).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))

from tolerances import TOLERANCES, TRAINING, budget, errors, tolerance  # noqa: E402

WORKER_TIMEOUT_S = int(os.environ.get("PARITY_WORKER_TIMEOUT", "3600"))   # a loaded 2-core host: 35 min seen
#: Cases per cuPyNumeric worker process (0: all in one). A Legate process gets slower the more
#: it has run: cases 700-800 of the suite took 30 s late in one process and 3 s in a fresh
#: one, and lab 05's CNN case 317 s against 64 s. So the cuPyNumeric side runs the cases in
#: fresh processes of this many, one after another (starting one costs about 3 s).
def _chunk_size(text: str) -> int:
    if not text.isdigit():
        raise pytest.UsageError(f"PARITY_LEGATE_CHUNK={text!r}: expected a whole number of cases per "
                                "cuPyNumeric process (0: all in one process; default 100)")
    return int(text)


LEGATE_CHUNK = _chunk_size(os.environ.get("PARITY_LEGATE_CHUNK", "100"))


@dataclass
class Run:
    """One backend's results: arrays by "<case>::<output>", and the worker's metadata."""
    arrays: dict
    meta: dict

    def outputs(self, case: str) -> dict:
        prefix = f"{case}::"
        return {k[len(prefix):]: v for k, v in self.arrays.items() if k.startswith(prefix)}


@dataclass
class Row:
    """One case's comparison: the report's row, and what a failing test prints."""
    case: str
    op: str
    dtype: str
    tol: tuple | None = None
    max_abs: float = 0.0
    max_rel: float = 0.0
    used: float = 0.0            # worst error / allowed error (atol + rtol * |numpy|)
    needs_atol: bool = False     # some element passed only thanks to atol (values near zero)
    outputs: int = 0
    problems: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def start_worker(backend: str, out: Path, names: list | None = None) -> subprocess.Popen:
    """One backend's worker, started in the background (its output goes to ``out``.log)."""
    env = dict(os.environ, TENSORWEAVER_BACKEND=backend)
    # One BLAS thread unless told otherwise: the cases' matrices are small, and threads
    # fighting over a busy CI machine made the NumPy side ten times slower.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    if backend == "cupynumeric":
        env["CUPYNUMERIC_FAST_MATH"] = "0"     # no TF32: float32 matmuls stay float32
    out.parent.mkdir(parents=True, exist_ok=True)
    log = open(out.with_suffix(".log"), "w")
    with log:
        return subprocess.Popen([sys.executable, str(HERE / "worker.py"), str(out), *(names or [])],
                                env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, text=True)


def finish_worker(backend: str, out: Path, proc: subprocess.Popen) -> Run:
    try:
        proc.wait(timeout=WORKER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise RuntimeError(f"the {backend} parity worker ran past {WORKER_TIMEOUT_S} s") from None
    if proc.returncode != 0:
        tail = out.with_suffix(".log").read_text()[-4000:]
        raise RuntimeError(f"the {backend} parity worker failed (exit {proc.returncode}):\n{tail}")
    with np.load(out.with_suffix(".npz")) as data:
        arrays = {k: data[k] for k in data.files}
    return Run(arrays, json.loads(out.with_suffix(".json").read_text()))


def run_workers(out: Path, names: list) -> dict:
    """Both backends' runs, side by side: the NumPy worker takes one core while Legate's
    takes the others, so the suite's wall time is about the cuPyNumeric run alone. The
    cuPyNumeric side runs in chunks of LEGATE_CHUNK cases, a fresh process each."""
    numpy_proc = start_worker("numpy", out / "numpy", names)
    chunks = [names[i:i + LEGATE_CHUNK] for i in range(0, len(names), LEGATE_CHUNK or len(names))]
    parts, proc = [], None
    try:
        for i, chunk in enumerate(chunks):
            part = out / f"cupynumeric-{i + 1}"
            proc = start_worker("cupynumeric", part, chunk)
            parts.append(finish_worker(f"cupynumeric (cases {i * LEGATE_CHUNK + 1}-"
                                       f"{i * LEGATE_CHUNK + len(chunk)})", part, proc))
        return {"numpy": finish_worker("numpy", out / "numpy", numpy_proc),
                "cupynumeric": merge_runs(parts)}
    finally:
        for p in (numpy_proc, proc):
            if p is not None and p.poll() is None:
                p.kill()


def merge_runs(parts: list) -> Run:
    """One backend's chunks as one run: their arrays and cases together, the first's metadata
    (the same in every chunk: the backend, versions, Legate set-up, what must be covered)."""
    arrays, cases = {}, {}
    for part in parts:
        arrays.update(part.arrays)
        cases.update(part.meta["cases"])
    return Run(arrays, {**parts[0].meta, "cases": cases})


def compare(case, reference: Run, candidate: Run) -> Row:
    row = Row(case.name, case.op, case.dtype)
    for side, run in (("numpy", reference), ("cupynumeric", candidate)):
        error = run.meta["cases"][case.name]["error"]
        if error:
            row.problems.append(f"the case failed on {side}:\n{error}")
    if row.problems:
        return row
    expected, got = reference.outputs(case.name), candidate.outputs(case.name)
    if expected.keys() != got.keys():
        row.problems.append(f"outputs differ: numpy {sorted(expected)}, cupynumeric {sorted(got)}")
        return row
    for key, want in expected.items():
        have = got[key]
        if have.shape != want.shape or have.dtype != want.dtype:
            row.problems.append(f"{key}: numpy gives {want.dtype}{list(want.shape)}, "
                                f"cupynumeric {have.dtype}{list(have.shape)}")
            continue
        row.outputs += 1
        tol = tolerance(want.dtype, case.dtype, case.training)
        if tol is None:
            if not np.array_equal(have, want):
                row.problems.append(f"{key}: {np.sum(have != want)} of {want.size} values differ "
                                    "(exact comparison for integers/booleans)")
            continue
        row.tol = tol
        abs_err, rel_err = errors(have, want, tol[1])
        row.max_abs, row.max_rel = max(row.max_abs, abs_err), max(row.max_rel, rel_err)
        used, needs_atol = budget(have, want, *tol)
        row.used, row.needs_atol = max(row.used, used), row.needs_atol or needs_atol
        if not np.allclose(have, want, rtol=tol[0], atol=tol[1], equal_nan=True):
            row.problems.append(f"{key}: max abs error {abs_err:.3g}, max rel error {rel_err:.3g} "
                                f"exceed rtol={tol[0]:g}, atol={tol[1]:g}")
    return row


def write_report(path: Path, rows: list, runs: dict, of: int) -> None:
    meta = runs["cupynumeric"].meta
    versions = meta["versions"]
    legate = meta["legate"] or {}
    failed = [r for r in rows if not r.ok]
    lines = [
        "# Parity: cuPyNumeric vs NumPy",
        "",
        "Generated by the parity suite (`make parity-table`; code in `tests/parity/`). Every case",
        "runs the same seeded program on both backends, each in its own process; inputs are",
        "drawn on the host, so both start from identical numbers. A case checks the op's output",
        "and the gradient of every input (forward and backward); training cases check the loss",
        "curve and the final weights.",
        "",
        f"- NumPy {versions['numpy']}, nvidia-cupynumeric {versions['nvidia-cupynumeric']}, "
        f"legate {versions['legate']}",
        f"- Legate {legate.get('mode', '?').upper()} mode ({legate.get('reason', '?')}), "
        f"`LEGATE_CONFIG='{legate.get('LEGATE_CONFIG', '')}'`",
        f"- TF32 off: `CUPYNUMERIC_FAST_MATH={legate.get('CUPYNUMERIC_FAST_MATH', '')}`",
        "- Tolerances (`tests/parity/tolerances.py`): "
        + "; ".join(f"{d} rtol {r:g} atol {a:g}" for d, (r, a) in TOLERANCES.items())
        + "; 200-step training runs: "
        + "; ".join(f"{d} rtol {r:g} atol {a:g}" for d, (r, a) in TRAINING.items()),
        "- Errors are the largest over all outputs of the case: absolute `|cpn - np|`, and",
        "  relative `|cpn - np| / max(|np|, atol)`. Integer and boolean outputs must be equal.",
        "- An element passes when `|cpn - np| <= atol + rtol * |np|` (`numpy.allclose`). *Used* is",
        "  the largest share of that allowance any element takes (<= 1 passes). *Passes by* says",
        "  which term carried the case: `rtol` when every element is within `rtol * |np|`; `atol`",
        "  when some element is not and passes only thanks to `atol` (values near zero: this is",
        "  why such rows can show a max rel error above rtol); `equal` when nothing differs.",
        "",
        (f"**Only {len(rows)} of the {of} cases ran** (a selection, e.g. `-k`).\n"
         if len(rows) < of else "")
        + f"**{len(rows) - len(failed)} of {len(rows)} cases pass.**"
        + (" Failing: " + ", ".join(f"`{r.case}`" for r in failed) if failed else ""),
        "",
        "| op | dtype | outputs | max abs error | max rel error | rtol / atol | used | passes by | result |",
        "|---|---|---:|---:|---:|---|---:|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r.op, r.dtype)):
        tol = f"{r.tol[0]:g} / {r.tol[1]:g}" if r.tol else "exact"
        result = "pass" if r.ok else "**FAIL**"
        by = ("equal" if r.max_abs == 0 else "atol" if r.needs_atol else "rtol") if r.tol else "equal"
        lines.append(f"| `{r.op}` | {r.dtype} | {r.outputs} | {r.max_abs:.2e} | {r.max_rel:.2e} "
                     f"| {tol} | {r.used:.2g} | {by} | {result} |")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def selected_cases(session, every: list) -> list | None:
    """The cases this pytest run asks for, or None for all of them. `-k matmul` selects a few
    test_case_agrees items: the workers then run only those cases (seconds, not minutes).
    The coverage tests need every case, so selecting any of them runs all."""
    names = []
    for item in session.items:
        if "parity" not in getattr(item, "fixturenames", ()):
            continue
        if item.originalname != "test_case_agrees":
            return None
        names.append(item.callspec.params["name"])
    return None if len(set(names)) == len(every) else sorted(set(names), key=every.index)


@pytest.fixture(scope="session")
def parity(request, tmp_path_factory):
    """{"runs": {backend: Run}, "rows": {case name: Row}}, computed once per session."""
    import parity_cases
    every = list(parity_cases.CASES)
    names = selected_cases(request.session, every)
    out = tmp_path_factory.mktemp("parity")
    runs = run_workers(out, names or every)
    rows = {name: compare(parity_cases.CASES[name], runs["numpy"], runs["cupynumeric"])
            for name in (names or every)}
    report = Path(os.environ.get("PARITY_REPORT") or REPO / "build" / "parity.md")
    write_report(report if report.is_absolute() else REPO / report, list(rows.values()), runs,
                 of=len(every))
    return {"runs": runs, "rows": rows}
