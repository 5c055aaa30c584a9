"""PyTorch's Other Operations (ops/other_ops.py, ops/linalg_more.py): forward and backward against
torch, float64 gradcheck, second derivatives for the composed ops, Tensor methods, the counting
ops' integer results, and the errors for bad input."""
import numpy as np
import pytest

import tensorweaver as tw
from tensorweaver.autograd import gradcheck

torch = pytest.importorskip("torch", reason="PyTorch is the test-only oracle")
pytestmark = pytest.mark.torch

rng = np.random.default_rng(41)


def r(*shape):
    return rng.standard_normal(shape)


# (name, arrays, args, kwargs): torch.<name>(*tensors, *args, **kwargs)
CASES = [
    ("flip", [r(3, 4, 2)], ((0, 2),), {}), ("fliplr", [r(3, 4)], (), {}), ("flipud", [r(3, 4)], (), {}),
    ("roll", [r(3, 4)], (1, 0), {}), ("roll", [r(3, 4)], ((2, -1), (1, 0)), {}), ("roll", [r(3, 4)], (5,), {}),
    ("rot90", [r(3, 4)], (1, (0, 1)), {}), ("rot90", [r(2, 3, 4)], (2, (1, 2)), {}),
    ("rot90", [r(3, 4)], (-1, (0, 1)), {}),
    ("diff", [r(3, 5)], (), {}), ("diff", [r(3, 5)], (2, 0), {}),
    ("diff", [r(3, 5)], (1, 1), {}),
    ("diagonal", [r(4, 5)], (), {}), ("diagonal", [r(4, 5)], (1,), {}), ("diagonal", [r(4, 5)], (-2,), {}),
    ("diagonal", [r(2, 3, 4)], (0, 2, 0), {}), ("trace", [r(4, 5)], (), {}),
    ("diag", [r(4)], (), {}), ("diag", [r(4)], (-1,), {}), ("diag", [r(4, 3)], (1,), {}),
    ("diag_embed", [r(2, 3)], (), {}), ("diag_embed", [r(2, 3)], (1, 0, 2), {}),
    ("dot", [r(5), r(5)], (), {}), ("vdot", [r(5), r(5)], (), {}), ("mv", [r(3, 4), r(4)], (), {}),
    ("bmm", [r(2, 3, 4), r(2, 4, 5)], (), {}), ("addmm", [r(3, 5), r(3, 4), r(4, 5)], (), {"beta": 0.5, "alpha": 2}),
    ("addmm", [r(5), r(3, 4), r(4, 5)], (), {}), ("addmv", [r(3), r(3, 4), r(4)], (), {"alpha": -1}),
    ("baddbmm", [r(2, 3, 5), r(2, 3, 4), r(2, 4, 5)], (), {"beta": 2}),
    ("outer", [r(3), r(4)], (), {}), ("ger", [r(3), r(4)], (), {}), ("kron", [r(2, 3), r(3, 2)], (), {}),
    ("kron", [r(2), r(2, 3)], (), {}), ("tensordot", [r(2, 3, 4), r(3, 4, 5)], (), {"dims": 2}),
    ("tensordot", [r(2, 3, 4), r(4, 2)], (), {"dims": ([0, 2], [1, 0])}),
    ("cross", [r(4, 3), r(4, 3)], (), {"dim": 1}), ("cross", [r(3, 2), r(3, 1)], (), {"dim": 0}),
    ("cdist", [r(2, 4, 3), r(2, 5, 3)], (), {}), ("cdist", [r(4, 3), r(5, 3)], (1.0,), {}),
    ("cdist", [r(4, 3), r(5, 3)], (3.0,), {}),
    ("einsum", ["ij,jk->ik", r(3, 4), r(4, 5)], (), {}), ("einsum", ["bij,bjk", r(2, 3, 4), r(2, 4, 5)], (), {}),
    ("einsum", ["ij->", r(3, 4)], (), {}), ("einsum", ["i,j->ij", r(3), r(4)], (), {}),
    ("einsum", ["ijk,k->ji", r(2, 3, 4), r(4)], (), {}),
    ("cartesian_prod", [r(3), r(2)], (), {}), ("combinations", [r(4)], (), {}),
    ("combinations", [r(4)], (3,), {"with_replacement": True}),
    ("repeat_interleave", [r(2, 3)], (2,), {}), ("repeat_interleave", [r(2, 3)], (), {"repeats": 3, "dim": 1}),
]


def _tensors(arrays, lib):
    return [a if isinstance(a, str) else lib.tensor(a, requires_grad=True) for a in arrays]


@pytest.mark.parametrize("name, arrays, args, kw", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_matches_torch(name, arrays, args, kw):
    ours, theirs = _tensors(arrays, tw), _tensors(arrays, torch)
    out, ref = getattr(tw, name)(*ours, *args, **kw), getattr(torch, name)(*theirs, *args, **kw)
    assert out.shape == tuple(ref.shape)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    seed = r(*ref.shape)
    out.backward(tw.tensor(seed))
    ref.backward(torch.tensor(seed))
    for o, t in zip(ours, theirs):
        if not isinstance(o, str):
            np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12)


METHOD_CASES = [c for c in CASES if c[0] not in ("einsum", "cartesian_prod", "combinations", "tensordot", "cdist")]


@pytest.mark.parametrize("name, arrays, args, kw", METHOD_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(METHOD_CASES)])
def test_tensor_methods_match_torch(name, arrays, args, kw):
    ours, theirs = _tensors(arrays, tw), _tensors(arrays, torch)
    out = getattr(ours[0], name)(*ours[1:], *args, **kw)
    ref = getattr(theirs[0], name)(*theirs[1:], *args, **kw)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name, arrays, args, kw", [c for c in CASES if c[0] not in ("combinations",)][::2],
                         ids=lambda v: v if isinstance(v, str) and len(v) < 20 else None)
def test_gradcheck(name, arrays, args, kw):
    ts = [a if isinstance(a, str) else tw.tensor(a, requires_grad=True) for a in arrays]
    strs = [a for a in ts if isinstance(a, str)]
    leaves = tuple(a for a in ts if not isinstance(a, str))
    assert gradcheck(lambda *xs: getattr(tw, name)(*strs, *xs, *args, **kw), leaves)


def test_second_derivatives_match_torch():
    x = r(3, 3)
    for fo, ft in ((lambda a: tw.einsum("ij,jk->ik", a, a * a), lambda a: torch.einsum("ij,jk->ik", a, a * a)),
                   (lambda a: tw.flip(a * a, (0,)) * a, lambda a: torch.flip(a * a, (0,)) * a),
                   (lambda a: tw.roll(a * a, 1, 1) * a, lambda a: torch.roll(a * a, 1, 1) * a),
                   # torch's cdist has no double backward: its definition as the oracle
                   (lambda a: tw.cdist(a, a * 2), lambda a: torch.norm(a[:, None] - 2 * a[None], dim=-1))):
        ours, theirs = tw.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        (g,) = tw.autograd.grad(fo(ours).sum(), ours, create_graph=True)
        (gt,) = torch.autograd.grad(ft(theirs).sum(), theirs, create_graph=True)
        (gg,) = tw.autograd.grad((g * g).sum(), ours)
        (ggt,) = torch.autograd.grad((gt * gt).sum(), theirs)
        np.testing.assert_allclose(gg.numpy(), ggt.numpy(), rtol=1e-9, atol=1e-10)


def test_meshgrid_matches_torch():
    a, b, c = r(3), r(4), r(2)
    for indexing in ("ij", "xy"):
        ours = tw.meshgrid(tw.tensor(a), tw.tensor(b), tw.tensor(c), indexing=indexing)
        ref = torch.meshgrid(torch.tensor(a), torch.tensor(b), torch.tensor(c), indexing=indexing)
        for o, t in zip(ours, ref):
            np.testing.assert_array_equal(o.numpy(), t.numpy())
    x = tw.tensor(a, requires_grad=True)
    gx, gy = tw.meshgrid([x, tw.tensor(b)], indexing="ij")
    (gx * gy).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(3, b.sum()))


def test_counting_ops_match_torch():
    ints = np.array([0, 3, 1, 1, 5, 3, 3])
    w = r(7)
    np.testing.assert_array_equal(tw.bincount(tw.tensor(ints)).numpy(), torch.bincount(torch.tensor(ints)).numpy())
    np.testing.assert_allclose(tw.tensor(ints).bincount(tw.tensor(w), minlength=9).numpy(),
                               torch.bincount(torch.tensor(ints), torch.tensor(w), minlength=9).numpy())
    assert tw.bincount(tw.tensor(ints)).dtype == np.int64
    x = r(50)
    for kw in ({}, {"bins": 7, "min": -1, "max": 1}, {"bins": 5, "min": -3, "max": -2}):
        np.testing.assert_array_equal(tw.histc(tw.tensor(x), **kw).numpy(), torch.histc(torch.tensor(x), **kw).numpy())
    seq, vals = np.array([[1.0, 3, 5, 7], [2, 4, 6, 8]]), np.array([[3.0, 6, 9], [1, 4, 8]])
    for right in (False, True):
        np.testing.assert_array_equal(
            tw.searchsorted(tw.tensor(seq), tw.tensor(vals), right=right).numpy(),
            torch.searchsorted(torch.tensor(seq), torch.tensor(vals), right=right).numpy())
        np.testing.assert_array_equal(
            tw.bucketize(tw.tensor(vals), tw.tensor(seq[0]), right=right).numpy(),
            torch.bucketize(torch.tensor(vals), torch.tensor(seq[0]), right=right).numpy())
    assert tw.searchsorted(tw.tensor(seq[0]), tw.tensor(vals), side="right", out_int32=True).dtype == np.int32
    for fn in ("tril_indices", "triu_indices"):
        for args in ((4, 3), (3, 5, 1), (4, 4, -2)):
            np.testing.assert_array_equal(getattr(tw, fn)(*args).numpy(), getattr(torch, fn)(*args).numpy())
    counts = np.array([2, 0, 3])
    np.testing.assert_array_equal(tw.repeat_interleave(tw.tensor(counts)).numpy(),
                                  torch.repeat_interleave(torch.tensor(counts)).numpy())
    np.testing.assert_array_equal(
        tw.repeat_interleave(tw.tensor(r(3, 2)), tw.tensor(counts), dim=0).shape, (5, 2))


def test_diff_with_prepend_and_append_matches_torch():
    x, pre, app = r(3, 5), r(3, 2), r(3, 1)
    ours = [tw.tensor(a, requires_grad=True) for a in (x, pre, app)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, pre, app)]
    out = tw.diff(ours[0], 2, dim=1, prepend=ours[1], append=ours[2])
    ref = torch.diff(theirs[0], 2, dim=1, prepend=theirs[1], append=theirs[2])
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-12)
    out.sum().backward()
    ref.sum().backward()
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_trace_of_integers_and_diff_of_bools_follow_torch():
    m = np.arange(9).reshape(3, 3)
    assert tw.trace(tw.tensor(m)).item() == torch.trace(torch.tensor(m)).item() == 12
    b = np.array([True, False, False, True])
    np.testing.assert_array_equal(tw.diff(tw.tensor(b)).numpy(), torch.diff(torch.tensor(b)).numpy())


def test_bad_input_errors_name_the_problem():
    with pytest.raises(RuntimeError, match="dot: the vectors have different lengths"):
        tw.dot(tw.randn(3), tw.randn(4))
    with pytest.raises(RuntimeError, match="bmm: expected a batch of matrices"):
        tw.bmm(tw.randn(3, 4), tw.randn(4, 5))
    with pytest.raises(RuntimeError, match="cross: dimension 1 does not have size 3"):
        tw.cross(tw.randn(3, 4), tw.randn(3, 4), dim=1)
    with pytest.raises(RuntimeError, match="bincount: the input must be non-negative"):
        tw.bincount(tw.tensor([1, -1]))
    with pytest.raises(ValueError, match="einsum: operand subscripts 'ij' name 2 dims"):
        tw.einsum("ij,j->i", tw.randn(3), tw.randn(3))
    with pytest.raises(ValueError, match="einsum: the '...' dims of the operands"):
        tw.einsum("...i,...i", tw.randn(2, 3), tw.randn(4, 3))
    with pytest.raises(RuntimeError, match="rot90: dims must be two different dims"):
        tw.rot90(tw.randn(3, 3), 1, (0, 0))
    with pytest.raises(RuntimeError, match="flip: dim"):
        tw.flip(tw.randn(3, 3), (0, 0))


def test_shape_helpers_diagflat_dist_clone_match_torch():
    x = r(2, 3)
    for name in ("atleast_1d", "atleast_2d", "atleast_3d"):
        for shape in ((), (3,), (2, 3), (2, 3, 4)):
            a = r(*shape)
            assert getattr(tw, name)(tw.tensor(a)).shape == tuple(getattr(torch, name)(torch.tensor(a)).shape)
        several = getattr(tw, name)(tw.tensor(r(3)), tw.tensor(r(2, 2)))
        assert [s.shape for s in several] == [tuple(s.shape) for s in getattr(torch, name)(torch.tensor(r(3)), torch.tensor(r(2, 2)))]
    assert tw.broadcast_shapes((3, 1), (4,), 1) == tuple(torch.broadcast_shapes((3, 1), (4,), 1))
    with pytest.raises(RuntimeError, match="cannot be broadcast together"):
        tw.broadcast_shapes((3,), (4,))
    a, b = tw.broadcast_tensors(tw.tensor(r(3, 1)), tw.tensor(r(4)))
    assert a.shape == b.shape == (3, 4)
    for args in ((x, 0), (x, 1), (r(4), -2)):
        ours, theirs = tw.tensor(args[0], requires_grad=True), torch.tensor(args[0], requires_grad=True)
        out, ref = tw.diagflat(ours, args[1]), torch.diagflat(theirs, args[1])
        np.testing.assert_array_equal(out.detach().numpy(), ref.detach().numpy())
        out.sum().backward()
        ref.sum().backward()
        np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())
    y = r(2, 3)
    for p in (2, 1, 3.5, float("inf")):
        ours, theirs = tw.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        out, ref = tw.dist(ours, tw.tensor(y), p), torch.dist(theirs, torch.tensor(y), p)
        np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-12)
        out.backward()
        ref.backward()
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12)
    c = tw.tensor(x, requires_grad=True)
    d = tw.clone(c)
    assert d is not c and np.array_equal(d.detach().numpy(), x)
    (d * 2).sum().backward()
    np.testing.assert_array_equal(c.grad.numpy(), np.full(x.shape, 2.0))
    np.testing.assert_array_equal(tw.tensor([1.0, float("nan")]).isnan().numpy(), [False, True])
    np.testing.assert_array_equal(tw.tensor([1.0, float("inf")]).isfinite().numpy(), [True, False])
