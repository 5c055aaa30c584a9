"""The parameter update by hand (``W -= lr * W.grad`` under ``no_grad``) and the gradient
layout of ``x @ W.T``, against PyTorch: the fast paths give torch's values, errors and
version counts, and fall back where their conditions do not hold."""
import numpy as np
import pytest

import tensorweaver as tw
from tensorweaver import backend

torch = pytest.importorskip("torch", reason="PyTorch is the oracle here; install the torch extra")
pytestmark = pytest.mark.torch


def run(lib, program):
    """``program(lib, make)`` where ``make(array)`` builds a tensor of ``lib`` from NumPy data."""
    make = (lambda a, **kw: tw.tensor(a, **kw)) if lib is tw else (lambda a, **kw: torch.tensor(a, **kw))
    return program(lib, make)


def value(x):
    return x.detach().numpy() if hasattr(x, "detach") else np.asarray(x)


UPDATES = {
    "sub same shape": lambda W, g: W.sub_(g),
    "isub": lambda W, g: W.__isub__(g),
    "add_ alpha": lambda W, g: W.add_(g, alpha=-0.05),
    "sub_ alpha": lambda W, g: W.sub_(g, alpha=0.3),
    "add 0-d tensor": lambda W, g: W.add_(g.sum()),
    "add python float": lambda W, g: W.add_(0.25),
    "sub python int": lambda W, g: W.sub_(3),
    "add row (broadcast)": lambda W, g: W.add_(g[0]),               # the general path
    "view of the target": lambda W, g: W[1:].sub_(g[1:]),              # writes through a view
    "add float64 tensor": lambda W, g: W.add_(g.double()),          # another dtype: general path
    "add_ NumPy-scalar alpha": lambda W, g: W.add_(g, alpha=np.float64(0.1)),   # general path
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(UPDATES))
def test_update_under_no_grad_matches_torch(name, dtype):
    rng = np.random.default_rng(0)
    W0, g0 = rng.standard_normal((4, 5)).astype(dtype), rng.standard_normal((4, 5)).astype(dtype)
    out = []
    for lib in (tw, torch):
        W = run(lib, lambda l, make: make(W0, requires_grad=True))
        g = run(lib, lambda l, make: make(g0))
        before = W._version
        memory = W.detach().numpy()
        with lib.no_grad():
            UPDATES[name](W, g)
        assert np.shares_memory(W.detach().numpy(), memory)         # the same tensor, changed
        out.append((value(W), W._version - before))
    (ours, bumps), (theirs, torch_bumps) = out
    tol = 1e-6 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol)
    assert ours.dtype == theirs.dtype
    assert bumps == torch_bumps


def test_update_of_an_expanded_tensor_is_torchs_error():
    for lib in (tw, torch):
        W = lib.zeros(1, 3).expand(4, 3)
        with pytest.raises(RuntimeError, match="single memory location"):
            W.add_(lib.ones(4, 3))


def test_update_of_a_leaf_in_grad_mode_is_still_refused():
    W = tw.ones(2, 2, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        W -= 0.1 * tw.ones(2, 2)


def test_update_that_needs_recording_is_recorded():
    x = tw.ones(3, requires_grad=True)
    y = x * 2
    y.add_(tw.ones(3), alpha=0.5)                 # grad mode, y in the graph: rebased
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2, 2, 2])
    assert y.grad_fn is not None


def test_update_after_forward_makes_the_saved_tensor_stale_like_torch():
    for lib in (tw, torch):
        W = lib.ones(2, 2, requires_grad=True)
        loss = (W * W).sum()
        with lib.no_grad():
            W -= 0.1 * lib.ones(2, 2)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            loss.backward()


@pytest.mark.parametrize("transposed", ["weight", "input", "both", "neither"])
def test_matmul_gradients_follow_the_input_layout_with_torchs_values(transposed):
    rng = np.random.default_rng(1)
    x0, W0 = rng.standard_normal((6, 4)), rng.standard_normal((3, 4))
    grads = []
    for lib in (tw, torch):
        x = (lib.tensor(x0.T.copy()) if transposed in ("input", "both") else lib.tensor(x0))
        W = lib.tensor(W0, requires_grad=True)
        x.requires_grad_(True)
        a = x.T if transposed in ("input", "both") else x
        b = W.T if transposed in ("weight", "both") else W.T.contiguous()
        (a @ b).square().sum().backward()
        grads.append((x.grad.numpy(), W.grad.numpy()))
    for ours, theirs in zip(*grads):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    if backend.is_numpy:
        # The leaves' gradients come out row-major: their own layout, ready for the update.
        assert grads[0][0].flags.c_contiguous and grads[0][1].flags.c_contiguous
