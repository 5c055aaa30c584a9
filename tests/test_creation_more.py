"""The factories of ops/creation.py beyond the basics: asarray (memory sharing and copy=),
range (deprecated, end included), logspace, frombuffer, from_dlpack, from_file, empty_strided,
against torch, and the errors for bad input."""
import warnings

import numpy as np
import pytest

import tensorweaver as tw

torch = pytest.importorskip("torch", reason="PyTorch is the test-only oracle")
pytestmark = pytest.mark.torch


def _same(ours, ref):
    assert ours.shape == tuple(ref.shape)
    assert str(ours.dtype) == str(ref.dtype).replace("torch.", "")
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=1e-6)


def test_asarray_shares_converts_and_copies_as_torch():
    t = tw.tensor([1.0, 2.0])
    assert tw.asarray(t) is t
    assert tw.asarray(t, dtype=tw.float64).dtype == np.float64
    c = tw.asarray(t, copy=True)
    c[0] = 9.0
    assert t[0].item() == 1.0
    arr = np.arange(4.0)
    shared = tw.asarray(arr)
    arr[0] = 7.0                                   # NumPy backend: the same memory
    assert shared[0].item() == 7.0
    assert tw.asarray(arr, copy=True).numpy()[0] == 7.0
    for data in ([[1, 2], [3, 4]], [1.5, 2], 3, True):
        _same(tw.asarray(data), torch.asarray(data))
    _same(tw.asarray([1, 2], dtype=tw.float64), torch.asarray([1, 2], dtype=torch.float64))
    g = tw.asarray([1.0, 2.0], requires_grad=True)
    assert g.requires_grad and g.is_leaf
    with pytest.raises(ValueError, match="copy=False"):
        tw.asarray([1, 2], copy=False)
    with pytest.raises(ValueError, match="copy=False"):
        tw.asarray(t, dtype=tw.float64, copy=False)


@pytest.mark.parametrize("args, kw", [((1, 4), {}), ((0, 1, 0.3), {}), ((3, -1, -0.5), {}),
                                      ((0, 2), {"dtype": "float64"})])
def test_range_includes_end_and_warns(args, kw):
    with pytest.warns(UserWarning, match="deprecated"):
        ours = tw.range(*args, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = torch.range(*args, **{k: getattr(torch, v) for k, v in kw.items()})
    _same(ours, ref)


def test_range_needs_end_and_a_consistent_step():
    with pytest.raises(TypeError):
        tw.range(5)                                  # as torch.range: end is required
    with pytest.warns(UserWarning), pytest.raises(RuntimeError, match="inconsistent with step sign"):
        tw.range(0, 3, -1)


@pytest.mark.parametrize("args, kw", [((0, 2, 3), {}), ((-1, 1, 5), {"base": 2}), ((2, 0, 4), {"base": 3.5}),
                                      ((0, 3, 1), {}), ((0, 1, 0), {}), ((0, 2, 4), {"dtype": "float64"})])
def test_logspace_matches_torch(args, kw):
    kw_t = {k: getattr(torch, v) if k == "dtype" else v for k, v in kw.items()}
    _same(tw.logspace(*args, **kw), torch.logspace(*args, **kw_t))


def test_frombuffer_reads_and_shares_a_writable_buffer():
    raw = bytearray(np.arange(6, dtype=np.int32).tobytes())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = torch.frombuffer(bytearray(raw), dtype=torch.int32, count=3, offset=4)
    ours = tw.frombuffer(raw, dtype=tw.int32, count=3, offset=4)
    _same(ours, ref)
    raw[4] = 42                                  # the tensor sees the buffer's change (NumPy backend)
    assert ours[0].item() == 42
    ro = tw.frombuffer(b"\x00\x00\x80\x3f", dtype=tw.float32)
    assert ro.tolist() == [1.0]
    ro[0] = 2.0                                  # a read-only buffer was copied
    with pytest.raises(ValueError, match="not a multiple"):
        tw.frombuffer(b"abc", dtype=tw.float32)
    with pytest.raises(ValueError, match="count must be"):
        tw.frombuffer(raw, dtype=tw.int32, count=10)
    with pytest.raises(TypeError, match="buffer protocol"):
        tw.frombuffer([1, 2], dtype=tw.int32)


def test_from_dlpack_shares_memory_with_torch_and_numpy():
    src = torch.arange(6.0).reshape(2, 3)
    ours = tw.from_dlpack(src)
    _same(ours, src)
    src[0, 0] = 5.0
    assert ours[0, 0].item() == 5.0
    arr = np.ones(3)
    ours = tw.from_dlpack(arr)
    arr[1] = 4.0
    assert ours.tolist() == [1.0, 4.0, 1.0]
    t = tw.ones(2, requires_grad=True)
    assert not tw.from_dlpack(t).requires_grad
    with pytest.raises(TypeError, match="__dlpack__"):
        tw.from_dlpack([1, 2])


def test_from_file_copies_or_maps(tmp_path):
    path = tmp_path / "data.bin"
    np.arange(5, dtype=np.float32).tofile(path)
    _same(tw.from_file(str(path), size=4), torch.from_file(str(path), size=4))
    _same(tw.from_file(str(path), size=2, dtype=tw.int64), torch.from_file(str(path), size=2, dtype=torch.int64))
    copy = tw.from_file(str(path), shared=False, size=5)
    copy[0] = 100.0
    assert np.fromfile(path, dtype=np.float32)[0] == 0.0
    mapped = tw.from_file(str(path), shared=True, size=5)
    mapped[1] = 50.0                               # written through to the file
    del mapped
    assert np.fromfile(path, dtype=np.float32)[1] == 50.0
    with pytest.raises(RuntimeError, match="fewer than"):
        tw.from_file(str(path), size=6)


def test_empty_strided_checks_stride_and_gives_the_size():
    out = tw.empty_strided((2, 3), (1, 2), dtype=tw.float64)
    assert out.shape == (2, 3) and out.dtype == np.float64
    assert tw.empty_strided((2, 3), (3, 1), requires_grad=True).requires_grad
    with pytest.raises(RuntimeError, match="mismatch in length"):
        tw.empty_strided((2, 3), (1,))
