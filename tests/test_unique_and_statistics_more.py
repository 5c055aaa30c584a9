"""unique/unique_consecutive (ops/unique.py) and the Other Operations added to ops/other_ops.py
(block_diag, cov, corrcoef, gcd, lcm, heaviside, histogram, histogramdd, renorm, vander) against
torch: values, gradients, float64 gradcheck and second derivatives, Tensor methods, in-place
forms, and the errors for bad input."""
import numpy as np
import pytest

import tensorweaver as tw
from tensorweaver.autograd import gradcheck, gradgradcheck

torch = pytest.importorskip("torch", reason="PyTorch is the test-only oracle")
pytestmark = pytest.mark.torch

rng = np.random.default_rng(7)


def r(*shape):
    return rng.standard_normal(shape)


def _eq(ours, ref, exact=False):
    ours = ours if isinstance(ours, (tuple, list)) else (ours,)
    ref = ref if isinstance(ref, (tuple, list)) else (ref,)
    assert len(ours) == len(ref)
    for a, b in zip(ours, ref):
        assert a.shape == tuple(b.shape), (a.shape, b.shape)
        if exact:
            np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
        else:
            np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-10, atol=1e-12)


UNIQUE = [
    (np.array([3, 1, 2, 1, 3, 3]), {}), (np.array([[1.0, np.nan], [np.nan, 0.0]]), {}),
    (np.array([[1, 2], [1, 2], [0, 5]]), {"dim": 0}), (np.array([[1, 1, 0], [2, 2, 1]]), {"dim": 1}),
    (np.array([[1, 2], [1, 2], [0, 5]]), {"dim": -2}), (np.zeros(0), {}), (np.array([True, False, True]), {}),
    (rng.integers(0, 3, (4, 3, 2)), {"dim": 1}), (np.array(5), {}),
]


@pytest.mark.parametrize("data, kw", UNIQUE, ids=[str(i) for i in range(len(UNIQUE))])
def test_unique_matches_torch(data, kw):
    for inv in (False, True):
        for cnt in (False, True):
            _eq(tw.unique(tw.tensor(data), return_inverse=inv, return_counts=cnt, **kw),
                torch.unique(torch.tensor(data), return_inverse=inv, return_counts=cnt, **kw), exact=True)
            _eq(tw.unique_consecutive(tw.tensor(data), return_inverse=inv, return_counts=cnt, **kw),
                torch.unique_consecutive(torch.tensor(data), return_inverse=inv, return_counts=cnt, **kw), exact=True)
    _eq(tw.tensor(data).unique(sorted=False, **kw), torch.tensor(data).unique(sorted=True, **kw), exact=True)


def test_unique_is_not_differentiable_and_checks_dim():
    x = tw.tensor([1.0, 1.0, 2.0], requires_grad=True)
    assert not tw.unique(x).requires_grad
    with pytest.raises(IndexError):
        tw.unique(tw.tensor([1, 2]), dim=1)


# (name, arrays, args, kwargs): torch.<name>(*tensors, *args, **kwargs); float arrays require grad
DIFFERENTIABLE = [
    ("block_diag", [r(2, 3), r(3), r(1, 1)], (), {}), ("block_diag", [r(2, 2)], (), {}),
    ("cov", [r(3, 6)], (), {}), ("cov", [r(6)], (), {"correction": 0}),
    ("cov", [r(2, 5)], (), {"fweights": np.array([1, 2, 0, 3, 1])}),
    ("cov", [r(2, 5)], (), {"aweights": np.abs(r(5)), "correction": 2}),
    ("cov", [r(3, 5)], (), {"fweights": np.array([2, 1, 1, 1, 4]), "aweights": np.abs(r(5))}),
    ("corrcoef", [r(3, 7)], (), {}), ("corrcoef", [r(7)], (), {}),
    ("renorm", [r(3, 4)], (2, 0, 1.0), {}), ("renorm", [r(2, 3, 4)], (1, 1, 1.5), {}),
    ("renorm", [r(3, 4)], (3.0, -1, 0.5), {}),
    ("vander", [r(4)], (), {}), ("vander", [r(3)], (), {"N": 5, "increasing": True}),
    ("heaviside", [np.array([-1.0, 0.0, 2.0, 0.0]), r(4)], (), {}),
]
# torch 2.13 has no derivative for heaviside, and vander's backward fails on its own in-place
# step: their gradients are checked numerically only.
FORWARD_ONLY = ("heaviside", "vander")


def _tensors(arrays, lib):
    return [lib.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]


def _kw(kw, lib):
    return {k: lib.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}


@pytest.mark.parametrize("name, arrays, args, kw", DIFFERENTIABLE, ids=[f"{c[0]}-{i}" for i, c in enumerate(DIFFERENTIABLE)])
def test_differentiable_ops_match_torch(name, arrays, args, kw):
    ours, theirs = _tensors(arrays, tw), _tensors(arrays, torch)
    out, ref = getattr(tw, name)(*ours, *args, **_kw(kw, tw)), getattr(torch, name)(*theirs, *args, **_kw(kw, torch))
    _eq(out, ref)
    if name not in FORWARD_ONLY:
        w = r(*out.shape)
        (out * tw.tensor(w)).sum().backward()
        (ref * torch.tensor(w)).sum().backward()
        for a, b in zip(ours, theirs):
            if b.grad is not None:
                np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-8, atol=1e-10)
    fresh = _tensors(arrays, tw)
    if name == "heaviside":            # a step at the zeros of input: only values' gradient is smooth
        fresh[0] = fresh[0].detach()
    f = lambda *ts: getattr(tw, name)(*ts, *args, **_kw(kw, tw))   # noqa: E731
    assert gradcheck(f, fresh)
    assert gradgradcheck(f, fresh)


def test_methods_and_in_place_forms_match_torch():
    a, b = rng.integers(-30, 30, (5,)), rng.integers(-30, 30, (5,))
    a[0] = b[0] = 0
    for name in ("gcd", "lcm"):
        _eq(getattr(tw, name)(tw.tensor(a), tw.tensor(b)), getattr(torch, name)(torch.tensor(a), torch.tensor(b)), True)
        _eq(getattr(tw.tensor(a), name)(tw.tensor(b)), getattr(torch.tensor(a), name)(torch.tensor(b)), True)
        x, xt = tw.tensor(a), torch.tensor(a)
        getattr(x, name + "_")(tw.tensor(b)), getattr(xt, name + "_")(torch.tensor(b))
        _eq(x, xt, True)
    _eq(tw.gcd(tw.tensor([4, 6], dtype=tw.int32), tw.tensor(4)), torch.gcd(torch.tensor([4, 6], dtype=torch.int32),
                                                                          torch.tensor(4)), True)
    h = tw.tensor([0, 3, -2])
    _eq(h.heaviside(tw.tensor(7)), torch.tensor([0, 3, -2]).heaviside(torch.tensor(7)), True)
    h.heaviside_(tw.tensor(7))
    assert h.tolist() == [7, 1, 0]
    m = r(3, 4)
    _eq(tw.tensor(m).renorm(2, 0, 1.0), torch.tensor(m).renorm(2, 0, 1.0))
    x = tw.tensor(m)
    x.renorm_(1, 1, 0.5)
    _eq(x, torch.tensor(m).renorm_(1, 1, 0.5))
    _eq(tw.tensor(m).cov(), torch.tensor(m).cov())
    _eq(tw.tensor(m).corrcoef(), torch.tensor(m).corrcoef())
    _eq(tw.tensor(m[0]).histogram(3), tuple(torch.tensor(m[0]).histogram(3)))


HISTOGRAMS = [
    (r(50), (5,), {}), (r(50), (4,), {"range": (-1.0, 1.0), "density": True}),
    (r(50), (3,), {"weight": np.abs(r(50))}), (np.array([1.0, 1.0]), (2,), {}), (np.zeros(0), (2,), {}),
    (np.array([1.0, 2.0, 1.0]), (np.array([0.0, 1.0, 2.5]),), {}), (r(6).astype(np.float32), (4,), {}),
    (np.array([1.0, 2.0, 1.0, 7.0]), (3,), {"range": (0.0, 3.0), "density": True}),
]


@pytest.mark.parametrize("data, args, kw", HISTOGRAMS, ids=[str(i) for i in range(len(HISTOGRAMS))])
def test_histogram_matches_torch(data, args, kw):
    conv = lambda lib, v: lib.tensor(v) if isinstance(v, np.ndarray) else v   # noqa: E731
    ours = tw.histogram(tw.tensor(data), *[conv(tw, a) for a in args], **{k: conv(tw, v) for k, v in kw.items()})
    ref = torch.histogram(torch.tensor(data), *[conv(torch, a) for a in args], **{k: conv(torch, v) for k, v in kw.items()})
    _eq(tuple(ours), (ref.hist, ref.bin_edges))
    assert ours.hist is ours[0] and ours.bin_edges is ours[1]


HISTOGRAMDD = [
    (np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 0.0], [2.0, 2.0]]), {"bins": [3, 3], "weight": np.array([1.0, 2, 4, 8])}),
    (np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]), {"bins": [2, 2], "range": [0.0, 1.0, 0.0, 1.0], "density": True}),
    (r(40, 3), {"bins": 3}), (r(2, 10, 2), {"bins": [2, 5]}),
    (r(20, 2), {"bins": [np.array([-3.0, 0.0, 3.0]), np.array([-1.0, 0.0, 0.5, 1.0])]}),
]


@pytest.mark.parametrize("data, kw", HISTOGRAMDD, ids=[str(i) for i in range(len(HISTOGRAMDD))])
def test_histogramdd_matches_torch(data, kw):
    def conv(lib, v):
        if isinstance(v, np.ndarray):
            return lib.tensor(v)
        if isinstance(v, list) and isinstance(v[0], np.ndarray):
            return [lib.tensor(e) for e in v]
        return v
    ours = tw.histogramdd(tw.tensor(data), **{k: conv(tw, v) for k, v in kw.items()})
    ref = torch.histogramdd(torch.tensor(data), **{k: conv(torch, v) for k, v in kw.items()})
    _eq(ours.hist, ref.hist)
    _eq(tuple(ours.bin_edges), tuple(ref.bin_edges))


def test_bad_input_errors_name_the_problem():
    with pytest.raises(RuntimeError, match="integer tensors"):
        tw.gcd(tw.tensor([1.0]), tw.tensor([2]))
    with pytest.raises(RuntimeError, match="different dtypes"):
        tw.heaviside(tw.tensor([1.0]), tw.tensor([1]))
    with pytest.raises(RuntimeError, match="at most 2 dims"):
        tw.block_diag(tw.ones(2, 2, 2))
    with pytest.raises(RuntimeError, match="two or fewer dimensions"):
        tw.cov(tw.ones(2, 2, 2))
    with pytest.raises(RuntimeError, match="fweights must be a 1-D integer"):
        tw.cov(tw.ones(2, 3), fweights=tw.ones(3))
    with pytest.raises(RuntimeError, match="expected 3"):
        tw.cov(tw.ones(2, 3), aweights=tw.ones(4))
    with pytest.raises(RuntimeError, match="maxnorm"):
        tw.renorm(tw.ones(2, 2), 2, 0, -1)
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        tw.renorm(tw.ones(3), 2, 0, 1)
    with pytest.raises(RuntimeError, match="1-D tensor"):
        tw.vander(tw.ones(2, 2))
    with pytest.raises(RuntimeError, match="floating point"):
        tw.histogram(tw.tensor([1, 2]), 2)
    with pytest.raises(RuntimeError, match="increasing"):
        tw.histogram(tw.tensor([1.0]), tw.tensor([1.0, 0.0]))
    with pytest.raises(RuntimeError, match="one per dim"):
        tw.histogramdd(tw.ones(4, 2), [2, 2, 2])
