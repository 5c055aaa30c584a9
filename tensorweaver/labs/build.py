"""Build the lab notebooks from their jupytext percent sources (``labs/src/NN_name.py``).

    python -m tensorweaver.labs build labs/src --out labs        # what `make labs-build` runs

jupytext reads each source (``# %%`` starts a code cell, ``# %% [markdown]`` a markdown cell,
commented magics such as ``# %matplotlib inline`` come back as magics). This module adds what
makes the notebook an nbgrader source notebook, and keeps the output deterministic:

- a code cell with ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` is an exercise
  (nbgrader ``solution`` cell, ``grade_id`` ``exercise-N``);
- a code cell starting with ``# CHECK`` is a locked test cell (``check-N``). The first CHECK
  after an exercise is that exercise's autograded test, worth one point. The others check the
  lab's own code (or work already graded), so they are locked but give no points: a blank
  submission scores 0, and each solved exercise adds one point;
- no outputs, no jupytext metadata, cell ids ``<stem>-<index>``.
"""
from __future__ import annotations

from pathlib import Path

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
CHECK_PREFIX = "# CHECK"

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


class SolutionMarkerError(ValueError):
    """A ``### BEGIN SOLUTION`` without its ``### END SOLUTION`` (or the reverse)."""


def check_solution_markers(source: str, where: str = "cell") -> int:
    """The number of solution regions in ``source``; unpaired or nested markers are an error
    naming the line (nbgrader would fail later, with less to go on)."""
    inside, count = False, 0
    for lineno, line in enumerate(source.splitlines(), 1):
        marker = line.strip()
        if marker == BEGIN_SOLUTION:
            if inside:
                raise SolutionMarkerError(f"{where}, line {lineno}: {BEGIN_SOLUTION} inside another "
                                          f"solution region; close the first with {END_SOLUTION}")
            inside, count = True, count + 1
        elif marker == END_SOLUTION:
            if not inside:
                raise SolutionMarkerError(f"{where}, line {lineno}: {END_SOLUTION} without a "
                                          f"{BEGIN_SOLUTION} before it")
            inside = False
    if inside:
        raise SolutionMarkerError(f"{where}: {BEGIN_SOLUTION} is never closed; add {END_SOLUTION}")
    return count


def is_check(source: str) -> bool:
    return source.lstrip().startswith(CHECK_PREFIX)


def build_notebook(source_path):
    """The nbgrader source notebook for one percent-format lab source."""
    import jupytext
    import nbformat

    source_path = Path(source_path)
    stem = source_path.stem
    nb = jupytext.read(source_path, fmt="py:percent")
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    cells, exercise, check, ungraded_exercise = [], 0, 0, False
    for cell in nb.cells:
        if not cell.source.strip():
            continue
        cell.metadata = {}
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            where = f"{source_path.name}, cell {len(cells)}"
            if check_solution_markers(cell.source, where):
                exercise += 1
                ungraded_exercise = True
                cell.metadata["nbgrader"] = {"grade": False, "grade_id": f"exercise-{exercise}",
                                             "locked": False, "schema_version": 3,
                                             "solution": True, "task": False}
            elif is_check(cell.source):
                check += 1
                graded, ungraded_exercise = ungraded_exercise, False
                cell.metadata["nbgrader"] = {"grade": graded, "grade_id": f"check-{check}",
                                             "locked": True, "schema_version": 3,
                                             "solution": False, "task": False}
                if graded:
                    cell.metadata["nbgrader"]["points"] = 1
        cell.id = f"{stem[:40]}-{len(cells):03d}"
        cells.append(cell)
    nb.cells = cells
    nbformat.validate(nb)
    return nb


def notebook_text(source_path) -> str:
    """The exact text ``build`` writes for ``source_path`` (tests compare with it)."""
    import nbformat

    return nbformat.writes(build_notebook(source_path)) + "\n"


def build_labs(src_dir, out_dir) -> list:
    """Regenerate ``out_dir/<name>.ipynb`` from every ``src_dir/<name>.py``; unchanged
    notebooks are not rewritten."""
    src_dir, out_dir = Path(src_dir), Path(out_dir)
    sources = sorted(src_dir.glob("[0-9]*.py"))
    if not sources:
        raise FileNotFoundError(f"no lab sources (NN_name.py) in {src_dir}")
    written = []
    for src in sources:
        target = out_dir / (src.stem + ".ipynb")
        text = notebook_text(src)
        if not target.exists() or target.read_text() != text:
            target.write_text(text)
        written.append(target)
    return written
