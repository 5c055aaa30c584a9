"""Every nn layer and activation alone, then an MLP, a CNN with BatchNorm (eval) and a
Transformer encoder block: exported with a dynamic batch, checker-clean, run in ONNX
Runtime at two batch sizes and matched against the engine (float32: atol 1e-5)."""
import pytest

import tensorweaver as tw
import tensorweaver.onnx as twonnx
from tensorweaver import nn
from tensorweaver.autograd.function import Function
from tensorweaver.nn import functional as F

pytestmark = pytest.mark.onnx


def x(batch, *rest):
    return tw.randn(batch, *rest)


def ids(high, *rest):
    return lambda n: tw.randint(0, high, (n, *rest))


def with_running_stats(bn):
    """A BatchNorm whose running statistics are not the 0/1 defaults."""
    bn.train()
    for _ in range(3):
        bn(tw.randn(8, bn.num_features, *([5, 5] if isinstance(bn, nn.BatchNorm2d) else [])) * 2 + 1)
    bn.eval()
    return bn


class SelfAttention(nn.Module):
    def __init__(self, embed_dim=8, num_heads=2, need_weights=True, causal=False, **kwargs):
        super().__init__()
        self.attn = nn.MultiheadAttention(embed_dim, num_heads, batch_first=True, **kwargs)
        self.need_weights, self.causal = need_weights, causal

    def forward(self, h):
        mask = tw.ones(h.shape[1], h.shape[1]).triu(1).bool() if self.causal else None
        out, weights = self.attn(h, h, h, need_weights=self.need_weights, attn_mask=mask)
        return (out, weights) if self.need_weights else out


class CrossAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 4, kdim=6, vdim=5)        # sequence-first

    def forward(self, q, k, v):
        return self.attn(q, k, v)[0]


# (id, make_module(), make_args(batch), roundtrip options)
LAYERS = [
    ("Linear", lambda: nn.Linear(6, 4), lambda n: x(n, 6), {}),
    ("Linear_3d", lambda: nn.Linear(6, 4), lambda n: x(n, 3, 6), {}),
    ("Linear_no_bias", lambda: nn.Linear(6, 4, bias=False), lambda n: x(n, 6), {}),
    ("Conv2d", lambda: nn.Conv2d(3, 4, 3, padding=1), lambda n: x(n, 3, 8, 8), {}),
    ("Conv2d_stride_groups", lambda: nn.Conv2d(4, 8, 3, stride=2, groups=2, bias=False),
     lambda n: x(n, 4, 9, 9), {}),
    ("Conv2d_dilation", lambda: nn.Conv2d(3, 4, (3, 2), padding=(2, 1), dilation=2), lambda n: x(n, 3, 9, 8), {}),
    ("MaxPool2d", lambda: nn.MaxPool2d(2), lambda n: x(n, 3, 8, 8), {}),
    ("MaxPool2d_pad_ceil", lambda: nn.MaxPool2d(3, 2, padding=1, ceil_mode=True), lambda n: x(n, 3, 8, 9), {}),
    ("MaxPool2d_dilation", lambda: nn.MaxPool2d(2, 1, dilation=2), lambda n: x(n, 3, 7, 7), {}),
    ("AvgPool2d", lambda: nn.AvgPool2d(2), lambda n: x(n, 3, 8, 8), {}),
    ("AvgPool2d_pad", lambda: nn.AvgPool2d(3, 2, padding=1), lambda n: x(n, 3, 8, 9), {}),
    ("AvgPool2d_exclude_pad", lambda: nn.AvgPool2d(3, 2, padding=1, count_include_pad=False),
     lambda n: x(n, 3, 8, 9), {}),
    ("AvgPool2d_ceil", lambda: nn.AvgPool2d(3, 2, ceil_mode=True), lambda n: x(n, 3, 8, 8), {}),
    ("AvgPool2d_divisor", lambda: nn.AvgPool2d(2, divisor_override=3), lambda n: x(n, 3, 8, 8), {}),
    ("AdaptiveAvgPool2d_1", lambda: nn.AdaptiveAvgPool2d(1), lambda n: x(n, 3, 7, 5), {}),
    ("AdaptiveAvgPool2d_even", lambda: nn.AdaptiveAvgPool2d((4, 2)), lambda n: x(n, 3, 8, 6), {}),
    ("AdaptiveAvgPool2d_uneven", lambda: nn.AdaptiveAvgPool2d((3, 4)), lambda n: x(n, 3, 8, 7), {}),
    ("BatchNorm1d", lambda: with_running_stats(nn.BatchNorm1d(6)), lambda n: x(n, 6), {}),
    ("BatchNorm2d", lambda: with_running_stats(nn.BatchNorm2d(3)), lambda n: x(n, 3, 5, 5), {}),
    ("BatchNorm2d_no_affine", lambda: with_running_stats(nn.BatchNorm2d(3, affine=False)),
     lambda n: x(n, 3, 5, 5), {}),
    ("BatchNorm2d_no_running_stats", lambda: nn.BatchNorm2d(3, track_running_stats=False),
     lambda n: x(n, 3, 5, 5), {}),
    ("LayerNorm", lambda: nn.LayerNorm(6), lambda n: x(n, 4, 6), {}),
    ("LayerNorm_2d_no_affine", lambda: nn.LayerNorm((4, 6), elementwise_affine=False), lambda n: x(n, 4, 6), {}),
    ("Dropout_eval", lambda: nn.Dropout(0.3), lambda n: x(n, 6), {}),
    ("Embedding", lambda: nn.Embedding(10, 4), ids(10, 3), {}),
    ("Embedding_padding_idx", lambda: nn.Embedding(10, 4, padding_idx=0), ids(10), {}),
    ("ReLU", nn.ReLU, lambda n: x(n, 6), {}),
    ("LeakyReLU", lambda: nn.LeakyReLU(0.1), lambda n: x(n, 6), {}),
    ("GELU", nn.GELU, lambda n: 3 * x(n, 6), {}),
    ("GELU_tanh", lambda: nn.GELU("tanh"), lambda n: 3 * x(n, 6), {}),
    ("Tanh", nn.Tanh, lambda n: x(n, 6), {}),
    ("Sigmoid", nn.Sigmoid, lambda n: x(n, 6), {}),
    ("Softmax", lambda: nn.Softmax(dim=-1), lambda n: x(n, 6), {}),
    ("LogSoftmax", lambda: nn.LogSoftmax(dim=1), lambda n: x(n, 6), {}),
    ("Flatten", nn.Flatten, lambda n: x(n, 2, 3, 2), {}),
    ("Identity", nn.Identity, lambda n: x(n, 6), {}),
    ("SiLU", nn.SiLU, lambda n: x(n, 6), {}),
    ("Unflatten", lambda: nn.Unflatten(1, (2, 3)), lambda n: x(n, 6), {}),
    ("Dropout2d_eval", lambda: nn.Dropout2d(0.3), lambda n: x(n, 3, 4, 4), {}),
    ("MultiheadAttention", lambda: SelfAttention(), lambda n: x(n, 5, 8), {}),
    ("MultiheadAttention_causal_no_weights", lambda: SelfAttention(need_weights=False, causal=True),
     lambda n: x(n, 5, 8), {}),
    ("MultiheadAttention_no_bias", lambda: SelfAttention(16, 4, bias=False), lambda n: x(n, 3, 16), {}),
    ("MultiheadAttention_kdim_vdim", CrossAttention, lambda n: (x(4, n, 8), x(3, n, 6), x(3, n, 5)),
     {"batch_axis": 1}),
]


W5 = tw.rand(5) + 0.5
LOSSES = [
    ("MSELoss", lambda r: nn.MSELoss(reduction=r), lambda n: (x(n, 5), x(n, 5))),
    ("L1Loss", lambda r: nn.L1Loss(reduction=r), lambda n: (x(n, 5), x(n, 5))),
    ("CrossEntropyLoss", lambda r: nn.CrossEntropyLoss(reduction=r), lambda n: (x(n, 5), ids(5)(n))),
    ("CrossEntropyLoss_weight_ignore_smoothing",
     lambda r: nn.CrossEntropyLoss(weight=W5, ignore_index=1, reduction=r, label_smoothing=0.1),
     lambda n: (x(n, 5), ids(5)(n))),
    ("CrossEntropyLoss_spatial", lambda r: nn.CrossEntropyLoss(reduction=r), lambda n: (x(n, 5, 3), ids(5, 3)(n))),
    ("CrossEntropyLoss_probabilities", lambda r: nn.CrossEntropyLoss(reduction=r, label_smoothing=0.2),
     lambda n: (x(n, 5), tw.rand(n, 5).softmax(1))),
    ("NLLLoss", lambda r: nn.NLLLoss(weight=W5, ignore_index=0, reduction=r),
     lambda n: (x(n, 5).log_softmax(1), ids(5)(n))),
    ("BCELoss", lambda r: nn.BCELoss(weight=W5, reduction=r), lambda n: (tw.rand(n, 5), tw.rand(n, 5))),
    ("BCEWithLogitsLoss", lambda r: nn.BCEWithLogitsLoss(pos_weight=W5, reduction=r),
     lambda n: (20 * x(n, 5), tw.rand(n, 5))),
]


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("make_loss, make_args", [c[1:] for c in LOSSES], ids=[c[0] for c in LOSSES])
def test_loss_round_trip(roundtrip, make_loss, make_args, reduction):
    roundtrip(make_loss(reduction), make_args, batch_out=reduction == "none")


@pytest.mark.parametrize("make_module, make_args, options", [c[1:] for c in LAYERS], ids=[c[0] for c in LAYERS])
def test_layer_round_trip(roundtrip, make_module, make_args, options):
    tw.manual_seed(0)
    model = make_module()
    roundtrip(model, make_args, **options)


def test_layers_map_to_their_onnx_ops(roundtrip):
    def types(model, make_args):
        return [n.op_type for n in roundtrip(model, make_args).graph.node]
    assert types(nn.Conv2d(3, 4, 3), lambda n: x(n, 3, 6, 6)) == ["Conv"]
    # nn.Sequential runs Conv2d + ReLU as one node; the export still shows both ops.
    assert types(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()), lambda n: x(n, 3, 6, 6)) == ["Conv", "Relu"]
    # ... and so are Conv2d (+ ReLU) + a tiling MaxPool2d.
    assert types(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.MaxPool2d(2)),
                 lambda n: x(n, 3, 6, 6)) == ["Conv", "Relu", "MaxPool"]
    assert types(nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.MaxPool2d((2, 3))),
                 lambda n: x(n, 3, 6, 6)) == ["Conv", "MaxPool"]
    assert types(nn.MaxPool2d(2), lambda n: x(n, 3, 6, 6)) == ["MaxPool"]
    assert types(nn.AvgPool2d(2), lambda n: x(n, 3, 6, 6)) == ["AveragePool"]
    assert types(nn.AdaptiveAvgPool2d(1), lambda n: x(n, 3, 6, 6)) == ["GlobalAveragePool"]
    assert types(with_running_stats(nn.BatchNorm2d(3)), lambda n: x(n, 3, 5, 5)) == ["BatchNormalization"]
    assert types(nn.LayerNorm(6), lambda n: x(n, 6)) == ["LayerNormalization"]
    assert types(nn.Embedding(10, 4), ids(10)) == ["Gather"]
    assert types(nn.Sequential(nn.Dropout(0.5), nn.ReLU()), lambda n: x(n, 6)) == ["Relu"]


def mlp():
    return nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 3),
                         nn.LogSoftmax(dim=1))


def test_mlp(roundtrip):
    tw.manual_seed(0)
    model = mlp()
    proto = roundtrip(model, lambda n: x(n, 10))
    assert [n.op_type for n in proto.graph.node] == ["Gemm", "Relu", "Gemm", "Tanh", "Gemm", "LogSoftmax"]


def test_mlp_float64(roundtrip):
    tw.manual_seed(0)
    model = mlp().double()
    proto = roundtrip(model, lambda n: tw.randn(n, 10, dtype=tw.float64), atol=1e-12, rtol=1e-12)
    assert {t.data_type for t in proto.graph.initializer} == {11}       # DOUBLE


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
            nn.AvgPool2d(2))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(16, 10))

    def forward(self, images):
        return self.classifier(self.pool(self.features(images)))


def test_cnn_with_batchnorm_in_eval(roundtrip):
    tw.manual_seed(0)
    model = SmallCNN()
    model.train()
    for _ in range(3):                                  # move the running statistics
        model(tw.randn(4, 3, 12, 12) * 3 + 1)
    model.eval()
    proto = roundtrip(model, lambda n: x(n, 3, 12, 12))
    assert [n.op_type for n in proto.graph.node].count("BatchNormalization") == 2
    assert "features.1.running_mean" in {i.name for i in proto.graph.initializer}


class EncoderBlock(nn.Module):
    """Pre-norm Transformer encoder block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, d_model=16, n_heads=4, causal=False):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = nn.MultiheadAttention(d_model, n_heads, dropout=0.1, batch_first=True)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))
        self.drop = nn.Dropout(0.1)
        self.causal = causal

    def forward(self, x):
        h = self.ln1(x)
        mask = tw.ones(x.shape[1], x.shape[1]).triu(1).bool() if self.causal else None
        x = x + self.drop(self.attn(h, h, h, need_weights=False, attn_mask=mask)[0])
        return x + self.drop(self.mlp(self.ln2(x)))


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("opset", [17, 20])
def test_transformer_encoder_block(roundtrip, causal, opset):
    tw.manual_seed(0)
    model = EncoderBlock(causal=causal)
    proto = roundtrip(model, lambda n: x(n, 7, 16), opset=opset)
    op_types = {n.op_type for n in proto.graph.node}
    assert {"LayerNormalization", "MatMul", "Softmax"} <= op_types
    assert ("Gelu" in op_types) == (opset >= 20) and ("Erf" in op_types) == (opset < 20)


def test_value_names_come_from_module_paths():
    tw.manual_seed(0)
    model = SmallCNN().eval()
    proto = twonnx.to_model(model, x(2, 3, 12, 12))
    used = {i.name for i in proto.graph.initializer}
    expected = {name for name, _ in model.named_parameters()}
    expected |= {name for name, _ in model.named_buffers() if not name.endswith("num_batches_tracked")}
    assert expected <= used
    assert all(name.endswith(("constant", "constant_1")) for name in used - expected), used - expected
    assert "classifier.0.constant" in used      # Flatten's target shape, named after its module
    names = {n.name for n in proto.graph.node}
    assert "/features/0/Conv" in names and "/classifier/2/Gemm" in names
    assert any(o.startswith("/features/3/MaxPool_output") for n in proto.graph.node for o in n.output)


def test_export_leaves_the_training_mode_alone():
    model = SmallCNN()
    model.train()
    report = twonnx.verify(model, x(2, 3, 12, 12))       # exported (and compared) in eval mode
    assert report.passed, report
    assert model.training and all(m.training for m in model.modules())


class Cube(Function):
    def forward(self, a):
        return a ** 3

    def backward(self, grad):
        raise NotImplementedError


class CubeLayer(nn.Module):
    def forward(self, a):
        return Cube.apply(a)


def test_unsupported_op_names_its_module_and_writes_no_file(tmp_path):
    model = nn.Sequential(nn.Linear(4, 4), nn.Sequential(nn.ReLU(), CubeLayer()))
    path = tmp_path / "model.onnx"
    with pytest.raises(twonnx.UnsupportedOperatorError, match=r"Cube \(called in module '1\.1'\)") as info:
        twonnx.export(model, x(2, 4), path)
    assert (info.value.op, info.value.scope) == ("Cube", "1.1")
    assert not path.exists()


def test_training_mode_dropout_in_forward_is_refused(tmp_path):
    class Noisy(nn.Module):
        def forward(self, a):
            return F.dropout(a, 0.5, training=True)
    path = tmp_path / "model.onnx"
    with pytest.raises(twonnx.ExportError, match="dropout ran in training mode"):
        twonnx.export(Noisy(), x(2, 4), path)
    assert not path.exists()
