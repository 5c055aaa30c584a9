"""More layers against PyTorch (float64 forward, input and parameter gradients, train and
eval where it matters): the activations, GroupNorm, InstanceNorm1d/2d, Bilinear,
CosineSimilarity, PairwiseDistance, F.normalize and F.one_hot; gradcheck of each new
Function."""
import numpy as np
import pytest

import tensorweaver as tw
from tensorweaver import nn
from tensorweaver.nn import functional as F

torch = pytest.importorskip("torch", reason="PyTorch is the test-only oracle (extra 'torch')")
tF = torch.nn.functional
pytestmark = pytest.mark.torch

rng = np.random.default_rng(5)


def _np(t):
    return t.detach().numpy()


def randn(*shape, scale=1.0):
    return rng.standard_normal(shape) * scale


def run_pair(ours, theirs, arrays, train=True, rtol=1e-10, atol=1e-12, steps=1):
    """torch's weights into ours; forward, input/parameter gradients and buffers compared."""
    if isinstance(theirs, torch.nn.Module):
        theirs = theirs.double()
        ours = ours.double()
        ours.load_state_dict(theirs.state_dict())
        ours.train(train)
        theirs.train(train)
    for _ in range(steps):
        xs = [tw.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
        ts = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
        out, ref = ours(*xs), theirs(*ts)
        assert tuple(out.shape) == tuple(ref.shape)
        np.testing.assert_allclose(_np(out), _np(ref), rtol=rtol, atol=atol)
        seed = rng.standard_normal(tuple(ref.shape))
        (out * tw.tensor(seed)).sum().backward()
        (ref * torch.tensor(seed)).sum().backward()
        for i, (x, t) in enumerate(zip(xs, ts)):
            if t.grad is not None:
                np.testing.assert_allclose(_np(x.grad), _np(t.grad), rtol=rtol, atol=atol, err_msg=f"grad {i}")
    if isinstance(theirs, torch.nn.Module):
        for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
            np.testing.assert_allclose(_np(p.grad), _np(q.grad), rtol=rtol, atol=atol, err_msg=name)
        for (name, b), (_, c) in zip(ours.named_buffers(), theirs.named_buffers()):
            np.testing.assert_allclose(_np(b), c.numpy(), rtol=rtol, atol=atol, err_msg=name)
    return ours, theirs


# Inputs spanning the kinks and saturations: +-25 (softplus threshold), +-3 (hard*), 0.
WIDE = np.concatenate([randn(40, scale=4.0), [-25.0, 25.0, -3.0, 3.0, 0.0, 1e-3, -1e-3, 6.0, -1.0, 1.0]])
# (CELU uses alphas exact in float32: torch differentiates with 1 / float(alpha).)
ACTIVATIONS = [
    ("ELU", lambda m: m.ELU()), ("ELU_alpha", lambda m: m.ELU(alpha=0.3)), ("SELU", lambda m: m.SELU()),
    ("CELU", lambda m: m.CELU(alpha=1.5)), ("Softplus", lambda m: m.Softplus()),
    ("Softplus_beta", lambda m: m.Softplus(beta=2.0, threshold=5.0)), ("Softsign", lambda m: m.Softsign()),
    ("Hardtanh", lambda m: m.Hardtanh()), ("Hardtanh_range", lambda m: m.Hardtanh(-2.0, 0.5)),
    ("ReLU6", lambda m: m.ReLU6()), ("Hardswish", lambda m: m.Hardswish()), ("Hardsigmoid", lambda m: m.Hardsigmoid()),
    ("Mish", lambda m: m.Mish()), ("LogSigmoid", lambda m: m.LogSigmoid()),
    ("Threshold", lambda m: m.Threshold(0.5, -2.0)), ("GLU", lambda m: m.GLU()), ("GLU_dim0", lambda m: m.GLU(0)),
    ("PReLU", lambda m: m.PReLU()), ("SiLU", lambda m: m.SiLU()),
]


# torch differentiates hardsigmoid with 1/6 rounded to float32 (its kernel's constant);
# ours uses the exact 1/6, so those gradients agree to float32 precision only.
RTOL = {"Hardsigmoid": 1e-7, "hardsigmoid": 1e-7}


@pytest.mark.parametrize("name,make", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activation(name, make):
    x = WIDE.reshape(10, 5) if name == "GLU_dim0" else WIDE.reshape(5, 10)
    run_pair(make(nn), make(torch.nn), [x], rtol=RTOL.get(name, 1e-10))
    assert repr(make(nn)) == repr(make(torch.nn))


def test_prelu_per_channel_and_ranks():
    for shape in [(4, 3), (2, 3, 5), (2, 3, 4, 4)]:
        ours, theirs = nn.PReLU(3, init=0.1), torch.nn.PReLU(3, init=0.1)
        with torch.no_grad():
            theirs.weight.copy_(torch.tensor([0.1, -0.5, 2.0]))
        run_pair(ours, theirs, [randn(*shape)])
    run_pair(nn.PReLU(), torch.nn.PReLU(), [randn(7)])
    with pytest.raises(ValueError, match="channel size = 1"):       # as torch: a 1-D input has one channel
        nn.PReLU(3)(tw.randn(3))


@pytest.mark.parametrize("name,fn", [
    ("elu", lambda f, x: f.elu(x, 0.5)), ("selu", lambda f, x: f.selu(x)), ("celu", lambda f, x: f.celu(x, 0.75)),
    ("softplus", lambda f, x: f.softplus(x, 0.5, 3.0)), ("hardtanh", lambda f, x: f.hardtanh(x, -0.5, 2.0)),
    ("relu6", lambda f, x: f.relu6(x)), ("hardswish", lambda f, x: f.hardswish(x)),
    ("hardsigmoid", lambda f, x: f.hardsigmoid(x)), ("mish", lambda f, x: f.mish(x)),
    ("logsigmoid", lambda f, x: f.logsigmoid(x)), ("threshold", lambda f, x: f.threshold(x, 0.1, 20.0)),
    ("glu", lambda f, x: f.glu(x, 1)), ("softsign", lambda f, x: f.softsign(x)),
])
def test_functional_forms(name, fn):
    run_pair(lambda x: fn(F, x), lambda x: fn(tF, x), [randn(4, 6, scale=3.0)], rtol=RTOL.get(name, 1e-10))


@pytest.mark.parametrize("name", ["elu", "selu", "celu", "hardtanh", "relu6", "hardswish", "hardsigmoid", "mish",
                                  "threshold"])
def test_inplace_flag(name):
    args = {"threshold": (0.2, -1.0)}.get(name, ())
    x = randn(3, 4)
    a = tw.tensor(x, requires_grad=True)
    b = a * 1.0
    out = getattr(F, name)(b, *args, inplace=True)
    assert out is b
    ref = getattr(tF, name)(torch.tensor(x), *args)
    np.testing.assert_allclose(b.detach().numpy(), ref.numpy(), rtol=1e-12)
    out.sum().backward()
    t = torch.tensor(x, requires_grad=True)
    getattr(tF, name)(t * 1.0, *args, inplace=True).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=RTOL.get(name, 1e-12))


def test_logsigmoid_and_softplus_stay_finite():
    x = tw.tensor(np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0]), requires_grad=True)
    y = F.logsigmoid(x) + F.softplus(x) + F.mish(x)
    y.sum().backward()
    assert np.isfinite(y.detach().numpy()).all() and np.isfinite(x.grad.numpy()).all()


# ------------------------------------------------------------------ normalization
@pytest.mark.parametrize("make,shape", [
    (lambda m: m.GroupNorm(2, 6), (3, 6, 5)),
    (lambda m: m.GroupNorm(3, 6, eps=1e-3), (2, 6, 4, 3)),
    (lambda m: m.GroupNorm(1, 4, affine=False), (2, 4, 3, 3)),
    (lambda m: m.GroupNorm(4, 4), (5, 4)),
    (lambda m: m.GroupNorm(2, 4, bias=False), (3, 4, 5)),
], ids=["1d", "2d", "no_affine", "per_channel_2d_input", "no_bias"])
def test_group_norm(make, shape):
    for train in (True, False):
        ours, theirs = make(nn), make(torch.nn)
        if getattr(theirs, "weight", None) is not None:
            with torch.no_grad():
                theirs.weight.copy_(torch.tensor(randn(theirs.weight.shape[0])))
                if theirs.bias is not None:
                    theirs.bias.copy_(torch.tensor(randn(theirs.weight.shape[0])))
        run_pair(ours, theirs, [randn(*shape, scale=2.0) + 1.0], train=train)
        assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("cls,shape", [("InstanceNorm1d", (3, 4, 6)), ("InstanceNorm2d", (2, 4, 3, 5)),
                                       ("InstanceNorm1d", (4, 6)), ("InstanceNorm2d", (4, 3, 5))])
@pytest.mark.parametrize("kw", [dict(), dict(affine=True), dict(track_running_stats=True),
                                dict(affine=True, track_running_stats=True, momentum=0.3),
                                dict(track_running_stats=True, momentum=None), dict(affine=True, bias=False)],
                         ids=str)
def test_instance_norm_train_then_eval(cls, shape, kw):
    ours, theirs = getattr(nn, cls)(4, **kw), getattr(torch.nn, cls)(4, **kw)
    if kw.get("affine"):
        with torch.no_grad():
            theirs.weight.copy_(torch.tensor(randn(4)))
            if theirs.bias is not None:
                theirs.bias.copy_(torch.tensor(randn(4)))
    ours, theirs = run_pair(ours, theirs, [randn(*shape, scale=2.0) + 0.5], train=True, steps=2)
    run_pair(ours, theirs, [randn(*shape)], train=False)
    assert repr(ours) == repr(theirs)


def test_functional_group_and_instance_norm():
    x, w, b = randn(2, 6, 4), randn(6), randn(6)
    run_pair(lambda x, w, b: F.group_norm(x, 3, w, b), lambda x, w, b: tF.group_norm(x, 3, w, b), [x, w, b])
    run_pair(lambda x, w, b: F.instance_norm(x, weight=w, bias=b), lambda x, w, b: tF.instance_norm(x, weight=w, bias=b),
             [x, w, b])


# ------------------------------------------------------------------ bilinear, distances
@pytest.mark.parametrize("shape1,shape2", [((5, 3), (5, 4)), ((2, 3, 3), (2, 3, 4)), ((3,), (4,))])
def test_bilinear(shape1, shape2):
    run_pair(nn.Bilinear(3, 4, 2), torch.nn.Bilinear(3, 4, 2), [randn(*shape1), randn(*shape2)])
    run_pair(nn.Bilinear(3, 4, 2, bias=False), torch.nn.Bilinear(3, 4, 2, bias=False),
             [randn(*shape1), randn(*shape2)])
    assert repr(nn.Bilinear(3, 4, 2)) == repr(torch.nn.Bilinear(3, 4, 2))


def test_bilinear_init_bounds():
    tw.manual_seed(1)
    m = nn.Bilinear(16, 3, 5)
    assert np.abs(m.weight.detach().numpy()).max() <= 0.25 and np.abs(m.bias.detach().numpy()).max() <= 0.25


@pytest.mark.parametrize("kw,shapes", [(dict(), [(4, 5), (4, 5)]), (dict(dim=0), [(4, 5), (4, 5)]),
                                       (dict(dim=-1, eps=1e-3), [(2, 3, 5), (1, 3, 5)]),
                                       (dict(), [(3, 4, 2), (3, 4, 2)])], ids=str)
def test_cosine_similarity(kw, shapes):
    arrays = [randn(*s) for s in shapes]
    run_pair(nn.CosineSimilarity(**kw), torch.nn.CosineSimilarity(**kw), arrays)
    run_pair(lambda a, b: F.cosine_similarity(a, b, **kw), lambda a, b: tF.cosine_similarity(a, b, **kw), arrays)


def test_cosine_similarity_small_vectors_clamped():
    a, b = randn(3, 4) * 1e-9, randn(3, 4)
    run_pair(lambda a, b: F.cosine_similarity(a, b, dim=1), lambda a, b: tF.cosine_similarity(a, b, dim=1), [a, b],
             rtol=1e-8)


@pytest.mark.parametrize("kw", [dict(), dict(p=1.0), dict(p=3.0, eps=1e-3), dict(keepdim=True),
                                dict(p=float("inf"))], ids=str)
def test_pairwise_distance(kw):
    arrays = [randn(5, 4), randn(5, 4)]
    run_pair(nn.PairwiseDistance(**kw), torch.nn.PairwiseDistance(**kw), arrays)
    run_pair(lambda a, b: F.pairwise_distance(a, b, **kw), lambda a, b: tF.pairwise_distance(a, b, **kw), arrays)


@pytest.mark.parametrize("kw", [dict(), dict(p=1.0, dim=0), dict(dim=-1, eps=0.5), dict(p=3.0)], ids=str)
def test_normalize(kw):
    x = randn(4, 5)
    x[1] = 1e-14                          # a row below eps: the clamp path
    run_pair(lambda a: F.normalize(a, **kw), lambda a: tF.normalize(a, **kw), [x])


def test_one_hot_matches_torch():
    idx = rng.integers(0, 5, (3, 4))
    for n in (-1, 5, 7):
        ours = F.one_hot(tw.tensor(idx), n)
        ref = tF.one_hot(torch.tensor(idx), n)
        assert ours.dtype == tw.int64 and tuple(ours.shape) == tuple(ref.shape)
        np.testing.assert_array_equal(ours.numpy(), ref.numpy())
    with pytest.raises(RuntimeError, match="class values must be"):
        F.one_hot(tw.tensor(idx), 3)
    with pytest.raises(TypeError, match="index tensors"):
        F.one_hot(tw.tensor(idx.astype(np.float32)))


# ------------------------------------------------------------------ gradcheck
GRADCHECK = [
    ("elu", lambda x: F.elu(x, 0.7)), ("selu", F.selu), ("celu", lambda x: F.celu(x, 0.6)),
    ("softplus", lambda x: F.softplus(x, 2.0, 1.5)), ("hardtanh", lambda x: F.hardtanh(x, -0.4, 0.6)),
    ("hardswish", F.hardswish), ("hardsigmoid", F.hardsigmoid), ("mish", F.mish), ("logsigmoid", F.logsigmoid),
    ("threshold", lambda x: F.threshold(x, 0.3, 2.0)), ("glu", lambda x: F.glu(x, 1)), ("softsign", F.softsign),
    ("group_norm", lambda x: F.group_norm(x, 2)), ("instance_norm", lambda x: F.instance_norm(x)),
    ("normalize", F.normalize),
]


@pytest.mark.parametrize("name,fn", GRADCHECK, ids=[g[0] for g in GRADCHECK])
def test_gradcheck(name, fn):
    x = rng.standard_normal((2, 4, 3)) * 2
    x[np.abs(np.abs(x) - 3) < 0.05] += 0.2             # keep clear of the hard kinks
    x[np.abs(x) < 0.05] += 0.2
    assert tw.autograd.gradcheck(fn, [tw.tensor(x, requires_grad=True)])


def test_gradcheck_prelu_bilinear():
    x = tw.tensor(randn(3, 2, 4) + 0.05, requires_grad=True)
    w = tw.tensor(np.array([0.3, -0.2]), requires_grad=True)
    assert tw.autograd.gradcheck(F.prelu, [x, w])
    a, b = tw.tensor(randn(3, 2), requires_grad=True), tw.tensor(randn(3, 4), requires_grad=True)
    W, bias = tw.tensor(randn(5, 2, 4), requires_grad=True), tw.tensor(randn(5), requires_grad=True)
    assert tw.autograd.gradcheck(F.bilinear, [a, b, W, bias])


def test_clear_errors():
    with pytest.raises(ValueError, match="num_channels must be divisible by num_groups"):
        nn.GroupNorm(4, 6)
    with pytest.raises(RuntimeError, match="divisible by num_groups"):
        F.group_norm(tw.randn(2, 6, 3), 4)
    with pytest.raises(ValueError, match="Mismatch of parameter numbers"):
        nn.PReLU(3)(tw.randn(2, 4))
    with pytest.raises(RuntimeError, match="Halving dimension must be even"):
        F.glu(tw.randn(2, 5))
    with pytest.raises(ValueError, match="expected 3D or 4D input"):
        nn.InstanceNorm2d(3)(tw.randn(3, 4))
    with pytest.raises(RuntimeError, match="must be \\(\\*, 3\\)"):
        nn.Bilinear(3, 4, 2)(tw.randn(2, 4), tw.randn(2, 4))
