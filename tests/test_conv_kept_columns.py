"""Conv2d keeps its im2col columns (or, on the grid, its padded input) from forward for
backward (NumPy) in a pooled buffer: every way a node can live and die must give torch's
gradients and hand the buffer back exactly once — two forwards before one backward, retain_graph, a forward never
backwarded, no_grad, an input changed in place, strided and grouped convolutions."""
import gc

import numpy as np
import pytest

import tensorweaver as tw
import tensorweaver.nn.functional as F
from tensorweaver import backend
from tensorweaver.ops import conv as conv_ops

torch = pytest.importorskip("torch", reason="PyTorch is the test-only oracle")
pytestmark = pytest.mark.torch

numpy_only = pytest.mark.skipif(not backend.is_numpy, reason="columns are kept on NumPy only")


def _data(shape=(3, 4, 7, 6), wshape=(5, 4, 3, 3), seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape), rng.standard_normal(wshape), rng.standard_normal(wshape[0])


def _pair(x, w, b):
    return ([tw.tensor(a, requires_grad=True) for a in (x, w, b)],
            [torch.tensor(a, requires_grad=True) for a in (x, w, b)])


def _close(ours, ref):
    np.testing.assert_allclose(ours.detach().numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kw", [dict(padding=1), dict(stride=2, padding=1), dict(padding=(0, 2), dilation=2),
                                dict(padding=1, groups=2)])
def test_two_forwards_then_one_backward(kw):
    # The same weights used twice in one graph: each node must keep its own columns.
    x, w, b = _data(wshape=(6, 4 // kw.get("groups", 1), 3, 3))
    x2 = np.random.default_rng(1).standard_normal(x.shape)
    (xo, wo, bo), (xr, wr, br) = _pair(x, w, b)
    ours = (F.conv2d(xo, wo, bo, **kw) * 2 + F.conv2d(tw.tensor(x2), wo, bo, **kw) ** 2).sum()
    ref = (torch.nn.functional.conv2d(xr, wr, br, **kw) * 2
           + torch.nn.functional.conv2d(torch.tensor(x2), wr, br, **kw) ** 2).sum()
    ours.backward()
    ref.backward()
    for a, r in ((xo, xr), (wo, wr), (bo, br)):
        _close(a.grad, r.grad)


def test_retain_graph_backward_twice_accumulates_the_same_gradient():
    x, w, b = _data()
    (xo, wo, bo), (xr, wr, br) = _pair(x, w, b)
    ours = F.conv2d(xo, wo, bo, padding=1).square().sum()
    ref = torch.nn.functional.conv2d(xr, wr, br, padding=1).square().sum()
    ours.backward(retain_graph=True)
    # Another step's convolution in between must not take (and overwrite) the kept buffer.
    F.conv2d(tw.tensor(np.ones(x.shape)), wo, bo, padding=1).sum().backward()
    wo.grad = None
    ours.backward()
    ref.backward()
    _close(wo.grad, wr.grad)
    with pytest.raises(RuntimeError, match="retain_graph"):
        ours.backward()


def test_input_changed_in_place_after_forward_still_raises():
    x, w, b = _data()
    xo, wo = tw.tensor(x, requires_grad=True), tw.tensor(w, requires_grad=True)
    h = xo * 1.0
    y = F.conv2d(h, wo, padding=1).sum()
    with tw.no_grad():
        h.add_(1.0)
    with pytest.raises(RuntimeError, match="inplace"):
        y.backward()


@numpy_only
@pytest.mark.parametrize("kept_attr, x_shape, w_shape", [
    ("kept_columns", (3, 4, 7, 6), (5, 4, 3, 3)),                 # 4 input channels: im2col columns
    pytest.param("kept_grid", (2, 8, 6, 6), (3, 8, 3, 3),         # 8: the padded grid (test_conv_grid.py)
                 marks=pytest.mark.skipif(backend.shifted_products is None,
                                          reason="no bundled OpenBLAS next to NumPy: no grid path")),
])
def test_buffer_returns_to_the_pool_after_backward_and_when_never_backwarded(kept_attr, x_shape, w_shape):
    x, w, _ = _data(x_shape, w_shape)
    wo = tw.tensor(w, requires_grad=True)
    y = F.conv2d(tw.tensor(x), wo, padding=1)
    node = y.grad_fn
    kept = getattr(node, kept_attr)
    assert kept is not None
    y.sum().backward()
    assert getattr(node, kept_attr) is None
    # The next forward of that shape reuses the buffer handed back by backward...
    y = F.conv2d(tw.tensor(x), wo, padding=1)
    assert getattr(y.grad_fn, kept_attr) is kept
    # ... and one dropped without a backward hands it back as well.
    del y, node
    gc.collect()
    y = F.conv2d(tw.tensor(x), wo, padding=1)
    assert getattr(y.grad_fn, kept_attr) is kept
    y.sum().backward()
    with tw.no_grad():         # without a graph nothing is kept, and the buffer stays in the pool
        F.conv2d(tw.tensor(x), wo, padding=1)
    y = F.conv2d(tw.tensor(x), wo, padding=1)
    assert getattr(y.grad_fn, kept_attr) is kept
    y.sum().backward()


@numpy_only
def test_nothing_kept_without_a_weight_gradient_or_over_the_limit(monkeypatch):
    x, w, b = _data()
    with tw.no_grad():
        F.conv2d(tw.tensor(x), tw.tensor(w, requires_grad=True), padding=1)
    xo = tw.tensor(x, requires_grad=True)
    assert F.conv2d(xo, tw.tensor(w), padding=1).grad_fn.kept_columns is None
    monkeypatch.setattr(conv_ops, "_KEEP_MAX_ELEMENTS", 10)
    (xo2, wo2, _), (xr, wr, _) = _pair(x, w, b)
    y = F.conv2d(xo2, wo2, padding=1)
    assert y.grad_fn.kept_columns is None            # rebuilt in backward instead
    y.square().sum().backward()
    torch.nn.functional.conv2d(xr, wr, padding=1).square().sum().backward()
    _close(wo2.grad, wr.grad)
    _close(xo2.grad, xr.grad)


@pytest.mark.filterwarnings("ignore:Using padding='same'")      # torch's own note on even kernels
def test_padding_buffers_of_one_shape_with_other_pads_do_not_mix():
    # Both pad to a (1, 1, 9, 8) buffer (stride 1 adds a bottom row): k=3, padding=1 on 6x6
    # puts the image at rows/cols 1..6; k=2, 'same' on 7x7 at 0..6. The second must not
    # find the first's values in what is its border.
    rng = np.random.default_rng(3)
    for shape, k, padding in (((1, 1, 6, 6), 3, 1), ((1, 1, 7, 7), 2, "same"), ((1, 1, 6, 6), 3, 1)):
        x, w = rng.standard_normal(shape), rng.standard_normal((1, 1, k, k))
        (xo, wo), (xr, wr) = ([tw.tensor(a, requires_grad=True) for a in (x, w)],
                              [torch.tensor(a, requires_grad=True) for a in (x, w)])
        yo, yr = F.conv2d(xo, wo, padding=padding), torch.nn.functional.conv2d(xr, wr, padding=padding)
        _close(yo, yr)
        yo.square().sum().backward()
        yr.square().sum().backward()
        _close(xo.grad, xr.grad)
        _close(wo.grad, wr.grad)
