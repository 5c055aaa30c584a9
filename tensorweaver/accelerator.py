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


def current_device_index() -> int:
    if not _device.is_cuda_available():
        raise RuntimeError("Cannot access accelerator device when none is available. "
                           "Check tw.accelerator.is_available() first.")
    return 0


def synchronize(device=None) -> None:
    from tensorweaver import cuda
    cuda.synchronize(device)
