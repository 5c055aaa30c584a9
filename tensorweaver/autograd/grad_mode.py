"""Switches for graph recording: ``no_grad``, ``enable_grad``, ``set_grad_enabled``.

The flag is one module-level list cell read by ``Function.apply`` on every op, so it
costs a single index. Usable as context managers and as decorators, as in torch.
"""
from __future__ import annotations

import functools

# A one-element list so that ``Function.apply`` can read it without a global lookup chain.
_enabled = [True]


def is_grad_enabled() -> bool:
    return _enabled[0]


class _GradMode:
    """Base: a context manager that sets the flag and restores it on exit."""

    mode = True

    def __enter__(self):
        self._prev = _enabled[0]
        _enabled[0] = self.mode
        return self

    def __exit__(self, *exc):
        _enabled[0] = self._prev
        return False

    def __call__(self, func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return func(*args, **kwargs)
        return wrapper


class no_grad(_GradMode):
    """Ops inside record nothing: results have ``requires_grad=False`` and no ``grad_fn``."""

    mode = False


class enable_grad(_GradMode):
    """Re-enables recording inside a ``no_grad`` block."""

    mode = True


class set_grad_enabled(_GradMode):
    """``set_grad_enabled(False)`` is ``no_grad()``; it also works as a plain call."""

    def __init__(self, mode: bool):
        self.mode = bool(mode)
        self._prev = _enabled[0]
        _enabled[0] = self.mode   # takes effect as a plain function call too, like torch

    def __enter__(self):
        return self

    def __call__(self, func):
        mode = self.mode
        _enabled[0] = self._prev  # used as a decorator: undo the eager switch

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return func(*args, **kwargs)
        return wrapper
