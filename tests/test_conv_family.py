"""The convolution family against PyTorch (forward, input and weight gradients, float64),
gradcheck of every new Function, module shapes/initialisation, and the clear errors.

Conv1d, ConvTranspose1d/2d, padding modes, 1-D and adaptive pools, interpolate,
pad, pixel (un)shuffle, unfold/fold.
"""
import numpy as np
import pytest

import tensorweaver as tw
from tensorweaver import nn
from tensorweaver.nn import functional as F

torch = pytest.importorskip("torch", reason="PyTorch is the test-only oracle (extra 'torch')")
tF = torch.nn.functional
pytestmark = pytest.mark.torch

rng = np.random.default_rng(13)


def _np(t):
    return t.detach().numpy()


def compare(ours, theirs, *arrays, kwargs=None, rtol=1e-10, atol=1e-12, grads=True):
    """Run ``ours`` and ``theirs`` on the same float64 arrays; compare the output and,
    after a random upstream gradient, every input's gradient."""
    kwargs = kwargs or {}
    xs = [tw.tensor(a, requires_grad=grads and a.dtype.kind == "f") for a in arrays]
    ts = [torch.tensor(a, requires_grad=grads and a.dtype.kind == "f") for a in arrays]
    out, ref = ours(*xs, **kwargs), theirs(*ts, **kwargs)
    assert tuple(out.shape) == tuple(ref.shape), (out.shape, ref.shape)
    np.testing.assert_allclose(_np(out), _np(ref), rtol=rtol, atol=atol)
    if not grads or not ref.requires_grad:
        return out
    seed = rng.standard_normal(tuple(ref.shape))
    (out * tw.tensor(seed)).sum().backward()
    (ref * torch.tensor(seed)).sum().backward()
    for i, (x, t) in enumerate(zip(xs, ts)):
        if t.grad is not None:
            np.testing.assert_allclose(_np(x.grad), _np(t.grad), rtol=rtol, atol=atol, err_msg=f"grad of input {i}")
    return out


def randn(*shape):
    return rng.standard_normal(shape)


# ------------------------------------------------------------------ convolutions
CONV1D = [
    dict(),
    dict(stride=2, padding=1),
    dict(padding=2, dilation=2),
    dict(stride=3, padding=1, dilation=2, groups=2),
    dict(padding="same", dilation=2),
    dict(padding="valid"),
]


@pytest.mark.parametrize("kw", CONV1D, ids=str)
@pytest.mark.parametrize("bias", [True, False])
def test_conv1d(kw, bias):
    g = kw.get("groups", 1)
    args = [randn(3, 4, 11), randn(6, 4 // g, 3)] + ([randn(6)] if bias else [])
    compare(lambda x, w, *b: F.conv1d(x, w, b[0] if b else None, **kw),
            lambda x, w, *b: tF.conv1d(x, w, b[0] if b else None, **kw), *args)


def test_conv1d_unbatched():
    compare(lambda x, w: F.conv1d(x, w, padding=1), lambda x, w: tF.conv1d(x, w, padding=1),
            randn(4, 9), randn(5, 4, 3))


CONVT2D = [
    dict(),
    dict(stride=2, padding=1),
    dict(stride=2, padding=1, output_padding=1),
    dict(stride=(2, 3), padding=(1, 0), output_padding=(1, 2), dilation=(2, 1)),
    dict(stride=2, padding=0, output_padding=1),          # output_padding beyond the padding
    dict(stride=1, padding=1, output_padding=1, dilation=2),
    dict(stride=2, padding=2, groups=2, dilation=2),
]


@pytest.mark.parametrize("kw", CONVT2D, ids=str)
@pytest.mark.parametrize("bias", [True, False])
def test_conv_transpose2d(kw, bias):
    g = kw.get("groups", 1)
    args = [randn(2, 4, 5, 6), randn(4, 6 // g, 3, 4)] + ([randn(6)] if bias else [])
    compare(lambda x, w, *b: F.conv_transpose2d(x, w, b[0] if b else None, **kw),
            lambda x, w, *b: tF.conv_transpose2d(x, w, b[0] if b else None, **kw), *args)


@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=1, output_padding=1),
                                dict(stride=3, padding=2, dilation=2, groups=2, output_padding=2)], ids=str)
def test_conv_transpose1d(kw):
    g = kw.get("groups", 1)
    compare(lambda x, w, b: F.conv_transpose1d(x, w, b, **kw), lambda x, w, b: tF.conv_transpose1d(x, w, b, **kw),
            randn(3, 4, 7), randn(4, 6 // g, 3), randn(6))


def test_conv_transpose2d_unbatched():
    compare(lambda x, w: F.conv_transpose2d(x, w, stride=2), lambda x, w: tF.conv_transpose2d(x, w, stride=2),
            randn(3, 4, 5), randn(3, 2, 3, 3))


def load_pair(ours, theirs):
    theirs = theirs.double()
    ours.double().load_state_dict(theirs.state_dict())
    return ours, theirs


MODULES = [
    ("Conv1d", lambda m: m.Conv1d(4, 6, 3, stride=2, padding=1, groups=2), (3, 4, 10)),
    ("Conv1d_reflect", lambda m: m.Conv1d(4, 6, 3, padding=2, dilation=2, padding_mode="reflect"), (3, 4, 10)),
    ("Conv1d_circular", lambda m: m.Conv1d(4, 6, 3, padding=1, padding_mode="circular"), (3, 4, 10)),
    ("Conv1d_replicate_same", lambda m: m.Conv1d(4, 6, 4, padding="same", padding_mode="replicate"), (3, 4, 10)),
    ("Conv2d_reflect", lambda m: m.Conv2d(3, 4, 3, padding=(1, 2), padding_mode="reflect"), (2, 3, 6, 7)),
    ("Conv2d_replicate", lambda m: m.Conv2d(3, 4, 3, stride=2, padding=1, padding_mode="replicate"), (2, 3, 6, 7)),
    ("Conv2d_circular", lambda m: m.Conv2d(3, 4, 3, padding=1, padding_mode="circular"), (2, 3, 6, 7)),
    ("ConvTranspose1d", lambda m: m.ConvTranspose1d(4, 3, 4, stride=2, padding=1), (3, 4, 6)),
    ("ConvTranspose2d", lambda m: m.ConvTranspose2d(4, 3, 4, stride=2, padding=1), (2, 4, 5, 5)),
    ("ConvTranspose2d_groups", lambda m: m.ConvTranspose2d(4, 6, 3, stride=2, groups=2, bias=False,
                                                           output_padding=1), (2, 4, 5, 5)),
]


@pytest.mark.parametrize("name,make,shape", MODULES, ids=[m[0] for m in MODULES])
def test_module_matches_torch(name, make, shape):
    ours, theirs = load_pair(make(nn), make(torch.nn))
    x = randn(*shape)
    compare(ours, theirs, x)
    for (n1, p), (n2, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert n1 == n2
        np.testing.assert_allclose(_np(p.grad), _np(q.grad), rtol=1e-10, atol=1e-12, err_msg=n1)
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("make", [lambda m: m.Conv1d(6, 4, 5, groups=2), lambda m: m.ConvTranspose1d(6, 4, 3),
                                  lambda m: m.ConvTranspose2d(6, 4, (3, 2), groups=2)])
def test_initialisation_shapes_and_bounds(make):
    tw.manual_seed(0)
    ours, theirs = make(nn), make(torch.nn)
    assert ours.weight.shape == tuple(theirs.weight.shape) and ours.bias.shape == tuple(theirs.bias.shape)
    fan_in = torch.nn.init._calculate_fan_in_and_fan_out(theirs.weight)[0]
    bound = 1 / np.sqrt(fan_in)
    w = ours.weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.7 * bound     # kaiming_uniform(a=sqrt(5))
    assert np.abs(ours.bias.detach().numpy()).max() <= bound


def test_conv_transpose_output_size_argument():
    ours, theirs = load_pair(nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1), torch.nn.ConvTranspose2d(3, 2, 3, 2, 1))
    x = randn(1, 3, 4, 4)
    for size in [(7, 7), (8, 8), (1, 2, 8, 7)]:
        out = ours(tw.tensor(x), output_size=size)
        ref = theirs(torch.tensor(x), output_size=size)
        np.testing.assert_allclose(_np(out), _np(ref), rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="valid sizes range from 7 to 8"):
        ours(tw.tensor(x), output_size=(9, 9))


# ------------------------------------------------------------------ pooling
@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                                dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
                                dict(kernel_size=2, stride=1, dilation=3)], ids=str)
def test_max_pool1d(kw):
    compare(lambda x: F.max_pool1d(x, **kw), lambda x: tF.max_pool1d(x, **kw), randn(2, 3, 11))
    out, idx = F.max_pool1d(tw.tensor(randn(2, 3, 11)), return_indices=True, **kw)
    x = randn(2, 3, 11)
    out, idx = F.max_pool1d(tw.tensor(x), return_indices=True, **kw)
    ref, ridx = tF.max_pool1d(torch.tensor(x), return_indices=True, **kw)
    np.testing.assert_array_equal(idx.numpy(), ridx.numpy())


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                                dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
                                dict(kernel_size=3, stride=2, ceil_mode=True)], ids=str)
def test_avg_pool1d(kw):
    compare(lambda x: F.avg_pool1d(x, **kw), lambda x: tF.avg_pool1d(x, **kw), randn(2, 3, 10))


@pytest.mark.parametrize("size", [1, 3, 4, 7, 10])
def test_adaptive_avg_pool1d(size):
    compare(lambda x: F.adaptive_avg_pool1d(x, size), lambda x: tF.adaptive_avg_pool1d(x, size), randn(2, 3, 7))


@pytest.mark.parametrize("size", [1, (3, 4), (2, 3), (5, None), (8, 7), (9, 11)])
def test_adaptive_max_pool2d(size):
    x = randn(2, 3, 8, 7)
    compare(lambda x: F.adaptive_max_pool2d(x, size), lambda x: tF.adaptive_max_pool2d(x, size), x)
    _, idx = F.adaptive_max_pool2d(tw.tensor(x), size, return_indices=True)
    _, ridx = tF.adaptive_max_pool2d(torch.tensor(x), size, return_indices=True)
    np.testing.assert_array_equal(idx.numpy(), ridx.numpy())
    assert idx.dtype == tw.int64


def test_adaptive_max_pool_ties_and_1d():
    x = np.round(randn(2, 3, 9) * 2) / 2           # many ties: the first maximum wins, as torch
    compare(lambda x: F.adaptive_max_pool1d(x, 4), lambda x: tF.adaptive_max_pool1d(x, 4), x)
    _, idx = F.adaptive_max_pool1d(tw.tensor(x), 4, return_indices=True)
    np.testing.assert_array_equal(idx.numpy(), tF.adaptive_max_pool1d(torch.tensor(x), 4, return_indices=True)[1])
    compare(lambda x: F.adaptive_max_pool2d(x, (2, 3)), lambda x: tF.adaptive_max_pool2d(x, (2, 3)),
            randn(3, 5, 7))                         # unbatched


@pytest.mark.parametrize("name,make,shape", [
    ("MaxPool1d", lambda m: m.MaxPool1d(3, 2, 1), (2, 3, 9)),
    ("AvgPool1d", lambda m: m.AvgPool1d(3, 2, 1, count_include_pad=False), (2, 3, 9)),
    ("AdaptiveAvgPool1d", lambda m: m.AdaptiveAvgPool1d(4), (2, 3, 9)),
    ("AdaptiveMaxPool1d", lambda m: m.AdaptiveMaxPool1d(4), (2, 3, 9)),
    ("AdaptiveMaxPool2d", lambda m: m.AdaptiveMaxPool2d((3, 2)), (2, 3, 7, 5)),
], ids=lambda v: v if isinstance(v, str) else "")
def test_pool_modules(name, make, shape):
    compare(make(nn), make(torch.nn), randn(*shape))
    assert repr(make(nn)) == repr(make(torch.nn))


# ------------------------------------------------------------------ interpolate
INTERP = [
    dict(scale_factor=2, mode="nearest"),
    dict(size=(7, 9), mode="nearest"),
    dict(scale_factor=(1.7, 0.6), mode="nearest"),
    dict(size=(3, 11), mode="nearest-exact"),
    dict(scale_factor=2, mode="bilinear"),
    dict(scale_factor=2, mode="bilinear", align_corners=True),
    dict(size=(3, 11), mode="bilinear"),
    dict(size=(3, 11), mode="bilinear", align_corners=True),
    dict(scale_factor=1.5, mode="bilinear", recompute_scale_factor=True),
    dict(scale_factor=(0.5, 2.5), mode="bilinear"),
    dict(size=(7, 9), mode="bicubic"),
    dict(scale_factor=2, mode="bicubic", align_corners=True),
    dict(size=(3, 2), mode="area"),
    dict(size=(1, 1), mode="bilinear", align_corners=True),
]


@pytest.mark.parametrize("kw", INTERP, ids=str)
def test_interpolate_2d(kw):
    compare(lambda x: F.interpolate(x, **kw), lambda x: tF.interpolate(x, **kw), randn(2, 3, 5, 6))


@pytest.mark.parametrize("kw,shape", [
    (dict(scale_factor=3, mode="linear"), (2, 3, 5)),
    (dict(size=8, mode="linear", align_corners=True), (2, 3, 5)),
    (dict(scale_factor=2, mode="nearest"), (2, 3, 5)),
    (dict(size=(4, 5, 6), mode="trilinear"), (1, 2, 3, 4, 2)),
    (dict(scale_factor=2, mode="nearest"), (1, 2, 3, 4, 2)),
], ids=str)
def test_interpolate_1d_3d(kw, shape):
    compare(lambda x: F.interpolate(x, **kw), lambda x: tF.interpolate(x, **kw), randn(*shape))


def test_interpolate_float32_nearest_matches_torch():
    x = rng.standard_normal((1, 2, 7, 5)).astype(np.float32)
    for sf in (1.3, 2.7, 0.4):
        ours = F.interpolate(tw.tensor(x), scale_factor=sf, mode="nearest").numpy()
        np.testing.assert_array_equal(ours, tF.interpolate(torch.tensor(x), scale_factor=sf, mode="nearest").numpy())


@pytest.mark.parametrize("kw", [dict(scale_factor=2), dict(size=(4, 9), mode="bilinear", align_corners=False),
                                dict(scale_factor=2, mode="bilinear", align_corners=True)], ids=str)
def test_upsample_module(kw):
    compare(nn.Upsample(**kw), torch.nn.Upsample(**kw), randn(2, 3, 4, 5))
    assert repr(nn.Upsample(**kw)) == repr(torch.nn.Upsample(**kw))


def test_upsampling_aliases():
    x = randn(1, 2, 3, 4)
    compare(nn.UpsamplingNearest2d(scale_factor=2), torch.nn.UpsamplingNearest2d(scale_factor=2), x)
    compare(nn.UpsamplingBilinear2d(size=(5, 7)), torch.nn.UpsamplingBilinear2d(size=(5, 7)), x)


# ------------------------------------------------------------------ pad
PADS = [
    ((1, 2), "constant", 0.0, (2, 3, 5)),
    ((1, 2, 0, 3), "constant", 1.5, (2, 3, 5, 4)),
    ((-1, 2, 1, -2), "constant", 0.0, (2, 3, 5, 4)),
    ((1, 2, 3, 0, 1, 1), "constant", -2.0, (2, 3, 4, 5)),
    ((2, 3), "reflect", None, (2, 3, 5)),
    ((1, 2, 3, 0), "reflect", None, (2, 3, 5, 4)),
    ((1, 2, 3, 0), "reflect", None, (3, 5, 4)),
    ((2, 3), "replicate", None, (2, 3, 5)),
    ((1, 2, 3, 0), "replicate", None, (2, 3, 5, 4)),
    ((1, 0, 2, 1, 1, 1), "replicate", None, (1, 2, 3, 4, 5)),
    ((2, 3), "circular", None, (2, 3, 5)),
    ((1, 2, 3, 0), "circular", None, (2, 3, 5, 4)),
    ((1, 2, 2, 1, 1, 0), "reflect", None, (1, 2, 3, 4, 5)),
]


@pytest.mark.parametrize("pad,mode,value,shape", PADS, ids=str)
def test_pad(pad, mode, value, shape):
    kwargs = {} if value is None else {"value": value}
    compare(lambda x: F.pad(x, pad, mode, **kwargs), lambda x: tF.pad(x, pad, mode, **kwargs), randn(*shape))


def test_padding_modules():
    x = randn(2, 3, 5, 6)
    for ours, theirs in [(nn.ZeroPad2d((1, 2, 0, 1)), torch.nn.ZeroPad2d((1, 2, 0, 1))),
                         (nn.ConstantPad2d(2, 0.5), torch.nn.ConstantPad2d(2, 0.5)),
                         (nn.ReflectionPad2d(2), torch.nn.ReflectionPad2d(2)),
                         (nn.ReplicationPad2d((1, 0, 2, 3)), torch.nn.ReplicationPad2d((1, 0, 2, 3))),
                         (nn.CircularPad2d(1), torch.nn.CircularPad2d(1))]:
        compare(ours, theirs, x)
    x1 = randn(2, 3, 6)
    for ours, theirs in [(nn.ZeroPad1d(2), torch.nn.ZeroPad1d(2)), (nn.ConstantPad1d((1, 3), 2.0),
                                                                     torch.nn.ConstantPad1d((1, 3), 2.0)),
                         (nn.ReflectionPad1d((2, 1)), torch.nn.ReflectionPad1d((2, 1))),
                         (nn.ReplicationPad1d(3), torch.nn.ReplicationPad1d(3)),
                         (nn.CircularPad1d(2), torch.nn.CircularPad1d(2))]:
        compare(ours, theirs, x1)


# ------------------------------------------------------------------ pixel shuffle, unfold, fold
def test_pixel_shuffle_and_unshuffle():
    compare(lambda x: F.pixel_shuffle(x, 2), lambda x: tF.pixel_shuffle(x, 2), randn(2, 8, 3, 4))
    compare(lambda x: F.pixel_shuffle(x, 3), lambda x: tF.pixel_shuffle(x, 3), randn(9, 2, 3))
    compare(lambda x: F.pixel_unshuffle(x, 2), lambda x: tF.pixel_unshuffle(x, 2), randn(2, 3, 4, 6))
    compare(nn.PixelShuffle(2), torch.nn.PixelShuffle(2), randn(1, 2, 4, 3, 3))
    compare(nn.PixelUnshuffle(3), torch.nn.PixelUnshuffle(3), randn(2, 6, 9))


FOLDS = [dict(kernel_size=2), dict(kernel_size=3, padding=1, stride=2), dict(kernel_size=(2, 3), dilation=(2, 1)),
         dict(kernel_size=3, stride=(1, 2), padding=(0, 1))]


@pytest.mark.parametrize("kw", FOLDS, ids=str)
def test_unfold_and_fold(kw):
    x = randn(2, 3, 7, 6)
    cols = compare(lambda x: F.unfold(x, **kw), lambda x: tF.unfold(x, **kw), x)
    compare(lambda c: F.fold(c, (7, 6), **kw), lambda c: tF.fold(c, (7, 6), **kw), randn(*cols.shape))
    compare(nn.Unfold(**kw), torch.nn.Unfold(**kw), x)
    compare(nn.Fold((7, 6), **kw), torch.nn.Fold((7, 6), **kw), randn(*cols.shape[1:]))     # unbatched


# ------------------------------------------------------------------ gradcheck
GRADCHECK = [
    ("conv_transpose2d", lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1),
     [(1, 2, 3, 3), (2, 3, 3, 2), (3,)]),
    ("conv_transpose1d_groups", lambda x, w: F.conv_transpose1d(x, w, stride=2, groups=2, dilation=2),
     [(2, 4, 4), (4, 1, 3)]),
    ("conv1d", lambda x, w: F.conv1d(x, w, stride=2, padding=1, dilation=2), [(2, 2, 7), (3, 2, 2)]),
    ("pad_reflect", lambda x: F.pad(x, (1, 2, 2, 1), "reflect"), [(1, 2, 3, 4)]),
    ("pad_replicate", lambda x: F.pad(x, (2, 1), "replicate"), [(2, 3, 4)]),
    ("pad_circular", lambda x: F.pad(x, (1, 2, 2, 0), "circular"), [(1, 2, 3, 4)]),
    ("pad_constant_crop", lambda x: F.pad(x, (-1, 2, 1, 0), value=0.5), [(1, 2, 3, 4)]),
    ("interpolate_bilinear", lambda x: F.interpolate(x, size=(4, 5), mode="bilinear"), [(1, 2, 3, 3)]),
    ("interpolate_bicubic", lambda x: F.interpolate(x, scale_factor=2, mode="bicubic", align_corners=True),
     [(1, 1, 3, 3)]),
    ("adaptive_max_pool2d", lambda x: F.adaptive_max_pool2d(x, (2, 3)), [(1, 2, 5, 4)]),
    ("unfold", lambda x: F.unfold(x, 2, padding=1, stride=2), [(1, 2, 4, 3)]),
    ("fold", lambda c: F.fold(c, (4, 3), 2, padding=1, stride=2), [(1, 8, 6)]),
    ("pixel_shuffle", lambda x: F.pixel_shuffle(x, 2), [(1, 4, 2, 3)]),
]


@pytest.mark.parametrize("name,fn,shapes", GRADCHECK, ids=[g[0] for g in GRADCHECK])
def test_gradcheck(name, fn, shapes):
    inputs = [tw.tensor(randn(*s), requires_grad=True) for s in shapes]
    assert tw.autograd.gradcheck(fn, inputs)


def test_conv_transpose2d_double_backward_not_needed_but_weight_only_grad():
    """A weight-only backward (frozen input) computes just that gradient."""
    x = tw.tensor(randn(1, 2, 3, 3))
    w = tw.tensor(randn(2, 3, 2, 2), requires_grad=True)
    F.conv_transpose2d(x, w, stride=2).sum().backward()
    ref_w = torch.tensor(w.detach().numpy(), requires_grad=True)
    tF.conv_transpose2d(torch.tensor(x.numpy()), ref_w, stride=2).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), ref_w.grad.numpy(), rtol=1e-12)


# ------------------------------------------------------------------ errors
def test_clear_errors():
    x = tw.randn(1, 3, 5)
    with pytest.raises(ValueError, match="must be one of"):
        nn.Conv1d(3, 3, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="transposed convolutions pad with zeros only"):
        nn.ConvTranspose2d(3, 3, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="output_padding"):
        F.conv_transpose1d(x, tw.randn(3, 2, 3), stride=2, output_padding=2)
    with pytest.raises(RuntimeError, match="expects 4 input channels"):
        F.conv_transpose2d(tw.randn(1, 3, 4, 4), tw.randn(4, 2, 3, 3))
    with pytest.raises(ValueError, match="Padding size should be less than"):
        F.pad(x, (5, 0), "reflect")
    with pytest.raises(NotImplementedError, match="needs a 3-D or 4-D input"):
        F.pad(tw.randn(2, 5), (1, 1, 1, 1), "replicate")
    with pytest.raises(ValueError, match="either size or scale_factor"):
        F.interpolate(tw.randn(1, 2, 3, 3))
    with pytest.raises(NotImplementedError, match="needs a 4-D input"):
        F.interpolate(x, scale_factor=2, mode="bilinear")
    with pytest.raises(ValueError, match="align_corners option"):
        F.interpolate(x, scale_factor=2, mode="nearest", align_corners=True)
    with pytest.raises(NotImplementedError, match="antialias"):
        F.interpolate(tw.randn(1, 2, 3, 3), scale_factor=2, mode="bilinear", antialias=True)
    with pytest.raises(RuntimeError, match="divisible by the square"):
        F.pixel_shuffle(tw.randn(1, 3, 2, 2), 2)
    with pytest.raises(RuntimeError, match="number of sliding blocks"):
        F.fold(tw.randn(1, 12, 5), (4, 4), 2)
    with pytest.raises(ValueError, match="2-D \\(C, L\\) or 3-D"):
        F.max_pool1d(tw.randn(1, 2, 3, 4), 2)
