"""PyTorch's Tensors section (tensorweaver/_tensor_utils.py): is_tensor, is_floating_point,
is_nonzero, numel, the default device, set_printoptions and set_flush_denormal."""
import numpy as np
import pytest

import tensorweaver as tw
from tensorweaver import _device

pytestmark = pytest.mark.unit


def test_type_tests_and_numel():
    x = tw.zeros(2, 3)
    assert tw.is_tensor(x) and tw.is_tensor(tw.nn.Parameter(x)) and not tw.is_tensor(np.zeros(2))
    assert tw.is_floating_point(x) and not tw.is_floating_point(tw.tensor([1]))
    assert tw.numel(x) == 6 and tw.numel(tw.tensor(3.0)) == 1 and tw.numel(tw.zeros(0, 4)) == 0
    with pytest.raises(TypeError, match="must be a Tensor, not list"):
        tw.numel([1, 2])


def test_is_nonzero_as_torch():
    assert tw.is_nonzero(tw.tensor([2])) and not tw.is_nonzero(tw.tensor(0.0))
    assert tw.tensor([[True]]).is_nonzero()
    with pytest.raises(RuntimeError, match="no values is ambiguous"):
        tw.is_nonzero(tw.tensor([]))
    with pytest.raises(RuntimeError, match="more than one value is ambiguous"):
        tw.tensor([1, 0]).is_nonzero()


def test_default_device_is_the_process_device():
    assert tw.get_default_device() == tw.zeros(1).device
    tw.set_default_device("cpu")
    tw.set_default_device(None)
    assert tw.get_default_device() == _device.CURRENT
    if not tw.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            tw.set_default_device("cuda")
    with pytest.raises(RuntimeError, match="not available"):
        tw.set_default_device("mps")


@pytest.fixture
def default_printing():
    yield
    tw.set_printoptions(profile="default")


def test_set_printoptions_changes_repr(default_printing):
    x = tw.tensor([1.23456, 2.0, 3.5])
    assert repr(x) == "tensor([1.2346, 2.0000, 3.5000])"
    tw.set_printoptions(precision=2)
    assert repr(x) == "tensor([1.23, 2.00, 3.50])"
    tw.set_printoptions(sci_mode=True)
    assert repr(x) == "tensor([1.23e+00, 2.00e+00, 3.50e+00])"
    tw.set_printoptions(profile="default")
    big = tw.arange(2000)
    assert "..." in repr(big)
    tw.set_printoptions(threshold=5, edgeitems=2)
    assert repr(tw.arange(10)) == "tensor([0, 1, ..., 8, 9])"
    tw.set_printoptions(profile="full")
    assert "..." not in repr(big)
    tw.set_printoptions(profile="short")
    assert repr(x) == "tensor([1.23, 2.00, 3.50])"
    tw.set_printoptions(profile="default", linewidth=20)
    assert max(len(line) for line in repr(tw.arange(12)).splitlines()) <= 20
    with pytest.raises(ValueError, match="profile must be one of"):
        tw.set_printoptions(profile="long")
    with pytest.raises(ValueError, match="precision must be a non-negative number"):
        tw.set_printoptions(precision=-1)


def test_set_flush_denormal_reports_no_support_and_keeps_denormals():
    assert tw.set_flush_denormal(True) is False
    tiny = tw.tensor([1e-320], dtype=tw.float64)
    assert tiny.item() > 0
    assert tw.set_flush_denormal(False) is False
    with pytest.raises(TypeError, match="must be a bool"):
        tw.set_flush_denormal("yes")
