"""std/var against PyTorch: exactly 0 (forward) and gradient 0 at zero variance, and the
usual values and gradients elsewhere (corrections, dims, keepdim, float32/float64)."""
import warnings

import numpy as np
import pytest

import tensorweaver as tw

torch = pytest.importorskip(
    "torch", reason="PyTorch is the test-only oracle (extra 'torch'); the CPU image omits it "
                    "and CI's venv stage runs these tests")
pytestmark = pytest.mark.torch

DTYPES = [("float32", tw.float32, torch.float32), ("float64", tw.float64, torch.float64)]


def _run(op, data, tw_dtype, torch_dtype, grad_seed=None, **kwargs):
    """(value, grad) of ``op`` on both libraries; ``grad_seed`` is the output gradient."""
    ours = tw.tensor(data, dtype=tw_dtype, requires_grad=True)
    theirs = torch.tensor(data, dtype=torch_dtype, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")    # both warn when N - correction <= 0
        out, ref = getattr(ours, op)(**kwargs), getattr(theirs, op)(**kwargs)
        seed = np.ones(tuple(ref.shape)) if grad_seed is None else grad_seed(tuple(ref.shape))
        out.backward(tw.tensor(seed, dtype=tw_dtype))
        ref.backward(torch.tensor(seed, dtype=torch_dtype))
    assert out.shape == tuple(ref.shape) and out.dtype == tw_dtype
    return (out.detach().numpy(), ours.grad.numpy()), (ref.detach().numpy(), theirs.grad.numpy())


@pytest.mark.parametrize("op", ["std", "var"])
@pytest.mark.parametrize("name,tw_dtype,torch_dtype", DTYPES)
@pytest.mark.parametrize("value", [0.7, 0.1, -3.3, 1e8 + 0.3, 1e-30])
@pytest.mark.parametrize("kwargs", [{}, {"dim": 1}, {"dim": 0}, {"dim": (0, 1), "keepdim": True},
                                    {"dim": 1, "correction": 0}, {"unbiased": False}])
def test_zero_variance_is_exactly_zero_with_zero_gradient(op, name, tw_dtype, torch_dtype, value,
                                                         kwargs):
    """Ours: exactly 0 and gradient exactly 0, for every dim choice. torch agrees exactly when it
    reduces one dim of a small tensor (Welford); over all dims it leaves rounding noise
    (0.7 in float64: std 1.2e-16), and its std gradient is then O(1): those cases are
    compared with that noise's size only (README, "Where we differ from PyTorch")."""
    data = np.full((2, 3), value)
    (out, grad), (ref, ref_grad) = _run(op, data, tw_dtype, torch_dtype, **kwargs)
    assert not out.any() and not grad.any(), (out, grad)
    eps = np.finfo(name).eps
    noise = 8 * eps * abs(value) if op == "std" else (8 * eps * value) ** 2
    assert (np.abs(ref) <= noise).all(), ref
    if not ref.any():           # torch exact: its gradient is 0 too (var's up to rounding)
        np.testing.assert_allclose(grad, ref_grad, rtol=0, atol=8 * eps * abs(value))


def test_the_issues_examples():
    assert tw.full((2, 3), 0.7, dtype=tw.float64).std(dim=1).tolist() == [0.0, 0.0]
    x = tw.ones(4, dtype=tw.float64, requires_grad=True)
    x.std().backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0, 0.0]


@pytest.mark.parametrize("op", ["std", "var"])
def test_constant_rows_beside_varying_rows(op):
    """Per-slice: a constant row gets 0 (value and grad), the others their usual values."""
    data = np.array([[0.7, 0.7, 0.7, 0.7], [1.0, -2.0, 0.5, 3.0], [5.0, 5.0, 5.0, 5.0]])
    (out, grad), (ref, ref_grad) = _run(op, data, tw.float64, torch.float64, dim=1,
                                        grad_seed=lambda s: np.arange(1.0, 1.0 + np.prod(s)).reshape(s))
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=0)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-12, atol=1e-15)
    assert out[0] == 0 and out[2] == 0 and not grad[0].any() and not grad[2].any()


@pytest.mark.parametrize("op", ["std", "var"])
@pytest.mark.parametrize("name,tw_dtype,torch_dtype", DTYPES)
@pytest.mark.parametrize("kwargs", [{}, {"dim": 1}, {"dim": -1, "keepdim": True}, {"dim": (0, 2)},
                                    {"dim": 0, "correction": 0}, {"dim": 2, "correction": 2},
                                    {"unbiased": False}, {"dim": 1, "unbiased": True}])
def test_values_and_grads_match_torch(op, name, tw_dtype, torch_dtype, kwargs):
    data = np.random.default_rng(3).standard_normal((3, 4, 5)) * 2.5 + 1.5
    (out, grad), (ref, ref_grad) = _run(
        op, data, tw_dtype, torch_dtype, **kwargs,
        grad_seed=lambda s: np.random.default_rng(4).standard_normal(s))
    tol = dict(rtol=1e-5, atol=1e-6) if name == "float32" else dict(rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(out, ref, **tol)
    np.testing.assert_allclose(grad, ref_grad, **tol)


@pytest.mark.parametrize("op", ["std", "var"])
def test_large_offset_keeps_precision(op):
    """Values far from 0 relative to their spread: the shifted two-pass keeps the digits."""
    data = 1e9 + np.random.default_rng(5).standard_normal(50)
    (out, grad), (ref, ref_grad) = _run(op, data, tw.float64, torch.float64)
    np.testing.assert_allclose(out, ref, rtol=1e-6)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("op", ["std", "var"])
def test_no_degrees_of_freedom_gives_nan_as_torch(op):
    """One element with the default correction: NaN value and NaN gradient on both."""
    (out, grad), (ref, ref_grad) = _run(op, np.array([2.0]), tw.float64, torch.float64)
    assert np.isnan(ref).all() and np.isnan(out).all()
    assert np.isnan(ref_grad).all() and np.isnan(grad).all()


def test_functional_forms_match_methods():
    x = tw.tensor([[1.0, 2.0, 4.0], [3.0, 3.0, 3.0]], dtype=tw.float64)
    assert tw.std(x, dim=1).tolist() == x.std(dim=1).tolist()
    assert tw.var(x, 1, keepdim=True).shape == (2, 1)
    assert x.std(dim=1)[1].item() == 0.0 and x.var(dim=1)[1].item() == 0.0
