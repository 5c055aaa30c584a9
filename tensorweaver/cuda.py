"""``tw.cuda``: what PyTorch code asks about CUDA, answered for this process.

CUDA is available exactly when the process runs cuPyNumeric in Legate GPU mode (see
``tensorweaver._device``). Legate spreads the work over every GPU it was given; they appear
as one device, ``cuda:0``, so ``device_count()`` is 1 there and 0 elsewhere.

Randomness is drawn on the host (``tensorweaver.random``), so ``manual_seed`` and
``manual_seed_all`` seed that one host generator, in every mode: the same seeds give the
same numbers on the CPU and GPU images. (In torch they seed only the CUDA generators.)
"""
from __future__ import annotations

from tensorweaver import _device, backend
from tensorweaver import random as _random


def is_available() -> bool:
    """True exactly when the process runs cuPyNumeric in Legate GPU mode."""
    return _device.is_cuda_available()


def device_count() -> int:
    """1 in GPU mode (all of Legate's GPUs act as ``cuda:0``), else 0."""
    return 1 if _device.is_cuda_available() else 0


def is_initialized() -> bool:
    return _device.is_cuda_available()


def _require(what: str) -> None:
    if not _device.is_cuda_available():
        raise _device.cuda_not_available(what)


def current_device() -> int:
    _require("tw.cuda.current_device()")
    return 0


def set_device(device) -> None:
    """Only device 0 exists (Legate places the data over its GPUs itself)."""
    _device.check_cuda(device, "tw.cuda.set_device()")


def _index(device) -> int:
    d = _device.check_cuda(device, "tw.cuda")
    return d.index or 0


def get_device_name(device=None) -> str:
    """The first GPU's name, from the NVIDIA driver (Legate uses every GPU it was given)."""
    _require("tw.cuda.get_device_name()")
    _index(device)
    import ctypes
    try:
        lib = ctypes.CDLL("libcuda.so.1")
        handle, name = ctypes.c_int(0), ctypes.create_string_buffer(256)
        if lib.cuDeviceGet(ctypes.byref(handle), 0) == 0 and \
                lib.cuDeviceGetName(name, len(name), handle) == 0:
            return name.value.decode()
    except (OSError, AttributeError):
        pass
    return "NVIDIA GPU (the driver did not report a name)"


def manual_seed(seed: int) -> None:
    """Seed the host generator every random draw uses (randomness is drawn on the host)."""
    _random.manual_seed(seed)


def manual_seed_all(seed: int) -> None:
    """Same as ``manual_seed``: there is one generator, on the host."""
    _random.manual_seed(seed)


def synchronize(device=None) -> None:
    """Wait until every queued array operation has finished.

    On cuPyNumeric, Legate runs tasks asynchronously (GPU and CPU mode alike), so this blocks
    on an execution fence: call it before reading a timer. On NumPy, work is synchronous and
    this does nothing (torch raises there when CUDA is unavailable).
    """
    if device is not None:
        _device.check_device(device)
    if backend.is_numpy:
        return
    from legate.core import get_legate_runtime
    get_legate_runtime().issue_execution_fence(block=True)


def empty_cache() -> None:
    """Accepted, no effect: Legate manages its own memory pools."""
