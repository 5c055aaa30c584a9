"""PyTorch's *Tensors* section: type tests, element counts and process-wide settings.

``is_tensor``, ``is_floating_point``, ``is_nonzero``, ``numel``; the default device
(``set_default_device``/``get_default_device``, within the one-device-per-process model of
``tensorweaver._device``); print options for ``Tensor.__repr__`` (``set_printoptions``);
``set_flush_denormal``.
"""
from __future__ import annotations

import builtins
import math

from tensorweaver import _device


def _tensor_class():
    from tensorweaver.tensor import Tensor
    return Tensor


def is_tensor(obj) -> builtins.bool:
    """True when ``obj`` is a tensorweaver Tensor (``nn.Parameter`` included)."""
    return isinstance(obj, _tensor_class())


def _require_tensor(obj, op):
    if not is_tensor(obj):
        raise TypeError(f"{op}(): argument 'input' must be a Tensor, not {type(obj).__name__}; "
                        "wrap data with tw.tensor(...) first")
    return obj


def is_floating_point(input) -> builtins.bool:  # noqa: A002  (torch's argument name)
    """True when the tensor's dtype is a floating point type."""
    return _require_tensor(input, "is_floating_point").dtype.kind == "f"


def numel(input) -> builtins.int:  # noqa: A002
    """The number of elements of the tensor (1 for a 0-d tensor)."""
    return _require_tensor(input, "numel").numel()


def is_nonzero(input) -> builtins.bool:  # noqa: A002
    """Whether a one-element tensor is nonzero; any other number of elements is an error."""
    t = _require_tensor(input, "is_nonzero")
    n = t.numel()
    if n == 0:
        raise RuntimeError("Boolean value of Tensor with no values is ambiguous")
    if n > 1:
        raise RuntimeError(f"Boolean value of Tensor with more than one value is ambiguous "
                           f"(it has {n}); reduce it first with .any() or .all()")
    return builtins.bool(t.item() != 0)


# --------------------------------------------------------------------------- the default device
def set_default_device(device) -> None:
    """Check that tensors can be made on ``device`` here (``None`` resets to the default).

    tensorweaver has one device per process (``tensorweaver._device``): every tensor is made
    there, so this only refuses a device the process cannot use (``"cuda"`` without a GPU
    raises, as torch does when CUDA is missing); ``"cpu"`` is always accepted.
    """
    if device is not None:
        _device.check_device(device)


def get_default_device():
    """The device new tensors are made on: this process's one device (``tensor.device``)."""
    return _device.CURRENT


# --------------------------------------------------------------------------- printing
_PROFILES = {
    "default": {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80},
    "short": {"precision": 2, "threshold": 1000, "edgeitems": 2, "linewidth": 80},
    "full": {"precision": 4, "threshold": math.inf, "edgeitems": 3, "linewidth": 80},
}
#: What ``Tensor.__repr__`` reads: torch's print options (``sci_mode`` None = automatic).
PRINT_OPTIONS = dict(_PROFILES["default"], sci_mode=None)


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None,
                     sci_mode=None) -> None:
    """Set how tensors print, as ``torch.set_printoptions``.

    ``precision``: digits after the decimal point (4); ``threshold``: more elements than this
    are summarised with ``...`` (1000); ``edgeitems``: items shown at each end of a
    summarised dim (3); ``linewidth``: characters per line (80); ``profile``: ``"default"``,
    ``"short"`` or ``"full"`` (never summarise), applied first; ``sci_mode``: True or False
    forces or forbids scientific notation, None chooses automatically. Unlike torch,
    ``sci_mode`` is reset only by passing it again (torch's behaviour for the others too).
    """
    if profile is not None:
        if profile not in _PROFILES:
            raise ValueError(f"set_printoptions: profile must be one of {sorted(_PROFILES)}, got {profile!r}")
        PRINT_OPTIONS.update(_PROFILES[profile])
    for name, value in (("precision", precision), ("threshold", threshold), ("edgeitems", edgeitems),
                        ("linewidth", linewidth)):
        if value is None:
            continue
        if isinstance(value, builtins.bool) or not isinstance(value, (builtins.int, builtins.float)) or value < 0:
            raise ValueError(f"set_printoptions: {name} must be a non-negative number, got {value!r}")
        PRINT_OPTIONS[name] = value
    if sci_mode is not None and not isinstance(sci_mode, builtins.bool):
        raise ValueError(f"set_printoptions: sci_mode must be True, False or None, got {sci_mode!r}")
    PRINT_OPTIONS["sci_mode"] = sci_mode


def format_array(host_array, prefix: str) -> str:
    """The body of ``tensor(...)``: ``host_array`` (NumPy) printed with the print options."""
    import numpy as np
    opts = PRINT_OPTIONS
    threshold = opts["threshold"]
    kwargs = dict(separator=", ", prefix=prefix, threshold=sys_maxsize() if threshold == math.inf
                  else builtins.int(threshold), edgeitems=builtins.int(opts["edgeitems"]),
                  precision=builtins.int(opts["precision"]), max_line_width=builtins.int(opts["linewidth"]),
                  floatmode="maxprec_equal")
    if host_array.dtype.kind == "f":
        if opts["sci_mode"] is True:
            digits = builtins.int(opts["precision"])
            kwargs["formatter"] = {"float_kind": lambda v: np.format_float_scientific(
                v, precision=digits, unique=False)}
        elif opts["sci_mode"] is False:
            kwargs["suppress_small"] = True
    return np.array2string(host_array, **kwargs)


def sys_maxsize() -> builtins.int:
    import sys
    return sys.maxsize


# --------------------------------------------------------------------------- denormals
def set_flush_denormal(mode: builtins.bool) -> builtins.bool:
    """Ask for denormal floats to be flushed to zero; returns whether that is supported.

    Neither NumPy nor cuPyNumeric exposes the CPU's flush-to-zero mode, so the answer is
    False and nothing changes: torch's answer on a CPU without that mode. Computations keep
    IEEE denormals.
    """
    if not isinstance(mode, builtins.bool):
        raise TypeError(f"set_flush_denormal(): mode must be a bool, got {type(mode).__name__}")
    return False
