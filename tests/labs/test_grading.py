"""Autograding with nbgrader, every lab: a blank submission scores 0 on every exercise, the
solutions full points, and a wrong answer in one exercise loses exactly that exercise's
points, with the failing check named in checks.csv. Hidden tests, which the release removes,
are run by autograde. Changed or deleted CHECK cells are the instructor's again."""
from __future__ import annotations

import os
import subprocess
import sys

import nbformat
import pytest

from labrun import LABS, NOTEBOOKS, REPO

pytestmark = [pytest.mark.labs, pytest.mark.slow]
pytest.importorskip("nbgrader", reason="grading is nbgrader's: install the `grading` extra "
                    "(make test-local does)")

from tensorweaver.labs import grading  # noqa: E402

ALL_LABS = [p.stem for p in NOTEBOOKS]

# Wrong answers, one exercise each; the rest of the lab is the solution.
# Lab 00, exercise 2: passes the visible check (a float64 input) and fails only the hidden
# tests (float32 and int64 inputs): it shows that autograde runs what the release removed.
WRONG_ROUNDTRIP = ("def roundtrip(array):\n"
                   "    t = tw.tensor(array, dtype=tw.float64)      # every dtype made float64\n"
                   "    return (2 * t + 1).numpy()\n")
# Lab 01, exercise 2: the naive softmax, which overflows (the visible check catches it).
WRONG_SOFTMAX = ("def stable_softmax(x, dim=-1):\n"
                 "    e = x.exp()\n"
                 "    return e / e.sum(dim=dim, keepdim=True)\n")
# Lab 09, exercise 4: dropout that zeroes without scaling the survivors by 1 / (1 - p)
# (not "inverted"): every activation's expected value shrinks by 1 - p in training.
WRONG_DROPOUT = ("def dropout(x, p, training=True):\n"
                 "    if not training:\n"
                 "        return x\n"
                 "    keep = (tw.rand_like(x) >= p).to(x.dtype)\n"
                 "    return x * keep\n"
                 "\n"
                 "\n"
                 "class HandDropout(nn.Module):\n"
                 "    def __init__(self, p=0.5):\n"
                 "        super().__init__()\n"
                 "        self.p = p\n"
                 "\n"
                 "    def forward(self, x):\n"
                 "        return dropout(x, self.p, self.training)\n")

#: One deliberately wrong submission per lab, graded as student "wrong" (lab 00's is student
#: "hidden", above): {lab: (exercise grade_id, the exercise cell's wrong source, the one CHECK
#: that must fail)}. The rest of the notebook is the solution. Each is a mistake a student
#: makes (a sign, an axis, a missing term), not an exception.
WRONG = {
    "01_tensors": ("exercise-2", WRONG_SOFTMAX, "check-2"),
    "09_optimization": ("exercise-4", WRONG_DROPOUT, "check-4"),
}


def labs_cli(*args, **env):
    return subprocess.run([sys.executable, "-m", "tensorweaver.labs", *map(str, args)],
                          cwd=REPO, capture_output=True, text=True, timeout=3600,
                          env=dict(os.environ, **env))


def by_id(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def points(lab) -> dict:
    """{check grade_id: points} of a lab, read from the solved notebook's metadata."""
    nb = nbformat.read(str(LABS / f"{lab}.ipynb"), 4)
    return {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"]
            for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")}


def solved_with(lab, exercise, source):
    nb = nbformat.read(str(LABS / f"{lab}.ipynb"), 4)
    by_id(nb, exercise).source = source
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grading")
    rel = tmp / "release"
    proc = labs_cli("release", LABS, "--out", rel)
    assert proc.returncode == 0, proc.stderr[-3000:]
    subs = tmp / "submissions"
    for student in ("blank", "solved", "hidden", "wrong", "half"):
        (subs / student).mkdir(parents=True)
    for lab in ALL_LABS:
        (subs / "blank" / f"{lab}.ipynb").write_bytes((rel / lab / f"{lab}.ipynb").read_bytes())
        # nbgrader's own layout works too
        (subs / "solved" / lab).mkdir()
        (subs / "solved" / lab / f"{lab}.ipynb").write_bytes((LABS / f"{lab}.ipynb").read_bytes())
    nbformat.write(solved_with("00_environment", "exercise-2", WRONG_ROUNDTRIP),
                   str(subs / "hidden" / "00_environment.ipynb"))
    for lab, (exercise, source, _) in WRONG.items():
        nbformat.write(solved_with(lab, exercise, source), str(subs / "wrong" / f"{lab}.ipynb"))
    # Half solved: lab 03's first exercise done, the others not; and the student deleted the
    # first CHECK cell and rewrote the second to pass: both are the instructor's again.
    lab = "03_linear_regression"
    nb = nbformat.read(str(rel / lab / f"{lab}.ipynb"), 4)
    solved = nbformat.read(str(LABS / f"{lab}.ipynb"), 4)
    by_id(nb, "exercise-1").source = by_id(solved, "exercise-1").source
    by_id(nb, "check-2").source = "# CHECK: rewritten by the student\npass"
    nb.cells.remove(by_id(nb, "check-1"))
    nbformat.write(nb, str(subs / "half" / f"{lab}.ipynb"))
    out = tmp / "grades"
    # The short training schedules (the kernels nbgrader starts inherit the variable), as in
    # the labs' other tests: what is graded is the same code.
    proc = labs_cli("autograde", subs, "--labs", LABS, "--out", out, TENSORWEAVER_LAB_QUICK="1")
    assert proc.returncode == 0, proc.stderr[-4000:]
    return grading.read_grades(out / "grades.csv"), grading.read_checks(out / "checks.csv")


def student_checks(checks, student, lab) -> dict:
    return {check: row for (s, a, check), row in checks.items() if (s, a) == (student, lab)}


def test_blank_submission_scores_zero_on_every_exercise(graded):
    grades, checks = graded
    for lab in ALL_LABS:
        rows = student_checks(checks, "blank", lab)
        assert {c: row[1] for c, row in rows.items()} == points(lab), lab
        failed = {c: (score, error) for c, (score, _, error) in rows.items() if score != 0 or not error}
        assert not failed, (lab, failed)
        assert grades[("blank", lab)] == (0.0, float(sum(points(lab).values()))), lab


def test_solutions_score_full_points(graded):
    grades, checks = graded
    for lab in ALL_LABS:
        rows = student_checks(checks, "solved", lab)
        lost = {c: row for c, row in rows.items() if row[0] != row[1] or row[2]}
        assert rows and not lost, (lab, lost)
        assert grades[("solved", lab)] == (float(sum(points(lab).values())),) * 2, lab


def test_every_lab_has_a_wrong_submission():
    assert sorted(WRONG) == [lab for lab in ALL_LABS if lab != "00_environment"]


@pytest.mark.parametrize("student, lab, check",
                         [("hidden", "00_environment", "check-2")]
                         + [("wrong", lab, check) for lab, (_, _, check) in sorted(WRONG.items())],
                         ids=lambda v: v if isinstance(v, str) and v[:2].isdigit() else None)
def test_a_wrong_answer_loses_exactly_its_exercises_points(graded, student, lab, check):
    grades, checks = graded
    rows = student_checks(checks, student, lab)
    failing = {c for c, (score, max_score, _) in rows.items() if score < max_score}
    assert failing == {check}, rows
    score, max_score, error = rows[check]
    assert score == 0 and max_score == points(lab)[check]
    assert error.startswith(("AssertionError", "FloatingPointError")), error
    total = float(sum(points(lab).values()))
    assert grades[(student, lab)] == (total - points(lab)[check], total)


def test_the_instructors_checks_are_restored(graded):
    grades, checks = graded
    lab = "03_linear_regression"
    rows = student_checks(checks, "half", lab)
    # The deleted check came back and passed; the rewritten one is the instructor's and fails.
    assert rows["check-1"][0] == rows["check-1"][1] == points(lab)["check-1"]
    assert rows["check-2"][0] == 0 and rows["check-3"][0] == 0, rows
    assert grades[("half", lab)] == (float(points(lab)["check-1"]), float(sum(points(lab).values())))
    assert grades[("half", "00_environment")][0] == 0     # not submitted


def test_no_submissions_is_a_clear_error(tmp_path):
    (tmp_path / "subs" / "alice").mkdir(parents=True)
    proc = labs_cli("autograde", tmp_path / "subs", "--labs", LABS, "--out", tmp_path / "out")
    assert proc.returncode == 2 and "no submissions in" in proc.stderr
    proc = labs_cli("autograde", tmp_path / "missing", "--labs", LABS, "--out", tmp_path / "out")
    assert proc.returncode == 2 and "no submissions folder" in proc.stderr
