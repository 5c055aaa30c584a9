"""PyTorch's Pointwise Ops (ops/pointwise.py): forward and backward against torch, float64
gradcheck, second derivatives, Tensor methods, aliases, ``out=`` and dtype rules."""
import numpy as np
import pytest

import tensorweaver as tw
from tensorweaver.autograd import gradcheck

torch = pytest.importorskip("torch", reason="PyTorch is the test-only oracle")
pytestmark = pytest.mark.torch

rng = np.random.default_rng(12)


def _domain(kind, shape=(3, 4)):
    lo, hi = {"any": (-2, 2), "pos": (0.3, 2.5), "unit": (-0.9, 0.9), "gt1": (1.2, 3.0),
              "frac": (-2.9, 2.9)}[kind]
    x = rng.uniform(lo, hi, size=shape)
    if kind == "frac":      # keep away from the integers where rounding jumps
        x = np.where(np.abs(x - np.round(x)) < 0.1, x + 0.25, x)
    return x


UNARY = [("log1p", "pos"), ("expm1", "any"), ("erf", "any"), ("erfc", "any"), ("erfinv", "unit"),
         ("rsqrt", "pos"), ("reciprocal", "pos"), ("square", "any"), ("log2", "pos"),
         ("log10", "pos"), ("exp2", "any"), ("sinh", "any"), ("cosh", "any"), ("tan", "unit"),
         ("asin", "unit"), ("acos", "unit"), ("atan", "any"), ("asinh", "any"), ("acosh", "gt1"),
         ("atanh", "unit"), ("frac", "frac"), ("floor", "frac"), ("ceil", "frac"), ("round", "frac"),
         ("trunc", "frac"), ("sign", "frac"), ("fix", "frac"), ("nan_to_num", "any"),
         ("arcsin", "unit"), ("arccos", "unit"), ("arctan", "any"), ("arcsinh", "any"),
         ("arccosh", "gt1"), ("arctanh", "unit"), ("absolute", "frac"), ("negative", "any"),
         ("positive", "any")]

BINARY = [("atan2", "any", "any"), ("arctan2", "any", "any"), ("hypot", "any", "any"),
          ("logaddexp", "any", "any"), ("logaddexp2", "any", "any"), ("xlogy", "any", "pos"),
          ("fmax", "any", "any"), ("fmin", "any", "any"), ("remainder", "any", "pos"),
          ("fmod", "any", "pos"), ("multiply", "any", "any"), ("subtract", "any", "any"),
          ("divide", "any", "pos"), ("true_divide", "any", "pos"), ("float_power", "pos", "any")]


def _compare(name, arrays, rtol=1e-10, atol=1e-12, **kw):
    ours = [tw.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, ref = getattr(tw, name)(*ours, **kw), getattr(torch, name)(*theirs, **kw)
    assert out.dtype == np.dtype(str(ref.dtype).replace("torch.", ""))
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=rtol, atol=atol)
    seed = rng.standard_normal(tuple(ref.shape))
    out.backward(tw.tensor(seed))
    ref.backward(torch.tensor(seed))
    for o, t in zip(ours, theirs):
        expected = t.grad.numpy() if t.grad is not None else np.zeros(o.shape)
        np.testing.assert_allclose(o.grad.numpy(), expected, rtol=rtol, atol=atol)
    return ours


@pytest.mark.parametrize("name,kind", UNARY)
def test_unary_matches_torch(name, kind):
    _compare(name, [_domain(kind)])


@pytest.mark.parametrize("name,ka,kb", BINARY)
def test_binary_broadcast_matches_torch(name, ka, kb):
    _compare(name, [_domain(ka, (3, 4)), _domain(kb, (4,))])


@pytest.mark.parametrize("name,kind", [u for u in UNARY if u[0] not in ("positive",)])
def test_unary_gradcheck(name, kind):
    x = tw.tensor(_domain(kind, (2, 3)), requires_grad=True)
    assert gradcheck(getattr(tw, name), (x,))


@pytest.mark.parametrize("name,ka,kb", BINARY)
def test_binary_gradcheck(name, ka, kb):
    a = tw.tensor(_domain(ka, (2, 3)), requires_grad=True)
    b = tw.tensor(_domain(kb, (3,)), requires_grad=True)
    assert gradcheck(getattr(tw, name), (a, b))


@pytest.mark.parametrize("name,kind", [u for u in UNARY if u[0] in (
    "log1p", "expm1", "erfc", "erfinv", "rsqrt", "reciprocal", "square", "log2", "log10", "exp2",
    "sinh", "cosh", "tan", "asin", "acos", "atan", "asinh", "acosh", "atanh")])
def test_unary_second_derivative_matches_torch(name, kind):
    a = _domain(kind, (5,))
    x, t = tw.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    (gx,) = tw.autograd.grad(getattr(tw, name)(x).sum(), x, create_graph=True)
    (gt,) = torch.autograd.grad(getattr(torch, name)(t).sum(), t, create_graph=True)
    gx.sum().backward()
    gt.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ["atan2", "hypot", "logaddexp", "logaddexp2", "xlogy", "remainder"])
def test_binary_second_derivative_matches_torch(name):
    a, b = _domain("any", (4,)), _domain("pos", (4,))
    xs = [tw.tensor(v, requires_grad=True) for v in (a, b)]
    ts = [torch.tensor(v, requires_grad=True) for v in (a, b)]
    gx = tw.autograd.grad(getattr(tw, name)(*xs).sum(), xs, create_graph=True)
    gt = torch.autograd.grad(getattr(torch, name)(*ts).sum(), ts, create_graph=True)
    (gx[0] * gx[1]).sum().backward()
    (gt[0] * gt[1]).sum().backward()
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_fused_and_ternary_ops_match_torch():
    a, b, c = _domain("any"), _domain("any"), _domain("pos")
    _compare("addcmul", [a, b, c], value=0.5)
    _compare("addcdiv", [a, b, c], value=-2)
    _compare("lerp", [a, b, c / 3])
    _compare("lerp", [a, b], weight=0.3)
    _compare("clamp_min", [a], min=0.1)
    _compare("clamp_max", [a], max=-0.2)
    assert gradcheck(lambda x, y, w: tw.lerp(x, y, w), tuple(
        tw.tensor(v, requires_grad=True) for v in (a, b, c)))


def test_ties_nan_and_special_values_match_torch():
    a = np.array([1.0, np.nan, 2.0, -np.inf, 0.0, 3.0])
    b = np.array([1.0, 2.0, np.nan, 1.0, 0.0, np.inf])
    for name in ("fmax", "fmin", "xlogy", "logaddexp"):
        _compare(name, [a, b], rtol=1e-12, atol=0)
    x = np.array([np.nan, np.inf, -np.inf, 1.5])
    _compare("nan_to_num", [x])
    _compare("nan_to_num", [x], nan=1.0, posinf=2.0, neginf=-3.0)
    for v in ([-1.0, 1.0, 0.999999, 1.5, 0.0], [-40.0, -6.0, 6.0, 27.0, 0.2]):
        name = "erfinv" if abs(v[0]) == 1 else "erfc"
        np.testing.assert_allclose(getattr(tw, name)(tw.tensor(v, dtype=tw.float64)).numpy(),
                                   getattr(torch, name)(torch.tensor(v, dtype=torch.float64)).numpy(),
                                   rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("decimals", [0, 1, 2, -1])
def test_round_decimals_and_half_to_even(decimals):
    a = np.array([0.5, 1.5, 2.5, -0.5, 1.2345, 15.0, 25.0, 123.456])
    out = tw.round(tw.tensor(a), decimals=decimals)
    ref = torch.round(torch.tensor(a), decimals=decimals)
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-12)
    assert tw.tensor(a).round(decimals=decimals).shape == (8,)


def test_integer_and_bool_dtypes_follow_torch():
    i = np.array([-3, -1, 0, 2, 7])
    for name in ("floor", "ceil", "round", "trunc", "sign", "square", "remainder", "fmod", "log1p",
                 "sinh", "reciprocal", "atan2", "fmax"):
        args = (i, np.array([2, 3, 2, 5, 2])) if name in ("remainder", "fmod", "atan2", "fmax") else (i,)
        out = getattr(tw, name)(*(tw.tensor(a) for a in args))
        ref = getattr(torch, name)(*(torch.tensor(a) for a in args))
        assert str(out.dtype) == str(ref.dtype).replace("torch.", ""), name
        np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-6)
    assert tw.square(tw.tensor([True, False])).dtype == tw.int64
    assert tw.tensor([1.5, 2.5]).float_power(2).dtype == tw.float64
    for mode in ("trunc", "floor"):
        out = tw.divide(tw.tensor([-7, 7]), tw.tensor([2, 2]), rounding_mode=mode)
        ref = torch.divide(torch.tensor([-7, 7]), torch.tensor([2, 2]), rounding_mode=mode)
        assert out.tolist() == ref.tolist() and out.dtype == tw.int64


def test_every_function_is_a_tensor_method_where_torch_has_one():
    from tensorweaver.ops import pointwise
    x = tw.tensor(_domain("unit"))
    for name in pointwise.METHODS:
        if hasattr(torch.Tensor, name):
            assert callable(getattr(x, name)), name
    np.testing.assert_allclose(x.log1p().numpy(), tw.log1p(x).numpy())
    np.testing.assert_allclose(x.atan2(x + 2).numpy(), tw.atan2(x, x + 2).numpy())


def test_out_argument():
    x = tw.tensor(_domain("pos"))
    out = tw.empty(1)
    res = tw.log1p(x, out=out)
    assert res is out and out.shape == x.shape
    np.testing.assert_allclose(out.numpy(), np.log1p(x.numpy()))
    with pytest.raises(RuntimeError, match="out=... arguments don't support automatic differentiation"):
        tw.log1p(x.requires_grad_(), out=tw.empty(3, 4))
    with pytest.raises(TypeError, match="out= must be a Tensor"):
        tw.exp2(x.detach(), out=np.zeros(3))


def test_divide_rejects_an_unknown_rounding_mode():
    with pytest.raises(ValueError, match="rounding_mode"):
        tw.divide(tw.ones(2), 2, rounding_mode="ceil")
