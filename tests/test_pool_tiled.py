"""MaxPool2d's tiled fast path (stride == kernel, no padding, windows tiling the input):
torch as the oracle for values and gradients, with ties in every window position, on
channels-major views (the layout Conv2d returns), unbatched input, and NaN inputs (which
take the generic path)."""
import itertools

import numpy as np
import pytest

import tensorweaver as tw
import tensorweaver.nn.functional as F

torch = pytest.importorskip("torch", reason="PyTorch is the test-only oracle")
pytestmark = pytest.mark.torch


def _both(x, kernel, grad_seed=0):
    """(our output, our input grad), (torch's) for max_pool2d(x, kernel) with a random upstream grad."""
    xt = torch.tensor(np.ascontiguousarray(x), requires_grad=True)
    ref = torch.nn.functional.max_pool2d(xt, kernel)
    g = np.random.default_rng(grad_seed).standard_normal(tuple(ref.shape))
    ref.backward(torch.tensor(g))
    ours_x = tw.tensor(x, requires_grad=True)
    out = F.max_pool2d(ours_x, kernel)
    out.backward(tw.tensor(g))
    return (out.detach().numpy(), ours_x.grad.numpy()), (ref.detach().numpy(), xt.grad.numpy())


def _check(x, kernel):
    (out, gx), (ref, ref_gx) = _both(x, kernel)
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(gx, ref_gx)


def test_every_tie_pattern_of_a_2x2_window_routes_like_torch():
    # All 3**4 windows with values in {0, 1, 2}: every way two, three or four offsets tie.
    windows = np.array(list(itertools.product(range(3), repeat=4)), dtype=np.float64).reshape(-1, 2, 2)
    x = windows.reshape(9, 9, 2, 2).transpose(0, 2, 1, 3).reshape(1, 1, 18, 18)
    _check(x, 2)


@pytest.mark.parametrize("kernel", [(3, 3), (2, 3), (1, 2), (4, 1)])
def test_other_tiling_kernels_with_ties(kernel):
    x = np.random.default_rng(1).integers(0, 3, size=(2, 3, 12, 12)).astype(np.float64)
    _check(x, kernel)


def test_channels_major_view_and_unbatched_input():
    base = np.maximum(np.random.default_rng(2).standard_normal((5, 4, 8, 6)), 0)   # ReLU-like: many ties
    _check(base.transpose(1, 0, 2, 3), 2)          # (N, C, H, W) view of (C, N, H, W) memory
    _check(base[0], 2)                             # unbatched (C, H, W)


def test_nan_wins_as_in_torch():
    x = np.random.default_rng(3).standard_normal((1, 2, 4, 4))
    x[0, 0, 1, 0] = x[0, 1, 2, 3] = np.nan
    (out, gx), (ref, ref_gx) = _both(x, 2)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(ref))
    np.testing.assert_array_equal(out[~np.isnan(out)], ref[~np.isnan(ref)])
    np.testing.assert_array_equal(gx, ref_gx)


def test_float32_step_matches_torch():
    x = np.random.default_rng(4).standard_normal((4, 8, 28, 28)).astype(np.float32)
    _check(x, 2)
