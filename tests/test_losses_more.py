"""More losses against PyTorch (float64 forward and gradients of every float input), for
every reduction and the options that change the result; the modules' reprs and the
clear errors."""
import warnings

import numpy as np
import pytest

import tensorweaver as tw
from tensorweaver import nn
from tensorweaver.nn import functional as F

torch = pytest.importorskip("torch", reason="PyTorch is the test-only oracle (extra 'torch')")
tF = torch.nn.functional
pytestmark = pytest.mark.torch

rng = np.random.default_rng(7)
REDUCTIONS = ["mean", "sum", "none"]


def check(ours, theirs, arrays, grad=None, rtol=1e-10, atol=1e-12):
    grad = grad if grad is not None else [a.dtype.kind == "f" for a in arrays]
    xs = [tw.tensor(a, requires_grad=g) for a, g in zip(arrays, grad)]
    ts = [torch.tensor(a, requires_grad=g) for a, g in zip(arrays, grad)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out, ref = ours(*xs), theirs(*ts)
    assert tuple(out.shape) == tuple(ref.shape)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=rtol, atol=atol)
    seed = rng.standard_normal(tuple(ref.shape))
    (out * tw.tensor(seed)).sum().backward()
    (ref * torch.tensor(seed)).sum().backward()
    for i, (x, t) in enumerate(zip(xs, ts)):
        if t.grad is not None:
            np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=rtol, atol=atol, err_msg=f"grad {i}")


def randn(*s, scale=1.0):
    return rng.standard_normal(s) * scale


def signs(*s):
    return np.where(rng.random(s) < 0.5, -1.0, 1.0)


CASES = [
    ("SmoothL1Loss", {}, lambda: [randn(4, 5, scale=2), randn(4, 5)]),
    ("SmoothL1Loss", {"beta": 0.3}, lambda: [randn(4, 5, scale=2), randn(4, 5)]),
    ("SmoothL1Loss", {"beta": 0.0}, lambda: [randn(4, 5, scale=2), randn(4, 5)]),
    ("HuberLoss", {}, lambda: [randn(4, 5, scale=2), randn(4, 5)]),
    ("HuberLoss", {"delta": 0.4}, lambda: [randn(4, 5, scale=2), randn(4, 5)]),
    ("KLDivLoss", {}, lambda: [np.log(rng.dirichlet(np.ones(5), 4)), rng.dirichlet(np.ones(5), 4)]),
    ("KLDivLoss", {"log_target": True}, lambda: [np.log(rng.dirichlet(np.ones(5), 4)),
                                                 np.log(rng.dirichlet(np.ones(5), 4))]),
    ("KLDivLoss", {}, lambda: [randn(4, 5), np.where(rng.random((4, 5)) < 0.3, 0.0, rng.random((4, 5)))]),
    ("PoissonNLLLoss", {}, lambda: [randn(4, 5), rng.poisson(2.0, (4, 5)).astype(float)]),
    ("PoissonNLLLoss", {"log_input": False}, lambda: [rng.random((4, 5)) + 0.1, rng.poisson(2.0, (4, 5)) * 1.0]),
    ("PoissonNLLLoss", {"full": True}, lambda: [randn(4, 5), rng.poisson(3.0, (4, 5)).astype(float)]),
    ("PoissonNLLLoss", {"log_input": False, "full": True, "eps": 1e-3},
     lambda: [rng.random((4, 5)) + 0.1, rng.poisson(3.0, (4, 5)) * 1.0]),
    ("GaussianNLLLoss", {}, lambda: [randn(4, 3), randn(4, 3), rng.random((4, 3)) + 0.1]),
    ("GaussianNLLLoss", {"full": True}, lambda: [randn(4, 3), randn(4, 3), rng.random((4, 1)) + 0.1]),
    ("GaussianNLLLoss", {"eps": 0.3}, lambda: [randn(4, 3), randn(4, 3), rng.random((4,)) * 0.5]),
    ("MarginRankingLoss", {}, lambda: [randn(6), randn(6), signs(6)]),
    ("MarginRankingLoss", {"margin": 0.5}, lambda: [randn(6), randn(6), signs(6)]),
    ("HingeEmbeddingLoss", {}, lambda: [randn(4, 5), signs(4, 5)]),
    ("HingeEmbeddingLoss", {"margin": 0.3}, lambda: [randn(4, 5), signs(4, 5)]),
    ("CosineEmbeddingLoss", {}, lambda: [randn(5, 4), randn(5, 4), signs(5)]),
    ("CosineEmbeddingLoss", {"margin": 0.2}, lambda: [randn(5, 4), randn(5, 4), signs(5)]),
    ("CosineEmbeddingLoss", {"margin": -0.5}, lambda: [randn(4), randn(4), np.array(-1.0)]),
    ("TripletMarginLoss", {}, lambda: [randn(5, 4), randn(5, 4), randn(5, 4)]),
    ("TripletMarginLoss", {"margin": 2.0, "p": 1.0, "swap": True}, lambda: [randn(5, 4), randn(5, 4), randn(5, 4)]),
    ("TripletMarginLoss", {"p": 3.0, "eps": 1e-3}, lambda: [randn(4), randn(4), randn(4)]),
    ("MultiLabelSoftMarginLoss", {}, lambda: [randn(4, 5, scale=3), (rng.random((4, 5)) < 0.5) * 1.0]),
    ("MultiLabelSoftMarginLoss", {"weight": "w"}, lambda: [randn(4, 5, scale=3), (rng.random((4, 5)) < 0.5) * 1.0]),
    ("MultiLabelSoftMarginLoss", {}, lambda: [randn(5), (rng.random(5) < 0.5) * 1.0]),
]


# Every case with every reduction ('batchmean' is KLDivLoss's alone).
RUNS = [(c, r) for c in CASES for r in REDUCTIONS + (["batchmean"] if c[0] == "KLDivLoss" else [])]


@pytest.mark.parametrize("case,reduction", RUNS, ids=[f"{c[0]}-{c[1]}-{r}" for c, r in RUNS])
def test_loss_matches_torch(case, reduction):
    name, kw, make = case
    kw = dict(kw)
    ours_kw, theirs_kw = dict(kw), dict(kw)
    if kw.get("weight") == "w":
        w = rng.random(5) + 0.5
        ours_kw["weight"], theirs_kw["weight"] = tw.tensor(w), torch.tensor(w)
    ours = getattr(nn, name)(reduction=reduction, **ours_kw)
    theirs = getattr(torch.nn, name)(reduction=reduction, **theirs_kw)
    arrays = make()
    # Targets with zeros (KL's xlogy, Poisson's Stirling term) get NaN gradients in torch; there
    # only the input's gradient is compared. Elsewhere every float argument's gradient is.
    zeros_in_target = name in ("KLDivLoss", "PoissonNLLLoss") and not kw.get("log_target")
    check(ours, theirs, arrays, grad=[True, False] if zeros_in_target else None)
    assert repr(ours) == repr(theirs)


def test_functional_forms_and_huber_weight():
    x, y = randn(4, 5, scale=2), randn(4, 5)
    check(lambda a, b: F.smooth_l1_loss(a, b, beta=0.5), lambda a, b: tF.smooth_l1_loss(a, b, beta=0.5), [x, y])
    check(lambda a, b: F.huber_loss(a, b, delta=2.0), lambda a, b: tF.huber_loss(a, b, delta=2.0), [x, y])
    check(lambda a, b: F.kl_div(a, b, reduction="batchmean", log_target=True),
          lambda a, b: tF.kl_div(a, b, reduction="batchmean", log_target=True), [x, y])
    check(lambda a, b: F.poisson_nll_loss(a, b, full=True), lambda a, b: tF.poisson_nll_loss(a, b, full=True),
          [x, np.abs(y) * 3])
    check(lambda a, b, v: F.gaussian_nll_loss(a, b, v, full=True),
          lambda a, b, v: tF.gaussian_nll_loss(a, b, v, full=True), [x, y, rng.random((4, 5)) + 0.1])
    check(lambda a, b: F.multilabel_soft_margin_loss(a, b), lambda a, b: tF.multilabel_soft_margin_loss(a, b),
          [x, (y > 0) * 1.0])


def test_gradcheck_compositions():
    x = tw.tensor(randn(3, 4), requires_grad=True)
    y = tw.tensor(randn(3, 4))
    for fn in (lambda a: F.smooth_l1_loss(a, y, beta=0.7), lambda a: F.huber_loss(a, y, delta=0.6),
               lambda a: F.kl_div(a, y.abs(), reduction="batchmean"),
               lambda a: F.triplet_margin_loss(a, y, y * 0.5, margin=3.0),
               lambda a: F.cosine_embedding_loss(a, y, tw.tensor(np.array([1.0, -1.0, 1.0])), margin=-1.0),
               lambda a: F.multilabel_soft_margin_loss(a, (y > 0).double())):
        assert tw.autograd.gradcheck(fn, [x])


def test_clear_errors():
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        nn.SmoothL1Loss(reduction="avg")
    with pytest.raises(ValueError, match="deprecated"):
        nn.MarginRankingLoss(size_average=True)
    with pytest.raises(RuntimeError, match="negative values for beta"):
        F.smooth_l1_loss(tw.randn(3), tw.randn(3), beta=-1.0)
    with pytest.raises(ValueError, match="var of shape"):
        F.gaussian_nll_loss(tw.randn(4, 3), tw.randn(4, 3), tw.rand(2, 3))
    with pytest.raises(ValueError, match="negative entry"):
        F.gaussian_nll_loss(tw.randn(4, 3), tw.randn(4, 3), -tw.rand(4, 3))
    with pytest.raises(ValueError, match="margin to be greater than 0"):
        nn.TripletMarginLoss(margin=0.0)
