"""A student's workspace: created from a release, never overwritten, never deleted from."""
from __future__ import annotations

import json

import pytest

from tensorweaver.labs import workspace

pytestmark = pytest.mark.labs


def release(root, version: str, labs=("00_env", "04_mlp"), data="a b c"):
    """A fake release: <lab>/<lab>.ipynb with `version` in it, and data/words.txt."""
    for lab in labs:
        (root / lab / "data").mkdir(parents=True, exist_ok=True)
        (root / lab / f"{lab}.ipynb").write_text(json.dumps({"lab": lab, "version": version}))
        (root / lab / "data" / "words.txt").write_text(data)
    return root


def test_first_sync_copies_the_release_and_records_it(tmp_path):
    ws = tmp_path / "ws"
    notes = workspace.sync(release(tmp_path / "r1", "1"), ws)
    assert sorted(notes) == ["added 00_env.ipynb", "added 04_mlp.ipynb", "added data/words.txt"]
    assert json.loads((ws / "04_mlp.ipynb").read_text())["version"] == "1"
    state = json.loads((ws / workspace.STATE).read_text())
    assert set(state["files"]) == {"00_env.ipynb", "04_mlp.ipynb", "data/words.txt"}
    assert workspace.sync(tmp_path / "r1", ws) == []          # nothing new: nothing written


def test_student_work_is_never_overwritten_and_updates_arrive_beside(tmp_path):
    ws = tmp_path / "ws"
    workspace.sync(release(tmp_path / "r1", "1"), ws)
    (ws / "04_mlp.ipynb").write_text("my work")               # the student saves
    (ws / "my_notes.txt").write_text("mine")
    assert workspace.sync(tmp_path / "r1", ws) == []          # same release: left alone
    notes = workspace.sync(release(tmp_path / "r2", "2"), ws)
    assert (ws / "04_mlp.ipynb").read_text() == "my work"
    assert json.loads((ws / "04_mlp.updated.ipynb").read_text())["version"] == "2"
    assert any("04_mlp.ipynb changed upstream" in n and "04_mlp.updated.ipynb" in n for n in notes)
    # A lab the student never opened still keeps its name: the update goes beside it too.
    assert (ws / "00_env.updated.ipynb").exists()
    # A third release replaces the .updated file (ours, unchanged), never the student's.
    workspace.sync(release(tmp_path / "r3", "3"), ws)
    assert (ws / "04_mlp.ipynb").read_text() == "my work"
    assert json.loads((ws / "04_mlp.updated.ipynb").read_text())["version"] == "3"
    assert (ws / "my_notes.txt").read_text() == "mine"


def test_an_edited_updated_file_is_kept_too(tmp_path):
    ws = tmp_path / "ws"
    workspace.sync(release(tmp_path / "r1", "1"), ws)
    (ws / "04_mlp.ipynb").write_text("my work")
    workspace.sync(release(tmp_path / "r2", "2"), ws)
    (ws / "04_mlp.updated.ipynb").write_text("I worked here too")
    notes = workspace.sync(release(tmp_path / "r3", "3"), ws)
    assert (ws / "04_mlp.updated.ipynb").read_text() == "I worked here too"
    [beside] = [n for n in notes if n.startswith("04_mlp.ipynb changed")]
    name = beside.split("new version is ")[1].split(" ")[0]
    assert name.startswith("04_mlp.updated-") and json.loads((ws / name).read_text())["version"] == "3"


def test_data_is_updated_only_where_untouched(tmp_path):
    ws = tmp_path / "ws"
    workspace.sync(release(tmp_path / "r1", "1", data="old"), ws)
    workspace.sync(release(tmp_path / "r2", "1", data="new"), ws)
    assert (ws / "data" / "words.txt").read_text() == "new"      # untouched: updated in place
    (ws / "data" / "words.txt").write_text("edited")
    workspace.sync(release(tmp_path / "r3", "1", data="newer"), ws)
    assert (ws / "data" / "words.txt").read_text() == "edited"
    assert (ws / "data" / "words.updated.txt").read_text() == "newer"


def test_a_deleted_lab_comes_back_and_nothing_is_deleted(tmp_path):
    ws = tmp_path / "ws"
    workspace.sync(release(tmp_path / "r1", "1"), ws)
    (ws / "00_env.ipynb").unlink()
    before = {p for p in ws.rglob("*")}
    assert "added 00_env.ipynb" in workspace.sync(tmp_path / "r1", ws)
    # A release without a lab deletes nothing.
    workspace.sync(release(tmp_path / "r4", "1", labs=("00_env",)), ws)
    assert before <= {p for p in ws.rglob("*")}


def test_an_existing_file_the_workspace_did_not_write_is_the_students(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "04_mlp.ipynb").write_text("brought from elsewhere")
    workspace.sync(release(tmp_path / "r1", "1"), ws)
    assert (ws / "04_mlp.ipynb").read_text() == "brought from elsewhere"
    assert (ws / "04_mlp.updated.ipynb").exists()


def test_an_empty_release_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no released labs"):
        workspace.sync(tmp_path / "empty", tmp_path / "ws")
