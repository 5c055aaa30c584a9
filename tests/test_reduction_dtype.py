"""``sum``/``mean`` with ``dtype=``: the input is cast first, as torch does; PyTorch is the oracle."""
import numpy as np
import pytest

import tensorweaver as tw

torch = pytest.importorskip("torch", reason="PyTorch is the test-only oracle (extra 'torch')")


@pytest.mark.parametrize("src, dst", [("float16", "float32"), ("int32", "float64"), ("bool", "int32"),
                                      ("float32", "float64"), ("int64", "int64")])
@pytest.mark.parametrize("dim", [None, 1])
def test_sum_dtype_matches_torch(src, dst, dim):
    data = (np.random.default_rng(0).standard_normal((3, 5)) * 1000).astype(src)
    ours = tw.tensor(data).sum(dim=dim, dtype=getattr(tw, dst))
    theirs = torch.tensor(data).sum(dim=dim, dtype=getattr(torch, dst)) if dim is not None \
        else torch.tensor(data).sum(dtype=getattr(torch, dst))
    assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


def test_float16_sum_in_float32_does_not_overflow():
    x = tw.ones(100_000, dtype=tw.float16)
    assert x.sum(dtype=tw.float32).item() == 100_000.0
    assert tw.sum(x, dtype=tw.float32).item() == 100_000.0


def test_mean_dtype_and_its_gradient():
    x = tw.tensor([[1.0, 2.0], [3.0, 5.0]], dtype=tw.float16, requires_grad=True)
    m = x.mean(dim=0, dtype=tw.float64)
    assert m.dtype == tw.float64
    m.sum().backward()
    assert x.grad.dtype == tw.float16
    np.testing.assert_allclose(x.grad.numpy(), np.full((2, 2), 0.5))
    assert tw.tensor([1, 2, 4]).mean(dtype=tw.float32).item() == pytest.approx(7 / 3)


def test_mean_refuses_an_integer_dtype():
    with pytest.raises(TypeError, match="floating point"):
        tw.tensor([1.0, 2.0]).mean(dtype=tw.int64)
