"""``.data`` stays the backend array, whatever is assigned to it: the update forms that
from-scratch courses write (``p.data += -lr * p.grad``, ``p.data = p.data - lr * p.grad``)
train exactly like torch, and the parameter keeps its identity, ``.grad`` and optimizer
state."""
import numpy as np
import pytest

import tensorweaver as tw
from tensorweaver import backend

torch = pytest.importorskip("torch", reason="PyTorch is the oracle here; install the torch extra")
pytestmark = pytest.mark.torch


def _weights(lib, seed=0):
    g = np.random.default_rng(seed)
    return [lib.tensor(g.normal(size=s) * 0.5, dtype=lib.float64, requires_grad=True)
            for s in [(3, 8), (8,), (8, 2), (2,)]]


def _data(seed=1):
    g = np.random.default_rng(seed)
    x = g.normal(size=(16, 3))
    return x, (x[:, 0] > 0).astype(np.int64)


def _update(lib, p, lr, form):
    if form == "+= -lr*grad":
        p.data += -lr * p.grad
    elif form == "-= lr*grad.data":
        p.data -= lr * p.grad.data
    elif form == "= data - lr*grad":
        p.data = p.data - lr * p.grad
    elif form == "*= then /=":
        p.data *= 2.0
        p.data /= 2.0
        p.data += -lr * p.grad


@pytest.mark.parametrize("form", ["+= -lr*grad", "-= lr*grad.data", "= data - lr*grad", "*= then /="])
def test_from_scratch_training_loop_matches_torch(form):
    """An MLP trained the way from-scratch lectures write it: raw tensors, manual
    zeroing and a manual update through .data."""
    x_np, y_np = _data()
    losses, finals = {}, {}
    for lib in (tw, torch):
        params = _weights(lib)
        ids = [id(p) for p in params]
        x, y = lib.tensor(x_np, dtype=lib.float64), lib.tensor(y_np)
        history = []
        for _ in range(20):
            w1, b1, w2, b2 = params
            h = (x @ w1 + b1).tanh()
            loss = lib.nn.functional.cross_entropy(h @ w2 + b2, y)
            for p in params:
                p.grad = None
            loss.backward()
            for p in params:
                _update(lib, p, 0.3, form)
            history.append(loss.item())
        assert [id(p) for p in params] == ids
        losses[lib.__name__] = history
        finals[lib.__name__] = [p.detach().numpy() for p in params]
    np.testing.assert_allclose(losses["tensorweaver"], losses["torch"], rtol=1e-10)
    for a, b in zip(finals["tensorweaver"], finals["torch"]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_data_is_always_a_backend_array_and_the_parameter_stays_valid():
    model = tw.nn.Linear(3, 2)
    opt = tw.optim.Adam(model.parameters(), lr=0.1)
    model(tw.ones(4, 3)).sum().backward()
    opt.step()
    p = model.weight
    state = opt.state[p]
    p.data += -0.1 * p.grad
    p.data -= tw.ones(2, 3)
    p.data *= tw.tensor(0.5)
    p.data /= 2
    p.data = p.data - 0.01 * p.grad
    assert type(p.data) is backend.ndarray and p.shape == (2, 3)
    assert opt.state[p] is state and p.grad is not None and p.requires_grad and p.is_leaf
    assert "Parameter containing" in repr(p)
    opt.step()                                  # still a working parameter


def test_data_may_change_shape_and_dtype_like_torch():
    p = tw.nn.Parameter(tw.zeros(2, 3))
    p.data = tw.ones(4, dtype=tw.float64)
    assert p.shape == (4,) and p.dtype == tw.float64 and type(p.data) is backend.ndarray
    p.data = np.arange(3.0)                     # a host array is moved to the backend
    assert p.shape == (3,) and type(p.data) is backend.ndarray
    model = tw.nn.Linear(2, 2).double()
    assert model.weight.dtype == tw.float64 and type(model.weight.data) is backend.ndarray


def test_assigning_something_that_is_not_array_like_is_a_clear_type_error():
    p = tw.nn.Parameter(tw.zeros(2))
    for bad in ("abc", object(), {"a": 1}):
        with pytest.raises(TypeError, match="Tensor.data must be set to"):
            p.data = bad
    assert type(p.data) is backend.ndarray and p.shape == (2,)
