"""Transformer layers against PyTorch (float64): encoder/decoder layers and stacks and
nn.Transformer, forward and every gradient, across batch_first, norm_first, activations,
bias, masks (causal, bool, float, key padding, is_causal) and unbatched inputs; state
dicts both ways; MultiheadAttention and scaled_dot_product_attention sharing one core."""
import numpy as np
import pytest

import tensorweaver as tw
from tensorweaver import nn
from tensorweaver.nn import functional as F

torch = pytest.importorskip(
    "torch", reason="PyTorch is the test-only oracle (extra 'torch'); the CPU image omits it "
                    "and CI's venv stage runs these tests")
pytestmark = pytest.mark.torch

rng = np.random.default_rng(11)
E, H, FF = 8, 2, 16


def _close(a, b, what, tol=1e-10):
    b = b.detach().numpy()
    assert tuple(a.shape) == b.shape, f"{what}: shape {tuple(a.shape)} vs torch {b.shape}"
    np.testing.assert_allclose(a.detach().numpy(), b, rtol=tol, atol=tol, err_msg=what)


def _masks(kw, lib):
    """Mask kwargs given as NumPy arrays -> tensors of ``lib``."""
    return {k: (lib.tensor(v) if isinstance(v, np.ndarray) else v) for k, v in kw.items()}


def compare(ours, theirs, inputs, train=False, **kwargs):
    theirs = theirs.double().train(train)
    ours = ours.double().train(train)
    ours.load_state_dict(theirs.state_dict())
    xs_tw = [tw.tensor(a, requires_grad=True) for a in inputs]
    xs_t = [torch.tensor(a, requires_grad=True) for a in inputs]
    out, ref = ours(*xs_tw, **_masks(kwargs, tw)), theirs(*xs_t, **_masks(kwargs, torch))
    _close(out, ref, "output")
    seed = rng.standard_normal(tuple(ref.shape))
    (out * tw.tensor(seed)).sum().backward()
    (ref * torch.tensor(seed)).sum().backward()
    for i, (a, b) in enumerate(zip(xs_tw, xs_t)):
        _close(a.grad, b.grad, f"input {i} grad")
    tp = dict(theirs.named_parameters())
    assert [n for n, _ in ours.named_parameters()] == list(tp)
    for name, p in ours.named_parameters():
        _close(p.grad, tp[name].grad, f"{name} grad")


def _pair(name, *args, tw_kw=None, torch_kw=None, **kwargs):
    return (getattr(nn, name)(*args, **kwargs, **(tw_kw or {})),
            getattr(torch.nn, name)(*args, **kwargs, **(torch_kw or {})))


def _seq(n, length, batch_first):
    return rng.standard_normal((n, length, E) if batch_first else (length, n, E))


def _causal_bool(n):
    return np.triu(np.ones((n, n), dtype=bool), 1)


def _padding(n, length):
    kpm = np.zeros((n, length), dtype=bool)
    kpm[0, -2:] = True
    return kpm


LAYER_OPTS = [
    {},
    {"batch_first": True},
    {"norm_first": True},
    {"activation": "gelu"},
    {"bias": False},
    {"batch_first": True, "norm_first": True, "activation": "gelu"},
]


def _ids(o):
    return ",".join(f"{k}={v}" for k, v in o.items()) or "default"


@pytest.mark.parametrize("opts", LAYER_OPTS, ids=_ids)
@pytest.mark.parametrize("train", [False, True])
def test_encoder_layer(opts, train):
    ours, theirs = _pair("TransformerEncoderLayer", E, H, FF, dropout=0.0 if train else 0.1, **opts)
    compare(ours, theirs, [_seq(3, 5, opts.get("batch_first"))], train=train)


@pytest.mark.parametrize("masks", ["causal_float", "causal_bool_is_causal", "padding", "padding_float_and_causal"])
def test_encoder_layer_masks(masks):
    ours, theirs = _pair("TransformerEncoderLayer", E, H, FF, dropout=0.0, batch_first=True)
    kw = {}
    if masks == "causal_float":
        kw["src_mask"] = np.triu(np.full((5, 5), -np.inf), 1)
    elif masks == "causal_bool_is_causal":
        kw.update(src_mask=_causal_bool(5), is_causal=True)
    elif masks == "padding":
        kw["src_key_padding_mask"] = _padding(3, 5)
    else:
        kw["src_key_padding_mask"] = np.where(_padding(3, 5), -np.inf, 0.0)
        kw["src_mask"] = np.triu(np.full((5, 5), -np.inf), 1)
    compare(ours, theirs, [_seq(3, 5, True)], train=True, **kw)


def test_encoder_layer_callable_activation_and_unbatched():
    ours, theirs = _pair("TransformerEncoderLayer", E, H, FF, dropout=0.0,
                         tw_kw={"activation": F.silu}, torch_kw={"activation": torch.nn.functional.silu})
    compare(ours, theirs, [rng.standard_normal((4, E))], train=True)
    ours, theirs = _pair("TransformerEncoderLayer", E, H, FF, dropout=0.0,
                         tw_kw={"activation": nn.GELU()}, torch_kw={"activation": torch.nn.GELU()})
    compare(ours, theirs, [_seq(2, 4, False)], train=True)


@pytest.mark.parametrize("opts", LAYER_OPTS, ids=_ids)
def test_decoder_layer(opts):
    ours, theirs = _pair("TransformerDecoderLayer", E, H, FF, dropout=0.0, **opts)
    bf = opts.get("batch_first", False)
    compare(ours, theirs, [_seq(3, 4, bf), _seq(3, 6, bf)], train=True,
            tgt_mask=np.triu(np.full((4, 4), -np.inf), 1), tgt_is_causal=True,
            memory_key_padding_mask=_padding(3, 6), tgt_key_padding_mask=_padding(3, 4))


def test_decoder_layer_memory_mask_eval():
    ours, theirs = _pair("TransformerDecoderLayer", E, H, FF)
    compare(ours, theirs, [_seq(2, 4, False), _seq(2, 6, False)], memory_mask=rng.random((4, 6)) < 0.3)


@pytest.mark.parametrize("norm", [False, True])
def test_encoder_and_decoder_stacks(norm):
    enc_t = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(E, H, FF, 0.0, batch_first=True), 2,
                                        torch.nn.LayerNorm(E) if norm else None, enable_nested_tensor=False)
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(E, H, FF, 0.0, batch_first=True), 2,
                                nn.LayerNorm(E) if norm else None, enable_nested_tensor=False)
    compare(enc, enc_t, [_seq(3, 5, True)], train=True, mask=_causal_bool(5), src_key_padding_mask=_padding(3, 5))
    dec_t = torch.nn.TransformerDecoder(torch.nn.TransformerDecoderLayer(E, H, FF, 0.0), 2,
                                        torch.nn.LayerNorm(E) if norm else None)
    dec = nn.TransformerDecoder(nn.TransformerDecoderLayer(E, H, FF, 0.0), 2, nn.LayerNorm(E) if norm else None)
    compare(dec, dec_t, [_seq(3, 4, False), _seq(3, 5, False)], train=True,
            tgt_mask=np.triu(np.full((4, 4), -np.inf), 1))
    # the stacks hold separate copies of the layer
    assert enc.layers[0].linear1.weight is not enc.layers[1].linear1.weight


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer(batch_first, norm_first):
    ours, theirs = _pair("Transformer", E, H, 2, 2, FF, 0.0, batch_first=batch_first, norm_first=norm_first)
    tgt_mask = theirs.generate_square_subsequent_mask(4).numpy()
    np.testing.assert_array_equal(nn.Transformer.generate_square_subsequent_mask(4).numpy(), tgt_mask)
    compare(ours, theirs, [_seq(3, 6, batch_first), _seq(3, 4, batch_first)], train=True,
            tgt_mask=tgt_mask, src_key_padding_mask=_padding(3, 6), memory_key_padding_mask=_padding(3, 6))


def test_transformer_init_and_state_dict_both_ways():
    tw.manual_seed(0)
    ours, theirs = _pair("Transformer", E, H, 1, 1, FF)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
           [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    w = ours.encoder.layers[0].linear1.weight.detach().numpy()
    bound = np.sqrt(6 / (E + FF))                            # xavier_uniform_
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    theirs.load_state_dict({k: torch.tensor(v.detach().numpy()) for k, v in ours.state_dict().items()})
    for k, v in theirs.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), ours.state_dict()[k].detach().numpy())


def test_errors():
    with pytest.raises(RuntimeError, match="relu/gelu"):
        nn.TransformerEncoderLayer(E, H, activation="tanh")
    layer = nn.TransformerEncoderLayer(E, H, FF)
    with pytest.raises(RuntimeError, match="is_causal"):
        layer(tw.randn(4, 2, E), is_causal=True)
    m = nn.Transformer(E, H, 1, 1, FF)
    with pytest.raises(RuntimeError, match="batch number"):
        m(tw.randn(5, 2, E), tw.randn(4, 3, E))
    with pytest.raises(RuntimeError, match="d_model"):
        m(tw.randn(5, 2, E + 1), tw.randn(4, 2, E + 1))


# ---------------------------------------------------------------- the shared attention core
def test_sdpa_matches_torch_including_gqa():
    q, k, v = rng.standard_normal((2, 4, 5, 3)), rng.standard_normal((2, 2, 6, 3)), rng.standard_normal((2, 2, 6, 3))
    mask = rng.random((5, 6)) < 0.7
    mask[:, 0] = True
    for kw in ({"enable_gqa": True}, {"enable_gqa": True, "attn_mask": mask}, {"enable_gqa": True, "scale": 0.3}):
        ts = [tw.tensor(a, requires_grad=True) for a in (q, k, v)]
        rs = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
        out = F.scaled_dot_product_attention(*ts, **_masks(kw, tw))
        ref = torch.nn.functional.scaled_dot_product_attention(*rs, **_masks(kw, torch))
        _close(out, ref, str(kw))
        out.sum().backward()
        ref.sum().backward()
        for a, b in zip(ts, rs):
            _close(a.grad, b.grad, f"grad {kw}")


def test_mha_uses_the_sdpa_core(monkeypatch):
    from tensorweaver.nn._functional import attention
    calls = []
    core = attention._attention
    monkeypatch.setattr(attention, "_attention", lambda *a: calls.append(1) or core(*a))
    F.scaled_dot_product_attention(tw.randn(1, 3, 4), tw.randn(1, 3, 4), tw.randn(1, 3, 4))
    nn.MultiheadAttention(4, 2)(tw.randn(3, 1, 4), tw.randn(3, 1, 4), tw.randn(3, 1, 4))
    assert len(calls) == 2
