"""Shared helper for the ``device=``/``dtype=`` arguments every layer accepts (as torch's do)."""
from __future__ import annotations

from tensorweaver import backend, dtypes
from tensorweaver.nn.parameter import Parameter
from tensorweaver.tensor import check_device


def resolve_dtype(dtype=None, device=None):
    """The parameter dtype for a layer: ``dtype`` or the default float type."""
    if device is not None:
        check_device(device)
    return dtypes.get_default_dtype() if dtype is None else dtypes.as_dtype(dtype)


def empty_parameter(shape, dtype):
    """An uninitialised (zero-filled) Parameter; layers fill it in ``reset_parameters``."""
    return Parameter(backend.xp.zeros(shape, dtype=dtype))
