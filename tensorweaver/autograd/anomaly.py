"""``detect_anomaly()``: find the op that first produced NaN or inf.

While enabled, every op remembers the line of user code that created it, and every
forward output and backward gradient is checked. The error names the Function and
that line, so the culprit is one click away.
"""
from __future__ import annotations

import os
import traceback

from tensorweaver import backend

_enabled = [False]
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class detect_anomaly:
    """Context manager (and decorator) turning on NaN/inf checks with creation sites."""

    def __init__(self, check_nan: bool = True):
        self.check_nan = check_nan

    def __enter__(self):
        self._prev = _enabled[0]
        _enabled[0] = self.check_nan
        _function()._rewatch()
        return self

    def __exit__(self, *exc):
        _enabled[0] = self._prev
        _function()._rewatch()
        return False

    def __call__(self, func):
        def wrapper(*args, **kwargs):
            with detect_anomaly(self.check_nan):
                return func(*args, **kwargs)
        return wrapper


def _function():
    # Imported late: function.py imports this module. Function.apply reads one flag for
    # anomaly mode and the profiler's hooks, which _rewatch keeps up to date.
    from tensorweaver.autograd import function
    return function


def is_anomaly_enabled() -> bool:
    return _enabled[0]


def user_frame() -> str:
    """``file:line in function: source`` of the innermost frame outside tensorweaver."""
    for frame in reversed(traceback.extract_stack()):
        if not os.path.abspath(frame.filename).startswith(_PACKAGE_DIR + os.sep):
            return f'File "{frame.filename}", line {frame.lineno}, in {frame.name}\n    {frame.line or ""}'
    return "<unknown>"


def check(fn, phase: str, *arrays) -> None:
    """Raise if any float array holds NaN or inf, naming the Function and its origin."""
    xp = backend.xp
    for i, a in enumerate(arrays):
        if getattr(a, "dtype", None) is None or a.dtype.kind != "f":
            continue
        if not bool(xp.all(xp.isfinite(a))):
            what = "NaN" if bool(xp.any(xp.isnan(a))) else "inf"
            where = f"its output" if phase == "forward" else f"the gradient for input {i}"
            raise RuntimeError(
                f"detect_anomaly: {type(fn).__name__}.{phase} produced {what} in {where}.\n"
                f"The {type(fn).__name__} was created at:\n  {fn._created_at or '<not recorded>'}")
