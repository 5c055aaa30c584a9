"""Tensor factories: ``tensor``, ``zeros``, ``ones``, ``full``, ``arange``, ``linspace``,
``eye``, the random ``rand``/``randn``/``randint`` and the ``*_like`` variants.

Every factory takes torch's ``device=`` (``"cpu"``, ``"cuda"``, ``tw.device``...): it is
checked (see ``tensorweaver._device``); a process has one device, so it selects nothing.

Random values are drawn on the host (``tensorweaver.random``) and then moved to the
backend, so a seed gives the same numbers on NumPy and cuPyNumeric.
"""
from __future__ import annotations

import builtins

from tensorweaver import _device, backend, dtypes
from tensorweaver import random as _random
from tensorweaver.tensor import Tensor, _make_tensor

xp = backend.xp


def _sizes(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if not isinstance(s, int) or s < 0:
            raise ValueError(f"sizes must be non-negative ints, got {tuple(size)}")
    return tuple(size)


def _on(device):
    """Check ``device=`` (torch's error if it is not available here); None means the default."""
    if device is not None:
        _device.check_device(device)


def _wrap(data, requires_grad):
    t = _make_tensor(data, False, None)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _float_dtype(dtype):
    return dtypes.get_default_dtype() if dtype is None else dtypes.as_dtype(dtype)


def tensor(data, dtype=None, requires_grad=False, device=None):
    """A new tensor holding a copy of ``data`` (floats -> float32, ints -> int64)."""
    _on(device)
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def as_tensor(data, dtype=None, device=None):
    _on(device)
    if isinstance(data, Tensor) and (dtype is None or data.dtype == dtypes.as_dtype(dtype)):
        return data
    return Tensor(data, dtype=dtype)


def from_numpy(array):  # torch.from_numpy has no device argument
    return Tensor(array)


def zeros(*size, dtype=None, requires_grad=False, device=None):
    _on(device)
    return _wrap(xp.zeros(_sizes(size), dtype=_float_dtype(dtype)), requires_grad)


def ones(*size, dtype=None, requires_grad=False, device=None):
    _on(device)
    return _wrap(xp.ones(_sizes(size), dtype=_float_dtype(dtype)), requires_grad)


empty = zeros


def full(size, fill_value, dtype=None, requires_grad=False, device=None):
    _on(device)
    if dtype is None:
        if isinstance(fill_value, builtins.bool):
            dtype = dtypes.bool
        elif isinstance(fill_value, int):
            dtype = dtypes.int64
    return _wrap(xp.full(_sizes((size,)), fill_value, dtype=_float_dtype(dtype) if dtype is None
                         else dtypes.as_dtype(dtype)), requires_grad)


def arange(start, end=None, step=1, dtype=None, requires_grad=False, device=None):
    """Like torch: all-int arguments give int64, otherwise the default float type."""
    _on(device)
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be non-zero")
    if dtype is None:
        ints = builtins.all(isinstance(v, int) for v in (start, end, step))
        dtype = dtypes.int64 if ints else dtypes.get_default_dtype()
    host = backend.host_numpy().arange(start, end, step, dtype=dtypes.as_dtype(dtype))
    return _wrap(backend.from_host(host), requires_grad)


def linspace(start, end, steps, dtype=None, requires_grad=False, device=None):
    _on(device)
    host = backend.host_numpy().linspace(start, end, steps, dtype=_float_dtype(dtype))
    return _wrap(backend.from_host(host), requires_grad)


def eye(n, m=None, dtype=None, requires_grad=False, device=None):
    _on(device)
    return _wrap(xp.eye(n, n if m is None else m, dtype=_float_dtype(dtype)), requires_grad)


def _host_draw_dtype(d):
    # NumPy's generator draws float32/float64 only; half precision is rounded after.
    return dtypes.float32 if d == dtypes.float16 else d


def rand(*size, generator=None, dtype=None, requires_grad=False, device=None):
    """Uniform on [0, 1)."""
    _on(device)
    d = _float_dtype(dtype)
    host = _random.rng(generator).random(_sizes(size), dtype=_host_draw_dtype(d))
    return _wrap(backend.from_host(host, d), requires_grad)


def randn(*size, generator=None, dtype=None, requires_grad=False, device=None):
    """Standard normal."""
    _on(device)
    d = _float_dtype(dtype)
    host = _random.rng(generator).standard_normal(_sizes(size), dtype=_host_draw_dtype(d))
    return _wrap(backend.from_host(host, d), requires_grad)


def randint(low, high=None, size=None, *, generator=None, dtype=None, requires_grad=False, device=None):
    """Integers in ``[low, high)``; ``randint(high, size)`` works as in torch."""
    _on(device)
    if size is None:
        if high is None or not isinstance(high, (tuple, list)):
            raise TypeError("randint: size must be given, e.g. randint(0, 10, (3,))")
        low, high, size = 0, low, high
    if high is None:
        low, high = 0, low
    host = _random.rng(generator).integers(low, high, size=_sizes((size,)), dtype=dtypes.int64)
    return _wrap(backend.from_host(host, dtypes.int64 if dtype is None else dtypes.as_dtype(dtype)), requires_grad)


def _like(t, dtype):
    return t.dtype if dtype is None else dtype


def zeros_like(t, dtype=None, requires_grad=False, device=None):
    return zeros(t.shape, dtype=_like(t, dtype), requires_grad=requires_grad, device=device)


def ones_like(t, dtype=None, requires_grad=False, device=None):
    return ones(t.shape, dtype=_like(t, dtype), requires_grad=requires_grad, device=device)


def full_like(t, fill_value, dtype=None, requires_grad=False, device=None):
    return full(t.shape, fill_value, dtype=_like(t, dtype), requires_grad=requires_grad, device=device)


def empty_like(t, dtype=None, requires_grad=False, device=None):
    return zeros_like(t, dtype, requires_grad, device)


def rand_like(t, *, generator=None, dtype=None, requires_grad=False, device=None):
    return rand(t.shape, generator=generator, dtype=_like(t, dtype), requires_grad=requires_grad, device=device)


def randn_like(t, *, generator=None, dtype=None, requires_grad=False, device=None):
    return randn(t.shape, generator=generator, dtype=_like(t, dtype), requires_grad=requires_grad, device=device)


def randint_like(t, low, high=None, *, generator=None, dtype=None, requires_grad=False, device=None):
    return randint(low, high, t.shape, generator=generator, dtype=_like(t, dtype), requires_grad=requires_grad,
                   device=device)
