"""Devices as PyTorch code writes them: ``tw.device``, ``tensor.device``, ``device=`` checks.

A process has one backend, so it has one device, decided once at import:

- NumPy backend: ``cpu``.
- cuPyNumeric in Legate **GPU mode** (Legate's machine has GPUs): ``cuda:0``. Legate spreads
  arrays and tasks over every GPU it was configured with; they appear as the one device
  ``cuda:0``, so ``tw.cuda.device_count()`` is 1.
- cuPyNumeric in Legate **CPU mode** (no usable GPU, or ``LEGATE_CONFIG`` with ``--gpus 0``):
  ``cpu``.

So ``device = "cuda" if tw.cuda.is_available() else "cpu"`` code runs unchanged on both
images. Asking for ``cuda`` where it is not available raises torch's error class
(``AssertionError``; ours is also a ``RuntimeError``) with the fix. Asking for ``cpu`` in a
GPU-mode process is accepted and changes nothing: arrays live where Legate places them
(there are no separate host and device copies to move between).

``mode_from`` is the decision, a pure function; ``CURRENT`` is its answer for this process
(tests inject the GPU-mode answer with ``use_mode``). ``Tensor.device`` just reads ``CURRENT``.
"""
from __future__ import annotations

import builtins

from tensorweaver import backend

# torch's device types (torch.device("xla") etc. construct fine; using them raises).
_TYPES = ("cpu", "cuda", "ipu", "xpu", "mkldnn", "opengl", "opencl", "ideep", "hip", "ve", "fpga",
          "maia", "xla", "lazy", "vulkan", "mps", "meta", "hpu", "mtia", "privateuseone")


class device:  # noqa: N801  (torch.device's name)
    """``tw.device("cuda:0")``, ``tw.device("cuda", 0)``, ``tw.device("cpu")``, ``tw.device(d)``.

    Compares equal only to devices of the same type and index (like torch, ``device("cpu") ==
    "cpu"`` is False: compare ``d.type == "cpu"``).
    """
    __slots__ = ("_type", "_index")

    def __init__(self, type, index=None):  # noqa: A002  (torch's argument name)
        if isinstance(type, device):
            if index is not None:
                raise TypeError("device(): pass either a device or a type and an index, not both")
            self._type, self._index = type._type, type._index
            return
        if isinstance(type, builtins.int) and not isinstance(type, builtins.bool):
            if not is_cuda_available():
                raise RuntimeError(
                    f"device({type}): an integer means an accelerator (cuda) index, and no "
                    f"accelerator is available here ({_why_no_cuda()}). Use tw.device('cpu').")
            type, index = "cuda", type
        if not isinstance(type, str):
            raise TypeError(f"device(): expected a string such as 'cpu' or 'cuda:0', or a device, "
                            f"got {builtins.type(type).__name__}")
        name, sep, idx = type.partition(":")
        if name not in _TYPES:
            raise RuntimeError(
                f"device type {name!r} is not available: expected one of {', '.join(_TYPES)} "
                f"device type at start of device string: {type} (as torch). tensorweaver runs "
                "on 'cuda' for NVIDIA GPUs, 'cpu' otherwise.")
        if sep:
            if index is not None:
                raise RuntimeError(f"type (string) must not include an index because index was "
                                   f"passed explicitly: {type}")
            if not idx.isdigit() or (len(idx) > 1 and idx[0] == "0"):
                raise RuntimeError(f"Invalid device string: {type!r} (use e.g. 'cuda' or 'cuda:0')")
            index = builtins.int(idx)
        if index is not None:
            if not isinstance(index, builtins.int) or isinstance(index, builtins.bool):
                raise TypeError(f"device(): the index must be an int, got {index!r}")
            if index < 0:
                raise RuntimeError("Device index must not be negative")
        self._type, self._index = name, index

    @property
    def type(self) -> str:
        return self._type

    @property
    def index(self):
        return self._index

    def __eq__(self, other):
        if not isinstance(other, device):
            return NotImplemented
        return self._type == other._type and self._index == other._index

    def __hash__(self):
        return hash((self._type, self._index))

    def __str__(self):
        return self._type if self._index is None else f"{self._type}:{self._index}"

    def __repr__(self):
        if self._index is None:
            return f"device(type={self._type!r})"
        return f"device(type={self._type!r}, index={self._index})"

    def __reduce__(self):
        return (device, (self._type, self._index))


# --------------------------------------------------------------------------- the decision
def legate_gpu_count() -> builtins.int:
    """GPUs in Legate's machine (0 on NumPy, or when Legate cannot be asked)."""
    if backend.is_numpy:
        return 0
    try:
        from legate.core import TaskTarget, get_legate_runtime
        return builtins.int(get_legate_runtime().get_machine().count(TaskTarget.GPU))
    except Exception:   # an older or newer Legate without this API: fall back to the plan
        from tensorweaver import _legate
        plan = _legate.applied
        return 1 if plan is not None and plan.mode == "gpu" else 0


def mode_from(is_numpy: builtins.bool, gpus: builtins.int) -> str:
    """``"cuda"`` when the process runs cuPyNumeric on GPUs, else ``"cpu"``. Pure."""
    return "cuda" if not is_numpy and gpus >= 1 else "cpu"


def _device_for(mode: str) -> device:
    return device("cuda", 0) if mode == "cuda" else device("cpu")


def _compute_mode() -> str:
    return mode_from(backend.is_numpy, legate_gpu_count())


#: This process's mode ("cuda" or "cpu") and the device every tensor reports.
MODE = _compute_mode()
CURRENT = _device_for(MODE)


def use_mode(mode: str) -> None:
    """Set the process's device mode (tests: inject GPU mode without a GPU)."""
    global MODE, CURRENT
    if mode not in ("cuda", "cpu"):
        raise ValueError(f"use_mode: expected 'cuda' or 'cpu', got {mode!r}")
    MODE, CURRENT = mode, _device_for(mode)


def is_cuda_available() -> builtins.bool:
    return MODE == "cuda"


# --------------------------------------------------------------------------- checks
class CudaNotAvailableError(RuntimeError, AssertionError):
    """CUDA asked for in a process without it. torch raises ``AssertionError`` ("Torch not
    compiled with CUDA enabled") or ``RuntimeError`` (no driver): this is both."""


class DeviceNotAvailableError(RuntimeError):
    """A device type tensorweaver never runs on (mps, xla, ...)."""


def _why_no_cuda() -> str:
    if backend.is_numpy:
        return (f"this process uses the NumPy backend ({backend.ENV_VAR}="
                f"{backend.name}), which runs on the host CPU")
    from tensorweaver import _legate
    plan = _legate.applied
    reason = f": {plan.reason}" if plan is not None and plan.mode != "gpu" else ""
    return f"this process runs cuPyNumeric in Legate CPU mode{reason}"


def cuda_not_available(what: str = "CUDA") -> CudaNotAvailableError:
    return CudaNotAvailableError(
        f"CUDA is not available (asked for by {what}; torch: 'Torch not compiled with CUDA "
        f"enabled'): "
        f"{_why_no_cuda()}. To use an NVIDIA GPU, run the GPU image on a host with an NVIDIA GPU "
        f"and driver (`make shell-gpu`, or {backend.ENV_VAR}=cupynumeric with nvidia-cupynumeric "
        "installed); the same code then runs there. Portable code picks the device with "
        "`device = \"cuda\" if tw.cuda.is_available() else \"cpu\"`.")


def as_device(value) -> device:
    """A ``device`` from a device, a string ('cpu', 'cuda', 'cuda:0') or an int index."""
    return value if isinstance(value, device) else device(value)


def check_device(value) -> device:
    """Check that tensors can live on ``value`` in this process; return it as a device.

    ``cpu`` is always accepted (in GPU mode the data stays where Legate placed it);
    ``cuda``/``cuda:0`` only in GPU mode; other types never.
    """
    d = as_device(value)
    if d.type == "cpu":
        return d
    if d.type == "cuda":
        if MODE != "cuda":
            raise cuda_not_available(f"device={str(d)!r}")
        if d.index not in (None, 0):
            raise RuntimeError(
                f"CUDA error: invalid device ordinal: device {str(d)!r} does not exist. Legate "
                "spreads the work over every GPU it was given, and they all appear as cuda:0; "
                "use 'cuda' or 'cuda:0' (and LEGATE_CONFIG's --gpus to choose how many GPUs).")
        return d
    raise DeviceNotAvailableError(
        f"device {str(d)!r} is not available: tensorweaver runs on 'cpu' (NumPy, or cuPyNumeric in "
        "Legate CPU mode) or 'cuda' (cuPyNumeric in Legate GPU mode, with the GPU image on a "
        "host with an NVIDIA GPU). Use `device = \"cuda\" if tw.cuda.is_available() else \"cpu\"`.")


def parse_to_args(args, kwargs):
    """The dtype asked for by ``.to(...)`` (None if none); checks the device asked for.

    Accepts torch's forms: ``to(dtype)``, ``to(device)``, ``to(device, dtype)``,
    ``to(other_tensor)`` (its dtype and device), with the keywords ``device``, ``dtype``,
    ``non_blocking`` (no effect: copies are synchronous) and ``copy``.
    """
    from tensorweaver.tensor import Tensor
    unknown = set(kwargs) - {"device", "dtype", "non_blocking", "copy", "memory_format"}
    if unknown:
        raise TypeError(f"to() got unexpected keyword argument(s) {sorted(unknown)}; it takes "
                        "device, dtype, non_blocking, copy and memory_format")
    dtype = kwargs.get("dtype")
    target = kwargs.get("device")
    positional = list(args)
    if positional and isinstance(positional[-1], builtins.bool):
        positional.pop()                    # to(dtype, non_blocking) / to(device, dtype, nb)
    for a in positional:
        if isinstance(a, Tensor):
            dtype, target = a.dtype, CURRENT
        elif isinstance(a, (str, device)) or (isinstance(a, builtins.int)
                                               and not isinstance(a, builtins.bool)):
            target = a
        elif a is not None:
            dtype = a
    if target is not None:
        check_device(target)
    from tensorweaver import dtypes
    return None if dtype is None else dtypes.as_dtype(dtype)


def check_cuda(index=None, what: str = ".cuda()") -> device:
    """For ``tensor.cuda(device)`` / ``module.cuda(device)``: CUDA must be available."""
    if MODE != "cuda":
        raise cuda_not_available(what)
    d = device("cuda", index) if isinstance(index, builtins.int) else as_device(
        "cuda" if index is None else index)
    if d.type != "cuda":
        raise ValueError(f"Invalid device, must be cuda device: {what} was given {str(d)!r}")
    return check_device(d)
