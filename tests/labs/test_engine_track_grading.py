"""Grading an engine-track assignment (lab 10) with nbgrader, end to end: three submissions.

- blank: the release as a student gets it (the notebook, and engine/ with the student
  copies, in the workspace layout): 0 points, every check failing;
- solved: the solved notebook in nbgrader's layout, carrying the engine's own modules as its
  engine/ (``engine_track.carry_solutions``): full points, the parity part included;
- wrong: the solutions with one piece wrong (kaiming_uniform_ uses the std as the bound,
  forgetting the √3 of a uniform distribution): exactly that piece's points lost, and
  checks.csv names the failing test.

The checks' hidden tests run the pieces' parity cases on cuPyNumeric, so this runs where
cuPyNumeric is (.venv-gpu: make test-gpu-local; the GPU image: make test-gpu), with nbgrader
(the `grading` extra).
"""
from __future__ import annotations

import os
import subprocess
import sys

import nbformat
import pytest

from labrun import LABS, REPO

pytestmark = [pytest.mark.labs, pytest.mark.parity, pytest.mark.slow]
pytest.importorskip("nbgrader", reason="grading is nbgrader's: install the `grading` extra")

from tensorweaver.labs import engine_manifest, engine_track, grading  # noqa: E402

if not engine_track.has_cupynumeric():
    pytest.skip("the engine track's checks run parity cases on cuPyNumeric: this test runs in "
                ".venv-gpu (make test-gpu-local) and the GPU image", allow_module_level=True)

LAB = "10_engine_optim"
WRONG_PIECE = "init"
WRONG_REGION = ("nn/init.py", "kaiming_uniform_")
WRONG_CODE = """\
std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
return uniform_(tensor, -std, std)
"""


def check_of(piece_name) -> str:
    names = [p.name for p in engine_manifest.ASSIGNMENTS[LAB]]
    return f"check-{names.index(piece_name) + 1}"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("engine-grading")
    proc = subprocess.run([sys.executable, "-m", "tensorweaver.labs", "release", LABS, "--out",
                           tmp / "release", "--lab", LAB], cwd=REPO, capture_output=True, text=True,
                          env=dict(os.environ, TENSORWEAVER_BACKEND="numpy"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    subs = tmp / "submissions"
    # blank: a copy of the workspace the release makes (notebook and engine/ side by side)
    from tensorweaver.labs import workspace
    workspace.sync(tmp / "release", subs / "blank")
    # solved: nbgrader's layout, the engine's own modules as its engine/
    (subs / "solved" / LAB).mkdir(parents=True)
    (subs / "solved" / LAB / f"{LAB}.ipynb").write_bytes((LABS / f"{LAB}.ipynb").read_bytes())
    engine_track.carry_solutions(subs / "solved" / LAB, LAB)
    # wrong: the solutions, one region replaced
    (subs / "wrong").mkdir(parents=True)
    nbformat.write(nbformat.read(str(LABS / f"{LAB}.ipynb"), 4), str(subs / "wrong" / f"{LAB}.ipynb"))
    engine_track.write_engine(subs / "wrong" / "engine", LAB, fill={WRONG_REGION: WRONG_CODE})
    out = tmp / "grades"
    proc = subprocess.run([sys.executable, "-m", "tensorweaver.labs", "autograde", subs, "--labs", LABS,
                           "--out", out, "--lab", LAB], cwd=REPO, capture_output=True, text=True,
                          timeout=3600,
                          # as make autograde-gpu: the notebooks on NumPy, the parity workers on both
                          env=dict(os.environ, TENSORWEAVER_LAB_QUICK="1", TENSORWEAVER_BACKEND="numpy"))
    assert proc.returncode == 0, proc.stderr[-4000:]
    return grading.read_grades(out / "grades.csv"), grading.read_checks(out / "checks.csv")


def rows(checks, student):
    return {check: row for (s, a, check), row in checks.items() if (s, a) == (student, LAB)}


def total():
    return float(sum(p.points for p in engine_manifest.ASSIGNMENTS[LAB]))


def test_the_blank_engine_scores_zero(graded):
    grades, checks = graded
    mine = rows(checks, "blank")
    assert len(mine) == len(engine_manifest.ASSIGNMENTS[LAB])
    for check, (score, max_score, error) in mine.items():
        assert score == 0 and max_score > 0, (check, score)
        assert error.startswith("AssertionError: "), error
    assert grades[("blank", LAB)] == (0.0, total())


def test_the_solutions_score_full_points_parity_included(graded):
    grades, checks = graded
    lost = {c: row for c, row in rows(checks, "solved").items() if row[0] != row[1] or row[2]}
    assert not lost, lost
    assert grades[("solved", LAB)] == (total(), total())


def test_one_wrong_piece_loses_exactly_its_points(graded):
    grades, checks = graded
    mine = rows(checks, "wrong")
    failing = {c for c, (score, max_score, _) in mine.items() if score < max_score}
    check = check_of(WRONG_PIECE)
    assert failing == {check}, mine
    score, max_score, error = mine[check]
    assert max_score == engine_manifest.PIECES[WRONG_PIECE].points
    assert error.startswith(f"AssertionError: {WRONG_PIECE}: ") and "kaiming_uniform" in error, error
    assert grades[("wrong", LAB)] == (total() - max_score, total())
