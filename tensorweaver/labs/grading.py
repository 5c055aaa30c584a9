"""The labs as an nbgrader course: release (student versions) and autograde (grades CSV).

    python -m tensorweaver.labs release labs --out release/          # make release
    python -m tensorweaver.labs autograde submissions/ --out grades/  # make autograde

Each lab is one assignment named after it (``04_mlp``): ``source/04_mlp/04_mlp.ipynb`` is the
solved notebook from ``labs/`` (built from ``labs/src`` by jupytext), with the labs'
``data/``. nbgrader's ``generate_assignment`` makes the student version (solutions replaced
by ``raise NotImplementedError()``, checksums, outputs cleared); ``autograde`` runs a
submission with the instructor's CHECK cells put back (``OverwriteCells``, with
``add_missing_cells``; the hidden tests the release removed come back with them) and
``nbgrader``'s CSV exporter writes the grades. ``checks.csv`` beside it has one row per
check (one per exercise): its points and, when it failed, the error it raised. Settings:
``labs/nbgrader_config.py``.

A submissions folder holds one folder per student, with the notebooks either directly in
it (a copy of the student's workspace) or in nbgrader's ``<lab>/<lab>.ipynb`` layout::

    submissions/alice/04_mlp.ipynb
    submissions/bob/04_mlp/04_mlp.ipynb

The engine-track assignments (labs 10 and 12, ``engine_track.py``) are graded on the
student's engine modules too: the ``engine/`` folder beside the notebook
(``submissions/alice/engine/optim/sgd.py``); a module missing there counts as unwritten.
Their checks' hidden tests need cuPyNumeric (parity): grade them in the GPU image.
"""
from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

CONFIG_NAME = "nbgrader_config.py"
STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")


class GradingError(RuntimeError):
    """nbgrader failed on an assignment; the message holds its log."""


def lab_notebooks(labs_dir) -> list:
    labs_dir = Path(labs_dir)
    notebooks = sorted(labs_dir.glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"no lab notebooks (NN_name.ipynb) in {labs_dir}")
    return notebooks


def make_course(labs_dir, course_dir, only=None) -> list:
    """Write an nbgrader course under ``course_dir`` (config + ``source/``) from ``labs_dir``.

    Returns the assignment ids (lab stems), restricted to ``only`` when given.
    """
    labs_dir, course_dir = Path(labs_dir), Path(course_dir)
    config = labs_dir / CONFIG_NAME
    if not config.is_file():
        raise FileNotFoundError(f"no {CONFIG_NAME} in {labs_dir} (the course's nbgrader settings)")
    course_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(config, course_dir / CONFIG_NAME)
    ids = []
    for notebook in lab_notebooks(labs_dir):
        if only is not None and notebook.stem not in only:
            continue
        source = course_dir / "source" / notebook.stem
        source.mkdir(parents=True, exist_ok=True)
        shutil.copy2(notebook, source / notebook.name)
        if (labs_dir / "data").is_dir():
            shutil.copytree(labs_dir / "data", source / "data", dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        ids.append(notebook.stem)
    return ids


def _api(course_dir):
    # nbgrader runs the `alembic` command for its gradebook: a venv's python run by its path
    # (.venv/bin/python) does not have the venv's bin/ on PATH, so put it there.
    bindir = str(Path(sys.executable).parent)
    if shutil.which("alembic") is None and bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    course_dir = Path(course_dir).resolve()
    config = PyFileConfigLoader(CONFIG_NAME, path=str(course_dir)).load_config()
    config.CourseDirectory.root = str(course_dir)
    return NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)


def _check(result: dict, what: str) -> None:
    if not result.get("success"):
        log = (result.get("log") or "").strip()
        error = (result.get("error") or "").strip()
        raise GradingError(f"nbgrader {what} failed:\n{log[-3000:]}\n{error[-3000:]}".rstrip())


def release(labs_dir, out_dir, only=None) -> list:
    """Student versions of the labs (``nbgrader generate_assignment``) in ``out_dir/<lab>/``.

    ``out_dir`` must not be ``labs_dir``. Returns the released notebooks' paths.
    """
    labs_dir, out_dir = Path(labs_dir), Path(out_dir)
    if out_dir.resolve() == labs_dir.resolve() or labs_dir.resolve() in out_dir.resolve().parents:
        raise ValueError(f"the release must go outside the labs folder {labs_dir} (--out DIR); "
                         "it would mix student versions with the solutions")
    with tempfile.TemporaryDirectory(prefix="tw-course-") as course:
        ids = make_course(labs_dir, course, only)
        api = _api(course)
        for assignment in ids:
            _check(api.generate_assignment(assignment, force=True, create=True),
                   f"generate_assignment {assignment}")
        written = []
        for assignment in ids:
            target = out_dir / assignment
            if target.exists():
                shutil.rmtree(target)      # a release folder is generated: replaced whole
            shutil.copytree(Path(course) / "release" / assignment, target)
            _release_engine(target, assignment)
            written.append(target / f"{assignment}.ipynb")
    return written


def find_submissions(submissions_dir, assignments) -> dict:
    """{student: {assignment: notebook path}} from a submissions folder (either layout)."""
    submissions_dir = Path(submissions_dir)
    if not submissions_dir.is_dir():
        raise FileNotFoundError(f"no submissions folder at {submissions_dir} "
                                "(SUBMISSIONS=DIR: one folder per student)")
    found = {}
    for student in sorted(p for p in submissions_dir.iterdir() if p.is_dir()):
        if student.name.startswith("."):
            continue
        if not STUDENT_ID.match(student.name):
            raise ValueError(f"{student}: a student folder's name is the student id; use letters, "
                             "digits and . _ - @ only")
        for assignment in assignments:
            for candidate in (student / f"{assignment}.ipynb",
                              student / assignment / f"{assignment}.ipynb"):
                if candidate.is_file():
                    found.setdefault(student.name, {})[assignment] = candidate
                    break
    if not found:
        raise FileNotFoundError(
            f"no submissions in {submissions_dir}: expected STUDENT/NN_name.ipynb or "
            f"STUDENT/NN_name/NN_name.ipynb for a lab in {', '.join(assignments)}")
    return found


def autograde(labs_dir, submissions_dir, out_dir, only=None) -> Path:
    """Autograde every submission against the labs; write ``out_dir/grades.csv`` (one row per
    student and lab) and ``out_dir/checks.csv`` (one row per student, lab and check).

    The course (gradebook, autograded notebooks with their outputs) is kept in
    ``out_dir/course`` for inspection. Returns the path of grades.csv.
    """
    from nbgrader.api import Gradebook
    from nbgrader.plugins.export import CsvExportPlugin

    out_dir = Path(out_dir)
    course = out_dir / "course"
    if course.exists():
        shutil.rmtree(course)        # generated from the labs and submissions: rebuilt each time
    all_ids = [p.stem for p in lab_notebooks(labs_dir) if only is None or p.stem in only]
    found = find_submissions(submissions_dir, all_ids)
    used = _gradable_here(sorted({a for per_student in found.values() for a in per_student}), only)
    found = {s: {a: nb for a, nb in per.items() if a in used} for s, per in found.items()}
    found = {s: per for s, per in found.items() if per}
    make_course(labs_dir, course, used)
    api = _api(course)
    for assignment in used:
        _check(api.generate_assignment(assignment, force=True, create=True),
               f"generate_assignment {assignment}")
    for student, notebooks in found.items():
        for assignment, notebook in notebooks.items():
            target = course / "submitted" / student / assignment
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(notebook, target / f"{assignment}.ipynb")
            _submitted_engine(notebook.parent, target, assignment)
            _check(api.autograde(assignment, student, force=True, create=True),
                   f"autograde {assignment} for {student}")
    grades = out_dir / "grades.csv"
    exporter = CsvExportPlugin()
    exporter.to = str(grades)
    with Gradebook(f"sqlite:///{(course / 'gradebook.db').resolve()}") as gradebook:
        exporter.export(gradebook)
        _write_checks(gradebook, course, found, out_dir / "checks.csv")
    return grades


def _gradable_here(assignments, only) -> list:
    """The assignments to grade here. The engine-track labs' checks run the project's tests
    (found here, and told to the kernels through $TENSORWEAVER_TESTS) and, hidden, parity
    cases on cuPyNumeric: with no interpreter that has it, every check would fail, so they
    are not graded here: an error when asked for by name (--lab), else left out of the
    grades with a notice saying where to grade them."""
    from tensorweaver.labs import engine_track

    engine = [a for a in assignments if engine_track.is_engine_lab(a)]
    if not engine:
        return assignments
    if engine_track.parity_python() is None:
        why = (f"{', '.join(engine)}: the engine-track labs' checks run parity cases on cuPyNumeric, "
               f"which is not installed here; {engine_track.WHERE_TO_GRADE}")
        if only is not None:
            raise ValueError(why)
        print(f"tensorweaver: notice: not graded: {why}", file=sys.stderr)
        rest = [a for a in assignments if a not in engine]
        if not rest:
            raise ValueError(why)
        return rest
    os.environ.setdefault(engine_track.TESTS_ENV, str(engine_track.repo_root() / "tests"))
    return assignments


def _release_engine(target, assignment) -> None:
    """An engine-track assignment (labs 10, 12) is released with the student copies of its
    engine modules in ``engine/`` beside the notebook (``engine_track.write_engine``); nbgrader
    never sees them (they are not in the course's source, so autograde cannot overwrite a
    student's files with them)."""
    from tensorweaver.labs import engine_track

    if engine_track.is_engine_lab(assignment):
        engine_track.write_engine(Path(target) / engine_track.ENGINE_DIR, assignment)


def _submitted_engine(folder, target, assignment) -> None:
    """Put the student's engine modules beside the submitted notebook: those in the
    submission's ``engine/`` folder (beside the notebook: a workspace copy, or nbgrader's
    layout), and the student copy (unwritten) for any module missing there, so a piece is
    never graded on the engine's own solution."""
    from tensorweaver.labs import engine_track

    if not engine_track.is_engine_lab(assignment):
        return
    engine = Path(target) / engine_track.ENGINE_DIR
    for module_path in engine_track.assignment_modules(assignment):
        mine, dest = Path(folder) / engine_track.ENGINE_DIR / module_path, engine / module_path
        dest.parent.mkdir(parents=True, exist_ok=True)
        if mine.is_file():
            shutil.copyfile(mine, dest)
        else:
            dest.write_text(engine_track.student_source(module_path))


CHECK_FIELDS = ["student_id", "assignment", "check", "score", "max_score", "error"]


def _check_error(notebook, grade_id) -> str:
    """The error a graded cell of an autograded notebook raised ("" when it passed)."""
    for cell in notebook.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    first = (output.get("evalue") or "").strip().splitlines()[:1]
                    return f"{output.get('ename')}: {first[0] if first else ''}"[:300]
    return ""


def _write_checks(gradebook, course, found, path) -> None:
    import csv

    import nbformat

    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CHECK_FIELDS)
        writer.writeheader()
        for student, notebooks in sorted(found.items()):
            for assignment in sorted(notebooks):
                graded = course / "autograded" / student / assignment / f"{assignment}.ipynb"
                notebook = nbformat.read(str(graded), 4)
                submission = gradebook.find_submission_notebook(assignment, assignment, student)
                for grade in sorted(submission.grades, key=lambda g: _natural(g.name)):
                    writer.writerow({"student_id": student, "assignment": assignment,
                                     "check": grade.name, "score": grade.score,
                                     "max_score": grade.max_score,
                                     "error": _check_error(notebook, grade.name)})


def _natural(name):
    # check-2 before check-10
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def read_checks(csv_path) -> dict:
    """{(student, assignment, check): (score, max_score, error)} from ``checks.csv``."""
    import csv

    with open(csv_path, newline="") as f:
        return {(row["student_id"], row["assignment"], row["check"]):
                (float(row["score"]), float(row["max_score"]), row["error"])
                for row in csv.DictReader(f)}


def read_grades(csv_path) -> dict:
    """{(student, assignment): (score, max_score)} from a grades CSV written by ``autograde``."""
    import csv

    with open(csv_path, newline="") as f:
        return {(row["student_id"], row["assignment"]): (float(row["score"]), float(row["max_score"]))
                for row in csv.DictReader(f)}
