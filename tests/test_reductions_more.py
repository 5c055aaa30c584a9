"""PyTorch's Reduction Ops beyond sum/mean/max (ops/cumulative.py, ops/statistics.py): forward
and backward against torch, float64 gradcheck, zeros, NaNs and ties, Tensor methods, the
``axis=``/``keepdims=`` aliases, ``out=`` and dtype rules, and the errors for bad input."""
import math

import numpy as np
import pytest

import tensorweaver as tw
from tensorweaver.autograd import gradcheck

torch = pytest.importorskip("torch", reason="PyTorch is the test-only oracle")
pytestmark = pytest.mark.torch

rng = np.random.default_rng(21)


def _distinct(shape):
    """Values with no ties (order statistics and running extremes are then unique)."""
    return rng.permutation(np.prod(shape)).reshape(shape) * 0.37 - 1.5 + rng.uniform(0, 0.1, shape)


def _outputs(r):
    """The differentiable tensor of a result (``values`` of a (values, indices) pair)."""
    return r.values if isinstance(r, tuple) else r


def _compare(name, x, *args, rtol=1e-10, atol=1e-12, method=False, **kw):
    ours, theirs = tw.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out = getattr(ours, name)(*args, **kw) if method else getattr(tw, name)(ours, *args, **kw)
    targs = [torch.tensor(a.numpy()) if isinstance(a, tw.Tensor) else a for a in args]
    ref = getattr(torch, name)(theirs, *targs, **kw)
    if isinstance(ref, tuple):
        np.testing.assert_array_equal(out.indices.numpy(), ref.indices.numpy())
        assert out.indices.dtype == np.int64
    out, ref = _outputs(out), _outputs(ref)
    assert out.shape == tuple(ref.shape)
    assert out.dtype == np.dtype(str(ref.dtype).replace("torch.", ""))
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=rtol, atol=atol)
    if ref.requires_grad:
        seed = rng.standard_normal(tuple(ref.shape))
        out.backward(tw.tensor(seed))
        ref.backward(torch.tensor(seed))
        expected = theirs.grad.numpy() if theirs.grad is not None else np.zeros(x.shape)   # norm p=0
        np.testing.assert_allclose(ours.grad.numpy(), expected, rtol=rtol, atol=atol)


CASES = [  # (name, args, kwargs, input maker)
    ("prod", (), {}, "any"), ("prod", (1,), {}, "any"), ("prod", (0,), {"keepdim": True}, "any"),
    ("cumsum", (1,), {}, "any"), ("cumsum", (-2,), {}, "any"),
    ("cumprod", (1,), {}, "any"), ("cumprod", (0,), {}, "any"),
    ("cummax", (1,), {}, "distinct"), ("cummin", (0,), {}, "distinct"),
    ("logcumsumexp", (1,), {}, "any"),
    ("norm", (), {}, "any"), ("norm", (1,), {"dim": 1}, "any"), ("norm", (2,), {"dim": 0, "keepdim": True}, "any"),
    ("norm", (3,), {"dim": (0, 1)}, "any"), ("norm", (0.5,), {"dim": 1}, "any"),
    ("norm", (math.inf,), {"dim": 1}, "distinct"), ("norm", (-math.inf,), {"dim": 0}, "distinct"),
    ("norm", ("fro",), {"dim": (0, 1)}, "any"), ("norm", (0,), {"dim": 1}, "any"),
    ("nansum", (), {}, "nan"), ("nansum", (1,), {"keepdim": True}, "nan"),
    ("nanmean", (), {}, "nan"), ("nanmean", (0,), {}, "nan"),
    ("median", (), {}, "distinct"), ("median", (1,), {}, "distinct"), ("median", (0,), {"keepdim": True}, "distinct"),
    ("nanmedian", (), {}, "nan"), ("nanmedian", (1,), {}, "nan"),
    ("quantile", (0.3,), {}, "distinct"), ("quantile", (0.5,), {"dim": 1}, "distinct"),
    ("nanquantile", (0.7,), {"dim": 1, "keepdim": True}, "nan"), ("nanquantile", (0.25,), {}, "nan"),
    ("count_nonzero", (), {}, "sparse"), ("count_nonzero", (1,), {}, "sparse"),
    ("aminmax", (), {"dim": 1}, "distinct"),
]


def _make(kind, shape=(4, 5)):
    if kind == "distinct":
        return _distinct(shape)
    x = rng.uniform(-1.5, 1.5, shape)
    if kind == "nan":
        x[rng.uniform(size=shape) < 0.25] = np.nan
        x[0, 0] = np.nan
    if kind == "sparse":
        x[rng.uniform(size=shape) < 0.4] = 0.0
    return x


@pytest.mark.parametrize("name, args, kw, kind", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_matches_torch(name, args, kw, kind):
    x = _make(kind)
    if name == "aminmax":
        ours, theirs = tw.aminmax(tw.tensor(x), **kw), torch.aminmax(torch.tensor(x), **kw)
        for o, r in zip(ours, theirs):
            np.testing.assert_array_equal(o.numpy(), r.numpy())
        return
    _compare(name, x, *args, **kw)


@pytest.mark.parametrize("name, args, kw, kind", [c for c in CASES if c[3] != "sparse" and c[0] != "aminmax"
                                                   and c[1][:1] != (0,) or c[0] in ("prod", "cumprod")],
                         ids=lambda v: str(v) if isinstance(v, str) else None)
def test_tensor_method_matches_torch(name, args, kw, kind):
    _compare(name, _make(kind), *args, method=True, **kw)


GRAD = [
    (lambda x: tw.prod(x), "any"), (lambda x: tw.prod(x, 1), "any"), (lambda x: tw.cumsum(x, 1), "any"),
    (lambda x: tw.cumprod(x, 0), "any"), (lambda x: tw.cummax(x, 1).values, "distinct"),
    (lambda x: tw.cummin(x, 0).values, "distinct"), (lambda x: tw.logcumsumexp(x, 1), "any"),
    (lambda x: tw.norm(x), "any"), (lambda x: tw.norm(x, 1, dim=0), "any"), (lambda x: tw.norm(x, 3, dim=1), "any"),
    (lambda x: tw.norm(x, math.inf, dim=1), "distinct"), (lambda x: tw.nansum(x, 1), "nan"),
    (lambda x: tw.nanmean(x, 0), "nan"), (lambda x: tw.median(x), "distinct"),
    (lambda x: tw.median(x, 1).values, "distinct"), (lambda x: tw.nanmedian(x, 1).values, "nan"),
    (lambda x: tw.mode(x, 1).values, "distinct"),
    (lambda x: tw.quantile(x, 0.3, dim=1), "distinct"), (lambda x: tw.nanquantile(x, 0.6, dim=1), "nan"),
    (lambda x: tw.quantile(x, tw.tensor([0.2, 0.9], dtype=tw.float64)), "distinct"),
    (lambda x: tw.var_mean(x, 1)[0] + tw.var_mean(x, 1)[1], "any"),
    (lambda x: tw.std_mean(x, 0)[0] * tw.std_mean(x, 0)[1], "any"),
    (lambda x: tw.aminmax(x, dim=0).min + tw.aminmax(x, dim=0).max, "distinct"),
]


@pytest.mark.parametrize("fn, kind", GRAD)
def test_gradcheck(fn, kind):
    x = _make(kind, (3, 4))
    assert gradcheck(fn, (tw.tensor(x, requires_grad=True),))


def test_prod_and_cumprod_gradients_are_exact_with_zeros():
    x = _make("any", (3, 5))
    x[0, 2] = 0.0
    x[1, 1] = x[1, 3] = 0.0
    for name, args in (("prod", ()), ("prod", (1,)), ("cumprod", (1,)), ("cumprod", (0,))):
        _compare(name, x, *args)
    assert gradcheck(lambda t: tw.cumprod(t, 1), (tw.tensor(x, requires_grad=True),))
    assert gradcheck(lambda t: tw.prod(t, 1), (tw.tensor(x, requires_grad=True),))


def test_running_extremes_with_ties_and_nan_follow_torch():
    x = np.array([[1.0, 3.0, 3.0, 2.0, 5.0, 5.0], [2.0, np.nan, 1.0, np.nan, 7.0, 0.0]])
    for name in ("cummax", "cummin"):
        _compare(name, x, 1)


def test_norm_at_zero_has_zero_gradient_like_torch():
    for p in (2, 3, "fro"):
        _compare("norm", np.zeros((2, 3)), p, dim=1)


def test_median_and_quantile_with_nan_are_nan():
    x = _make("nan")
    _compare("median", x, 1)
    _compare("quantile", x, 0.4, dim=1)
    _compare("nanmedian", np.full((2, 3), np.nan), 1)
    inf_and_nan = np.array([[np.inf, np.nan, 1.0, np.nan, np.inf, -2.0]])     # NaNs sort behind +inf
    _compare("nanmedian", inf_and_nan, 1)
    _compare("nanquantile", inf_and_nan, 0.25, dim=1)


@pytest.mark.parametrize("interpolation", ["linear", "lower", "higher", "midpoint", "nearest"])
def test_quantile_interpolations_and_q_tensor(interpolation):
    x = _distinct((4, 6))
    q = tw.tensor([0.0, 0.25, 0.5, 0.9, 1.0], dtype=tw.float64)
    _compare("quantile", x, q, dim=1, interpolation=interpolation)
    _compare("quantile", x, q, dim=0, keepdim=True, interpolation=interpolation)
    _compare("quantile", x, q, keepdim=True, interpolation=interpolation)


def test_mode_matches_torch():
    x = rng.integers(0, 3, (4, 7)).astype(np.float64)
    _compare("mode", x, 1)
    _compare("mode", x, 0, keepdim=True)


def test_integer_inputs_and_dtype_follow_torch():
    x = np.array([[1, 2, 3], [4, 5, 6]])
    for name, args in (("prod", ()), ("prod", (1,)), ("cumsum", (0,)), ("cumprod", (1,)), ("nansum", ())):
        ours, ref = getattr(tw, name)(tw.tensor(x), *args), getattr(torch, name)(torch.tensor(x), *args)
        assert ours.dtype == np.int64 and ref.dtype == torch.int64
        np.testing.assert_array_equal(ours.numpy(), ref.numpy())
    b = tw.tensor([True, False, True])
    assert tw.cumsum(b, 0).tolist() == [1, 1, 2]
    assert tw.cumsum(tw.tensor([1, 2, 3]), 0, dtype=tw.float64).dtype == np.float64
    assert tw.prod(tw.tensor([[1.5, 2.0]]), 1, dtype=tw.float64).dtype == np.float64


def test_zero_dim_inputs():
    s = 2.5
    for name, args in (("cumsum", (0,)), ("cumprod", (-1,)), ("logcumsumexp", (0,)), ("prod", ()),
                       ("median", ()), ("norm", ())):
        _compare(name, np.array(s), *args)
    v, i = tw.cummax(tw.tensor(s), 0)
    assert v.shape == () and i.item() == 0


def test_axis_and_keepdims_aliases():
    x = tw.tensor(_make("any"))
    np.testing.assert_allclose(tw.prod(x, axis=1, keepdims=True).numpy(), x.prod(1, keepdim=True).numpy())
    np.testing.assert_allclose(tw.cumsum(x, axis=0).numpy(), tw.cumsum(x, 0).numpy())
    np.testing.assert_allclose(x.nansum(axis=0).numpy(), tw.nansum(x, 0).numpy())
    with pytest.raises(TypeError, match="both dim= and its alias axis="):
        tw.cumsum(x, dim=0, axis=1)


def test_out_writes_into_the_given_tensor():
    x = tw.tensor(_make("any"))
    for name, args in (("prod", (1,)), ("cumsum", (1,)), ("cumprod", (0,)), ("logcumsumexp", (1,)),
                       ("nansum", (0,)), ("nanmean", (1,)), ("norm", (2, 1)), ("median", ())):
        buf = tw.empty(1)
        res = getattr(tw, name)(x, *args, out=buf)
        assert res is buf
        np.testing.assert_allclose(buf.numpy(), getattr(tw, name)(x, *args).numpy())
    v, i = tw.empty(1), tw.zeros(1, dtype=tw.int64)
    tw.cummax(x, 1, out=(v, i))
    np.testing.assert_allclose(v.numpy(), tw.cummax(x, 1).values.numpy())
    with pytest.raises(RuntimeError, match="out=.*automatic differentiation"):
        tw.cumsum(tw.tensor(_make("any"), requires_grad=True), 0, out=tw.empty(1))


def test_var_mean_std_mean_count_nonzero_match_torch():
    x = _make("sparse")
    for name in ("var_mean", "std_mean"):
        for kw in ({}, {"dim": 1}, {"dim": 0, "correction": 0, "keepdim": True}):
            for o, r in zip(getattr(tw, name)(tw.tensor(x), **kw), getattr(torch, name)(torch.tensor(x), **kw)):
                np.testing.assert_allclose(o.numpy(), r.numpy(), rtol=1e-12)
    for dim in (None, 0, (0, 1)):
        np.testing.assert_array_equal(tw.count_nonzero(tw.tensor(x), dim).numpy(),
                                      torch.count_nonzero(torch.tensor(x), dim).numpy())


def test_second_derivatives_of_cumsum_logcumsumexp_nansum():
    x = tw.tensor(_make("any", (2, 4)), requires_grad=True)
    t = torch.tensor(x.detach().numpy(), requires_grad=True)
    for fo, ft in ((lambda a: tw.logcumsumexp(a, 1), lambda a: torch.logcumsumexp(a, 1)),
                   (lambda a: tw.cumsum(a * a, 1), lambda a: torch.cumsum(a * a, 1)),
                   (lambda a: tw.nansum(a * a * a, 0), lambda a: torch.nansum(a * a * a, 0)),
                   (lambda a: tw.norm(a, dim=1), lambda a: torch.norm(a, dim=1)),
                   (lambda a: tw.norm(a, 3, dim=0), lambda a: torch.norm(a, 3, dim=0))):
        (g,) = tw.autograd.grad(fo(x).sum(), x, create_graph=True)
        (gt,) = torch.autograd.grad(ft(t).sum(), t, create_graph=True)
        (gg,) = tw.autograd.grad((g * g).sum(), x)
        (ggt,) = torch.autograd.grad((gt * gt).sum(), t)
        np.testing.assert_allclose(gg.numpy(), ggt.numpy(), rtol=1e-10, atol=1e-12)


def test_bad_input_errors_name_the_problem():
    x = tw.tensor(_make("any"))
    with pytest.raises(IndexError, match="dim 2 is out of range"):
        tw.cumsum(x, 2)
    with pytest.raises(TypeError, match="missing the required argument 'dim'"):
        tw.cumsum(x, None)
    with pytest.raises(ValueError, match=r"q values must be in the range \[0, 1\]"):
        tw.quantile(x, 1.5)
    with pytest.raises(ValueError, match="interpolation must be one of"):
        tw.quantile(x, 0.5, interpolation="cubic")
    with pytest.raises(TypeError, match="floating point"):
        tw.quantile(tw.tensor([1, 2, 3]), 0.5)
    with pytest.raises(NotImplementedError, match="p='nuc'"):
        tw.norm(x, "nuc")
    with pytest.raises(RuntimeError, match="empty"):
        tw.median(tw.zeros(0))
