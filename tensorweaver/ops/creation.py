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


# ---------------------------------------------------------------- more factories
def asarray(obj, *, dtype=None, device=None, copy=None, requires_grad=False):
    """``obj`` as a tensor, sharing memory when it can, as ``torch.asarray``.

    A tensor comes back as it is (or cast to ``dtype``); a backend array (a NumPy array on the
    NumPy backend) is wrapped without a copy. ``copy=True`` always copies; ``copy=False``
    refuses when a copy cannot be avoided (a list, a dtype change, a host array on
    cuPyNumeric). Python numbers and lists follow ``tensor``'s dtype rules."""
    _on(device)
    want = None if dtype is None else dtypes.as_dtype(dtype)

    def no_copy(why):
        if copy is False:
            raise ValueError(f"asarray: copy=False, but {why} needs a copy; pass copy=None to allow one")

    if isinstance(obj, Tensor):
        out = obj
        if want is not None and want != obj.dtype:
            no_copy(f"converting {obj.dtype} to {want}")
            out = obj.to(want)
        elif copy:
            out = obj.clone()
    elif isinstance(obj, backend.ndarray) and obj.dtype in dtypes.SUPPORTED:
        if copy or (want is not None and want != obj.dtype):
            if not copy:
                no_copy(f"converting {obj.dtype} to {want}")
            out = _make_tensor(obj.astype(want or obj.dtype, copy=True), False, None)
        else:
            out = _make_tensor(obj, False, None)      # shares memory, as torch.asarray
    else:
        no_copy(f"a {type(obj).__name__} (not an array of the {backend.name} backend)")
        out = Tensor(obj, dtype=want)
    if requires_grad:
        if out is obj:
            out = out.detach()
        out.requires_grad_(True)
    return out


def range(start, end, step=1, *, dtype=None, requires_grad=False, device=None):  # noqa: A001
    """``[start, start + step, ..., end]``, *including* ``end`` (deprecated in torch in favour of
    ``arange``, which excludes it). Always the default float dtype unless ``dtype`` is given."""
    import warnings
    warnings.warn("tw.range is deprecated (as torch.range) and will be removed; use tw.arange, whose "
                  "result does not include end", UserWarning, stacklevel=2)
    _on(device)
    if step == 0:
        raise ValueError("range: step must be non-zero")
    if (end - start) * step < 0:
        raise RuntimeError(f"range: upper bound and larger bound inconsistent with step sign "
                           f"(start={start}, end={end}, step={step})")
    n = int(builtins.float(end - start) / step // 1) + 1
    host = start + step * backend.host_numpy().arange(n, dtype=backend.host_numpy().float64)
    return _wrap(backend.from_host(host.astype(_float_dtype(dtype))), requires_grad)


def logspace(start, end, steps, base=10.0, *, dtype=None, requires_grad=False, device=None):
    """``steps`` values ``base ** t`` with ``t`` evenly spaced from ``start`` to ``end``."""
    _on(device)
    if steps < 0:
        raise RuntimeError(f"logspace: number of steps must be non-negative, got {steps}")
    np_ = backend.host_numpy()
    host = np_.power(float(base), np_.linspace(start, end, steps, dtype=np_.float64))
    return _wrap(backend.from_host(host.astype(_float_dtype(dtype))), requires_grad)


def frombuffer(buffer, *, dtype, count=-1, offset=0, requires_grad=False):
    """A 1-D tensor of ``count`` elements of ``dtype`` read from an object with the buffer
    protocol (``bytes``, ``bytearray``, ``memoryview``, ``array.array``), skipping ``offset``
    bytes. As torch, a writable buffer is shared on the NumPy backend (writes to either are
    seen by both); a read-only one (``bytes``), and any buffer on cuPyNumeric, is copied."""
    np_ = backend.host_numpy()
    d = dtypes.as_dtype(dtype)
    try:
        nbytes = memoryview(buffer).nbytes
    except TypeError:
        raise TypeError(f"frombuffer: expected an object with the buffer protocol (bytes, bytearray, "
                        f"memoryview, array.array), got {type(buffer).__name__}") from None
    if offset < 0 or offset > nbytes:
        raise ValueError(f"frombuffer: offset ({offset} bytes) must be in [0, {nbytes}] for a buffer of "
                         f"{nbytes} bytes")
    if count == -1 and (nbytes - offset) % d.itemsize:
        raise ValueError(f"frombuffer: the buffer's {nbytes - offset} bytes after offset are not a multiple "
                         f"of {d}'s size ({d.itemsize} bytes); pass count= to read fewer elements")
    if count == 0 or count < -1 or (count > 0 and offset + count * d.itemsize > nbytes):
        raise ValueError(f"frombuffer: count must be -1 (all) or a positive number of elements that fit in "
                         f"the buffer ({(nbytes - offset) // d.itemsize} of {d}), got {count}")
    host = np_.frombuffer(buffer, dtype=d, count=count, offset=offset)
    if not (backend.is_numpy and host.flags.writeable):
        host = host.copy()
    t = _make_tensor(backend.from_host(host), False, None)
    return t.requires_grad_(True) if requires_grad else t


def from_dlpack(ext_tensor):
    """A tensor sharing memory with ``ext_tensor``, any object with ``__dlpack__`` (a torch
    tensor on the CPU, a NumPy array, ...). On the cuPyNumeric backend the data is copied
    onto it (Legate arrays are not DLPack consumers)."""
    if isinstance(ext_tensor, Tensor):
        return ext_tensor.detach()
    if not hasattr(ext_tensor, "__dlpack__"):
        raise TypeError(f"from_dlpack: expected an object with __dlpack__ (a DLPack producer such as a "
                        f"torch tensor or NumPy array), got {type(ext_tensor).__name__}")
    try:
        host = backend.host_numpy().from_dlpack(ext_tensor)
    except (RuntimeError, BufferError, TypeError) as exc:
        raise RuntimeError(f"from_dlpack: the producer's memory cannot be read on the host ({exc}); "
                           "move it to the CPU first (e.g. t.cpu())") from exc
    if host.dtype not in dtypes.SUPPORTED:
        raise TypeError(f"from_dlpack: dtype {host.dtype} is not supported here; convert it first "
                        "(tensors hold float, integer or bool data)")
    return _make_tensor(backend.from_host(host if backend.is_numpy else host.copy()), False, None)


def from_file(filename, shared=None, size=0, *, dtype=None, requires_grad=False, device=None):
    """``size`` elements of ``dtype`` (the default float type) read from the binary file
    ``filename``. With ``shared=True`` the tensor maps the file (NumPy backend): changes to
    the tensor are written to the file, as torch; otherwise the data is copied and the file
    is left alone."""
    _on(device)
    np_ = backend.host_numpy()
    d = _float_dtype(dtype)
    import os
    have = os.path.getsize(filename)
    if size < 0 or size * d.itemsize > have:
        raise RuntimeError(f"from_file: {filename!r} has {have} bytes, fewer than the {size} elements of "
                           f"{d} ({size * d.itemsize} bytes) asked for; pass a smaller size=")
    if shared:
        if not backend.is_numpy:
            raise RuntimeError(f"from_file(shared=True) maps the file into host memory, which the "
                               f"{backend.name} backend cannot use in place; pass shared=False (a copy)")
        host = np_.memmap(filename, dtype=d, mode="r+", shape=(size,)).view(np_.ndarray) if size else \
            np_.zeros(0, d)
    else:
        host = np_.fromfile(filename, dtype=d, count=size)
    return _wrap(backend.from_host(host), requires_grad)


def empty_strided(size, stride, *, dtype=None, requires_grad=False, device=None, layout=None,
                  pin_memory=False):
    """A tensor of ``size`` (zeros here, as ``empty``). ``stride`` is checked, then not kept:
    tensors here are dense arrays whose memory layout the backend owns (cuPyNumeric has no
    user-visible strides), so there is no strided storage to describe."""
    size, stride = tuple(size), tuple(stride)
    if len(size) != len(stride):
        raise RuntimeError(f"empty_strided: mismatch in length of strides ({len(stride)}) and shape "
                           f"({len(size)})")
    if any(not isinstance(s, int) or s < 0 for s in stride):
        raise RuntimeError(f"empty_strided: strides must be non-negative ints, got {stride}")
    return zeros(size, dtype=dtype, requires_grad=requires_grad, device=device)
