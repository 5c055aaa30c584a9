"""Autograding with nbgrader: a blank submission scores 0, the solutions full marks, a
half-solved one in between; changed or deleted CHECK cells are the instructor's again."""
from __future__ import annotations

import subprocess
import sys

import nbformat
import pytest

from labrun import LABS, REPO

pytestmark = [pytest.mark.labs, pytest.mark.slow]
pytest.importorskip("nbgrader", reason="grading is nbgrader's: install the `grading` extra "
                    "(make test-local does)")

from tensorweaver.labs import grading  # noqa: E402

LABS_GRADED = ["00_environment", "03_linear_regression"]   # the quickest to run, 1 + 2 points


def labs_cli(*args):
    return subprocess.run([sys.executable, "-m", "tensorweaver.labs", *map(str, args)],
                          cwd=REPO, capture_output=True, text=True, timeout=1800)


def by_id(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


@pytest.fixture(scope="module")
def grades(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grading")
    rel = tmp / "release"
    lab_args = [a for lab in LABS_GRADED for a in ("--lab", lab)]
    proc = labs_cli("release", LABS, "--out", rel, *lab_args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    subs = tmp / "submissions"
    for student in ("blank", "solved", "half"):
        (subs / student).mkdir(parents=True)
    for lab in LABS_GRADED:
        (subs / "blank" / f"{lab}.ipynb").write_bytes((rel / lab / f"{lab}.ipynb").read_bytes())
        # nbgrader's own layout works too
        (subs / "solved" / lab).mkdir()
        (subs / "solved" / lab / f"{lab}.ipynb").write_bytes((LABS / f"{lab}.ipynb").read_bytes())
    # Half solved: lab 03's first exercise done, the second not; and the student deleted the
    # first CHECK cell and rewrote the second to pass: both are the instructor's again.
    lab = "03_linear_regression"
    nb = nbformat.read(str(rel / lab / f"{lab}.ipynb"), 4)
    solved = nbformat.read(str(LABS / f"{lab}.ipynb"), 4)
    by_id(nb, "exercise-1").source = by_id(solved, "exercise-1").source
    by_id(nb, "check-3").source = "# CHECK: rewritten by the student\npass"
    nb.cells.remove(by_id(nb, "check-1"))
    nbformat.write(nb, str(subs / "half" / f"{lab}.ipynb"))
    out = tmp / "grades"
    proc = labs_cli("autograde", subs, "--labs", LABS, "--out", out, *lab_args)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return grading.read_grades(out / "grades.csv")


def test_blank_submission_scores_zero(grades):
    for lab in LABS_GRADED:
        score, max_score = grades[("blank", lab)]
        assert score == 0 and max_score > 0, (lab, score, max_score)


def test_solutions_score_full_marks(grades):
    for lab in LABS_GRADED:
        score, max_score = grades[("solved", lab)]
        assert score == max_score, (lab, score, max_score)


def test_half_solved_scores_in_between_with_the_instructors_checks(grades):
    score, max_score = grades[("half", "03_linear_regression")]
    assert 0 < score < max_score, (score, max_score)
    assert (score, max_score) == (1.0, 2.0)   # the deleted check came back and passed; the
    #                                           rewritten one is the instructor's and fails
    assert grades[("half", "00_environment")][0] == 0     # not submitted


def test_no_submissions_is_a_clear_error(tmp_path):
    (tmp_path / "subs" / "alice").mkdir(parents=True)
    proc = labs_cli("autograde", tmp_path / "subs", "--labs", LABS, "--out", tmp_path / "out")
    assert proc.returncode == 2 and "no submissions in" in proc.stderr
    proc = labs_cli("autograde", tmp_path / "missing", "--labs", LABS, "--out", tmp_path / "out")
    assert proc.returncode == 2 and "no submissions folder" in proc.stderr
