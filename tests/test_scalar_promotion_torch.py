"""Tensor-and-Python-scalar arithmetic keeps torch's result dtypes and values.

`promote` returns at once when the scalar keeps the tensor's dtype (a float with a float
tensor, an int with any but a bool tensor); every other pair goes through the general rules.
Both paths are compared with PyTorch, operand order included.
"""
from __future__ import annotations

import operator

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is the test-only oracle (extra 'torch'); CI's venv stage runs these tests")

import tensorweaver as tw  # noqa: E402

pytestmark = pytest.mark.torch

DTYPES = ["float16", "float32", "float64", "int8", "uint8", "int32", "int64", "bool"]
SCALARS = [3, 2.5, True]
OPS = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "truediv": operator.truediv}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scalar", SCALARS, ids=repr)
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("scalar_first", [False, True])
def test_tensor_op_scalar_matches_torch(dtype, scalar, op, scalar_first):
    values = np.array([0, 1, 1, 0], dtype=dtype) if dtype == "bool" else np.array([1, 2, 3, 4], dtype=dtype)
    ours, theirs = tw.tensor(values), torch.tensor(values)
    fn = OPS[op]
    try:
        want = fn(scalar, theirs) if scalar_first else fn(theirs, scalar)
    except RuntimeError:            # torch refuses, e.g. subtraction with a bool tensor
        with pytest.raises((RuntimeError, TypeError, ValueError)):
            fn(scalar, ours) if scalar_first else fn(ours, scalar)
        return
    got = fn(scalar, ours) if scalar_first else fn(ours, scalar)
    assert str(got.dtype).replace("tensorweaver.", "") == str(want.dtype).replace("torch.", ""), (got.dtype, want.dtype)
    np.testing.assert_allclose(got.numpy().astype(np.float64), want.numpy().astype(np.float64), rtol=1e-3)
