"""float64 gradcheck of every differentiable core op, including broadcast and 0-d shapes."""
import numpy as np
import pytest

import tensorweaver as tw
from tensorweaver.autograd import gradcheck

pytestmark = pytest.mark.unit


def rand(*shape, low=-1.0, high=1.0, seed=[0]):
    seed[0] += 1
    rng = np.random.default_rng(seed[0])
    return tw.tensor(rng.uniform(low, high, size=shape), dtype=tw.float64, requires_grad=True)


def positive(*shape):
    return rand(*shape, low=0.5, high=2.0)


def away_from_zero(*shape):
    # Elements at distance >= 0.1 from 0 so kinks (relu, abs) are not sampled.
    t = rand(*shape)
    d = t.detach().numpy()
    return tw.tensor(np.where(np.abs(d) < 0.1, d + np.sign(d + 1e-12) * 0.2, d), requires_grad=True)


BROADCAST_PAIRS = [((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (2, 3)), ((2, 3), ()), ((), ())]


@pytest.mark.parametrize("sa,sb", BROADCAST_PAIRS)
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "maximum", "minimum", "pow"])
def test_binary_broadcast(op, sa, sb):
    if op == "pow":
        a, b = positive(*sa), rand(*sb)
    elif op == "div":
        a, b = rand(*sa), positive(*sb)
    else:
        a, b = rand(*sa), rand(*sb)
    fn = {"add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y,
          "div": lambda x, y: x / y, "maximum": tw.maximum, "minimum": tw.minimum,
          "pow": lambda x, y: x ** y}[op]
    assert gradcheck(fn, (a, b))


@pytest.mark.parametrize("scalar", [2.5, -1.5])
def test_scalar_operands(scalar):
    a = positive(3, 2)
    assert gradcheck(lambda x: scalar + x * scalar - x / scalar + scalar / x + x ** scalar
                     + abs(scalar) ** x - scalar - x, (a,))


@pytest.mark.parametrize("name,make", [
    ("neg", rand), ("exp", rand), ("log", positive), ("sqrt", positive), ("abs", away_from_zero),
    ("tanh", rand), ("sigmoid", rand), ("relu", away_from_zero), ("sin", rand), ("cos", rand),
])
@pytest.mark.parametrize("shape", [(3, 4), ()])
def test_unary(name, make, shape):
    assert gradcheck(getattr(tw, name), (make(*shape),))


def test_activations_with_parameters():
    x = away_from_zero(4, 5)
    assert gradcheck(lambda t: tw.leaky_relu(t, 0.2), (x,))
    assert gradcheck(lambda t: tw.gelu(t), (rand(4, 5, low=-3, high=3),))
    assert gradcheck(lambda t: tw.gelu(t, approximate="tanh"), (rand(4, 5, low=-3, high=3),))


def test_clamp_where_masked_fill():
    x = away_from_zero(4, 5)
    assert gradcheck(lambda t: t.clamp(-0.5, 0.5), (x,))
    assert gradcheck(lambda t: t.clamp(min=0.05), (x,))
    a, b = rand(3, 4), rand(4)
    cond = tw.tensor(np.random.default_rng(1).random((3, 4)) > 0.5)
    assert gradcheck(lambda p, q: tw.where(cond, p, q), (a, b))
    mask = tw.tensor([True, False, True, False])
    assert gradcheck(lambda p: p.masked_fill(mask, -7.0), (a,))


def test_cast_and_clone():
    assert gradcheck(lambda t: (t * 2).clone(), (rand(3),))
    # Cast's gradient comes back in the input's dtype.
    x = tw.tensor([1.0, 2.0], requires_grad=True)
    y = x.double() * tw.tensor([3.0, 4.0], dtype=tw.float64)
    y.sum().backward()
    assert x.grad.dtype == tw.float32 and x.grad.tolist() == [3.0, 4.0]


@pytest.mark.parametrize("dim,keepdim", [(None, False), (0, False), (1, True), ((0, 2), False), (-1, True)])
@pytest.mark.parametrize("op", ["sum", "mean", "amax", "amin", "var", "std", "logsumexp"])
def test_reductions(op, dim, keepdim):
    x = rand(2, 3, 4)
    if op == "logsumexp" and dim is None:
        dim = (0, 1, 2)
    assert gradcheck(lambda t: getattr(t, op)(dim=dim, keepdim=keepdim), (x,))


def test_reductions_of_0d():
    x = rand()
    for op in ("sum", "mean", "amax"):
        assert gradcheck(lambda t: getattr(t, op)(), (x,))


def test_max_min_with_dim_and_ties():
    x = rand(3, 5)
    assert gradcheck(lambda t: t.max(dim=1).values, (x,))
    assert gradcheck(lambda t: t.min(dim=0, keepdim=True)[0], (x,))
    assert gradcheck(lambda t: t.max(), (x,))
    # Ties share the gradient (torch's rule for full reductions).
    t = tw.tensor([1.0, 3.0, 3.0], requires_grad=True)
    t.max().backward()
    assert t.grad.tolist() == [0.0, 0.5, 0.5]


def test_var_correction():
    x = rand(4, 6)
    assert gradcheck(lambda t: t.var(dim=1, unbiased=False), (x,))
    assert gradcheck(lambda t: t.std(dim=0, correction=2), (x,))


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_family(dim):
    x = rand(3, 4)
    assert gradcheck(lambda t: t.softmax(dim), (x,))
    assert gradcheck(lambda t: t.log_softmax(dim), (x,))
    assert gradcheck(lambda t: tw.logsumexp(t, dim, keepdim=True), (x,))


@pytest.mark.parametrize("sa,sb", [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)),
                                   ((5, 2, 3), (3, 4)), ((2, 3), (5, 3, 4)), ((2, 1, 2, 3), (4, 3, 2))])
def test_matmul(sa, sb):
    assert gradcheck(lambda a, b: a @ b, (rand(*sa), rand(*sb)))


def test_linear():
    from tensorweaver.ops.linalg import linear
    x, w, b = rand(5, 3), rand(4, 3), rand(4)
    assert gradcheck(linear, (x, w, b))
    assert gradcheck(linear, (rand(2, 5, 3), w))
    assert gradcheck(linear, (rand(3), w, b))


def test_shape_ops():
    x = rand(2, 3, 4)
    checks = [
        lambda t: t.reshape(4, 6), lambda t: t.view(-1), lambda t: t.transpose(0, 2),
        lambda t: t.permute(1, 2, 0), lambda t: t.T, lambda t: t.unsqueeze(1).squeeze(1),
        lambda t: t[:, :1].squeeze(1), lambda t: t[:, :1].expand(2, 5, 4),
        lambda t: t.flatten(1), lambda t: t[0].tril(), lambda t: t[1].triu(1),
        lambda t: tw.broadcast_to(t[:, :1, :], (2, 3, 4)) * t,
    ]
    for fn in checks:
        assert gradcheck(fn, (x,))


def test_cat_stack_split_chunk():
    a, b = rand(2, 3), rand(4, 3)
    assert gradcheck(lambda p, q: tw.cat([p, q], 0), (a, b))
    assert gradcheck(lambda p, q: tw.cat([p.T, q.T], dim=-1), (a, b))
    c, d = rand(2, 3), rand(2, 3)
    assert gradcheck(lambda p, q: tw.stack([p, q], dim=1), (c, d))
    x = rand(7, 2)
    assert gradcheck(lambda t: tw.cat([s * (i + 1) for i, s in enumerate(t.split(3))]), (x,))
    assert gradcheck(lambda t: tw.cat([s * (i + 1) for i, s in enumerate(t.chunk(3, dim=0))]), (x,))
    assert gradcheck(lambda t: t.split([1, 1], dim=1)[1], (x,))


def test_indexing():
    x = rand(4, 5)
    idx = tw.tensor([0, 2, 2, 3, 0])          # repeats must accumulate
    mask = tw.tensor(np.random.default_rng(3).random((4, 5)) > 0.4)
    checks = [
        lambda t: t[1], lambda t: t[1:3, ::2], lambda t: t[None, :, 1], lambda t: t[..., -1],
        lambda t: t[idx], lambda t: t[idx, idx], lambda t: t[mask], lambda t: t[[1, 1, 3]],
        lambda t: t[:, [4, 0, 4]], lambda t: t[tw.tensor([True, False, True, True])],
    ]
    for fn in checks:
        assert gradcheck(fn, (x,))


def test_repeated_index_accumulates():
    x = tw.zeros(3, requires_grad=True)
    x[tw.tensor([0, 0, 0, 2])].sum().backward()
    assert x.grad.tolist() == [3.0, 0.0, 1.0]


def test_gradcheck_reports_a_wrong_backward():
    class BadSquare(tw.Function):
        def forward(self, a):
            self.save_for_backward(a)
            return a * a

        def backward(self, grad):
            (a,) = self.saved_tensors
            return grad * a        # wrong: should be 2 * a

    with pytest.raises(tw.autograd.GradcheckError, match=r"input 0 .*analytical .*numerical"):
        gradcheck(BadSquare.apply, (rand(3),))
    assert gradcheck(BadSquare.apply, (rand(3),), raise_exception=False) is False


def test_gradcheck_requires_float64():
    with pytest.raises(tw.autograd.GradcheckError, match="float64"):
        gradcheck(tw.exp, (tw.randn(3, requires_grad=True),))
