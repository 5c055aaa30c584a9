"""The headless runner, record(), the notebook builder (jupytext) and the tooling's layout."""
from __future__ import annotations

import json
import re
import subprocess

import nbformat
import pytest
from nbformat import v4

from labrun import LABS, NOTEBOOKS, REPO, run_lab
from tensorweaver import labs
from tensorweaver.labs import build, engine_track, runner

pytestmark = pytest.mark.labs


def write_notebook(path, *sources):
    nb = v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [v4.new_markdown_cell("# a test notebook")] + [v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, str(path))
    return path


# ---------------------------------------------------------------- the runner
def test_failing_cell_exits_nonzero_and_names_the_cell(tmp_path):
    nb = write_notebook(tmp_path / "broken.ipynb", "x = 1", "y = x / 0\nprint(y)", "print('never')")
    lab = run_lab(nb, "numpy", tmp_path / "out")
    assert lab.returncode == 1
    assert "cell 2 (`y = x / 0`)" in lab.stderr and "ZeroDivisionError" in lab.stderr, lab.stderr
    assert lab.report["status"] == "failed"
    [error] = lab.report["errors"]
    assert (error["cell"], error["first_line"], error["ename"]) == (2, "y = x / 0", "ZeroDivisionError")
    executed = nbformat.read(str(lab.output), 4)          # written even on failure
    assert executed.cells[3].outputs == [], "execution must stop at the failing cell"


def test_allow_errors_runs_on_and_lists_every_error(tmp_path):
    nb = write_notebook(tmp_path / "errors.ipynb", "raise KeyError('a')", "ok = 1", "undefined_name")
    lab = run_lab(nb, "numpy", tmp_path / "out", "--allow-errors")
    assert lab.returncode == 0
    assert [(e["cell"], e["ename"]) for e in lab.report["errors"]] == [(1, "KeyError"), (3, "NameError")]


def test_cell_timeout_names_the_cell(tmp_path):
    nb = write_notebook(tmp_path / "slow.ipynb", "import time", "time.sleep(30)")
    lab = run_lab(nb, "numpy", tmp_path / "out", "--timeout", "2")
    assert lab.returncode == 1
    assert lab.report["errors"][0]["cell"] == 2
    assert "time.sleep(30)" in lab.stderr


def test_record_quick_and_backend_reach_the_metrics(tmp_path):
    (tmp_path / "data.txt").write_text("42")       # the kernel runs in the notebook's folder
    nb = write_notebook(
        tmp_path / "rec.ipynb",
        "import numpy as np, tensorweaver as tw\nfrom tensorweaver.labs import record, quick",
        "record(loss=tw.tensor(1.5), acc=np.float32(0.25), curve=np.arange(3), quick=quick())",
        "record(backend=tw.backend.name, data=open('data.txt').read(), loss=0.5)")
    lab = run_lab(nb, "numpy", tmp_path / "out", "--quick")
    assert lab.returncode == 0, lab.stderr
    assert lab.metrics == {"loss": 0.5, "acc": 0.25, "curve": [0, 1, 2], "quick": True,
                           "backend": "numpy", "data": "42"}
    assert lab.report["quick"] is True and lab.report["wall_time_s"] > 0


def test_record_without_runner_only_prints(monkeypatch, capsys):
    monkeypatch.delenv(labs.METRICS_ENV, raising=False)
    labs.record(loss=float("nan"), steps=3)
    assert "recorded: loss=nan, steps=3" in capsys.readouterr().out


def test_record_rejects_what_json_cannot_hold(tmp_path, monkeypatch):
    monkeypatch.setenv(labs.METRICS_ENV, str(tmp_path / "m.json"))
    with pytest.raises(TypeError, match="cannot store a object"):
        labs.record(thing=object())


def test_bad_input_is_a_clear_error(tmp_path, capsys):
    nb = write_notebook(tmp_path / "x.ipynb", "1")
    with pytest.raises(ValueError, match="use numpy or cupynumeric"):
        runner.run_notebook(nb, backend="tpu")
    from tensorweaver.labs.__main__ import main
    assert main(["run", str(tmp_path / "missing.ipynb")]) == 2
    assert "no notebook at" in capsys.readouterr().err


def test_backend_names_are_the_backends_own():
    """The runner accepts exactly the names tensorweaver.backend accepts (no `gpu`)."""
    from tensorweaver.backend import _ALIASES
    for name, canonical in _ALIASES.items():
        assert runner.normalise_backend(name.upper()) == canonical
    with pytest.raises(ValueError, match="not a backend"):
        runner.normalise_backend("gpu")


def test_tooling_is_one_module_per_job():
    import importlib
    import sys
    jobs = {"record": "record", "runner": "run_notebook", "build": "build_labs",
            "grading": "autograde", "workspace": "sync"}
    for module, name in jobs.items():
        assert hasattr(importlib.import_module(f"tensorweaver.labs.{module}"), name), module
    # Importing the package (a lab's first cell) loads none of the heavy tools.
    code = ("import sys, tensorweaver.labs; "
            "print(sorted(m for m in ('nbclient', 'jupytext', 'nbgrader') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------- solution markers
@pytest.mark.parametrize("source, problem", [
    ("### BEGIN SOLUTION\nx = 1", "never closed"),
    ("x = 1\n### END SOLUTION", "without a ### BEGIN SOLUTION"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "inside another"),
])
def test_unpaired_solution_markers_are_errors(source, problem):
    with pytest.raises(build.SolutionMarkerError, match=problem):
        build.check_solution_markers(source, "lab.ipynb, cell 3")


# ---------------------------------------------------------------- the committed notebooks
def test_notebooks_are_regenerated_from_their_sources():
    sources = sorted(p.stem for p in (LABS / "src").glob("[0-9]*.py"))
    assert sources == [p.stem for p in NOTEBOOKS], "every lab needs a labs/src/NN_name.py source"
    for path in NOTEBOOKS:
        expected = build.notebook_text(LABS / "src" / f"{path.stem}.py")
        assert path.read_text() == expected, (
            f"{path.relative_to(REPO)} differs from its source; run `make labs-build`")


def test_notebooks_are_clean_and_well_formed():
    for path in NOTEBOOKS:
        nb = nbformat.read(str(path), 4)
        nbformat.validate(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(c.outputs == [] and c.execution_count is None for c in code), path.name
        assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# Lab "), path.name
        # (the engine track's exercises are `# ENGINE PIECE:` cells, written in the engine's modules)
        exercises = [c for c in code if build.BEGIN_SOLUTION in c.source or build.engine_piece(c.source)]
        checks = [c for c in code if c.source.lstrip().startswith("# CHECK")]
        assert exercises, f"{path.name} has no exercise (### BEGIN SOLUTION)"
        assert all(c.metadata["nbgrader"]["solution"] for c in exercises if not build.engine_piece(c.source))
        # One graded, locked check per exercise, with its points and hidden tests.
        assert len(checks) == len(exercises), path.name
        for n, check in enumerate(checks, 1):
            meta = check.metadata["nbgrader"]
            assert (meta["grade"], meta["locked"], meta["grade_id"]) == (True, True, f"check-{n}"), path.name
            assert meta["points"] == build.check_points(check.source) >= 1, path.name
            assert build.check_hidden_markers(check.source) == 1, (
                f"{path.name} check-{n} has no {build.BEGIN_HIDDEN} region")
        joined = "\n".join(c.source for c in code)
        assert "manual_seed" in joined and "record(" in joined, path.name


def test_every_check_follows_its_exercise_before_the_next():
    for path in NOTEBOOKS:
        kinds = [("E" if build.BEGIN_SOLUTION in c.source or build.engine_piece(c.source) else "C")
                 for c in nbformat.read(str(path), 4).cells if c.cell_type == "code"
                 and (build.BEGIN_SOLUTION in c.source or build.engine_piece(c.source) or build.is_check(c.source))]
        assert "".join(kinds) == "EC" * (len(kinds) // 2), (path.name, kinds)


def test_sources_are_read_by_jupytext(tmp_path):
    """Markdown, code and commented magics, as jupytext reads them; nbgrader metadata added;
    each exercise's CHECK is graded with the points it declares."""
    src = tmp_path / "09_demo.py"
    src.write_text("# %% [markdown]\n# # Title\n#\n# Some *text*.\n\n"
                   "# %%\n# %matplotlib inline\nx = 1  # a comment\n\n\n"
                   "# %%\n# the lab's own check: an ordinary cell\nassert x == 1\n\n"
                   "# %%\ndef f():\n    ### BEGIN SOLUTION\n    return 2\n    ### END SOLUTION\n\n"
                   "# %%\n# CHECK: the exercise\nassert f() == 2\n"
                   "### BEGIN HIDDEN TESTS\nassert f() + 1 == 3\n### END HIDDEN TESTS\n\n"
                   "# %%\ny = 2\n\n"
                   "# %%\ndef g():\n    ### BEGIN SOLUTION\n    return 3\n    ### END SOLUTION\n\n"
                   "# %%\n# CHECK (3 points): the second exercise\nassert g() == 3\n")
    nb = build.build_notebook(src)
    assert [(c.cell_type, c.source.splitlines()[0]) for c in nb.cells] == [
        ("markdown", "# Title"), ("code", "%matplotlib inline"), ("code", "# the lab's own check: an ordinary cell"),
        ("code", "def f():"), ("code", "# CHECK: the exercise"), ("code", "y = 2"), ("code", "def g():"),
        ("code", "# CHECK (3 points): the second exercise")]
    assert nb.cells[0].source == "# Title\n\nSome *text*."
    meta = [c.metadata.get("nbgrader", {}) for c in nb.cells]
    assert [m.get("grade_id") for m in meta] == [None, None, None, "exercise-1", "check-1", None,
                                                 "exercise-2", "check-2"]
    assert [m.get("points") for m in meta] == [None, None, None, None, 1, None, None, 3]
    assert [c.id for c in nb.cells][:2] == ["09_demo-000", "09_demo-001"]
    assert "jupytext" not in nb.metadata


EXERCISE = "# %%\ndef f():\n    ### BEGIN SOLUTION\n    return 2\n    ### END SOLUTION\n\n"
CHECK = "# %%\n# CHECK: f\nassert f() == 2\n\n"


@pytest.mark.parametrize("body, problem", [
    (EXERCISE, "exercise 1 has no CHECK cell after it"),
    (EXERCISE + EXERCISE + CHECK, "exercise 1 has no CHECK cell before this exercise"),
    (CHECK + EXERCISE + CHECK, "no exercise comes before it"),
    (EXERCISE + CHECK + CHECK, "exercise 1 already has its CHECK"),
    (EXERCISE + "# %%\n# CHECK(2 points) f\nassert f()\n", "starts with `# CHECK: what it tests`"),
    (EXERCISE + CHECK + "# %%\n### BEGIN HIDDEN TESTS\nx = 1\n### END HIDDEN TESTS\n", "outside a CHECK cell"),
    (EXERCISE + "# %%\n# CHECK: f\n### BEGIN HIDDEN TESTS\nassert f()\n", "is never closed"),
    # nbgrader would take the value as the score (0.0: the points lost though the check passed)
    (EXERCISE + "# %%\n# CHECK: f\nassert f()\nf() - 2\n", "must end in a statement"),
])
def test_check_layout_errors_name_the_problem(tmp_path, body, problem):
    src = tmp_path / "09_bad.py"
    src.write_text("# %% [markdown]\n# # Lab 09 — Bad\n\n" + body)
    with pytest.raises(ValueError, match=re.escape(problem)):
        build.build_notebook(src)


def test_readme_lists_every_lab():
    readme = (LABS / "README.md").read_text()
    for path in NOTEBOOKS:
        assert path.name in readme, f"labs/README.md has no line for {path.name}"


def test_readme_table_is_generated_from_the_sources():
    readme = (LABS / "README.md").read_text()
    table = build.readme_table(LABS / "src")
    assert build.with_table(readme, table) == readme, "labs/README.md's table is stale; run `make labs-build`"
    # The counts come from the cells: recount them here from the built notebooks.
    for path in NOTEBOOKS:
        cells = [c.metadata.get("nbgrader", {}) for c in nbformat.read(str(path), 4).cells]
        exercises = sum(1 for m in cells if m.get("solution"))
        exercises += len(engine_track.piece_cells(nbformat.read(str(path), 4)))   # labs 10, 12
        points = sum(m.get("points", 0) for m in cells if m.get("grade"))
        assert f"| [{path.name}]({path.name}) |" in table
        row = next(line for line in table.splitlines() if line.startswith(f"| [{path.name}]"))
        assert row.split(" | ")[3:5] == [str(exercises), str(points)], (row, exercises, points)
        summary = build.lab_summary(LABS / "src" / f"{path.stem}.py")
        assert summary["prerequisites"] and summary["time"].endswith("min"), summary


def test_readme_table_follows_a_source_change(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "00_a.py").write_text("# %% [markdown]\n# # Lab 00 — A topic\n#\n"
                                 "# **Prerequisites:** none · **Expected time:** 5 min\n\n" + EXERCISE
                                 + "# %%\n# CHECK (4 points): f\nassert f() == 2\n")
    (tmp_path / "README.md").write_text(f"intro\n{build.TABLE_BEGIN}\nold\n{build.TABLE_END}\nrest\n")
    build.build_labs(src, tmp_path)
    text = (tmp_path / "README.md").read_text()
    assert "| [00_a.ipynb](00_a.ipynb) | A topic | none | 1 | 4 | 5 min |" in text
    assert "old" not in text and text.startswith("intro\n") and text.endswith("rest\n")


def test_metrics_json_is_strict_json(tmp_path, monkeypatch):
    monkeypatch.setenv(labs.METRICS_ENV, str(tmp_path / "m.json"))
    labs.record(loss=float("inf"))
    assert json.loads((tmp_path / "m.json").read_text()) == {"loss": "inf"}
