"""Writes at indices (ops/scattering.py, the *_scatter ops of ops/joining.py): scatter_reduce
with every reduction and include_self, index_reduce, index_copy, select/slice/diagonal_scatter,
narrow_copy, as_strided and unravel_index against torch (values and gradients), float64
gradcheck, second derivatives, the in-place forms under the in-place rules, the generic
(cuPyNumeric) segment reduction on NumPy, and the errors for bad input."""
import numpy as np
import pytest

import tensorweaver as tw
from tensorweaver.autograd import gradcheck, gradgradcheck
from tensorweaver.ops import scattering

torch = pytest.importorskip("torch", reason="PyTorch is the test-only oracle")
pytestmark = [pytest.mark.torch,
              pytest.mark.filterwarnings("ignore:index_reduce\\(\\) is in beta:UserWarning")]

rng = np.random.default_rng(12)


def r(*shape):
    return rng.standard_normal(shape)


def _pair(arrays):
    ours = [tw.tensor(a, requires_grad=a.dtype.kind == "f") if isinstance(a, np.ndarray) else a for a in arrays]
    theirs = [torch.tensor(a, requires_grad=a.dtype.kind == "f") if isinstance(a, np.ndarray) else a for a in arrays]
    return ours, theirs


def _check_against_torch(fn_tw, fn_torch, arrays):
    ours, theirs = _pair(arrays)
    out, ref = fn_tw(*ours), fn_torch(*theirs)
    assert out.shape == tuple(ref.shape)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-12, atol=1e-12)
    if ref.requires_grad:
        w = r(*out.shape)
        (out * tw.tensor(w)).sum().backward()
        (ref * torch.tensor(w)).sum().backward()
        for a, b in zip(ours, theirs):
            if isinstance(b, torch.Tensor) and b.requires_grad:
                np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-12)


INDEX = np.array([[0, 1, 0, 2], [2, 2, 1, 0], [1, 1, 1, 1]])      # repeats, and a position never hit


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_matches_torch(reduce, include_self):
    src = r(3, 4)
    src[0, 0] = src[2, 1] = 0.0                           # zeros: prod's exact gradient
    src[1, 2] = src[1, 3]                                   # ties: amax/amin share the gradient
    _check_against_torch(
        lambda x, s: tw.scatter_reduce(x, 1, tw.tensor(INDEX), s, reduce, include_self=include_self),
        lambda x, s: torch.scatter_reduce(x, 1, torch.tensor(INDEX), s, reduce, include_self=include_self),
        [r(3, 4), src])


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
def test_scatter_reduce_gradcheck_and_method(reduce):
    x, s = tw.tensor(r(4, 3), requires_grad=True), tw.tensor(r(3, 3), requires_grad=True)
    idx = tw.tensor([[0, 1, 3], [0, 0, 3], [2, 1, 3]])
    for include_self in (True, False):
        assert gradcheck(lambda a, b: a.scatter_reduce(0, idx, b, reduce, include_self=include_self), (x, s))
    if reduce != "prod":
        assert gradgradcheck(lambda a, b: tw.scatter_reduce(a, 0, idx, b, reduce), (x, s))


def test_scatter_reduce_second_derivative_of_prod_says_why():
    x = tw.tensor(r(3), requires_grad=True)
    y = tw.scatter_reduce(x, 0, tw.tensor([0, 0]), x[:2] * 1, "prod")
    with pytest.raises(RuntimeError, match="second derivatives are not supported"):
        tw.autograd.grad(y.sum(), x, create_graph=True)


@pytest.mark.parametrize("dtype", ["int64", "int32"])
@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
def test_scatter_reduce_on_integers_matches_torch(dtype, reduce):
    a = rng.integers(-9, 9, (3, 4)).astype(dtype)
    s = rng.integers(-9, 9, (3, 4)).astype(dtype)
    for include_self in (True, False):
        out = tw.scatter_reduce(tw.tensor(a), 1, tw.tensor(INDEX), tw.tensor(s), reduce, include_self=include_self)
        ref = torch.scatter_reduce(torch.tensor(a), 1, torch.tensor(INDEX), torch.tensor(s), reduce,
                                   include_self=include_self)
        assert out.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(out.numpy(), ref.numpy())


@pytest.mark.parametrize("op", ["sum", "prod", "amax", "amin"])
def test_generic_segment_reduction_equals_ufunc_at(op):
    """The path cuPyNumeric takes (sort + tree), checked on NumPy against ufunc.at."""
    positions = rng.integers(0, 9, 200)
    values = r(200)
    values[::7] = 0.0
    fast, count = scattering.segment_reduce(positions, values, 10, op, generic=False)
    generic, count2 = scattering.segment_reduce(positions, values, 10, op, generic=True)
    np.testing.assert_allclose(generic, fast, rtol=1e-12)
    np.testing.assert_array_equal(count, count2)
    ints = rng.integers(-5, 5, 50)
    a, _ = scattering.segment_reduce(positions[:50], ints, 10, op, generic=False)
    b, _ = scattering.segment_reduce(positions[:50], ints, 10, op, generic=True)
    np.testing.assert_array_equal(a, b)


def test_scatter_reduce_with_a_smaller_index_and_nan():
    # src larger than index: only its leading block is used (torch 2.13's own backward fails
    # on this shape, so the gradient is checked numerically).
    x, s = r(3, 4), r(5, 6)
    idx = np.array([[0, 2], [1, 1]])
    out = tw.scatter_reduce(tw.tensor(x), 1, tw.tensor(idx), tw.tensor(s), "amax")
    ref = torch.scatter_reduce(torch.tensor(x), 1, torch.tensor(idx), torch.tensor(s), "amax")
    np.testing.assert_array_equal(out.numpy(), ref.numpy())
    assert gradcheck(lambda a, b: tw.scatter_reduce(a, 1, tw.tensor(idx), b, "mean"),
                     (tw.tensor(x, requires_grad=True), tw.tensor(s, requires_grad=True)))
    s[0, 0] = np.nan
    out = tw.scatter_reduce(tw.tensor(x), 1, tw.tensor(idx), tw.tensor(s), "amin")
    ref = torch.scatter_reduce(torch.tensor(x), 1, torch.tensor(idx), torch.tensor(s), "amin")
    np.testing.assert_array_equal(out.numpy(), ref.numpy())


@pytest.mark.parametrize("reduce", ["prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_index_reduce_matches_torch(reduce, include_self):
    index = np.array([2, 0, 2, 2])
    _check_against_torch(
        lambda x, s: tw.index_reduce(x, 1, tw.tensor(index), s, reduce, include_self=include_self),
        lambda x, s: torch.index_reduce(x, 1, torch.tensor(index), s, reduce, include_self=include_self),
        [r(2, 3, 2), r(2, 4, 2)])
    x, s = tw.tensor(r(2, 3), requires_grad=True), tw.tensor(r(2, 4), requires_grad=True)
    assert gradcheck(lambda a, b: a.index_reduce(1, tw.tensor(index), b, reduce, include_self=include_self), (x, s))


def test_index_copy_matches_torch():
    index = np.array([3, 0])
    _check_against_torch(lambda x, s: tw.index_copy(x, 0, tw.tensor(index), s),
                         lambda x, s: torch.index_copy(x, 0, torch.tensor(index), s), [r(4, 3), r(2, 3)])
    _check_against_torch(lambda x, s: x.index_copy(-1, tw.tensor(index), s),
                         lambda x, s: x.index_copy(-1, torch.tensor(index), s), [r(2, 4), r(2, 2)])
    x, s = tw.tensor(r(4, 3), requires_grad=True), tw.tensor(r(2, 3), requires_grad=True)
    assert gradcheck(lambda a, b: tw.index_copy(a, 0, tw.tensor(index), b), (x, s))
    assert gradgradcheck(lambda a, b: tw.index_copy(a, 0, tw.tensor(index), b) ** 2, (x, s))


SCATTERS = [
    ("select_scatter", (3, 4, 5), (3, 5), (1, -1)),
    ("select_scatter", (3, 4), (4,), (0, 2)),
    ("slice_scatter", (3, 4, 5), (3, 4, 2), (2, 1, None, 2)),
    ("slice_scatter", (6, 2), (2, 2), (0, -2)),
    ("slice_scatter", (6, 2), (6, 2), ()),
    ("diagonal_scatter", (3, 4, 5), (4, 3), (1, 0, 2)),
    ("diagonal_scatter", (3, 4, 5), (3, 4), (-1, 2, 1)),
    ("diagonal_scatter", (4, 4), (4,), ()),
]


@pytest.mark.parametrize("name, shape, src_shape, args", SCATTERS, ids=[f"{s[0]}-{i}" for i, s in enumerate(SCATTERS)])
def test_scatter_into_ops_match_torch(name, shape, src_shape, args):
    _check_against_torch(lambda x, s: getattr(tw, name)(x, s, *args),
                         lambda x, s: getattr(torch, name)(x, s, *args), [r(*shape), r(*src_shape)])
    _check_against_torch(lambda x, s: getattr(x, name)(s, *args),
                         lambda x, s: getattr(x, name)(s, *args), [r(*shape), r(*src_shape)])
    x, s = tw.tensor(r(*shape), requires_grad=True), tw.tensor(r(*src_shape), requires_grad=True)
    assert gradcheck(lambda a, b: getattr(tw, name)(a, b, *args), (x, s))
    assert gradgradcheck(lambda a, b: getattr(tw, name)(a * a, b * b, *args), (x, s))


def test_narrow_copy_as_strided_unravel_index_match_torch():
    _check_against_torch(lambda x: tw.narrow_copy(x, 1, 1, 2), lambda x: torch.narrow_copy(x, 1, 1, 2), [r(3, 4)])
    _check_against_torch(lambda x: x.narrow_copy(0, -2, 2), lambda x: x.narrow_copy(0, 1, 2), [r(3, 4)])
    out = tw.narrow_copy(tw.arange(6), 0, 1, 2)
    out[0] = 100
    for size, stride, offset in [((3, 4), (2, 1), 1), ((2, 2), (1, 2), 0), ((4,), (3,), 0), ((2, 3, 2), (4, 1, 2), 1)]:
        _check_against_torch(lambda x: tw.as_strided(x, size, stride, offset),
                             lambda x: torch.as_strided(x, size, stride, offset), [r(12)])
        _check_against_torch(lambda x: x.as_strided(size, stride, offset),
                             lambda x: x.as_strided(size, stride, offset), [r(3, 4)])
    assert gradcheck(lambda x: tw.as_strided(x, (3, 3), (2, 1)), (tw.tensor(r(8), requires_grad=True),))
    idx = np.array([[-1, 5, 0], [3, 2, -6]])
    ours, ref = tw.unravel_index(tw.tensor(idx), (2, 3)), torch.unravel_index(torch.tensor(idx), (2, 3))
    assert len(ours) == len(ref)
    for a, b in zip(ours, ref):
        assert a.dtype == np.int64
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(tw.unravel_index(tw.tensor(7), 10)[0].numpy(), 7)


def test_in_place_forms_follow_the_in_place_rules():
    idx = tw.tensor([2, 0])
    # A plain tensor: written in place, version counted.
    x = tw.zeros(3, 2)
    v0 = x._version_counter[0] if x._version_counter else 0
    assert x.index_copy_(0, idx, tw.ones(2, 2)) is x
    np.testing.assert_array_equal(x.numpy(), [[1, 1], [0, 0], [1, 1]])
    assert x._version_counter[0] == v0 + 1
    x.scatter_reduce_(0, tw.tensor([[1, 1]]), tw.tensor([[5.0, 7.0]]), "amax")
    np.testing.assert_array_equal(x.numpy(), [[1, 1], [5, 7], [1, 1]])
    x.index_reduce_(1, tw.tensor([0, 0]), tw.full((3, 2), 2.0), "prod", include_self=False)
    np.testing.assert_array_equal(x.numpy(), [[4, 1], [4, 7], [4, 1]])
    # A leaf that requires grad: refused in grad mode, allowed under no_grad.
    w = tw.zeros(3, 2, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        w.index_copy_(0, idx, tw.ones(2, 2))
    with tw.no_grad():
        w.index_copy_(0, idx, tw.ones(2, 2))
    # A non-leaf: recorded (rebase), gradients match torch.
    a, s = r(3, 2), r(2, 2)
    ours, theirs = _pair([a, s])
    y = ours[0] * 2
    y.index_copy_(1, tw.tensor([0]), ours[0][:, 1:] * 5)
    y.index_reduce_(0, idx, ours[1], "mean")
    y = y * 1       # torch's index_reduce saved its output: change a copy
    y.scatter_reduce_(1, tw.tensor([[1], [0], [1]]), ours[0][:, :1] * 3, "sum")
    yt = theirs[0] * 2
    yt.index_copy_(1, torch.tensor([0]), theirs[0][:, 1:] * 5)
    yt.index_reduce_(0, torch.tensor([2, 0]), theirs[1], "mean")
    yt = yt * 1
    yt.scatter_reduce_(1, torch.tensor([[1], [0], [1]]), theirs[0][:, :1] * 3, "sum")
    np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy())
    (y ** 2).sum().backward()
    (yt ** 2).sum().backward()
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=1e-12)


def test_a_saved_value_changed_in_place_is_refused():
    x = tw.tensor(r(3), requires_grad=True)
    y = x * 1
    z = y.exp()                       # saves its output
    z.index_copy_(0, tw.tensor([0]), tw.tensor([1.0], dtype=tw.float64))
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()


def test_bad_input_errors_name_the_problem():
    x = tw.zeros(3, 4)
    with pytest.raises(RuntimeError, match="reduce argument must be one of"):
        tw.scatter_reduce(x, 0, tw.zeros(1, 1, dtype=tw.int64), tw.ones(1, 1), "max")
    with pytest.raises(RuntimeError, match="reduce argument must be one of"):
        tw.index_reduce(x, 0, tw.tensor([0]), tw.ones(1, 4), "sum")
    with pytest.raises(RuntimeError, match="index out of range"):
        tw.scatter_reduce(x, 0, tw.tensor([[5]]), tw.ones(1, 1), "sum")
    with pytest.raises(RuntimeError, match="source has shape"):
        tw.index_copy(x, 0, tw.tensor([0, 1]), tw.ones(3, 4))
    with pytest.raises(IndexError, match="index out of range"):
        tw.index_copy(x, 0, tw.tensor([3]), tw.ones(1, 4))
    with pytest.raises(RuntimeError, match="expected src to have a size equal to the slice"):
        tw.select_scatter(x, tw.ones(3), 0, 0)
    with pytest.raises(RuntimeError, match="expected src to have a size equal to the slice"):
        tw.slice_scatter(x, tw.ones(3, 3), 1, 0, 4, 2)
    with pytest.raises(RuntimeError, match="cannot be the same dim"):
        tw.diagonal_scatter(x, tw.ones(3), 0, 1, 1)
    with pytest.raises(RuntimeError, match="out of bounds"):
        tw.as_strided(x, (3, 4), (4, 2))
    with pytest.raises(IndexError, match="out of bounds"):
        tw.unravel_index(tw.tensor([6]), (2, 3))
    with pytest.raises(TypeError, match="integer tensor"):
        tw.unravel_index(tw.tensor([1.0]), (2, 3))
