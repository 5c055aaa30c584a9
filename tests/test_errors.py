"""Bad input raises an error that names the problem and the fix."""
import pytest

import tensorweaver as tw

pytestmark = pytest.mark.unit


def test_add_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"add: shapes \(3,\) and \(4,\) cannot be broadcast"):
        tw.ones(3) + tw.ones(4)
    with pytest.raises(ValueError, match=r"mul: shapes \(2, 3\) and \(2,\)"):
        tw.ones(2, 3) * tw.ones(2)


def test_matmul_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\) are not aligned.*\(3\).*\(4\)"):
        tw.ones(2, 3) @ tw.ones(4, 5)
    with pytest.raises(ValueError, match=r"at least 1 dimension.*\(\)"):
        tw.tensor(1.0) @ tw.ones(3)
    with pytest.raises(ValueError, match=r"\(5, 2, 3\) and \(2, 4\)"):
        tw.ones(5, 2, 3) @ tw.ones(2, 4)


def test_matmul_dtype_mismatch():
    with pytest.raises(TypeError, match=r"same dtype, got float32 and float64.*\.float\(\) or \.double\(\)"):
        tw.ones(2, 3) @ tw.ones(3, 2, dtype=tw.float64)


def test_incompatible_dtypes():
    with pytest.raises(RuntimeError, match="floating point"):
        tw.arange(3).requires_grad_()
    with pytest.raises(TypeError, match="bool tensor.*comparison"):
        tw.where(tw.ones(2), tw.ones(2), tw.zeros(2))
    with pytest.raises(TypeError, match=r"mean: expected a floating point tensor, got int64.*\.float\(\)"):
        tw.arange(4).mean()
    with pytest.raises(TypeError, match="complex128; tensors hold floating point"):
        tw.tensor([1 + 2j])
    with pytest.raises(TypeError, match="not a dtype"):
        tw.zeros(2, dtype="floaty")


def test_reshape_and_dims():
    with pytest.raises(RuntimeError, match=r"shape \[4, 4\] is invalid for a tensor of shape \(2, 3\)"):
        tw.ones(2, 3).reshape(4, 4)
    with pytest.raises(IndexError, match="dim 3 is out of range"):
        tw.ones(2, 3).sum(dim=3)
    with pytest.raises(ValueError, match=r"cat: tensor 1 has shape \(2, 4\)"):
        tw.cat([tw.ones(2, 3), tw.ones(2, 4)], dim=0)
    with pytest.raises(RuntimeError, match="cannot be expanded"):
        tw.ones(2, 3).expand(4, 3)


def test_item_and_bool_need_one_element():
    with pytest.raises(RuntimeError, match="3 elements"):
        tw.ones(3).item()
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(tw.ones(3))


def test_numpy_on_tracked_tensor_points_to_detach():
    with pytest.raises(RuntimeError, match=r"detach\(\)\.numpy\(\)"):
        tw.ones(2, requires_grad=True).numpy()


def test_unavailable_device_explains_backend():
    if tw.backend.is_numpy:
        with pytest.raises(RuntimeError, match="TENSORWEAVER_BACKEND=cupynumeric"):
            tw.ones(2).to("cuda")
    assert tw.ones(2).to(tw.ones(1).device).device == tw.ones(1).device
