"""Backward-engine semantics: graph shapes that break naive engines, accumulation,
grad modes, hooks, retain_graph and anomaly detection."""
import numpy as np
import pytest

import tensorweaver as tw
from tensorweaver.autograd.engine import topological_order

pytestmark = pytest.mark.unit


def test_reuse_at_two_depths():
    # a = 3x; out = a + a*a  ->  d/dx = 3 + 2*a*3 = 3 + 18x
    x = tw.tensor(2.0, requires_grad=True)
    a = 3 * x
    out = a + a * a
    out.backward()
    assert x.grad.item() == 3 + 18 * 2.0


def test_residual_block():
    tw.manual_seed(0)
    h = tw.randn(4, 3, dtype=tw.float64, requires_grad=True)
    W = tw.randn(3, 3, dtype=tw.float64, requires_grad=True)
    y = h + (h @ W).relu()
    y.sum().backward()
    hn, Wn = h.detach().numpy(), W.detach().numpy()
    mask = (hn @ Wn > 0).astype(float)
    expected_h = np.ones_like(hn) + mask @ Wn.T
    expected_W = hn.T @ mask
    np.testing.assert_allclose(h.grad.numpy(), expected_h, rtol=1e-12)
    np.testing.assert_allclose(W.grad.numpy(), expected_W, rtol=1e-12)


def test_diamond_with_shared_input():
    # (x + y) + 2y  ->  dx = 1, dy = 3
    x = tw.tensor([1.0, 2.0], requires_grad=True)
    y = tw.tensor([3.0, 4.0], requires_grad=True)
    ((x + y) + 2 * y).sum().backward()
    assert x.grad.tolist() == [1.0, 1.0]
    assert y.grad.tolist() == [3.0, 3.0]


def test_long_chain_is_not_recursive():
    b = tw.tensor(1.0, requires_grad=True)
    c = tw.tensor(0.0)
    for _ in range(100_000):
        c = c + b
    c.backward()
    assert b.grad.item() == 100000.0


def test_topological_order_puts_consumers_first():
    x = tw.tensor(1.0, requires_grad=True)
    a = x * 2
    b = a * 3
    out = a + b            # `a`'s node must run after both `out` and `b`
    order = topological_order(out.grad_fn)
    assert order.index(a.grad_fn) > order.index(b.grad_fn) > order.index(out.grad_fn)


def test_gradients_accumulate_across_backward_calls():
    x = tw.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    (x * 3).sum().backward()
    assert x.grad.tolist() == [2 + 3, 4 + 3]


def test_gradient_buffers_are_not_shared():
    x = tw.tensor([1.0, 2.0], requires_grad=True)
    y = tw.tensor([3.0, 4.0], requires_grad=True)
    (x + y).sum().backward()
    assert x.grad is not y.grad
    assert not np.shares_memory(x.grad.data, y.grad.data)
    x.grad.data *= 10           # an in-place change to one must not leak into the other
    assert y.grad.tolist() == [1.0, 1.0]
    # A view of one buffer handed to two inputs is also unshared.
    a = tw.tensor([[1.0, 2.0]], requires_grad=True)
    b = tw.tensor([1.0, 2.0], requires_grad=True)
    (a.reshape(2) + b).sum().backward()
    assert not np.shares_memory(a.grad.data, b.grad.data)


@pytest.mark.parametrize("watched", [False, True], ids=["plain", "under detect_anomaly"])
def test_a_layer_gets_unshared_gradients_with_or_without_anomaly_mode(watched):
    # The same gradients and the same buffer separation whether or not anomaly mode checks
    # every node (a bias summed over the batch, a value used three times).
    import contextlib
    tw.manual_seed(0)
    x = tw.randn(3, 4, dtype=tw.float64, requires_grad=True)
    W = tw.randn(5, 4, dtype=tw.float64, requires_grad=True)
    b = tw.randn(5, dtype=tw.float64, requires_grad=True)
    with tw.autograd.detect_anomaly() if watched else contextlib.nullcontext():
        h = x @ W.T + b                  # b's gradient sums over the batch
        out = (h.relu() + h + x.sum(1, keepdim=True)).sum()
        out.backward()
    xn, Wn, bn = (t.detach().numpy() for t in (x, W, b))
    hn = xn @ Wn.T + bn
    gh = (hn > 0) + 1.0
    np.testing.assert_allclose(W.grad.numpy(), gh.T @ xn, rtol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), gh.sum(0), rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), gh @ Wn + 5, rtol=1e-12)
    grads = [x.grad.data, W.grad.data, b.grad.data]
    assert not any(np.shares_memory(p, q) for i, p in enumerate(grads) for q in grads[i + 1:])


def test_implicit_gradient_of_a_leaf_is_its_own_array():
    # backward() on a one-element tensor makes the ones itself, and does not copy them again.
    x = tw.tensor(2.0, requires_grad=True)
    x.backward()
    x.backward()
    assert x.grad.item() == 2.0 and x.grad.dtype == tw.float32


def test_user_gradient_is_not_aliased():
    x = tw.tensor([1.0, 2.0], requires_grad=True)
    g = tw.tensor([5.0, 6.0])
    x.reshape(2).backward(g)
    x.grad.data += 1
    assert g.tolist() == [5.0, 6.0]


def test_no_grad_records_nothing():
    x = tw.tensor([1.0], requires_grad=True)
    with tw.no_grad():
        y = x * 2 + 1
        assert not tw.is_grad_enabled()
    assert y.grad_fn is None and not y.requires_grad
    assert tw.is_grad_enabled()

    @tw.no_grad()
    def f(t):
        return t * 2
    assert f(x).grad_fn is None
    with tw.no_grad():
        with tw.enable_grad():
            assert (x * 2).requires_grad
    with tw.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    tw.set_grad_enabled(False)
    assert not tw.is_grad_enabled()
    tw.set_grad_enabled(True)
    assert tw.is_grad_enabled()


def test_detach_cuts_the_graph():
    x = tw.tensor([1.0, 2.0], requires_grad=True)
    y = (x * 2).detach() * x
    y.sum().backward()
    assert x.grad.tolist() == [2.0, 4.0]


def test_hooks_on_leaf_and_intermediate():
    x = tw.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    handle = x.register_hook(lambda g: seen.append(g.tolist()))
    h = x * 3
    h.register_hook(lambda g: g * 2)          # replaces the gradient flowing into x
    h.sum().backward()
    assert seen == [[6.0, 6.0]]
    assert x.grad.tolist() == [6.0, 6.0]
    handle.remove()
    (x * 1).sum().backward()
    assert len(seen) == 1


def test_retain_grad_on_intermediate():
    x = tw.tensor([1.0, 2.0], requires_grad=True)
    h = x * x
    h.retain_grad()
    (h * 3).sum().backward()
    assert h.grad.tolist() == [3.0, 3.0]


def test_retain_graph_allows_second_backward():
    x = tw.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.tolist() == [4.0, 8.0]


def test_second_backward_through_freed_graph_fails_clearly():
    x = tw.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time.*retain_graph=True"):
        y.backward()


def test_backward_on_non_scalar_needs_gradient():
    x = tw.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"only for scalar outputs.*shape \(2,\).*\.sum\(\)"):
        (x * 2).backward()
    (x * 2).backward(tw.tensor([1.0, 1.0]))
    assert x.grad.tolist() == [2.0, 2.0]
    with pytest.raises(RuntimeError, match=r"gradient has shape \(3,\)"):
        (x * 2).backward(tw.ones(3))


def test_backward_without_grad_fails_clearly():
    with pytest.raises(RuntimeError, match="does not require grad"):
        tw.tensor([1.0]).sum().backward()


def test_backward_on_leaf_accumulates():
    x = tw.tensor(2.0, requires_grad=True)
    x.backward()
    assert x.grad.item() == 1.0


def test_detect_anomaly_names_function_and_user_line():
    x = tw.tensor([-1.0, 1.0], requires_grad=True)
    with pytest.raises(RuntimeError) as info:
        with tw.detect_anomaly():
            y = x.log()   # creates NaN for -1
    msg = str(info.value)
    assert "Log.forward produced NaN" in msg and "test_engine.py" in msg and "y = x.log()" in msg

    z = tw.tensor([0.0, 1.0], requires_grad=True)
    with pytest.raises(RuntimeError) as info:
        with tw.detect_anomaly():
            out = z.sqrt()          # forward fine (0), backward 1/(2*0) = inf
            out.sum().backward()
    msg = str(info.value)
    assert "Sqrt.backward produced inf" in msg and "out = z.sqrt()" in msg


def test_anomaly_off_by_default_lets_nan_through():
    x = tw.tensor([-1.0], requires_grad=True)
    assert np.isnan(x.log().item())


def test_int_tensor_cannot_require_grad():
    with pytest.raises(RuntimeError, match="floating point.*int64.*float"):
        tw.tensor([1, 2], requires_grad=True)


def test_leaf_in_place_update_needs_no_grad():
    w = tw.zeros(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="no_grad"):
        w[0] = 1.0
    with tw.no_grad():
        w[0] = 1.0
    assert w.tolist() == [1.0, 0.0]


def test_custom_function_needs_input_grad():
    class Scale(tw.Function):
        def forward(self, a, b):
            self.seen = self.needs_input_grad
            return a * b

        def backward(self, grad):
            return grad, None

    a = tw.tensor([1.0], requires_grad=True)
    out = Scale.apply(a, tw.tensor([2.0]))
    assert out.grad_fn.seen == (True, False)


@pytest.mark.parametrize("grad_shape, shape", [
    ((2, 3, 4), (4,)), ((2, 3, 4), (3, 4)), ((3, 4), ()), ((2, 3, 4), (3, 1)),
    ((2, 3, 4), (1, 3, 4)), ((2, 3, 4), (2, 1, 4)), ((3,), (1,)), ((3, 4), (3, 4))])
def test_unbroadcast_sums_a_gradient_back_to_each_broadcast_shape(grad_shape, shape):
    # The adjoint of broadcasting: what a broadcast operand's gradient must be.
    from tensorweaver.ops.elementwise import unbroadcast
    g = np.arange(np.prod(grad_shape), dtype=np.float64).reshape(grad_shape)
    x = tw.zeros(shape, dtype=tw.float64, requires_grad=True)
    (x + tw.zeros(grad_shape, dtype=tw.float64)).backward(tw.tensor(g))
    out = unbroadcast(g, shape)
    assert isinstance(out, np.ndarray) and out.shape == shape
    np.testing.assert_array_equal(out, x.grad.numpy())
    expected = g.sum(axis=tuple(range(len(grad_shape) - len(shape))))
    expected = expected.sum(axis=tuple(i for i, n in enumerate(shape) if n == 1), keepdims=True) if shape else expected
    np.testing.assert_array_equal(out, expected.reshape(shape))


@pytest.mark.torch
@pytest.mark.parametrize("dtype", [tw.float32, tw.float64, tw.float16])
@pytest.mark.parametrize("shape", [(), (3,), (2, 3)])
def test_scaling_by_a_python_float_outside_the_graph_is_the_plain_product(dtype, shape):
    # `lr * p.grad` needs no node (nothing to record, nobody watching): the same values and
    # dtype as the recorded product, in either operand order, and still a node in grad mode.
    torch = pytest.importorskip(
        "torch", reason="PyTorch is the test-only oracle (extra 'torch'); the CPU image omits it "
                        "and CI's venv stage runs this test")
    x = tw.arange(1, 1 + int(np.prod(shape)), dtype=dtype).reshape(shape)
    expected = 0.1 * torch.from_numpy(x.numpy())
    for out in (0.1 * x, x * 0.1):
        assert out.grad_fn is None and out.dtype == dtype and out.shape == shape
        assert str(out.dtype).split(".")[-1] == str(expected.dtype).split(".")[-1]
        np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-3 if dtype == tw.float16 else 1e-7)
    w = x.clone().requires_grad_(True)
    y = 0.1 * w
    assert y.grad_fn is not None and y.grad_fn.name() == "MulBackward0"
    with tw.no_grad():
        assert (0.1 * w).grad_fn is None
