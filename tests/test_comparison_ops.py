"""PyTorch's Comparison Ops (ops/comparison.py, ew.Compare): comparisons with ``out=`` and their
aliases, sort/argsort/msort/topk/kthvalue forward and backward against torch (ties, NaNs,
descending, stable), float64 gradcheck, isclose/allclose/equal, isinf and friends, isin; the
comparisons are recorded nodes without gradient."""
import numpy as np
import pytest

import tensorweaver as tw
from tensorweaver.autograd import gradcheck

torch = pytest.importorskip("torch", reason="PyTorch is the test-only oracle")
pytestmark = pytest.mark.torch

rng = np.random.default_rng(31)


def _distinct(shape):
    return rng.permutation(int(np.prod(shape))).reshape(shape) * 0.41 - 2.0 + rng.uniform(0, 0.1, shape)


def _compare(name, x, *args, method=False, **kw):
    ours, theirs = tw.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out = getattr(ours, name)(*args, **kw) if method else getattr(tw, name)(ours, *args, **kw)
    ref = getattr(torch, name)(theirs, *args, **kw)
    if isinstance(ref, tuple):
        np.testing.assert_array_equal(out.indices.numpy(), ref.indices.numpy())
        out, ref = out.values, ref.values
    assert out.shape == tuple(ref.shape)
    if ref.dtype == torch.int64:
        np.testing.assert_array_equal(out.numpy(), ref.numpy())
        return
    np.testing.assert_array_equal(out.detach().numpy(), ref.detach().numpy())
    seed = rng.standard_normal(tuple(ref.shape))
    out.backward(tw.tensor(seed))
    ref.backward(torch.tensor(seed))
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12)


SORTS = [("sort", (), {}), ("sort", (0,), {}), ("sort", (), {"descending": True}),
         ("sort", (), {"dim": 1, "descending": True, "stable": True}), ("argsort", (), {}),
         ("argsort", (0,), {"descending": True}), ("msort", (), {}), ("topk", (2,), {}),
         ("topk", (3, 0), {"largest": False}), ("topk", (2,), {"dim": 1, "sorted": True}),
         ("kthvalue", (2,), {}), ("kthvalue", (3, 0), {"keepdim": True})]


@pytest.mark.parametrize("name, args, kw", SORTS)
@pytest.mark.parametrize("method", [False, True])
def test_sorting_matches_torch(name, args, kw, method):
    _compare(name, _distinct((4, 6)), *args, method=method, **kw)


@pytest.mark.parametrize("descending", [False, True])
def test_stable_sort_with_ties_and_nan_matches_torch(descending):
    x = np.array([[2.0, np.nan, 1.0, 2.0, -np.inf, 1.0, np.inf, np.nan, 2.0]])
    _compare("sort", x, dim=1, descending=descending, stable=True)
    _compare("argsort", x, dim=1, descending=descending, stable=True)
    ints = tw.tensor([[3, 1, 3, 2, 1]])
    ours = tw.sort(ints, dim=1, descending=descending, stable=True)
    ref = torch.sort(torch.tensor([[3, 1, 3, 2, 1]]), dim=1, descending=descending, stable=True)
    assert ours.values.tolist() == ref.values.tolist() and ours.indices.tolist() == ref.indices.tolist()


@pytest.mark.parametrize("fn", [
    lambda x: tw.sort(x, 1).values, lambda x: tw.sort(x, 0, descending=True).values,
    lambda x: tw.topk(x, 2).values, lambda x: tw.kthvalue(x, 2, 0).values, lambda x: tw.msort(x)])
def test_gradcheck(fn):
    assert gradcheck(fn, (tw.tensor(_distinct((3, 4)), requires_grad=True),))


def test_zero_dim_and_k_errors():
    s = tw.tensor(1.5, requires_grad=True)
    v, i = tw.sort(s)
    assert v.shape == () and i.item() == 0
    assert tw.topk(s, 1).values.item() == 1.5
    with pytest.raises(RuntimeError, match="k \\(5\\) is out of range for dim -1 of size 4"):
        tw.topk(tw.randn(4), 5)
    with pytest.raises(RuntimeError, match="kthvalue: k \\(0\\) is out of range"):
        tw.kthvalue(tw.randn(4), 0)


COMPARISONS = ["eq", "ne", "lt", "le", "gt", "ge", "greater", "greater_equal", "less", "less_equal", "not_equal"]


@pytest.mark.parametrize("name", COMPARISONS)
def test_comparisons_function_method_and_out(name):
    a, b = rng.integers(0, 3, (3, 4)).astype(float), rng.integers(0, 3, (4,)).astype(float)
    ref = getattr(torch, name)(torch.tensor(a), torch.tensor(b)).numpy()
    np.testing.assert_array_equal(getattr(tw, name)(tw.tensor(a), tw.tensor(b)).numpy(), ref)
    np.testing.assert_array_equal(getattr(tw.tensor(a), name)(tw.tensor(b)).numpy(), ref)
    np.testing.assert_array_equal(getattr(tw, name)(tw.tensor(a), 1.0).numpy(),
                                  getattr(torch, name)(torch.tensor(a), 1.0).numpy())
    out = tw.empty(1, dtype=tw.bool)
    assert getattr(tw, name)(tw.tensor(a), tw.tensor(b), out=out) is out
    np.testing.assert_array_equal(out.numpy(), ref)


def test_comparisons_are_recorded_without_gradient():
    from tensorweaver.ops.elementwise import Compare
    x = tw.randn(3, requires_grad=True)
    mask = x > 0
    assert mask.dtype == np.bool_ and not mask.requires_grad and mask.grad_fn is None
    assert not Compare.differentiable
    y = tw.where(mask, x, x * 2).sum()
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.where(x.detach().numpy() > 0, 1.0, 2.0))


def test_closeness_and_float_classes_match_torch():
    a = np.array([1.0, np.nan, np.inf, -np.inf, 0.0, 1e-9, 2.0])
    b = np.array([1.0 + 1e-7, np.nan, np.inf, np.inf, 1e-10, 0.0, 2.1])
    for kw in ({}, {"equal_nan": True}, {"rtol": 0.1, "atol": 0.0}):
        np.testing.assert_array_equal(tw.isclose(tw.tensor(a), tw.tensor(b), **kw).numpy(),
                                      torch.isclose(torch.tensor(a), torch.tensor(b), **kw).numpy())
        assert tw.allclose(tw.tensor(a[:1]), tw.tensor(b[:1]), **kw) == torch.allclose(
            torch.tensor(a[:1]), torch.tensor(b[:1]), **kw)
    assert tw.tensor(a).isclose(tw.tensor(a), equal_nan=True).numpy().all()
    for name in ("isinf", "isposinf", "isneginf", "isreal"):
        np.testing.assert_array_equal(getattr(tw, name)(tw.tensor(a)).numpy(), getattr(torch, name)(torch.tensor(a)).numpy())
        np.testing.assert_array_equal(getattr(tw.tensor(a), name)().numpy(), getattr(torch, name)(torch.tensor(a)).numpy())
    assert not tw.isinf(tw.tensor([1, 2])).numpy().any()
    assert tw.equal(tw.tensor([1.0, 2.0]), tw.tensor([1.0, 2.0])) is True
    assert tw.equal(tw.tensor([1.0, 2.0]), tw.tensor([1.0, 3.0])) is False
    assert tw.equal(tw.tensor([1.0]), tw.tensor([1.0, 1.0])) is False
    with pytest.raises(TypeError, match="same dtype"):
        tw.isclose(tw.tensor([1.0]), tw.tensor([1]))


def test_isin_matches_torch():
    e, t = np.array([[1, 2, 3], [4, 5, 6]]), np.array([2, 6, 7])
    for invert in (False, True):
        np.testing.assert_array_equal(tw.isin(tw.tensor(e), tw.tensor(t), invert=invert).numpy(),
                                      torch.isin(torch.tensor(e), torch.tensor(t), invert=invert).numpy())
