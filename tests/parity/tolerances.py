"""How close cuPyNumeric must come to NumPy: the one place the parity tolerances live.

An output passes when ``|cupynumeric - numpy| <= atol + rtol * |numpy|`` elementwise
(``numpy.allclose``), with the pair for the output's dtype. Never bit-for-bit: the
backends may sum in a different order (Legate splits reductions into tiles), and BLAS
libraries differ. TF32 is off (``CUPYNUMERIC_FAST_MATH=0``, cuPyNumeric's default), so
float32 matmuls really are float32.

A whole training run compounds rounding differences step after step; its loss curve
and final weights get the ``TRAINING`` pair instead.
"""
from __future__ import annotations

import numpy as np

#: dtype name -> (rtol, atol) for single ops, layers and short optimizer runs.
TOLERANCES = {
    "float64": (1e-10, 1e-12),
    "float32": (1e-4, 1e-5),
    "float16": (1e-2, 1e-3),
}

#: dtype name -> (rtol, atol) for the 200-step training runs.
TRAINING = {
    "float64": (1e-8, 1e-10),
    "float32": (1e-3, 1e-4),
}


def tolerance(dtype, case_dtype=None, training: bool = False) -> tuple[float, float] | None:
    """(rtol, atol) for an output of ``dtype`` from a case run in ``case_dtype``.

    The looser of the two applies: a float64 output computed from float32 inputs carries
    float32 error. None means exact equality (integer and boolean outputs).
    """
    dtype = np.dtype(dtype)
    if dtype.kind not in "fc":
        return None
    table = TRAINING if training else TOLERANCES
    pairs = []
    for d in {dtype.name, np.dtype(case_dtype or dtype).name}:
        if d not in table:
            raise KeyError(f"no parity tolerance for {d}: add one to tests/parity/tolerances.py")
        pairs.append(table[d])
    return max(p[0] for p in pairs), max(p[1] for p in pairs)


def errors(got: np.ndarray, expected: np.ndarray, atol: float) -> tuple[float, float]:
    """(max abs error, max rel error); relative to max(|expected|, atol), so zeros don't blow up."""
    if got.size == 0:
        return 0.0, 0.0
    diff = np.abs(got.astype(np.float64) - expected.astype(np.float64))
    scale = np.maximum(np.abs(expected.astype(np.float64)), atol)
    return float(diff.max()), float((diff / scale).max())


def budget(got: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> tuple[float, bool]:
    """(worst error / allowed error, whether some element needed ``atol`` to pass).

    ``allclose`` lets each element differ by ``atol + rtol * |expected|``; the first number
    is the largest fraction of that allowance used (<= 1 passes). The second says which
    term carried the worst elements: True when some element's error exceeds
    ``rtol * |expected|`` (values near zero, where only ``atol`` makes it pass), which is
    why a passing row can show a relative error above rtol.
    """
    if got.size == 0:
        return 0.0, False
    expected64 = expected.astype(np.float64)
    diff = np.abs(got.astype(np.float64) - expected64)
    finite = np.isfinite(diff)           # equal NaNs / infinities: allclose(equal_nan=True) passes them
    diff, scale = diff[finite], np.abs(expected64[finite])
    if diff.size == 0:
        return 0.0, False
    used = float((diff / (atol + rtol * scale)).max())
    return used, bool((diff > rtol * scale).any())
