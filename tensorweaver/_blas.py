"""Products that accumulate into their output, on NumPy's own BLAS (reached through ``backend``).

A convolution with stride 1 is a sum of products, one per kernel offset, each reading the
padded input *shifted* by that offset: ``out = sum_k W_k @ x[:, shift_k : shift_k + L]``.
BLAS computes ``C = A @ B + beta * C`` in one pass, so with ``beta = 1`` those nine products
need no column matrix (im2col) and their adjoint no col2im. NumPy's ``matmul`` has no
``beta``: it would need a temporary per product and an add. So this module calls
``cblas_sgemm``/``cblas_dgemm`` of the OpenBLAS that NumPy's wheels ship and already
loaded (``numpy.libs``), through ``ctypes``; where there is none (a NumPy built against
another BLAS), ``load()`` returns None and the convolution keeps its im2col path.

Each function checks the shapes, dtypes and bounds of what it is given (a wrong pointer
here would write outside an array, silently) and then walks the shifts with address
arithmetic: one ``ctypes`` call per product, about a microsecond. The positions are taken
``piece`` at a time, all shifts of one piece before the next: a piece's operands stay in
the L2 cache across its products, and the products' inner size stays where OpenBLAS runs
fast (the weight gradient's products, whose inner size is the positions, slow down about
2x past a few thousand on an AVX-512 host).
"""
from __future__ import annotations

import ctypes
import glob
import os

import numpy as np

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112


class ShiftedProducts:
    """The three products of a stride-1 convolution, for float32 and float64 arrays.

    In all three, ``b`` is 2-D (rows, positions) with unit last stride, and each shift
    ``s`` names the window ``b[:, s : s + L]``; shifts are non-negative and ascending.
    """

    #: Positions per piece (see the module docstring; measured on the CNN benchmark's layer).
    piece = 1536

    def __init__(self, gemms):
        self._gemms = gemms                       # {np.dtype: cblas_?gemm}
        self.dtypes = frozenset(gemms)

    def supports(self, dtype) -> bool:
        return np.dtype(dtype) in self._gemms

    def sum_shifted(self, a, b, shifts, out):
        """``out = sum_k a[k] @ b[:, shifts[k] : shifts[k] + L]`` with ``a`` (K, M, R),
        ``out`` (M, L)."""
        m, length = out.shape
        self._check(a, b, shifts, length, out)
        r = a.shape[2]
        if a.shape[1] != m or b.shape[0] != r:
            raise ValueError(f"sum_shifted: a[k] is {a.shape[1:]}, needs ({m}, {b.shape[0]})")
        a0, step_a = a.ctypes.data, a.strides[0]
        b0, ldb, size = b.ctypes.data, b.strides[0] // b.itemsize, b.itemsize
        c0, ldc = out.ctypes.data, out.strides[0] // out.itemsize
        gemm = self._gemms[out.dtype]
        for p in range(0, length, self.piece):
            cols = min(self.piece, length - p)
            for k, shift in enumerate(shifts):
                gemm(_ROW_MAJOR, _NO_TRANS, _NO_TRANS, m, cols, r, 1.0, a0 + k * step_a, r,
                     b0 + (p + shift) * size, ldb, 1.0 if k else 0.0, c0 + p * size, ldc)

    def scatter_shifted(self, a, g, shifts, out):
        """``out[:, shifts[k] : shifts[k] + L] += a[k] @ g`` for every k, with ``a`` (K, M, R),
        ``g`` (R, L), ``out`` (M, positions): the adjoint of ``sum_shifted``."""
        r, length = g.shape
        self._check(a, out, shifts, length, g)
        m = out.shape[0]
        if a.shape[1:] != (m, r):
            raise ValueError(f"scatter_shifted: a[k] is {a.shape[1:]}, needs ({m}, {r})")
        a0, step_a = a.ctypes.data, a.strides[0]
        g0, ldg = g.ctypes.data, g.strides[0] // g.itemsize
        c0, ldc, size = out.ctypes.data, out.strides[0] // out.itemsize, out.itemsize
        gemm = self._gemms[out.dtype]
        for p in range(0, length, self.piece):
            cols = min(self.piece, length - p)
            for k, shift in enumerate(shifts):
                gemm(_ROW_MAJOR, _NO_TRANS, _NO_TRANS, m, cols, r, 1.0, a0 + k * step_a, r,
                     g0 + p * size, ldg, 1.0, c0 + (p + shift) * size, ldc)

    def gram_shifted(self, g, b, shifts, out, accumulate):
        """``out[k] = g @ b[:, shifts[k] : shifts[k] + L].T`` (``+=`` with ``accumulate``),
        with ``g`` (M, L), ``out`` (K, M, rows of b): the weight gradient."""
        m, length = g.shape
        self._check(out, b, shifts, length, g)
        if out.shape[1:] != (m, b.shape[0]):
            raise ValueError(f"gram_shifted: out[k] is {out.shape[1:]}, needs ({m}, {b.shape[0]})")
        g0, ldg = g.ctypes.data, g.strides[0] // g.itemsize
        b0, ldb, size = b.ctypes.data, b.strides[0] // b.itemsize, b.itemsize
        c0, step_c, n = out.ctypes.data, out.strides[0], out.shape[2]
        gemm = self._gemms[out.dtype]
        for p in range(0, length, self.piece):
            inner = min(self.piece, length - p)
            beta = 1.0 if accumulate or p else 0.0
            for k, shift in enumerate(shifts):
                gemm(_ROW_MAJOR, _NO_TRANS, _TRANS, m, n, inner, 1.0, g0 + p * size, ldg,
                     b0 + (p + shift) * size, ldb, beta, c0 + k * step_c, n)

    def _check(self, stack, shifted, shifts, length, other):
        """Dtypes, layouts and bounds common to the three products."""
        dtype = stack.dtype
        if dtype not in self._gemms or shifted.dtype != dtype or other.dtype != dtype:
            raise TypeError(f"shifted products need one dtype among {sorted(map(str, self.dtypes))}, got "
                            f"{stack.dtype}, {shifted.dtype}, {other.dtype}")
        if stack.ndim != 3 or not stack.flags.c_contiguous or not len(shifts) or len(shifts) != stack.shape[0]:
            raise ValueError("shifted products: the stacked operand must be C-contiguous (K, rows, cols), "
                             "one per shift")
        for arr in (shifted, other):
            if arr.ndim != 2 or arr.strides[1] != arr.itemsize or arr.strides[0] < arr.shape[1] * arr.itemsize:
                raise ValueError("shifted products: 2-D operands need unit last stride and rows that do not overlap")
        if np.may_share_memory(stack, shifted) or np.may_share_memory(stack, other) \
                or np.may_share_memory(shifted, other):
            raise ValueError("shifted products: the output must not share memory with an input")
        if length < 1 or shifts[0] < 0 or any(b < a for a, b in zip(shifts, shifts[1:])) \
                or shifts[-1] + length > shifted.shape[1]:
            raise ValueError(f"shifted products: windows of {length} at shifts {shifts[0]}..{shifts[-1]} "
                             f"do not fit in {shifted.shape[1]} positions")


def _numpy_blas_libraries():
    """The OpenBLAS shared libraries NumPy's wheel ships, if any."""
    root = os.path.dirname(np.__file__)
    found = []
    for folder in (os.path.join(root, os.pardir, "numpy.libs"), os.path.join(root, ".dylibs")):
        found += sorted(glob.glob(os.path.join(folder, "lib*openblas*")))
    return found


def load():
    """A ``ShiftedProducts`` on NumPy's bundled OpenBLAS, or None where it has none."""
    for path in _numpy_blas_libraries():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        gemms = {}
        for dtype, letter, scalar in ((np.float32, "s", ctypes.c_float), (np.float64, "d", ctypes.c_double)):
            # NumPy >= 2's wheels export ILP64 symbols with a suffix (64-bit integers).
            for name, integer in ((f"scipy_cblas_{letter}gemm64_", ctypes.c_int64),
                                  (f"scipy_cblas_{letter}gemm", ctypes.c_int),
                                  (f"cblas_{letter}gemm", ctypes.c_int)):
                fn = getattr(lib, name, None)
                if fn is None:
                    continue
                fn.restype = None
                fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, integer, integer, integer, scalar,
                               ctypes.c_void_p, integer, ctypes.c_void_p, integer, scalar, ctypes.c_void_p, integer]
                gemms[np.dtype(dtype)] = fn
                break
        if gemms:
            return ShiftedProducts(gemms)
    return None
