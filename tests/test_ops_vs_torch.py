"""PyTorch as the oracle for every core op's forward and backward, and for dtype rules."""
import numpy as np
import pytest

import tensorweaver as tw

torch = pytest.importorskip(
    "torch", reason="PyTorch is the test-only oracle (extra 'torch'); the CPU image omits it "
                    "and CI's venv stage runs these tests")
pytestmark = pytest.mark.torch


def _pair(*arrays):
    ours = [tw.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    theirs = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    return ours, theirs


def _check(fn_tw, fn_torch, *arrays, rtol=1e-10, atol=1e-12):
    ours, theirs = _pair(*arrays)
    out, ref = fn_tw(*ours), fn_torch(*theirs)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=rtol, atol=atol)
    assert out.shape == tuple(ref.shape)
    if not ref.requires_grad:
        return
    seed = np.random.default_rng(7).standard_normal(ref.shape)
    out.backward(tw.tensor(seed))
    ref.backward(torch.tensor(seed))
    for o, t in zip(ours, theirs):
        if t.requires_grad:
            assert o.grad is not None
            np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=rtol, atol=atol)


rng = np.random.default_rng(0)


def R(*shape, low=-2.0, high=2.0):
    return rng.uniform(low, high, size=shape)


def P(*shape):
    return rng.uniform(0.5, 2.0, size=shape)


UNARY = ["neg", "exp", "tanh", "sigmoid", "relu", "abs", "sin", "cos"]


@pytest.mark.parametrize("name", UNARY)
def test_unary(name):
    _check(getattr(tw, name), getattr(torch, name), R(3, 4))


@pytest.mark.parametrize("name", ["log", "sqrt"])
def test_unary_positive(name):
    _check(getattr(tw, name), getattr(torch, name), P(3, 4))


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu(approximate):
    _check(lambda x: tw.gelu(x, approximate), lambda x: torch.nn.functional.gelu(x, approximate=approximate), R(5, 6, low=-4, high=4))


def test_leaky_relu_clamp():
    _check(lambda x: tw.leaky_relu(x, 0.1), lambda x: torch.nn.functional.leaky_relu(x, 0.1), R(4, 4))
    _check(lambda x: x.clamp(-0.5, 1.0), lambda x: x.clamp(-0.5, 1.0), R(4, 4))
    _check(lambda x: x.clamp(max=0.2), lambda x: x.clamp(max=0.2), R(4, 4))


@pytest.mark.parametrize("sa,sb", [((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (2, 3))])
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "maximum", "minimum"])
def test_binary(op, sa, sb):
    b = P(*sb) if op == "div" else R(*sb)
    _check(getattr(tw, op), getattr(torch, op), R(*sa), b)


def test_maximum_ties_split_like_torch():
    a = np.array([1.0, 2.0, 3.0])
    _check(tw.maximum, torch.maximum, a, a.copy())


def test_pow():
    _check(lambda a, b: a ** b, lambda a, b: a ** b, P(3, 4), R(4))
    _check(lambda a: a ** 3, lambda a: a ** 3, R(3))
    _check(lambda a: 2.0 ** a, lambda a: 2.0 ** a, R(3))


def test_where_masked_fill():
    cond = R(3, 4) > 0
    _check(lambda c, a, b: tw.where(c, a, b), lambda c, a, b: torch.where(c, a, b), cond, R(3, 4), R(4))
    _check(lambda a, m: a.masked_fill(m, -1e9), lambda a, m: a.masked_fill(m, -1e9), R(3, 4), R(4) > 0)


@pytest.mark.parametrize("dim,keepdim", [(None, False), (1, False), ((0, 2), True), (-1, True)])
@pytest.mark.parametrize("op", ["sum", "mean", "amax", "amin"])
def test_reductions(op, dim, keepdim):
    kwargs = {} if dim is None else {"dim": dim, "keepdim": keepdim}
    _check(lambda x: getattr(x, op)(**kwargs), lambda x: getattr(x, op)(**kwargs), R(2, 3, 4))


@pytest.mark.parametrize("dim,keepdim", [(1, False), (0, True), (-1, False)])
def test_max_min_dim(dim, keepdim):
    x = R(3, 4)
    for op in ("max", "min"):
        ours, theirs = _pair(x)
        o, t = getattr(ours[0], op)(dim, keepdim), getattr(theirs[0], op)(dim, keepdim)
        assert o.indices.tolist() == t.indices.tolist()
        _check(lambda a: getattr(a, op)(dim, keepdim).values, lambda a: getattr(a, op)(dim, keepdim).values, x)
    _check(lambda a: a.max(), lambda a: a.max(), x)


@pytest.mark.parametrize("kwargs", [{}, {"dim": 1}, {"dim": (0, 1), "keepdim": True}, {"dim": 0, "correction": 0}])
def test_var_std(kwargs):
    _check(lambda x: x.var(**kwargs), lambda x: x.var(**kwargs), R(4, 5))
    _check(lambda x: x.std(**kwargs), lambda x: x.std(**kwargs), R(4, 5))


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_family(dim):
    x = R(3, 5) * 10
    _check(lambda a: a.softmax(dim), lambda a: a.softmax(dim), x)
    _check(lambda a: a.log_softmax(dim), lambda a: a.log_softmax(dim), x)
    _check(lambda a: a.logsumexp(dim), lambda a: a.logsumexp(dim), x)
    _check(lambda a: a.logsumexp(dim, keepdim=True), lambda a: a.logsumexp(dim, keepdim=True), x)


def test_argmax():
    x = R(3, 5)
    a, t = tw.tensor(x), torch.tensor(x)
    assert a.argmax().item() == t.argmax().item()
    assert a.argmax(1).tolist() == t.argmax(1).tolist()
    assert a.argmin(0, keepdim=True).tolist() == t.argmin(0, keepdim=True).tolist()


@pytest.mark.parametrize("sa,sb", [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)),
                                   ((5, 2, 3), (3, 4)), ((2, 1, 2, 3), (4, 3, 2))])
def test_matmul(sa, sb):
    _check(lambda a, b: a @ b, lambda a, b: a @ b, R(*sa), R(*sb))


def test_linear():
    from tensorweaver.ops.linalg import linear
    _check(linear, torch.nn.functional.linear, R(2, 5, 3), R(4, 3), R(4))


def test_shape_ops():
    x = R(2, 3, 4)
    for f in [lambda t: t.reshape(4, 6), lambda t: t.view(-1, 2), lambda t: t.transpose(0, 2),
              lambda t: t.permute(1, 2, 0), lambda t: t.unsqueeze(-1), lambda t: t[:, :1].squeeze(),
              lambda t: t[:, :1].expand(2, 5, 4), lambda t: t.flatten(1), lambda t: t[0].tril(-1),
              lambda t: t[1].triu(1), lambda t: t.mT]:
        _check(f, f, x)
    _check(lambda a, b: tw.cat([a, b], 1), lambda a, b: torch.cat([a, b], 1), R(2, 3), R(2, 5))
    _check(lambda a, b: tw.stack([a, b], -1), lambda a, b: torch.stack([a, b], -1), R(2, 3), R(2, 3))
    _check(lambda a: a.split(2, 1)[1] * 3, lambda a: a.split(2, 1)[1] * 3, R(3, 5))
    _check(lambda a: a.chunk(3)[-1], lambda a: a.chunk(3)[-1], R(7, 2))


def test_indexing():
    x = R(4, 5)
    idx = np.array([0, 2, 2, 3, 0])
    mask = R(4, 5) > 0
    for f in [lambda t: t[1], lambda t: t[1:3, ::2], lambda t: t[None, :, 1], lambda t: t[..., -1],
              lambda t: t[[1, 1, 3]], lambda t: t[:, [4, 0, 4]]]:
        _check(f, f, x)
    _check(lambda t, i: t[i], lambda t, i: t[i], x, idx)
    _check(lambda t, i: t[i, i], lambda t, i: t[i, i], x, idx)
    _check(lambda t, m: t[m], lambda t, m: t[m], x, mask)


def test_creation_matches_torch_dtypes_and_values():
    assert tw.tensor(1.5).dtype == tw.float32 and tw.tensor(3).dtype == tw.int64
    assert tw.tensor([True]).dtype == tw.bool
    assert tw.tensor(np.zeros(2)).dtype == tw.float64
    assert tw.arange(5).tolist() == torch.arange(5).tolist()
    assert tw.arange(0, 1, 0.25).dtype == tw.float32
    np.testing.assert_allclose(tw.arange(0, 1, 0.25).numpy(), torch.arange(0, 1, 0.25).numpy())
    np.testing.assert_allclose(tw.linspace(-1, 1, 7).numpy(), torch.linspace(-1, 1, 7).numpy(), atol=1e-6)
    assert tw.eye(3, 2).tolist() == torch.eye(3, 2).tolist()
    assert tw.full((2,), 7).dtype == tw.int64 and tw.full((2,), 7.0).dtype == tw.float32
    assert tw.zeros(2, 3).shape == (2, 3) and tw.ones((2, 3)).dtype == tw.float32


@pytest.mark.parametrize("a,b", [
    (np.array([1, 2]), np.array([0.5, 1.5], dtype=np.float32)),           # int64 + float32 -> float32
    (np.array([1.0, 2.0], dtype=np.float32), np.array([0.5, 1.5])),       # float32 + float64 -> float64
    (np.array([True, False]), np.array([1, 2])),                          # bool + int64 -> int64
    (np.array([1, 2], dtype=np.int32), np.array(2.5)),                    # int + 0-d float64 -> float32
    (np.array([1.0, 2.0], dtype=np.float32), np.array(2.5)),              # float32 + 0-d float64 -> float32
])
def test_type_promotion_matches_torch(a, b):
    ours = tw.tensor(a) + tw.tensor(b)
    ref = torch.tensor(a) + torch.tensor(b)
    assert str(ours.dtype) == str(ref.dtype).replace("torch.", "")
    np.testing.assert_allclose(ours.numpy(), ref.numpy())


@pytest.mark.parametrize("scalar", [2, 2.5, True])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int32", "bool"])
def test_scalar_promotion_matches_torch(dtype, scalar):
    a = np.array([1, 0, 1]).astype(dtype)
    for op in ("__add__", "__mul__", "__truediv__"):
        if dtype == "bool" and scalar is True and op == "__add__":
            continue   # torch: bool + bool stays bool (logical or); not a numeric case we mirror
        ours = getattr(tw.tensor(a), op)(scalar)
        ref = getattr(torch.tensor(a), op)(scalar)
        assert str(ours.dtype) == str(ref.dtype).replace("torch.", ""), (op, dtype, scalar)
