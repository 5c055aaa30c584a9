"""``tw.accelerator`` (torch >= 2.6): the device-agnostic way to ask for the accelerator.

The only accelerator tensorweaver uses is CUDA, through cuPyNumeric in Legate GPU mode.
"""
from __future__ import annotations

from tensorweaver import _device


def is_available() -> bool:
    return _device.is_cuda_available()


def current_accelerator(check_available: bool = False):
    """``device(type='cuda')`` in GPU mode, else None (as torch on a machine without one)."""
    return _device.device("cuda") if _device.is_cuda_available() else None


def device_count() -> int:
    return 1 if _device.is_cuda_available() else 0


def _require() -> None:
    if not _device.is_cuda_available():
        raise RuntimeError("Cannot access accelerator device when none is available "
                           f"({_device._why_no_cuda()}). Check tw.accelerator.is_available() "
                           "first; tw.cuda.synchronize() also waits for cuPyNumeric's work "
                           "in Legate CPU mode.")


def current_device_index() -> int:
    _require()
    return 0


def synchronize(device=None) -> None:
    """Wait for all queued work on the accelerator (torch raises when there is none)."""
    _require()
    from tensorweaver import cuda
    cuda.synchronize(device)
