"""The release (nbgrader generate_assignment): solutions stripped, and each student version
runs up to its first exercise. Needs nbgrader (the `grading` extra; make test-local has it)."""
from __future__ import annotations

import subprocess
import sys

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager

from labrun import LABS, NOTEBOOKS, REPO, result_of, run_all, run_lab, selected
from tensorweaver.labs.build import BEGIN_HIDDEN, BEGIN_SOLUTION, END_HIDDEN, END_SOLUTION, engine_piece

pytestmark = pytest.mark.labs
pytest.importorskip("nbgrader", reason="the release is nbgrader's: install the `grading` extra "
                    "(make test-local does)")


@pytest.fixture(scope="module")
def release_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("release")
    proc = subprocess.run([sys.executable, "-m", "tensorweaver.labs", "release", str(LABS),
                           "--out", str(out)], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def solution_regions(source: str) -> list:
    regions, current = [], None
    for line in source.splitlines():
        if line.strip() == BEGIN_SOLUTION:
            current = []
        elif line.strip() == END_SOLUTION:
            regions.append("\n".join(current))
            current = None
        elif current is not None:
            current.append(line)
    return regions


def without_hidden_tests(source: str) -> str:
    kept, hidden = [], False
    for line in source.splitlines():
        if line.strip() == BEGIN_HIDDEN:
            hidden = True
        elif line.strip() == END_HIDDEN:
            hidden = False
        elif not hidden:
            kept.append(line)
    return "\n".join(kept)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_hidden_tests_are_not_released(notebook, release_dir):
    """Every check has hidden tests in the solved lab; none of their lines reach the student."""
    original = nbformat.read(str(notebook), 4)
    student = nbformat.read(str(release_dir / notebook.stem / notebook.name), 4)
    checks = [i for i, c in enumerate(original.cells) if c.metadata.get("nbgrader", {}).get("grade")]
    assert checks and all(BEGIN_HIDDEN in original.cells[i].source for i in checks), notebook.name
    for i in checks:
        visible = without_hidden_tests(original.cells[i].source).splitlines()
        released = student.cells[i].source
        assert BEGIN_HIDDEN not in released and END_HIDDEN not in released
        hidden = [line for line in original.cells[i].source.splitlines()
                  if line.strip() and line not in visible and len(line.strip()) > 12]
        assert hidden, f"{notebook.name} cell {i}: an empty hidden-test region"
        for line in hidden:
            assert line not in released.splitlines(), f"{notebook.name} cell {i} still has {line!r}"
        assert student.cells[i].metadata["nbgrader"]["grade"], "the check is still graded"


def exercise_cells(nb) -> list:
    # The engine track's exercises (labs 10, 12) are `# ENGINE PIECE:` cells: the student writes
    # the piece in the engine's modules (tests/test_student_engine.py checks those copies).
    return [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
            and (BEGIN_SOLUTION in c.source or engine_piece(c.source))]


def test_release_is_one_assignment_per_lab_with_its_data(release_dir):
    assert sorted(p.name for p in release_dir.iterdir()) == [p.stem for p in NOTEBOOKS]
    for notebook in NOTEBOOKS:
        folder = release_dir / notebook.stem
        assert (folder / notebook.name).is_file()
        for item in (LABS / "data").iterdir():
            assert (folder / "data" / item.name).exists(), (notebook.stem, item.name)


def test_release_refuses_the_labs_folder(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "tensorweaver.labs", "release", str(LABS),
                           "--out", str(LABS / "release")], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 2 and "outside the labs folder" in proc.stderr


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_solutions_are_stripped(notebook, release_dir):
    original = nbformat.read(str(notebook), 4)
    student = nbformat.read(str(release_dir / notebook.stem / notebook.name), 4)
    assert len(student.cells) == len(original.cells)
    exercises = exercise_cells(original)
    assert exercises, f"{notebook.name} has no exercise"
    for index, (orig, copy) in enumerate(zip(original.cells, student.cells)):
        if index not in exercises:
            # Only the hidden tests go (checked below); everything else is as written.
            assert copy.source.rstrip() == without_hidden_tests(orig.source).rstrip(), (
                f"{notebook.name} cell {index} changed")
            continue
        assert BEGIN_SOLUTION not in copy.source and END_SOLUTION not in copy.source
        assert copy.source.count("raise NotImplementedError()") == len(solution_regions(orig.source))
        for region in solution_regions(orig.source):
            for line in region.splitlines():
                code = line.strip()
                # Every substantive solution line is gone (short ones like `return x` may
                # legitimately appear elsewhere in the cell).
                if len(code) > 20 and not code.startswith("#"):
                    assert code not in copy.source, f"{notebook.name} cell {index} still has {code!r}"
        python = TransformerManager().transform_cell(copy.source)      # magics -> Python
        compile(python, f"{notebook.name}[{index}]", "exec")


@pytest.fixture(scope="module")
def student_runs(request, release_dir, tmp_path_factory):
    """The selected labs' student copies, run side by side (labrun.WORKERS at once)."""
    return run_all({nb: (lambda nb=nb: run_lab(release_dir / nb.stem / nb.name, "numpy",
                                               tmp_path_factory.mktemp(nb.stem), "--quick"))
                    for nb in selected(request, "notebook",
                                       "test_student_version_runs_up_to_the_first_exercise")})


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_student_version_runs_up_to_the_first_exercise(notebook, student_runs):
    run = result_of(student_runs, notebook)
    assert run.returncode == 1 and run.report["status"] == "failed"
    [error] = run.report["errors"]
    exercises = exercise_cells(nbformat.read(str(notebook), 4))
    bound = exercises[1] if len(exercises) > 1 else len(nbformat.read(str(notebook), 4).cells)
    assert error["ename"] == "NotImplementedError", error
    # It fails in the first exercise cell, or in the first cell that calls its function.
    assert exercises[0] <= error["cell"] < bound, (error, exercises)
