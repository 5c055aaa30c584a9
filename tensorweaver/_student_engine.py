"""The labs' student engine: ``TENSORWEAVER_STUDENT_ENGINE=DIR`` loads some modules from DIR.

In the engine track (labs 10 and 12) students write pieces of this engine: the release gives
them copies of a few modules (``DIR/optim/sgd.py`` for ``tensorweaver.optim.sgd``, ...) with
those pieces left out. When the variable names a folder, ``import tensorweaver`` installs a
finder, first on ``sys.meta_path``, that loads each of those modules from the student's file
instead; every other module is the engine's own. The modules that may be replaced are the
engine track's (``tensorweaver/labs/engine_manifest.py``); any other ``.py`` file in DIR is
refused with an error, so a stray module never silently replaces part of the engine (files
that cannot be modules, such as ``sgd.updated.py`` which the workspace sync writes beside a
student's file, are left alone). One line on stderr names the modules taken from DIR.

Without the variable (or with it empty) this module does nothing: nothing is installed and
no import is slower.
"""
from __future__ import annotations

import os
import sys

ENV = "TENSORWEAVER_STUDENT_ENGINE"


class StudentEngineError(ImportError):
    """The student engine folder is missing, or holds a module the labs do not replace."""


def replaceable() -> tuple:
    """The module paths under ``tensorweaver/`` a student engine may replace."""
    from tensorweaver.labs.engine_manifest import MODULES
    return MODULES


def student_modules(root) -> dict:
    """{``tensorweaver.<module>``: file} for the student files in ``root``; an error naming
    any other ``.py`` file there (hidden folders and ``__pycache__`` are not looked at)."""
    from pathlib import Path     # here, not at the top: unused (and not imported) without DIR

    root = Path(root)
    if not root.is_dir():
        raise StudentEngineError(f"{ENV}={root}: no such folder (the student engine is the "
                                 "engine/ folder of the workspace, beside the labs)")
    allowed = set(replaceable())
    found, unknown = {}, []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
            continue
        if not all(part.isidentifier() for part in rel.with_suffix("").parts):
            continue        # no module's file: e.g. sgd.updated.py, a newer release beside the student's
        if rel.as_posix() in allowed:
            found["tensorweaver." + ".".join(rel.with_suffix("").parts)] = str(path.resolve())
        else:
            unknown.append(rel.as_posix())
    if unknown:
        raise StudentEngineError(
            f"{ENV}={root}: {', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not part of "
            f"the labs' engine track; a student engine may only hold {', '.join(sorted(allowed))}")
    return found


class StudentFinder:
    """A meta-path finder for the modules in ``files`` ({module name: file})."""

    def __init__(self, files: dict):
        # Imported here, before the finder is installed: an import inside find_spec would ask
        # this finder for importlib.util first, and so on without end, wherever nothing has
        # imported importlib.util yet (a fresh interpreter in the images).
        from importlib.util import spec_from_file_location

        self.files = dict(files)
        self._spec_from_file = spec_from_file_location

    def find_spec(self, fullname, path=None, target=None):
        file = self.files.get(fullname)
        return self._spec_from_file(fullname, file) if file else None


def install(root) -> StudentFinder:
    """Load the student modules in ``root`` from now on (before they are first imported)."""
    files = student_modules(root)
    finder = StudentFinder(files)
    sys.meta_path.insert(0, finder)
    names = ", ".join(sorted(files)) or "none (the engine's own modules are used)"
    print(f"tensorweaver: student engine {root}: {names}", file=sys.stderr)
    return finder


def install_from_env():
    """``install($TENSORWEAVER_STUDENT_ENGINE)`` when the variable is set and not empty."""
    root = os.environ.get(ENV, "").strip()
    if not root or any(isinstance(f, StudentFinder) for f in sys.meta_path):
        return None
    return install(root)
