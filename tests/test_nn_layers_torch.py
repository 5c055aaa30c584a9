"""PyTorch as the oracle for every layer: forward, input gradients, parameter gradients
and buffers, in train and eval modes. Weights are copied from the torch module with
``load_state_dict(torch_module.state_dict())``."""
import numpy as np
import pytest

import tensorweaver as tw
from tensorweaver import nn

torch = pytest.importorskip(
    "torch", reason="PyTorch is the test-only oracle (extra 'torch'); the CPU image omits it "
                    "and CI's venv stage runs these tests")
pytestmark = pytest.mark.torch

rng = np.random.default_rng(2024)


def _np(t):
    return t.detach().numpy() if hasattr(t, "detach") else np.asarray(t)


def assert_close(ours, ref, rtol=1e-10, atol=1e-12, what=""):
    assert tuple(ours.shape) == tuple(ref.shape), f"{what}: shape {ours.shape} != torch {tuple(ref.shape)}"
    np.testing.assert_allclose(_np(ours), _np(ref), rtol=rtol, atol=atol, err_msg=what)


def run_pair(ours, theirs, inputs, train, rtol=1e-10, atol=1e-12, kwargs_tw=None, kwargs_torch=None, steps=1):
    """Copy torch's weights into ours, run both ``steps`` times in the given mode, and
    compare outputs, input/parameter gradients and buffers."""
    theirs, ours = theirs.double(), ours.double()
    ours.load_state_dict(theirs.state_dict())
    ours.train(train)
    theirs.train(train)
    for _ in range(steps):
        for p in ours.parameters():
            p.grad = None
        theirs.zero_grad()
        xs_tw = [tw.tensor(a, requires_grad=a.dtype.kind == "f") for a in inputs]
        xs_t = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in inputs]
        out = ours(*xs_tw, **(kwargs_tw or {}))
        ref = theirs(*xs_t, **(kwargs_torch or kwargs_tw or {}))
        outs = out if isinstance(out, tuple) else (out,)
        refs = ref if isinstance(ref, tuple) else (ref,)
        total_tw, total_t = 0, 0
        for i, (o, r) in enumerate(zip(outs, refs)):
            if r is None:
                assert o is None
                continue
            assert_close(o, r, rtol, atol, f"output {i}")
            if r.requires_grad:
                seed = rng.standard_normal(tuple(r.shape))
                total_tw = total_tw + (o * tw.tensor(seed)).sum()
                total_t = total_t + (r * torch.tensor(seed)).sum()
        if not isinstance(total_t, int):
            total_tw.backward()
            total_t.backward()
        for i, (x, xt) in enumerate(zip(xs_tw, xs_t)):
            if xt.grad is not None:
                assert_close(x.grad, xt.grad, rtol, atol, f"input {i} grad")
        ours_params = dict(ours.named_parameters())
        for name, p in theirs.named_parameters():
            if p.grad is None:
                assert ours_params[name].grad is None, name
            else:
                assert_close(ours_params[name].grad, p.grad, rtol, atol, f"{name}.grad")
        ours_buffers = dict(ours.named_buffers())
        for name, b in theirs.named_buffers():
            assert_close(ours_buffers[name], b, rtol, atol, f"buffer {name}")
    assert list(ours.state_dict()) == list(theirs.state_dict())


def R(*shape, low=-2.0, high=2.0):
    return rng.uniform(low, high, size=shape)


MODES = pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])


@MODES
@pytest.mark.parametrize("bias", [True, False])
def test_linear(train, bias):
    run_pair(nn.Linear(5, 3, bias=bias), torch.nn.Linear(5, 3, bias=bias), [R(4, 2, 5)], train)


@MODES
@pytest.mark.parametrize("cfg", [
    dict(kernel_size=3),
    dict(kernel_size=3, padding=1),
    dict(kernel_size=(3, 2), stride=2, padding=(1, 0)),
    dict(kernel_size=3, dilation=2, padding=2),
    dict(kernel_size=3, stride=(1, 2), groups=2),
    dict(kernel_size=3, padding="same", dilation=(1, 2)),
    dict(kernel_size=2, padding="valid", bias=False),
    dict(kernel_size=1),
])
def test_conv2d(train, cfg):
    run_pair(nn.Conv2d(4, 6, **cfg), torch.nn.Conv2d(4, 6, **cfg), [R(3, 4, 9, 8)], train)


def test_conv2d_unbatched():
    run_pair(nn.Conv2d(2, 3, 3), torch.nn.Conv2d(2, 3, 3), [R(2, 6, 6)], True)


@MODES
@pytest.mark.parametrize("cfg", [
    dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1), dict(kernel_size=3, stride=2, ceil_mode=True),
    dict(kernel_size=(2, 3), stride=(2, 1), dilation=(2, 1)), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
])
def test_max_pool2d(train, cfg):
    x = rng.permutation(2 * 3 * 9 * 7).reshape(2, 3, 9, 7).astype(np.float64)   # no ties
    run_pair(nn.MaxPool2d(**cfg), torch.nn.MaxPool2d(**cfg), [x], train)


def test_max_pool2d_ties_and_indices():
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 1, 1] = x[0, 0, 0, 1] = 5.0            # a tie inside the first window
    run_pair(nn.MaxPool2d(2), torch.nn.MaxPool2d(2), [x], True)
    xt = torch.tensor(R(2, 3, 7, 6))
    x_tw = tw.tensor(xt.numpy())
    out, idx = nn.MaxPool2d(3, 2, 1, return_indices=True)(x_tw)
    ref, ref_idx = torch.nn.MaxPool2d(3, 2, 1, return_indices=True)(xt)
    assert_close(out, ref)
    np.testing.assert_array_equal(idx.numpy(), ref_idx.numpy())
    assert idx.dtype == tw.int64


@MODES
@pytest.mark.parametrize("cfg", [
    dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1), dict(kernel_size=3, stride=1, padding=1,
                                                                        count_include_pad=False),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True,
                                                                   count_include_pad=False),
    dict(kernel_size=(2, 3), stride=(1, 2), divisor_override=4),
])
def test_avg_pool2d(train, cfg):
    run_pair(nn.AvgPool2d(**cfg), torch.nn.AvgPool2d(**cfg), [R(2, 3, 8, 7)], train)


@MODES
@pytest.mark.parametrize("size", [1, 3, (2, 5), (None, 3), 7])
def test_adaptive_avg_pool2d(train, size):
    run_pair(nn.AdaptiveAvgPool2d(size), torch.nn.AdaptiveAvgPool2d(size), [R(2, 3, 7, 6)], train)


@MODES
@pytest.mark.parametrize("shape", [(8, 4), (6, 4, 5)])
@pytest.mark.parametrize("cfg", [dict(), dict(momentum=None), dict(affine=False), dict(track_running_stats=False),
                                 dict(momentum=0.3, eps=1e-3)])
def test_batchnorm1d(train, shape, cfg):
    ours, theirs = nn.BatchNorm1d(4, **cfg), torch.nn.BatchNorm1d(4, **cfg)
    if theirs.affine:   # non-trivial affine parameters
        with torch.no_grad():
            theirs.weight.copy_(torch.tensor(R(4)))
            theirs.bias.copy_(torch.tensor(R(4)))
    if theirs.track_running_stats:
        with torch.no_grad():
            theirs.running_mean.copy_(torch.tensor(R(4)))
            theirs.running_var.copy_(torch.tensor(R(4, low=0.5, high=2)))
    run_pair(ours, theirs, [R(*shape)], train, steps=3)


@MODES
def test_batchnorm2d(train):
    run_pair(nn.BatchNorm2d(3), torch.nn.BatchNorm2d(3), [R(4, 3, 5, 6)], train, steps=3)


def test_batchnorm_on_conv_output_layout():
    # Conv2d returns a channels-major view; BatchNorm and pooling must not care.
    seq_t = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                                torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(4 * 3 * 3, 5))
    seq = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(4 * 3 * 3, 5))
    run_pair(seq, seq_t, [R(3, 2, 6, 6)], True, steps=2)
    run_pair(seq, seq_t, [R(3, 2, 6, 6)], False)


@MODES
@pytest.mark.parametrize("cfg", [dict(normalized_shape=6), dict(normalized_shape=(5, 6)),
                                 dict(normalized_shape=6, elementwise_affine=False), dict(normalized_shape=6, bias=False),
                                 dict(normalized_shape=6, eps=1e-2)])
def test_layernorm(train, cfg):
    theirs = torch.nn.LayerNorm(**cfg)
    if theirs.weight is not None:
        with torch.no_grad():
            theirs.weight.copy_(torch.tensor(R(*theirs.weight.shape)))
            if theirs.bias is not None:
                theirs.bias.copy_(torch.tensor(R(*theirs.bias.shape)))
    run_pair(nn.LayerNorm(**cfg), theirs, [R(3, 5, 6)], train)


@MODES
@pytest.mark.parametrize("cfg", [dict(), dict(padding_idx=1), dict(padding_idx=-2), dict(max_norm=1.0)])
def test_embedding(train, cfg):
    idx = np.array([[0, 2, 1, 2], [4, 3, 1, 0]])
    ours, theirs = nn.Embedding(5, 3, **cfg), torch.nn.Embedding(5, 3, **cfg)
    run_pair(ours, theirs, [idx], train)
    if "max_norm" in cfg:     # rows were renormalized in place, as torch does
        assert_close(ours.weight, theirs.weight)


ACTIVATIONS = [
    (nn.ReLU(), torch.nn.ReLU()), (nn.LeakyReLU(0.2), torch.nn.LeakyReLU(0.2)), (nn.GELU(), torch.nn.GELU()),
    (nn.GELU("tanh"), torch.nn.GELU("tanh")), (nn.Tanh(), torch.nn.Tanh()), (nn.Sigmoid(), torch.nn.Sigmoid()),
    (nn.SiLU(), torch.nn.SiLU()), (nn.Softmax(dim=1), torch.nn.Softmax(dim=1)),
    (nn.LogSoftmax(dim=-1), torch.nn.LogSoftmax(dim=-1)), (nn.Identity(), torch.nn.Identity()),
    (nn.Flatten(), torch.nn.Flatten()), (nn.Flatten(0, 1), torch.nn.Flatten(0, 1)),
    (nn.Unflatten(1, (2, 2)), torch.nn.Unflatten(1, (2, 2))),
]


@MODES
@pytest.mark.parametrize("pair", ACTIVATIONS, ids=lambda p: repr(p[0]))
def test_activation_modules(train, pair):
    run_pair(pair[0], pair[1], [R(3, 4, 5, low=-4, high=4)], train)
    assert repr(pair[0]) == repr(pair[1])


def test_dropout_eval_is_identity_and_train_scales_kept_values():
    run_pair(nn.Dropout(0.3), torch.nn.Dropout(0.3), [R(50, 40)], train=False)
    tw.manual_seed(0)
    x = tw.tensor(R(200, 100), requires_grad=True)
    out = nn.Dropout(0.3)(x)
    kept = out.detach().numpy() != 0
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_allclose(out.detach().numpy()[kept], x.detach().numpy()[kept] / 0.7, rtol=1e-6)
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), kept / 0.7, rtol=1e-6)
    assert not nn.Dropout(1.0)(x).detach().numpy().any()


def test_dropout2d_zeroes_whole_channels():
    tw.manual_seed(1)
    out = nn.Dropout2d(0.5)(tw.ones(8, 16, 3, 3)).numpy()
    per_channel = out.reshape(8, 16, 9)
    assert ((per_channel == 0).all(-1) | (per_channel == 2.0).all(-1)).all()


def _mha_pair(e=8, h=2, **cfg):
    theirs = torch.nn.MultiheadAttention(e, h, **cfg)
    if theirs.in_proj_bias is not None:
        with torch.no_grad():   # torch zeroes these at init; make them count
            theirs.in_proj_bias.copy_(torch.tensor(R(3 * e)))
            theirs.out_proj.bias.copy_(torch.tensor(R(e)))
    return nn.MultiheadAttention(e, h, **cfg), theirs


@MODES
@pytest.mark.parametrize("batch_first", [False, True])
def test_mha_self_attention(train, batch_first):
    ours, theirs = _mha_pair(batch_first=batch_first)
    x = R(3, 5, 8) if batch_first else R(5, 3, 8)
    run_pair(Self(ours), TorchSelf(theirs), [x], train)


class Self(nn.Module):
    """Wraps attention as self-attention with one input (so the q/k/v identity fast path runs)."""

    def __init__(self, mha):
        super().__init__()
        self.mha = mha

    def forward(self, x, **kw):
        return self.mha(x, x, x, **kw)


class TorchSelf(torch.nn.Module):
    def __init__(self, mha):
        super().__init__()
        self.mha = mha

    def forward(self, x, **kw):
        return self.mha(x, x, x, **kw)



@MODES
@pytest.mark.parametrize("masks", ["bool_attn", "float_attn", "padding", "both", "3d_attn"])
@pytest.mark.parametrize("need_weights,average", [(True, True), (True, False), (False, True)])
def test_mha_masks(train, masks, need_weights, average):
    ours, theirs = _mha_pair(batch_first=True)
    q, kv = R(2, 4, 8), R(2, 6, 8)
    kw_tw, kw_t = {"need_weights": need_weights, "average_attn_weights": average}, {}
    if masks in ("bool_attn", "both"):
        m = rng.random((4, 6)) < 0.3
        m[:, 0] = False
        kw_tw["attn_mask"], kw_t["attn_mask"] = tw.tensor(m), torch.tensor(m)
    if masks == "float_attn":
        m = R(4, 6)
        kw_tw["attn_mask"], kw_t["attn_mask"] = tw.tensor(m), torch.tensor(m)
    if masks == "3d_attn":
        m = rng.random((2 * 2, 4, 6)) < 0.3
        m[..., 1] = False
        kw_tw["attn_mask"], kw_t["attn_mask"] = tw.tensor(m), torch.tensor(m)
    if masks in ("padding", "both"):
        m = np.array([[False] * 5 + [True], [False, True, False, True, False, False]])
        kw_tw["key_padding_mask"], kw_t["key_padding_mask"] = tw.tensor(m), torch.tensor(m)
    kw_t.update(need_weights=need_weights, average_attn_weights=average)
    run_pair(ours, theirs, [q, kv, kv], train, kwargs_tw=kw_tw, kwargs_torch=kw_t)


@MODES
@pytest.mark.parametrize("cfg", [dict(kdim=5, vdim=3), dict(add_bias_kv=True), dict(add_zero_attn=True),
                                 dict(bias=False)])
def test_mha_options(train, cfg):
    ours, theirs = _mha_pair(**cfg)
    k = R(6, 2, cfg.get("kdim", 8))
    v = R(6, 2, cfg.get("vdim", 8))
    pad = np.array([[False] * 5 + [True], [False] * 6])
    run_pair(ours, theirs, [R(4, 2, 8), k, v], train, kwargs_tw={"key_padding_mask": tw.tensor(pad)},
             kwargs_torch={"key_padding_mask": torch.tensor(pad)})


def test_mha_unbatched():
    ours, theirs = _mha_pair()
    run_pair(ours, theirs, [R(4, 8), R(6, 8), R(6, 8)], False)


def test_mha_state_dict_layout_matches_torch():
    ours, theirs = nn.MultiheadAttention(8, 2), torch.nn.MultiheadAttention(8, 2)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
           [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    assert repr(ours) == repr(theirs)


def test_sequential_model_train_and_eval():
    def build(m):
        return m.Sequential(m.Linear(6, 8), m.BatchNorm1d(8), m.GELU(), m.Dropout(0.0), m.Linear(8, 3), m.LogSoftmax(1))
    ours, theirs = build(nn), build(torch.nn)
    run_pair(ours, theirs, [R(5, 6)], True, steps=2)
    run_pair(ours, theirs, [R(5, 6)], False)


def test_float32_forward_backward_close_to_torch():
    ours, theirs = nn.Conv2d(3, 4, 3, padding=1), torch.nn.Conv2d(3, 4, 3, padding=1)
    ours.load_state_dict(theirs.state_dict())
    x = R(2, 3, 6, 6).astype(np.float32)
    a, b = tw.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = ours(a), theirs(b)
    assert out.dtype == tw.float32
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-5, atol=1e-5)
    out.sum().backward()
    ref.sum().backward()
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layer,fan_in", [(lambda: nn.Linear(50, 40), 50), (lambda: nn.Conv2d(6, 20, 3), 54)])
def test_default_init_matches_torch_distribution(layer, fan_in):
    """kaiming_uniform_(a=sqrt(5)) weights and bias, both U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    tw.manual_seed(0)
    m = layer()
    bound = 1 / np.sqrt(fan_in)
    for p in (m.weight, m.bias):
        v = p.detach().numpy()
        assert v.min() >= -bound and v.max() <= bound
        assert v.max() > 0.8 * bound and v.min() < -0.8 * bound
    w = m.weight.detach().numpy()
    assert abs(w.std() - bound / np.sqrt(3)) < 0.1 * bound
