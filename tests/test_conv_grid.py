"""Conv2d on the padded grid: stride 1, one group, 8+ input channels, NumPy with its bundled
OpenBLAS (``tensorweaver/_blas.py``). Nine accumulating products replace im2col and col2im;
every way in must give torch's values and gradients, in blocks and pieces of any size, and
the kept padded input must go back to the pool exactly once, like the kept columns
(``test_conv_kept_columns.py`` checks both buffers' return to the pool)."""
import numpy as np
import pytest

import tensorweaver as tw
import tensorweaver.nn.functional as F
from tensorweaver import backend, nn
from tensorweaver.autograd import gradcheck
from tensorweaver.ops import conv as conv_ops

torch = pytest.importorskip("torch", reason="PyTorch is the test-only oracle")
pytestmark = [pytest.mark.torch,
              pytest.mark.skipif(backend.shifted_products is None,
                                 reason="no bundled OpenBLAS next to NumPy (or not the NumPy backend): "
                                        "convolutions run im2col, tested by the other conv tests")]


@pytest.fixture
def small_pieces(monkeypatch):
    """Blocks of one image and products 7 positions at a time: every boundary is crossed."""
    monkeypatch.setattr(conv_ops, "_GRID_BLOCK_ELEMENTS", 1)     # one image per block...
    monkeypatch.setattr(backend.shifted_products, "piece", 7)


def _data(x_shape, w_shape, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype),
            rng.standard_normal(w_shape[0]).astype(dtype))


def _run_both(x, w, b, kw, grad_seed=1):
    """Forward and backward of ours and torch's conv2d from the same values and output gradient;
    returns (our output, our grad_fn before backward, pairs of arrays to compare)."""
    ours = [tw.tensor(a, requires_grad=True) for a in (x, w, b)]
    refs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    y = F.conv2d(*ours, **kw)
    yr = torch.nn.functional.conv2d(*refs, **kw)
    node = y.grad_fn
    kept = node.kept_grid
    g = np.random.default_rng(grad_seed).standard_normal(tuple(yr.shape)).astype(x.dtype)
    y.backward(tw.tensor(g))
    yr.backward(torch.tensor(g))
    pairs = [(y.detach().numpy(), yr.detach().numpy())] + [(o.grad.numpy(), r.grad.numpy()) for o, r in zip(ours, refs)]
    return kept, pairs


def _assert_pairs(pairs, rtol=1e-11, atol=1e-11):
    for got, want in pairs:
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


# ----------------------------------------------------------------------------- the products
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("piece", [5, 1536])
def test_shifted_products_match_numpy(dtype, piece, monkeypatch):
    products = backend.shifted_products
    monkeypatch.setattr(products, "piece", piece)
    rng = np.random.default_rng(0)
    shifts, length = [0, 1, 2, 10, 11, 12, 20, 21, 22], 40
    a = rng.standard_normal((9, 5, 7)).astype(dtype)
    b = rng.standard_normal((7, 80)).astype(dtype)[:, 3:75]          # a window of a wider array
    out = np.full((5, length), np.nan, dtype)      # overwritten, never read (BLAS's beta = 0)
    products.sum_shifted(a, b, shifts, out)
    np.testing.assert_allclose(out, sum(a[k] @ b[:, s:s + length] for k, s in enumerate(shifts)), rtol=1e-5)

    g = rng.standard_normal((7, length)).astype(dtype)
    target = rng.standard_normal((5, 70)).astype(dtype)
    want = target.copy()
    for k, s in enumerate(shifts):
        want[:, s:s + length] += a[k] @ g
    products.scatter_shifted(a, g, shifts, target)
    np.testing.assert_allclose(target, want, rtol=1e-5, atol=1e-5)

    g = rng.standard_normal((5, length)).astype(dtype)
    gram = np.ones((9, 5, 7), dtype)
    products.gram_shifted(g, b, shifts, gram, accumulate=True)
    want = np.stack([g @ b[:, s:s + length].T for s in shifts])
    np.testing.assert_allclose(gram, want + 1, rtol=1e-5, atol=1e-5)
    gram[...] = np.nan
    products.gram_shifted(g, b, shifts, gram, accumulate=False)
    np.testing.assert_allclose(gram, want, rtol=1e-5, atol=1e-5)


def test_shifted_products_refuse_what_would_write_outside_an_array():
    products = backend.shifted_products
    a = np.ones((2, 3, 4), np.float32)
    b = np.ones((4, 20), np.float32)
    out = np.empty((3, 10), np.float32)
    with pytest.raises(ValueError, match="do not fit"):
        products.sum_shifted(a, b, [0, 11], out)                       # 11 + 10 > 20
    with pytest.raises(TypeError, match="one dtype"):
        products.sum_shifted(a.astype(np.float64), b, [0, 1], out)
    with pytest.raises(TypeError, match="one dtype"):
        products.sum_shifted(a.astype(np.int64), b.astype(np.int64), [0, 1], np.zeros((3, 10), np.int64))
    with pytest.raises(ValueError, match="C-contiguous"):
        products.sum_shifted(np.ones((3, 4, 2), np.float32).transpose(2, 0, 1), b, [0, 1], out)
    with pytest.raises(ValueError, match="unit last stride"):
        products.sum_shifted(a, np.ones((4, 40), np.float32)[:, ::2], [0, 1], out)
    with pytest.raises(ValueError, match="needs"):
        products.sum_shifted(a, np.ones((5, 20), np.float32), [0, 1], out)
    with pytest.raises(ValueError, match="share memory"):
        products.sum_shifted(a, b, [0, 1], b[:3, :10])


# ----------------------------------------------------------------------------- the convolution
CASES = {
    "3x3 pad 1": ((3, 8, 9, 7), (5, 8, 3, 3), dict(padding=1)),
    "3x3 no pad": ((2, 9, 8, 8), (4, 9, 3, 3), dict(padding=0)),
    "5x3 pad (2, 0)": ((2, 8, 9, 6), (3, 8, 5, 3), dict(padding=(2, 0))),
    "3x3 dilation 2": ((2, 8, 9, 10), (3, 8, 3, 3), dict(padding=2, dilation=2)),
    "1x1": ((2, 12, 5, 4), (6, 12, 1, 1), dict()),
    "same 4x4": ((2, 8, 7, 6), (3, 8, 4, 4), dict(padding="same")),
    "more outputs than inputs": ((3, 8, 6, 6), (20, 8, 3, 3), dict(padding=1)),
}


@pytest.mark.filterwarnings("ignore:Using padding='same'")      # torch's own note on even kernels
@pytest.mark.parametrize("blocks", ["default", "small"])
@pytest.mark.parametrize("name", CASES)
def test_grid_conv_matches_torch(name, blocks, request):
    if blocks == "small":
        request.getfixturevalue("small_pieces")
    x_shape, w_shape, kw = CASES[name]
    kept, pairs = _run_both(*_data(x_shape, w_shape), kw)
    assert kept is not None                        # the grid path ran (and kept the padded input)
    _assert_pairs(pairs)


def test_grid_conv_float32_matches_torch(small_pieces):
    kept, pairs = _run_both(*_data((4, 16, 12, 12), (8, 16, 3, 3), np.float32), dict(padding=1))
    assert kept is not None
    _assert_pairs(pairs, rtol=1e-4, atol=1e-4)


def test_grid_and_im2col_give_the_same_answer(monkeypatch):
    x, w, b = _data((3, 8, 9, 7), (5, 8, 3, 3), np.float32)
    grid_kept, grid_pairs = _run_both(x, w, b, dict(padding=1))
    monkeypatch.setattr(conv_ops, "_GRID_MIN_CHANNELS", 10 ** 9)
    im2col_kept, im2col_pairs = _run_both(x, w, b, dict(padding=1))
    assert grid_kept is not None and im2col_kept is None
    for (got, _), (want, _) in zip(grid_pairs, im2col_pairs):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_gradcheck_on_the_grid():
    rng = np.random.default_rng(3)
    x = tw.tensor(rng.standard_normal((2, 8, 5, 4)), requires_grad=True)
    w = tw.tensor(rng.standard_normal((3, 8, 3, 3)), requires_grad=True)
    b = tw.tensor(rng.standard_normal(3), requires_grad=True)
    assert F.conv2d(x, w, b, padding=1).grad_fn.kept_grid is not None
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, padding=1), (x, w, b))


@pytest.mark.parametrize("pool", [False, True], ids=["relu", "relu-pool"])
@pytest.mark.parametrize("blocks", ["default", "small"])
def test_fused_relu_and_pool_on_the_grid_match_torch(blocks, pool, request):
    if blocks == "small":
        request.getfixturevalue("small_pieces")
    tw.manual_seed(0)
    ours = nn.Sequential(nn.Conv2d(8, 6, 3, padding=1), nn.ReLU(), *([nn.MaxPool2d(2)] if pool else [])).double()
    ref = torch.nn.Sequential(torch.nn.Conv2d(8, 6, 3, padding=1), torch.nn.ReLU(),
                              *([torch.nn.MaxPool2d(2)] if pool else [])).double()
    ref.load_state_dict({k: torch.tensor(v.detach().numpy()) for k, v in ours.state_dict().items()})
    x = np.random.default_rng(4).standard_normal((5, 8, 8, 6))
    xo, xr = tw.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yo, yr = ours(xo), ref(xr)
    assert isinstance(yo.grad_fn, conv_ops.Conv2d) and yo.grad_fn.kept_grid is not None   # fused, on the grid
    g = np.random.default_rng(5).standard_normal(tuple(yr.shape))
    yo.backward(tw.tensor(g))
    yr.backward(torch.tensor(g))
    _assert_pairs([(yo.detach().numpy(), yr.detach().numpy()), (xo.grad.numpy(), xr.grad.numpy())]
                  + [(p.grad.numpy(), q.grad.numpy()) for p, q in zip(ours.parameters(), ref.parameters())])


@pytest.mark.parametrize("why, x_shape, w_shape, kw", [
    ("4 input channels", (2, 4, 6, 6), (3, 4, 3, 3), dict(padding=1)),
    ("stride 2", (2, 8, 7, 7), (3, 8, 3, 3), dict(padding=1, stride=2)),
    ("two groups", (2, 16, 6, 6), (4, 8, 3, 3), dict(padding=1, groups=2)),
])
def test_im2col_where_the_grid_does_not_apply(why, x_shape, w_shape, kw):
    kept, pairs = _run_both(*_data(x_shape, w_shape), kw)
    assert kept is None, why
    _assert_pairs(pairs)


def test_im2col_without_the_bundled_blas(monkeypatch):
    monkeypatch.setattr(backend, "shifted_products", None)
    kept, pairs = _run_both(*_data((3, 8, 9, 7), (5, 8, 3, 3)), dict(padding=1))
    assert kept is None
    _assert_pairs(pairs)


@pytest.mark.parametrize("kw", [dict(padding=1), dict(padding=(0, 2), dilation=2)])
def test_conv_transpose_runs_its_adjoints_on_the_grid(kw, small_pieces, monkeypatch):
    # Its forward is Conv2d's input gradient, its backward Conv2d's forward and weight
    # gradient (the grid made in backward: that node never ran a forward). Its 8 output
    # channels are the input channels of those convolutions.
    calls = []
    products = backend.shifted_products
    for name in ("sum_shifted", "scatter_shifted", "gram_shifted"):
        method = getattr(products, name)
        monkeypatch.setattr(products, name, lambda *a, _m=method, _n=name, **k: (calls.append(_n), _m(*a, **k))[1])
    x, w, _ = _data((2, 4, 6, 5), (4, 8, 3, 3))
    b = np.random.default_rng(1).standard_normal(8)
    ours = [tw.tensor(a, requires_grad=True) for a in (x, w, b)]
    refs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    y = F.conv_transpose2d(*ours, **kw)
    yr = torch.nn.functional.conv_transpose2d(*refs, **kw)
    g = np.random.default_rng(2).standard_normal(tuple(yr.shape))
    y.backward(tw.tensor(g))
    yr.backward(torch.tensor(g))
    _assert_pairs([(y.detach().numpy(), yr.detach().numpy())]
                  + [(o.grad.numpy(), r.grad.numpy()) for o, r in zip(ours, refs)])
    assert {"sum_shifted", "scatter_shifted", "gram_shifted"} <= set(calls)


@pytest.mark.parametrize("needs", ["input only", "weight only"])
def test_only_the_gradients_asked_for(needs):
    x, w, b = _data((2, 8, 6, 6), (3, 8, 3, 3))
    xo = tw.tensor(x, requires_grad=needs == "input only")
    wo = tw.tensor(w, requires_grad=needs == "weight only")
    xr = torch.tensor(x, requires_grad=needs == "input only")
    wr = torch.tensor(w, requires_grad=needs == "weight only")
    y = F.conv2d(xo, wo, padding=1)
    assert (y.grad_fn.kept_grid is not None) == (needs == "weight only")   # kept only for the weight gradient
    y.square().sum().backward()
    torch.nn.functional.conv2d(xr, wr, padding=1).square().sum().backward()
    ours, ref = (xo, xr) if needs == "input only" else (wo, wr)
    _assert_pairs([(ours.grad.numpy(), ref.grad.numpy())])


# ----------------------------------------------------------------------------- the kept grid's life
def test_a_grid_over_the_limit_is_made_again_in_backward(monkeypatch):
    monkeypatch.setattr(conv_ops, "_KEEP_MAX_ELEMENTS", 10)
    kept, pairs = _run_both(*_data((3, 8, 9, 7), (5, 8, 3, 3)), dict(padding=1))
    assert kept is None
    _assert_pairs(pairs)


def test_two_forwards_then_one_backward_and_retain_graph():
    x, w, b = _data((2, 8, 6, 6), (4, 8, 3, 3))
    x2 = np.random.default_rng(1).standard_normal(x.shape)
    wo, bo = tw.tensor(w, requires_grad=True), tw.tensor(b, requires_grad=True)
    wr, br = torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)
    ours = (F.conv2d(tw.tensor(x), wo, bo, padding=1) * 2 + F.conv2d(tw.tensor(x2), wo, bo, padding=1) ** 2).sum()
    ref = (torch.nn.functional.conv2d(torch.tensor(x), wr, br, padding=1) * 2
           + torch.nn.functional.conv2d(torch.tensor(x2), wr, br, padding=1) ** 2).sum()
    ours.backward(retain_graph=True)
    F.conv2d(tw.tensor(np.ones(x.shape)), wo, bo, padding=1).sum().backward()   # must not take the kept grids
    wo.grad = bo.grad = None
    ours.backward()
    ref.backward()
    _assert_pairs([(wo.grad.numpy(), wr.grad.numpy()), (bo.grad.numpy(), br.grad.numpy())])
    with pytest.raises(RuntimeError, match="retain_graph"):
        ours.backward()
