"""max/min/argmax/argmin with NaN, as torch: the extreme is NaN and its index the first NaN's
(an all-NaN row included). PyTorch is the oracle; the parity case reductions.extremes_with_nan
holds cuPyNumeric to the same answers."""
import numpy as np
import pytest

import tensorweaver as tw

torch = pytest.importorskip("torch", reason="PyTorch is the test-only oracle (extra 'torch')")

DATA = np.array([[np.nan, np.nan, np.nan], [1, np.nan, 3], [1, 5, 2], [4, -1, np.nan]], dtype=np.float32)


@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("dim", [0, 1])
def test_values_and_indices_along_a_dim(name, dim):
    ours = getattr(tw.tensor(DATA), name)(dim=dim)
    theirs = getattr(torch.tensor(DATA), name)(dim=dim)
    np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())
    np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())


@pytest.mark.parametrize("name", ["argmax", "argmin", "amax", "amin"])
@pytest.mark.parametrize("dim", [None, 0, 1])
def test_reductions(name, dim):
    if dim is None and name in ("amax", "amin"):
        ours, theirs = getattr(tw.tensor(DATA), name)(), getattr(torch.tensor(DATA), name)()
    else:
        ours = getattr(tw.tensor(DATA), name)(dim=dim) if dim is not None else getattr(tw.tensor(DATA), name)()
        theirs = getattr(torch.tensor(DATA), name)(dim=dim) if dim is not None else getattr(torch.tensor(DATA), name)()
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_whole_tensor_extremes_are_nan():
    assert np.isnan(tw.tensor(DATA).max().item()) and np.isnan(tw.tensor(DATA).min().item())
