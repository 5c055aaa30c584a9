"""Second derivatives through prod and cumprod (their tensor_backward, exact at zeros) and
einsum with '...' (ellipsis), against torch's double backward, with float64 gradcheck and
gradgradcheck."""
import numpy as np
import pytest

import tensorweaver as tw
from tensorweaver.autograd import gradcheck, gradgradcheck

torch = pytest.importorskip("torch", reason="PyTorch is the test-only oracle")
pytestmark = pytest.mark.torch

rng = np.random.default_rng(3)
WITH_ZEROS = np.array([[1.5, 0.0, 2.0, -3.0], [0.0, 0.0, 1.0, 2.0], [2.0, 3.0, 0.5, 0.0]])
INPUTS = [rng.standard_normal((3, 4)), WITH_ZEROS]

OPS = [
    ("prod", lambda lib, x: lib.prod(x)), ("prod_dim", lambda lib, x: lib.prod(x, 1)),
    ("prod_keepdim", lambda lib, x: lib.prod(x, 0, keepdim=True)), ("prod_method", lambda lib, x: x.prod(-1)),
    ("cumprod_1", lambda lib, x: lib.cumprod(x, 1)), ("cumprod_0", lambda lib, x: lib.cumprod(x, dim=0)),
    ("prod_dims", lambda lib, x: lib.prod(lib.prod(x, 0), 0)),
]


@pytest.mark.parametrize("name, op", OPS, ids=[o[0] for o in OPS])
@pytest.mark.parametrize("which", [0, 1], ids=["random", "zeros"])
def test_double_backward_matches_torch(name, op, which):
    a = INPUTS[which]
    x, xt = tw.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    w = rng.standard_normal(tuple(op(torch, xt).shape))
    (g,) = tw.autograd.grad((op(tw, x) * tw.tensor(w)).sum(), x, create_graph=True)
    (gt,) = torch.autograd.grad((op(torch, xt) * torch.tensor(w)).sum(), xt, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), gt.detach().numpy(), rtol=1e-10, atol=1e-12)
    v = rng.standard_normal(a.shape)
    (gg,) = tw.autograd.grad((g * tw.tensor(v)).sum(), x)
    (ggt,) = torch.autograd.grad((gt * torch.tensor(v)).sum(), xt)
    np.testing.assert_allclose(gg.numpy(), ggt.numpy(), rtol=1e-10, atol=1e-12)
    assert gradcheck(lambda t: op(tw, t), (tw.tensor(a, requires_grad=True),))
    assert gradgradcheck(lambda t: op(tw, t), (tw.tensor(a, requires_grad=True),))


EINSUM = [
    ("...ij->ij", [(2, 3, 4)]), ("i...->...", [(2, 3, 4)]), ("...ij,...jk", [(5, 2, 3), (3, 4)]),
    ("...ij,...jk->...ik", [(5, 2, 3), (1, 3, 4)]), ("ij...,jk...", [(2, 3, 1), (3, 4, 5)]), ("...", [(2, 3)]),
    ("b...,b...->b", [(2, 3, 4), (2, 3, 4)]), ("...i,i", [(3, 4), (4,)]), ("... i , i ->...", [(3, 4), (4,)]),
    ("i...j,j", [(2, 3, 4), (4,)]), ("...ii->...i", [(2, 3, 3)]),
]


@pytest.mark.parametrize("eq, shapes", EINSUM, ids=[e[0] for e in EINSUM])
def test_einsum_ellipsis_matches_torch(eq, shapes):
    arrays = [rng.standard_normal(s) for s in shapes]
    grad = "ii" not in eq      # a diagonal operand: forward only (its gradient is refused, as before)
    ours = [tw.tensor(a, requires_grad=grad) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=grad) for a in arrays]
    out, ref = tw.einsum(eq, *ours), torch.einsum(eq, *theirs)
    assert out.shape == tuple(ref.shape)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-12, atol=1e-12)
    if not grad:
        return
    w = rng.standard_normal(out.shape)
    (out * tw.tensor(w)).sum().backward()
    (ref * torch.tensor(w)).sum().backward()
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12, atol=1e-12)
    fresh = [tw.tensor(a, requires_grad=True) for a in arrays]
    assert gradcheck(lambda *t: tw.einsum(eq, *t), fresh)
    assert gradgradcheck(lambda *t: tw.einsum(eq, *t), fresh)


def test_einsum_ellipsis_errors_name_the_problem():
    with pytest.raises(ValueError, match="do not broadcast"):
        tw.einsum("...i,...i", tw.ones(2, 3), tw.ones(4, 3))
    with pytest.raises(ValueError, match="at most once"):
        tw.einsum("...i...", tw.ones(2, 3))
    with pytest.raises(ValueError, match="name 2 dims but the operand has 1"):
        tw.einsum("...ij", tw.ones(3))
