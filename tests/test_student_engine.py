"""The engine track's seam and student copies (labs 10 and 12).

``TENSORWEAVER_STUDENT_ENGINE=DIR`` makes ``import tensorweaver`` load the manifest's modules
from DIR when a file is there (``tensorweaver/_student_engine.py``); the student copies are
the engine's modules with each solution region replaced by ``raise NotImplementedError``
(``tensorweaver/labs/engine_track.py``). Each import runs in a fresh interpreter: a process
imports the engine once.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tensorweaver.labs import engine_manifest, engine_track, workspace

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[1]


def python(code, engine=None):
    env = dict(os.environ, TENSORWEAVER_BACKEND="numpy")
    env.pop(engine_track.ENGINE_ENV, None)
    if engine is not None:
        env[engine_track.ENGINE_ENV] = str(engine)
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)


def test_a_student_file_is_imported_and_absent_ones_fall_back(tmp_path):
    engine = tmp_path / "engine"
    (engine / "optim").mkdir(parents=True)
    # The engine's own SGD, with a deliberate change: a marker, and lr doubled.
    source = engine_track.engine_file("optim/sgd.py").read_text()
    changed = source.replace("p.data -= lr * g\n", "p.data -= 2 * lr * g\n") + "\nSTUDENT_MARK = 42\n"
    assert changed != source
    (engine / "optim" / "sgd.py").write_text(changed)
    (engine / "optim" / "sgd.updated.py").write_text("raise SystemExit('never imported')\n")
    proc = python(
        "import tensorweaver as tw\n"
        "from tensorweaver.optim import sgd, adam\n"
        "w = tw.ones(1, requires_grad=True); w.grad = tw.ones(1)\n"
        "tw.optim.SGD([w], lr=0.25).step()\n"
        "print(sgd.STUDENT_MARK, w.item(), sgd.__file__, adam.__file__, sep='|')", engine)
    assert proc.returncode == 0, proc.stderr
    mark, value, sgd_file, adam_file = proc.stdout.strip().split("|")
    assert mark == "42" and float(value) == 0.5                   # the student's SGD ran
    assert Path(sgd_file) == (engine / "optim" / "sgd.py").resolve()
    # No file: the engine's own (in the images, the package the subprocess imports may be the
    # work dir's copy rather than the installed one that this process imported).
    assert Path(adam_file).parts[-3:] == ("tensorweaver", "optim", "adam.py")
    assert Path(adam_file).read_text() == engine_track.engine_file("optim/adam.py").read_text()
    [line] = [l for l in proc.stderr.splitlines() if "student engine" in l]
    assert line == f"tensorweaver: student engine {engine}: tensorweaver.optim.sgd"


def test_unknown_modules_are_refused_with_a_clear_error(tmp_path):
    engine = tmp_path / "engine"
    (engine / "optim").mkdir(parents=True)
    (engine / "tensor.py").write_text("x = 1\n")
    (engine / "optim" / "my_optimizer.py").write_text("x = 1\n")
    proc = python("import tensorweaver", engine)
    assert proc.returncode != 0
    assert "StudentEngineError" in proc.stderr
    assert "optim/my_optimizer.py, tensor.py are not part of the labs' engine track" in proc.stderr
    assert "optim/sgd.py" in proc.stderr                         # what may be there


def test_a_missing_folder_is_an_error_and_no_variable_changes_nothing(tmp_path):
    proc = python("import tensorweaver", tmp_path / "nowhere")
    assert proc.returncode != 0 and "no such folder" in proc.stderr
    proc = python("import tensorweaver, sys; print(type(sys.meta_path[0]).__name__)")
    assert proc.returncode == 0 and proc.stdout.strip() != "StudentFinder"
    assert "student engine" not in proc.stderr


def test_student_copies_replace_every_region_and_keep_the_rest():
    for module_path in engine_manifest.MODULES:
        original = engine_track.engine_file(module_path).read_text()
        copy = engine_track.student_source(module_path)
        regions = engine_track.module_regions(original)
        assert regions, module_path
        compile(copy, module_path, "exec")
        assert "### BEGIN SOLUTION" not in copy and "### END SOLUTION" not in copy
        assert copy.count("raise NotImplementedError(") == len(regions) + original.count("raise NotImplementedError(")
        for region in regions:
            piece = engine_track.piece_of_region(module_path, region.function)
            stub = (f'{region.indent}raise NotImplementedError("{piece.name}: write this part '
                    f'(see the assignment notebook)")')
            assert stub in copy.splitlines(), (module_path, region.function)
            for line in region.code:
                code = line.strip()
                if len(code) > 30 and not code.startswith("#") and original.count(code) == 1:
                    assert code not in copy, (module_path, code)
        # Signatures and docstrings stay.
        for line in original.splitlines():
            if line.lstrip().startswith(("def ", "class ")):
                assert line in copy.splitlines(), (module_path, line)


def test_fast_paths_are_turned_off_in_the_student_copies():
    conv = engine_track.student_source("ops/conv.py")
    assert "        flat = False  # the engine's own line: flat = tuple(stride) == (1, 1)" in conv.splitlines()
    pool = engine_track.student_source("ops/pooling.py")
    assert "            out = None  # the engine's own line: out = self._tiled_forward(x, kernel)" in pool.splitlines()


def test_the_manifest_matches_the_engine_and_the_pieces_are_substantial():
    total = 0
    for assignment, pieces in engine_manifest.ASSIGNMENTS.items():
        for piece in pieces:
            lines = engine_track.solution_lines(piece)
            assert lines >= 5, (piece.name, lines)
            assert piece.points == sum(g.points for g in piece.tests) > 0
            for module_path, function in piece.regions:
                found = [r.function for r in engine_track.module_regions(
                    engine_track.engine_file(module_path).read_text())]
                assert function in found, (piece.name, module_path, function)
            total += lines
    assert total >= 100, total


def test_the_general_paths_the_copies_route_to_are_correct(tmp_path):
    """The student copies of conv2d and max-pool run the general path (fast paths off): with
    the engine's own solution code put back in the regions, their pieces' tests pass."""
    engine = tmp_path / "engine"
    for module_path in ("ops/conv.py", "ops/pooling.py"):
        text = engine_track.engine_file(module_path).read_text()
        solved = {r.function: "\n".join(r.code) for r in engine_track.module_regions(text)}
        target = engine / module_path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(engine_track.student_source(module_path, text, solved))
    for piece in ("conv2d", "max_pool"):
        outcome = engine_track.run_tests(piece, engine)
        assert outcome.passed, outcome.report()


def test_a_blank_piece_fails_its_tests_naming_them(tmp_path):
    engine_track.write_engine(tmp_path / "engine", "10_engine_optim")
    outcome = engine_track.run_tests("sgd", tmp_path / "engine")
    assert not outcome.passed
    assert any("test_sgd_trajectory_is_torchs" in f for f in outcome.failed)
    assert outcome.report().startswith("sgd: ")
    assert "NotImplementedError" in outcome.report()


def test_the_workspace_gets_the_engine_and_never_overwrites_it(tmp_path):
    release = tmp_path / "release" / "10_engine_optim"
    release.mkdir(parents=True)
    (release / "10_engine_optim.ipynb").write_text("{}")
    engine_track.write_engine(release / "engine", "10_engine_optim")
    ws = tmp_path / "ws"
    notes = workspace.sync(tmp_path / "release", ws)
    assert "added engine/optim/sgd.py" in notes
    mine = ws / "engine" / "optim" / "sgd.py"
    mine.write_text(mine.read_text() + "\n# my work\n")
    (release / "engine" / "optim" / "sgd.py").write_text("# a newer release\n")
    notes = workspace.sync(tmp_path / "release", ws)
    assert mine.read_text().endswith("# my work\n")
    assert (ws / "engine" / "optim" / "sgd.updated.py").read_text() == "# a newer release\n"
    # The seam ignores the .updated file (not a module name) and loads the student's.
    proc = python("import tensorweaver.optim.sgd as m; print(m.__file__)", ws / "engine")
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()) == mine.resolve()


def test_engine_piece_cells_are_exercises_and_checked_against_the_manifest(tmp_path):
    from tensorweaver.labs import build

    head = "# %% [markdown]\n# # Lab 10 — T\n#\n# **Prerequisites:** none · **Expected time:** 5 min\n\n"

    def piece(name, points=1):
        return (f"# %%\n# ENGINE PIECE: {name} — a demo\nx = 1\n\n"
                f"# %%\n# CHECK ({points} points): {name}\nassert x\n"
                "### BEGIN HIDDEN TESTS\nassert x == 1\n### END HIDDEN TESTS\n\n")

    names = [p.name for p in engine_manifest.ASSIGNMENTS["10_engine_optim"]]
    src = tmp_path / "10_engine_optim.py"
    src.write_text(head + "".join(piece(n) for n in names) + "# %%\nrecord()\n")
    summary = build.lab_summary(src)
    assert summary["exercises"] == len(names) and summary["points"] == len(names)
    assert summary["solution_lines"] == sum(engine_track.solution_lines(n) for n in names)
    nb = build.build_notebook(src)
    assert [name for _, name in engine_track.piece_cells(nb)] == names
    assert all("nbgrader" not in nb.cells[i].metadata for i, _ in engine_track.piece_cells(nb))
    for body, problem in [("".join(piece(n) for n in reversed(names)), "in order"),
                          ("".join(piece(n) for n in names[:-1]), "in order"),
                          (piece("conv2d"), "is not a piece of 10_engine_optim"),
                          (piece(names[0]).split("# %%\n# CHECK")[0] + piece(names[1]), "no CHECK cell")]:
        src.write_text(head + body)
        with pytest.raises(build.CheckLayoutError, match=problem):
            build.build_notebook(src)
    other = tmp_path / "04_other.py"
    other.write_text(head + piece("sgd"))
    with pytest.raises(build.CheckLayoutError, match="no assignment of the engine manifest"):
        build.build_notebook(other)


def test_autograde_leaves_engine_labs_out_where_cupynumeric_is_missing(monkeypatch, capsys):
    from tensorweaver.labs import grading

    monkeypatch.setattr(engine_track, "parity_python", lambda: None)
    labs = ["04_mlp", "10_engine_optim", "12_engine_layers"]
    assert grading._gradable_here(labs, None) == ["04_mlp"]
    notice = capsys.readouterr().err
    assert "not graded: 10_engine_optim, 12_engine_layers" in notice and "make autograde-gpu" in notice
    with pytest.raises(ValueError, match="cuPyNumeric"):
        grading._gradable_here(labs, {"10_engine_optim"})          # asked for by name
    with pytest.raises(ValueError, match="cuPyNumeric"):
        grading._gradable_here(["10_engine_optim"], None)          # nothing else to grade
    assert grading._gradable_here(["04_mlp"], {"04_mlp"}) == ["04_mlp"]


def test_the_parity_part_fails_clearly_without_cupynumeric(monkeypatch):
    monkeypatch.setattr(engine_track, "parity_python", lambda: None)
    outcome = engine_track.run_parity("sgd")
    assert not outcome.passed
    assert outcome.report().startswith("sgd: the parity cases did not run")
    assert "cuPyNumeric is not installed" in outcome.report() and "GPU image" in outcome.report()
