"""Bitwise/logical ops, copysign ... sinc, gradient and the special functions (ops/bitwise.py,
ops/pointwise_more.py, ops/pointwise_special.py) against torch: values, dtypes, gradients
(float64 gradcheck, second derivatives), Tensor methods, in-place forms, operators and errors."""
import numpy as np
import pytest

import tensorweaver as tw
from tensorweaver.autograd import gradcheck

torch = pytest.importorskip("torch", reason="PyTorch is the test-only oracle")
pytestmark = pytest.mark.torch

rng = np.random.default_rng(21)


def _dtype(t):
    return np.dtype(str(t.dtype).replace("torch.", ""))


def _same(ours, theirs, rtol=1e-10, atol=1e-12):
    assert ours.dtype == _dtype(theirs), (ours.dtype, theirs.dtype)
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=rtol, atol=atol)


# ---------------------------------------------------------------- bitwise and logical
INTS = [np.array([5, -3, 0, 127, -128, 64]), np.array([3, 7, -1, 1, 2, -64])]


@pytest.mark.parametrize("name", ["bitwise_and", "bitwise_or", "bitwise_xor"])
@pytest.mark.parametrize("dtype", ["int8", "int32", "int64", "bool"])
def test_bitwise_binary_matches_torch(name, dtype):
    a, b = (v.astype(dtype) for v in INTS)
    _same(getattr(tw, name)(tw.tensor(a), tw.tensor(b)), getattr(torch, name)(torch.tensor(a), torch.tensor(b)))
    _same(getattr(tw.tensor(a), name)(3 if dtype != "bool" else True),
          getattr(torch.tensor(a), name)(3 if dtype != "bool" else True))


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int64"])
@pytest.mark.parametrize("name", ["bitwise_left_shift", "bitwise_right_shift"])
def test_shifts_match_torch_even_out_of_range(name, dtype):
    bits = np.dtype(dtype).itemsize * 8
    a = np.array([1, 7, 100, 3, 9, 2, 5], dtype=dtype)
    if dtype != "uint8":
        a[1::2] *= -1
    s = np.array([0, 1, 3, bits - 1, bits, bits + 5, 2], dtype=dtype)
    _same(getattr(tw, name)(tw.tensor(a), tw.tensor(s)), getattr(torch, name)(torch.tensor(a), torch.tensor(s)))
    _same(getattr(tw, name)(tw.tensor(a), 2), getattr(torch, name)(torch.tensor(a), 2))


def test_bitwise_not_promotion_and_operators_match_torch():
    a = np.array([5, -3, 0], dtype=np.int64)
    t, x = torch.tensor(a), tw.tensor(a)
    _same(tw.bitwise_not(x), torch.bitwise_not(t))
    _same(~tw.tensor([True, False]), ~torch.tensor([True, False]))
    for ours, theirs in [(x & 6, t & 6), (6 | x, 6 | t), (x ^ x, t ^ t), (x << 2, t << 2), (x >> 1, t >> 1),
                         (3 ^ x, 3 ^ t), (1 << tw.tensor([1, 2]), 1 << torch.tensor([1, 2])),
                         (x // 2, t // 2), (7 // tw.tensor([2, -3]), 7 // torch.tensor([2, -3])),
                         (tw.tensor([True]) & tw.tensor([3], dtype=tw.uint8),
                          torch.tensor([True]) & torch.tensor([3], dtype=torch.uint8)),
                         (tw.bitwise_left_shift(tw.tensor([True, False]), 1),
                          torch.bitwise_left_shift(torch.tensor([True, False]), 1))]:
        _same(ours, theirs)
    # comparisons combined with & | ~ keep working (bool tensors: bitwise is logical)
    y = tw.tensor([0.5, -1.0, 2.0])
    assert ((y > 0) & ~(y > 1) | (y < -0.5)).tolist() == [True, True, False]


def test_bitwise_in_place_forms_and_operators():
    x = tw.tensor([12, 10, 7])
    x.bitwise_and_(6)
    x |= 1
    x ^= tw.tensor([1, 0, 0])
    x <<= 2
    x >>= 1
    x.bitwise_not_()
    t = torch.tensor([12, 10, 7])
    t.bitwise_and_(6)
    t |= 1
    t ^= torch.tensor([1, 0, 0])
    t <<= 2
    t >>= 1
    t.bitwise_not_()
    assert x.tolist() == t.tolist()
    y = tw.tensor([7, -7])
    y //= 2
    assert y.tolist() == [3, -4]


def test_bitwise_refuses_floats_clearly():
    with pytest.raises(TypeError, match="bitwise_and: bitwise ops take integer or bool tensors, got Float"):
        tw.bitwise_and(tw.tensor([1.0]), tw.tensor([1.0]))
    with pytest.raises(TypeError, match="bitwise_not"):
        ~tw.tensor([1.0])
    with pytest.raises(TypeError, match="bitwise_or"):
        tw.tensor([1]) | 1.5
    with pytest.raises(TypeError, match="bool by bool"):
        tw.bitwise_left_shift(tw.tensor([True]), tw.tensor([True]))
    with pytest.raises(TypeError, match="floor_divide: bool // bool"):
        tw.floor_divide(tw.tensor([True]), tw.tensor([True]))
    with pytest.raises(ZeroDivisionError, match="integer division by zero"):
        tw.floor_divide(tw.tensor([7]), 0)


def test_logical_ops_and_methods_match_torch():
    a, b = np.array([0.0, 1.5, -2.0, 0.0]), np.array([1, 0, 3, 0])
    ta, tb, xa, xb = torch.tensor(a), torch.tensor(b), tw.tensor(a), tw.tensor(b)
    for name in ("logical_and", "logical_or", "logical_xor"):
        _same(getattr(tw, name)(xa, xb), getattr(torch, name)(ta, tb))
        _same(getattr(xa, name)(xb), getattr(ta, name)(tb))
        ours, theirs = xa.clone(), ta.clone()
        getattr(ours, name + "_")(xb)
        getattr(theirs, name + "_")(tb)
        _same(ours, theirs)
    _same(xa.logical_not(), ta.logical_not())
    ours, theirs = xa.clone(), ta.clone()
    ours.logical_not_()
    theirs.logical_not_()
    _same(ours, theirs)
    out = tw.empty(4, dtype=tw.bool)
    assert tw.logical_xor(xa, xb, out=out) is out and out.tolist() == torch.logical_xor(ta, tb).tolist()


# ---------------------------------------------------------------- elementwise math
def _grad_compare(fn_tw, fn_torch, arrays, rtol=1e-10, atol=1e-12):
    ours = [tw.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, ref = fn_tw(*ours), fn_torch(*theirs)
    _same(out, ref, rtol, atol)
    seed = rng.standard_normal(tuple(ref.shape))
    out.backward(tw.tensor(seed))
    ref.backward(torch.tensor(seed))
    for o, t in zip(ours, theirs):
        expected = t.grad.numpy() if t.grad is not None else np.zeros(o.shape)
        np.testing.assert_allclose(o.grad.numpy(), expected, rtol=rtol, atol=atol)


UNIT = rng.uniform(0.05, 0.95, (3, 4))
ANY = rng.uniform(-3, 3, (3, 4))
POS = rng.uniform(0.2, 6.0, (3, 4))

UNARY = {
    "deg2rad": ANY, "rad2deg": ANY, "sinc": np.concatenate([ANY, [[0.0, 1.0, -2.0, 0.5]]]), "logit": UNIT,
    "lgamma": np.concatenate([POS, [[-0.5, -2.5, -3.7, 0.3]]]),
    "digamma": np.concatenate([POS, [[-0.5, -2.5, -3.7, 0.3]]]), "i0": ANY * 3,
}


@pytest.mark.parametrize("name", list(UNARY))
def test_unary_matches_torch_with_gradient(name):
    # torch's trigamma (digamma's derivative) is a short asymptotic series, good to about 1e-9
    # relative; ours (SciPy's polygamma) is good to double precision.
    rtol = 1e-8 if name == "digamma" else 1e-10
    _grad_compare(getattr(tw, name), getattr(torch, name), [UNARY[name]], rtol=rtol)


@pytest.mark.parametrize("name", list(UNARY))
def test_unary_gradcheck_and_method(name):
    x = tw.tensor(UNARY[name][:2], requires_grad=True)
    assert gradcheck(getattr(tw, name), (x,))
    _same(getattr(x.detach(), name)(), getattr(torch.tensor(UNARY[name][:2]), name)())


@pytest.mark.parametrize("name", ["deg2rad", "rad2deg", "sinc", "logit", "lgamma", "digamma", "i0"])
def test_unary_in_place_and_integer_inputs(name):
    ours, theirs = tw.tensor(UNARY[name][:1] * 0.5 + 0.1), torch.tensor(UNARY[name][:1] * 0.5 + 0.1)
    assert getattr(ours, name + "_")() is ours
    getattr(theirs, name + "_")()
    _same(ours, theirs)
    ints = np.array([1, 2, 3]) if name != "logit" else np.array([0, 1])
    _same(getattr(tw, name)(tw.tensor(ints)), getattr(torch, name)(torch.tensor(ints)), atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("name", ["sinc", "logit", "lgamma", "digamma"])
def test_second_derivative_matches_torch(name):
    a = UNARY[name][0]
    x, t = tw.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    (gx,) = tw.autograd.grad(getattr(tw, name)(x).sum(), x, create_graph=True)
    (gt,) = torch.autograd.grad(getattr(torch, name)(t).sum(), t, create_graph=True)
    (gx * gx).sum().backward()
    (gt * gt).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_logit_eps_clamps_and_zeroes_the_gradient_outside():
    a = np.array([0.0, 1e-8, 0.3, 1.0 - 1e-8, 1.0])
    _grad_compare(lambda x: tw.logit(x, eps=1e-6), lambda x: torch.logit(x, eps=1e-6), [a])
    _grad_compare(lambda x: x.logit(1e-6), lambda x: x.logit(1e-6), [a])
    with pytest.raises(TypeError, match="eps must be a number"):
        tw.logit(tw.tensor([0.5]), eps="small")


@pytest.mark.parametrize("n", [0, 1, 2, 3])
def test_polygamma_matches_torch(n):
    a = np.concatenate([POS.ravel(), [-0.5, -2.5, -3.7, 0.3]])
    _grad_compare(lambda x: tw.polygamma(n, x), lambda x: torch.polygamma(n, x), [a], rtol=1e-9)
    _same(tw.tensor(a).polygamma(n), torch.tensor(a).polygamma(n), rtol=1e-9)
    x = tw.tensor(a[:4], requires_grad=True)
    assert gradcheck(lambda v: tw.polygamma(n, v), (x,))
    ours, theirs = tw.tensor(a), torch.tensor(a)
    ours.polygamma_(n)
    theirs.polygamma_(n)
    _same(ours, theirs, rtol=1e-9)
    with pytest.raises(ValueError, match="non-negative integer"):
        tw.polygamma(-1, tw.tensor(a))


@pytest.mark.parametrize("p", [1, 2, 4])
def test_mvlgamma_matches_torch(p):
    a = POS + (p - 1) / 2
    _grad_compare(lambda x: tw.mvlgamma(x, p), lambda x: torch.mvlgamma(x, p), [a])
    assert gradcheck(lambda v: tw.mvlgamma(v, p), (tw.tensor(a[:1], requires_grad=True),))
    ours, theirs = tw.tensor(a), torch.tensor(a)
    ours.mvlgamma_(p)
    theirs.mvlgamma_(p)
    _same(ours, theirs)
    with pytest.raises(ValueError, match="positive integer"):
        tw.mvlgamma(tw.tensor(a), 0)


@pytest.mark.parametrize("name", ["igamma", "igammac"])
def test_incomplete_gamma_matches_torch(name):
    a, x = rng.uniform(0.3, 8.0, (3, 4)), rng.uniform(0.05, 12.0, (4,))
    _grad_compare(lambda v: getattr(tw, name)(tw.tensor(a), v), lambda v: getattr(torch, name)(torch.tensor(a), v),
                  [x])
    assert gradcheck(lambda v: getattr(tw, name)(tw.tensor(a[:1, :3]), v), (tw.tensor(x[:3], requires_grad=True),))
    _same(getattr(tw.tensor(a), name)(tw.tensor(x)), getattr(torch.tensor(a), name)(torch.tensor(x)))
    edges_a, edges_x = np.array([0.0, 0.0, 1.0, 2.0, 1.0]), np.array([0.0, 1.0, 0.0, np.inf, 3.0])
    _same(getattr(tw, name)(tw.tensor(edges_a), tw.tensor(edges_x)),
          getattr(torch, name)(torch.tensor(edges_a), torch.tensor(edges_x)))
    with pytest.raises(NotImplementedError, match="with respect to input"):
        getattr(tw, name)(tw.tensor(a, requires_grad=True), tw.tensor(x)).sum().backward()
    v = tw.tensor(x, requires_grad=True)
    (g,) = tw.autograd.grad(getattr(tw, name)(tw.tensor(a), v).sum(), v, create_graph=True)
    tv = torch.tensor(x, requires_grad=True)
    (tg,) = torch.autograd.grad(getattr(torch, name)(torch.tensor(a), tv).sum(), tv, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), tg.detach().numpy(), rtol=1e-10)
    g.sum().backward()
    tg.sum().backward()
    np.testing.assert_allclose(v.grad.numpy(), tv.grad.numpy(), rtol=1e-8, atol=1e-12)


def test_i0_at_large_arguments_and_float32():
    a = np.array([-30.0, -20.0, 0.0, 19.99, 20.0, 50.0, 700.0])
    _same(tw.i0(tw.tensor(a)), torch.i0(torch.tensor(a)), rtol=1e-12)
    f = a[:6].astype(np.float32)
    _same(tw.i0(tw.tensor(f)), torch.i0(torch.tensor(f)), rtol=1e-5)


def test_copysign_matches_torch():
    a, b = np.array([[0.0, 1.5, -2.0, 3.0]]), np.array([[1.0], [-1.0], [-0.0]])
    _grad_compare(tw.copysign, torch.copysign, [a, b])
    assert gradcheck(tw.copysign, (tw.tensor(ANY[:2] + 0.1, requires_grad=True), tw.tensor(ANY[:1], requires_grad=True)))
    _same(tw.copysign(tw.tensor([1, 2]), -1), torch.copysign(torch.tensor([1, 2]), -1))
    _same(tw.tensor(a).copysign(-1.0), torch.tensor(a).copysign(-1.0))
    x, t = tw.tensor(a), torch.tensor(a)
    x.copysign_(tw.tensor(-1.0))
    t.copysign_(torch.tensor(-1.0))
    _same(x, t)
    # second order: the gradient is piecewise constant, so its derivative is 0
    v = tw.tensor(ANY[0], requires_grad=True)
    (g,) = tw.autograd.grad(tw.copysign(v, -1.0).sum(), v, create_graph=True)
    assert g.requires_grad and np.allclose(g.detach().numpy(), -np.sign(ANY[0]))


def test_frexp_and_ldexp_match_torch():
    a = np.array([1.5, -3.0, 0.0, 1e-300, 6.0e10, -0.25])
    m, e = tw.frexp(tw.tensor(a))
    tm, te = torch.frexp(torch.tensor(a))
    _same(m, tm)
    _same(e, te)
    f = a.astype(np.float32)[:3]
    _same(tw.frexp(tw.tensor(f)).mantissa, torch.frexp(torch.tensor(f)).mantissa)
    _grad_compare(lambda x: tw.frexp(x)[0], lambda x: torch.frexp(x)[0], [a[:3]])
    assert gradcheck(lambda x: tw.frexp(x).mantissa, (tw.tensor(ANY[:1], requires_grad=True),))
    mo, eo = tw.empty(6, dtype=tw.float64), tw.empty(6, dtype=tw.int32)
    res = tw.frexp(tw.tensor(a), out=(mo, eo))
    assert res.mantissa is mo and res.exponent is eo and np.array_equal(mo.numpy(), tm.numpy())
    with pytest.raises(TypeError, match="frexp: only floating-point"):
        tw.frexp(tw.tensor([3]))
    _grad_compare(tw.ldexp, torch.ldexp, [ANY, rng.integers(-3, 4, (4,)).astype(np.float64)])
    _same(tw.ldexp(tw.tensor([1.5]), tw.tensor([2])), torch.ldexp(torch.tensor([1.5]), torch.tensor([2])))
    _same(tw.ldexp(tw.tensor([1, 2]), tw.tensor([3, 4])), torch.ldexp(torch.tensor([1, 2]), torch.tensor([3, 4])))
    x = tw.tensor([1.5, 2.0])
    x.ldexp_(tw.tensor([1, -1]))
    assert x.tolist() == [3.0, 1.0]


def test_floor_divide_nextafter_signbit_match_torch():
    a, b = np.array([7.0, -7.0, 5.0, -0.0, 3.5]), np.array([2.0, 2.0, 0.3, 1.0, -1.5])
    _same(tw.floor_divide(tw.tensor(a), tw.tensor(b)), torch.floor_divide(torch.tensor(a), torch.tensor(b)))
    _same(tw.floor_divide(tw.tensor([7, -7]), 2), torch.floor_divide(torch.tensor([7, -7]), 2))
    _same(tw.tensor(a).floor_divide(2.0), torch.tensor(a).floor_divide(2.0))
    assert not tw.floor_divide(tw.tensor(a, requires_grad=True), 2.0).requires_grad
    _same(tw.nextafter(tw.tensor(a), tw.tensor(b)), torch.nextafter(torch.tensor(a), torch.tensor(b)), rtol=0, atol=0)
    _same(tw.tensor(a).nextafter(tw.tensor(0.0, dtype=tw.float64)),
          torch.tensor(a).nextafter(torch.tensor(0.0, dtype=torch.float64)), rtol=0, atol=0)
    f = tw.tensor([1.0])
    f.nextafter_(tw.tensor([2.0]))
    assert f.item() == np.nextafter(np.float32(1), np.float32(2))
    with pytest.raises(TypeError, match="nextafter: floating-point tensors only"):
        tw.nextafter(tw.tensor([1]), tw.tensor([2]))
    for arr in (np.array([-0.0, 0.0, -1.5, np.inf, -np.inf]), np.array([3, -3, 0]), np.array([3], dtype=np.uint8),
                np.array([True, False])):
        _same(tw.signbit(tw.tensor(arr)), torch.signbit(torch.tensor(arr)))
        _same(tw.tensor(arr).signbit(), torch.tensor(arr).signbit())


# ---------------------------------------------------------------- gradient
@pytest.mark.parametrize("kwargs", [
    {}, {"spacing": 2.0}, {"dim": 1}, {"dim": [0, -1], "spacing": [0.5, 3.0]}, {"edge_order": 2},
    {"dim": 1, "edge_order": 2, "spacing": 0.25}, {"dim": -1, "spacing": "coordinates"},
    {"dim": [1, 0], "spacing": "coordinates", "edge_order": 2},
])
def test_gradient_matches_torch(kwargs):
    a = rng.standard_normal((4, 5))
    kw = dict(kwargs)
    if kw.get("spacing") == "coordinates":
        dims = kw["dim"] if isinstance(kw["dim"], list) else [kw["dim"]]
        coords = [np.cumsum(rng.uniform(0.2, 1.5, a.shape[d])) for d in dims]
        ours_kw = dict(kw, spacing=[tw.tensor(c) for c in coords])
        theirs_kw = dict(kw, spacing=[torch.tensor(c) for c in coords])
    else:
        ours_kw = theirs_kw = kw
    x, t = tw.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    ours, theirs = tw.gradient(x, **ours_kw), torch.gradient(t, **theirs_kw)
    assert isinstance(ours, tuple) and len(ours) == len(theirs)
    for o, r in zip(ours, theirs):
        _same(o, r)
    seeds = [rng.standard_normal(a.shape) for _ in ours]
    sum((o * tw.tensor(s)).sum() for o, s in zip(ours, seeds)).backward()
    sum((r * torch.tensor(s)).sum() for r, s in zip(theirs, seeds)).backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_gradient_integer_input_and_errors():
    _same(tw.gradient(tw.tensor([1, 4, 9, 16]))[0], torch.gradient(torch.tensor([1, 4, 9, 16]))[0])
    with pytest.raises(ValueError, match="at least edge_order\\+1"):
        tw.gradient(tw.tensor([1.0, 4.0]), edge_order=2)
    with pytest.raises(ValueError, match="edge_order must be 1 or 2"):
        tw.gradient(tw.tensor([1.0, 4.0, 5.0]), edge_order=3)
    with pytest.raises(ValueError, match="spacing has 2 entries for 1 dims"):
        tw.gradient(tw.tensor([1.0, 4.0, 5.0]), spacing=[1.0, 2.0])
    with pytest.raises(IndexError, match="dim 2 is out of range"):
        tw.gradient(tw.tensor([1.0, 4.0, 5.0]), dim=2)
    with pytest.raises(ValueError, match="coordinates for dim 0 have 2 entries"):
        tw.gradient(tw.tensor([1.0, 4.0, 5.0]), spacing=[tw.tensor([0.0, 1.0])])
