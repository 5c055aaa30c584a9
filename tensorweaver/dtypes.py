"""Data types, the default float type, and torch's type-promotion rules.

Dtypes are NumPy dtype objects; cuPyNumeric uses the same ones.
"""
from __future__ import annotations

import builtins

import numpy as np

float16 = half = np.dtype("float16")
float32 = float = np.dtype("float32")
float64 = double = np.dtype("float64")
int8 = np.dtype("int8")
uint8 = np.dtype("uint8")
int16 = short = np.dtype("int16")
int32 = int = np.dtype("int32")
int64 = long = np.dtype("int64")
bool = np.dtype("bool")  # noqa: A001  (mirrors torch.bool)

SUPPORTED = (float16, float32, float64, int8, uint8, int16, int32, int64, bool)
_default = [float32]


def get_default_dtype():
    return _default[0]


def set_default_dtype(dtype) -> None:
    d = as_dtype(dtype)
    if d.kind != "f":
        raise TypeError(f"set_default_dtype: only floating point types are allowed, got {d}")
    _default[0] = d


def as_dtype(dtype):
    """Normalise ``tw.float32``, ``"float32"``, ``numpy.float32``… to a supported dtype."""
    try:
        d = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"{dtype!r} is not a dtype; use e.g. tw.float32 or tw.int64") from exc
    if d not in SUPPORTED:
        raise TypeError(
            f"dtype {d} is not supported; tensors hold floating point, integer or bool data "
            "(e.g. tw.float32, tw.float64, tw.int64, tw.bool)")
    return d


def is_floating(dtype) -> bool:
    return dtype.kind == "f"


_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2}


def result_type(a_dtype, a_is_0d, b_dtype, b_is_0d):
    """torch's promotion for two tensors: within one category a 0-d tensor does not
    widen a dimensioned one (``float32 (n,) + float64 0-d -> float32``); across
    categories the higher one wins (``int64 tensor + float32 tensor -> float32``,
    where NumPy would give float64).
    """
    ca, cb = _CATEGORY[a_dtype.kind], _CATEGORY[b_dtype.kind]
    if ca == cb:
        if a_is_0d != b_is_0d:
            return b_dtype if a_is_0d else a_dtype
        return np.promote_types(a_dtype, b_dtype)
    return a_dtype if ca > cb else b_dtype


def scalar_result_type(t_dtype, scalar):
    """Dtype of ``tensor op python_scalar``: the scalar never widens within its category.

    A float scalar turns an integer/bool tensor into the default float type; an int
    scalar turns a bool tensor into int64.
    """
    if isinstance(scalar, (builtins.float, np.floating)):
        return t_dtype if t_dtype.kind == "f" else _default[0]
    if t_dtype.kind == "b" and not isinstance(scalar, (builtins.bool, np.bool_)):
        return int64
    return t_dtype


_TORCH_NAMES = {"float16": "Half", "float32": "Float", "float64": "Double", "int8": "Char",
                "uint8": "Byte", "int16": "Short", "int32": "Int", "int64": "Long", "bool": "Bool"}


def torch_name(dtype) -> str:
    """torch's short name of a dtype (``Float``, ``Long``), as its error messages use."""
    return _TORCH_NAMES.get(str(dtype), str(dtype))
