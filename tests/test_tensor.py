"""The Tensor object itself: construction rules, attributes, conversions, repr, creation ops."""
import numpy as np
import pytest

import tensorweaver as tw

pytestmark = pytest.mark.unit


def test_construction_defaults_follow_torch():
    assert tw.Tensor(1.5).dtype == tw.float32
    assert tw.Tensor([1, 2]).dtype == tw.int64
    assert tw.Tensor([[1.0, 2], [3, 4]]).dtype == tw.float32
    assert tw.Tensor(np.arange(3, dtype=np.int32)).dtype == tw.int32      # arrays keep their dtype
    assert tw.Tensor([1, 2], dtype=tw.float64).dtype == tw.float64
    t = tw.Tensor([[1.0, 2.0]])
    assert t.shape == (1, 2) and isinstance(t.shape, tuple)
    assert isinstance(t.data, tw.backend.ndarray)


def test_construction_copies_input():
    a = np.zeros(3, dtype=np.float32)
    t = tw.tensor(a)
    a[0] = 5
    assert t.tolist() == [0.0, 0.0, 0.0]


def test_attributes():
    x = tw.ones(2, requires_grad=True)
    y = x * 2
    assert x.is_leaf and not y.is_leaf
    assert y.grad_fn is not None and x.grad_fn is None
    assert x.requires_grad and y.requires_grad
    assert x.grad is None
    assert isinstance(x.device, tw.device) and x.device == tw._device.CURRENT
    assert x.ndim == 1 and x.dim() == 1 and x.numel() == 2 and x.size() == (2,) and x.size(0) == 2
    assert len(tw.ones(4, 2)) == 4


def test_conversions():
    x = tw.tensor([1.7, -2.2])
    assert x.long().tolist() == [1, -2] and x.long().dtype == tw.int64
    assert x.double().dtype == tw.float64 and x.double().float().dtype == tw.float32
    assert x.to(tw.float64).dtype == tw.float64 and x.to(dtype="float64").dtype == tw.float64
    assert x.to(x.device) is x
    assert x.to(tw.ones(1, dtype=tw.float64)).dtype == tw.float64
    assert tw.tensor(3.5).item() == 3.5 and isinstance(tw.tensor(3).item(), int)
    assert float(tw.tensor([2.5])) == 2.5 and int(tw.tensor(7)) == 7
    assert isinstance(x.numpy(), np.ndarray)
    assert np.asarray(x).dtype == np.float32
    assert [v.item() for v in tw.tensor([1, 2, 3])] == [1, 2, 3]


def test_repr_is_torch_like():
    assert repr(tw.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(tw.tensor([1, 2])) == "tensor([1, 2])"
    assert repr(tw.tensor([1.0], requires_grad=True)) == "tensor([1.], requires_grad=True)"
    assert repr(tw.tensor([1.5], dtype=tw.float64)) == "tensor([1.5], dtype=tw.float64)"
    y = tw.tensor([1.0], requires_grad=True) * 2
    assert repr(y) == "tensor([2.], grad_fn=<MulBackward0>)"
    assert "\n        [" in repr(tw.ones(2, 2))


def test_comparisons_give_bool_without_grad():
    x = tw.tensor([1.0, 2.0, 3.0], requires_grad=True)
    m = x > 1.5
    assert m.dtype == tw.bool and not m.requires_grad and m.tolist() == [False, True, True]
    assert (x == 2.0).tolist() == [False, True, False]
    assert (~m).tolist() == [True, False, False]
    assert ((x >= 2) & (x <= 2)).tolist() == [False, True, False]


def test_creation_ops():
    assert tw.zeros(2, 3).tolist() == [[0.0] * 3] * 2
    assert tw.ones((2,), dtype=tw.int64).tolist() == [1, 1]
    assert tw.full((2, 2), 3.0).tolist() == [[3.0, 3.0], [3.0, 3.0]]
    assert tw.arange(1, 7, 2).tolist() == [1, 3, 5]
    assert tw.linspace(0, 1, 3).tolist() == [0.0, 0.5, 1.0]
    assert tw.eye(2).tolist() == [[1.0, 0.0], [0.0, 1.0]]
    x = tw.ones(2, 3, dtype=tw.float64)
    for f in (tw.zeros_like, tw.ones_like, tw.rand_like, tw.randn_like):
        y = f(x)
        assert y.shape == (2, 3) and y.dtype == tw.float64
    assert tw.full_like(x, 4).tolist() == [[4.0] * 3] * 2
    r = tw.randint(0, 5, (100,))
    assert r.dtype == tw.int64 and 0 <= r.min().item() and r.max().item() < 5
    assert tw.randint_like(x, 3).dtype == tw.float64
    u = tw.rand(1000)
    assert 0 <= u.min().item() and u.max().item() < 1
    assert tw.zeros(3, requires_grad=True).requires_grad


def test_manual_seed_makes_draws_reproducible():
    tw.manual_seed(123)
    a = (tw.randn(5), tw.rand(3), tw.randint(0, 10, (4,)))
    tw.manual_seed(123)
    b = (tw.randn(5), tw.rand(3), tw.randint(0, 10, (4,)))
    for p, q in zip(a, b):
        assert p.tolist() == q.tolist()
    tw.manual_seed(124)
    assert tw.randn(5).tolist() != a[0].tolist()
    state = tw.get_rng_state()
    first = tw.randn(3).tolist()
    tw.set_rng_state(state)
    assert tw.randn(3).tolist() == first


def test_setitem_and_zero_under_no_grad():
    x = tw.zeros(4)
    x[1:3] = 1.0
    x[tw.tensor([0])] = tw.tensor([5.0])
    assert x.tolist() == [5.0, 1.0, 1.0, 0.0]
    assert x.zero_().tolist() == [0.0] * 4
