"""A student's workspace: the released (unsolved) labs, created once, never overwritten.

    python -m tensorweaver.labs workspace workspace/ --release release/   # make workspace

The workspace holds the student versions of the labs (``NN_name.ipynb``) and their ``data/``
(and, for the engine track, labs 10 and 12, the student's copies of engine modules in
``engine/``: files like data, so a student's edits are never written over), copied from an
nbgrader release (``python -m tensorweaver.labs release``; the images carry one
in ``$TENSORWEAVER_RELEASE``). It records, in ``.tensorweaver/release.json``, which release
each file came from. On every later sync:

- a file that is missing is copied (a lab added upstream, or one the student deleted);
- a file whose release did not change is left alone, whatever the student did to it;
- a notebook whose release changed is written **beside** the student's copy as
  ``NN_name.updated.ipynb``, with a one-line notice. The student's own file is never written.
  (The ``.updated`` file is replaced by later updates, unless the student edited it: then
  the next one gets its own name.)
- another file (data) whose release changed is updated in place only if the student never
  changed it; otherwise the new version goes beside it too.

Nothing here ever deletes a file. This module uses the standard library only, so the images'
entry point runs it as a plain script at every lab start (no engine import, a few ms):

    python workspace.py WORKSPACE RELEASE
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

STATE = Path(".tensorweaver") / "release.json"
SKIP = {".ipynb_checkpoints", "__pycache__"}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def released_files(release_dir) -> dict:
    """{path in the workspace: file in the release}: each assignment's files, flattened
    (``release/04_mlp/04_mlp.ipynb`` -> ``04_mlp.ipynb``, ``.../data/x`` -> ``data/x``)."""
    release_dir = Path(release_dir)
    assignments = sorted(p for p in release_dir.iterdir() if p.is_dir()) if release_dir.is_dir() else []
    files = {}
    for assignment in assignments:
        for path in sorted(assignment.rglob("*")):
            rel = path.relative_to(assignment)
            if path.is_file() and not SKIP.intersection(rel.parts):
                files.setdefault(rel.as_posix(), path)
    if not any(name.endswith(".ipynb") for name in files):
        raise FileNotFoundError(f"no released labs in {release_dir} (expected <lab>/<lab>.ipynb; "
                                "make one with `python -m tensorweaver.labs release labs --out DIR`)")
    return files


def _beside(rel: str, tag: str = "updated") -> str:
    path = Path(rel)
    return path.with_name(f"{path.stem}.{tag}{path.suffix}").as_posix()


def _write_new(target: Path, data: bytes) -> None:
    """Create ``target`` with ``data``; never replaces an existing file (O_EXCL)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "xb") as f:
        f.write(data)


def _replace(target: Path, data: bytes) -> None:
    """Atomically replace ``target`` (only used for files this module wrote and nobody changed)."""
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, target)


def sync(release_dir, workspace) -> list:
    """Bring ``workspace`` up to date with ``release_dir``; returns one line per change."""
    workspace = Path(workspace)
    files = released_files(release_dir)
    workspace.mkdir(parents=True, exist_ok=True)
    state_path = workspace / STATE
    try:
        state = json.loads(state_path.read_text()) if state_path.is_file() else {}
    except ValueError:
        state = {}      # unreadable record: every differing file is then treated as the student's
    recorded = state.setdefault("files", {})
    notes = []
    for rel, source in files.items():
        data = source.read_bytes()
        new = hashlib.sha256(data).hexdigest()
        target = workspace / rel
        if not target.exists():
            _write_new(target, data)
            recorded[rel] = new
            notes.append(f"added {rel}")
            continue
        if recorded.get(rel) == new:
            continue                                   # this release is what it came from
        current = _digest(target)
        if current == new:
            recorded[rel] = new                        # same content: nothing to do
            continue
        if not rel.endswith(".ipynb") and recorded.get(rel) == current:
            _replace(target, data)                     # data the student never touched
            recorded[rel] = new
            notes.append(f"updated {rel}")
            continue
        beside = _beside(rel)
        if recorded.get(beside) == new and (workspace / beside).exists():
            continue                                   # already written beside
        path = workspace / beside
        if path.exists():
            if recorded.get(beside) is not None and _digest(path) == recorded[beside]:
                _replace(path, data)                   # our earlier .updated file, unchanged
            else:                                      # the student worked in it: keep it too
                beside = _beside(rel, f"updated-{new[:8]}")
                path = workspace / beside
                if not path.exists():
                    _write_new(path, data)
        else:
            _write_new(path, data)
        recorded[beside] = new
        notes.append(f"{rel} changed upstream: the new version is {beside} "
                     f"(your {Path(rel).name} is unchanged)")
    state_path.parent.mkdir(parents=True, exist_ok=True)
    _replace(state_path, (json.dumps(state, indent=1, sort_keys=True) + "\n").encode())
    return notes


def main(argv=None) -> int:
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: workspace.py WORKSPACE RELEASE", file=sys.stderr)
        return 2
    try:
        notes = sync(args[1], args[0])
    except (OSError, ValueError) as exc:
        print(f"tensorweaver: warning: workspace {args[0]}: {exc}", file=sys.stderr)
        return 1
    for note in notes:
        print(f"tensorweaver: notice: workspace: {note}")
    if not notes:
        print(f"tensorweaver: workspace {args[0]} is up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
