"""The headless runner, record(), the student-copy stripper and the notebook builder."""
from __future__ import annotations

import json

import nbformat
import pytest
from nbformat import v4

from labrun import LABS, NOTEBOOKS, REPO, run_lab
from tensorweaver import labs

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
        labs.run_notebook(nb, backend="tpu")
    assert labs.main(["run", str(tmp_path / "missing.ipynb")]) == 2
    assert "no notebook at" in capsys.readouterr().err


# ---------------------------------------------------------------- student copies
def test_strip_solutions_keeps_indentation_and_the_rest():
    source = ("def f(x):\n"
              "    y = 2\n"
              "    ### BEGIN SOLUTION\n"
              "    return x * y\n"
              "    ### END SOLUTION\n"
              "print(f)")
    stripped, count = labs.strip_solutions(source)
    assert count == 1
    assert stripped == ("def f(x):\n    y = 2\n    # YOUR CODE HERE\n"
                        "    raise NotImplementedError()\nprint(f)")
    compile(stripped, "<stripped>", "exec")


@pytest.mark.parametrize("source, problem", [
    ("### BEGIN SOLUTION\nx = 1", "never closed"),
    ("x = 1\n### END SOLUTION", "without a ### BEGIN SOLUTION"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "inside another"),
])
def test_unpaired_solution_markers_are_errors(source, problem):
    with pytest.raises(labs.SolutionMarkerError, match=problem):
        labs.strip_solutions(source, "lab.ipynb, cell 3")


def test_student_copies_refuse_to_overwrite_the_labs():
    with pytest.raises(ValueError, match="another folder"):
        labs.write_student_copies(LABS, LABS)


# ---------------------------------------------------------------- the committed notebooks
def test_notebooks_are_regenerated_from_their_sources():
    sources = sorted(p.stem for p in (LABS / "src").glob("[0-9]*.py"))
    assert sources == [p.stem for p in NOTEBOOKS], "every lab needs a labs/src/NN_name.py source"
    for path in NOTEBOOKS:
        expected = nbformat.writes(labs.build_notebook(LABS / "src" / f"{path.stem}.py")) + "\n"
        assert path.read_text() == expected, (
            f"{path.relative_to(REPO)} differs from its source; run `make labs-build`")


def test_notebooks_are_clean_and_well_formed():
    for path in NOTEBOOKS:
        nb = nbformat.read(str(path), 4)
        nbformat.validate(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(c.outputs == [] and c.execution_count is None for c in code), path.name
        assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# Lab "), path.name
        exercises = [c for c in code if labs.BEGIN_SOLUTION in c.source]
        checks = [c for c in code if c.source.lstrip().startswith("# CHECK")]
        assert exercises, f"{path.name} has no exercise (### BEGIN SOLUTION)"
        assert checks, f"{path.name} has no check cell (# CHECK)"
        assert all(c.metadata["nbgrader"]["solution"] for c in exercises)
        joined = "\n".join(c.source for c in code)
        assert "manual_seed" in joined and "record(" in joined, path.name


def test_percent_parser_handles_markdown_code_and_magics():
    text = ("# %% [markdown]\n# # Title\n#\n# Some *text*.\n\n"
            "# %%\n# %matplotlib inline\nx = 1  # a comment\n\n\n"
            "# %%\n# %%writefile {path}\nprint(1)\n")
    assert labs.parse_percent(text) == [
        ("markdown", "# Title\n\nSome *text*."),
        ("code", "%matplotlib inline\nx = 1  # a comment"),
        ("code", "%%writefile {path}\nprint(1)"),
    ]


def test_readme_lists_every_lab():
    readme = (LABS / "README.md").read_text()
    for path in NOTEBOOKS:
        assert path.name in readme, f"labs/README.md has no line for {path.name}"


def test_metrics_json_is_strict_json(tmp_path, monkeypatch):
    monkeypatch.setenv(labs.METRICS_ENV, str(tmp_path / "m.json"))
    labs.record(loss=float("inf"))
    assert json.loads((tmp_path / "m.json").read_text()) == {"loss": "inf"}
