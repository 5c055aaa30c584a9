"""More layers exported with a dynamic batch, checked, and run in ONNX Runtime at two batch
sizes: Elu, Selu, Softplus, Clip, HardSigmoid, HardSwish, PRelu natively; CELU, Mish (opset
18 in ONNX), LogSigmoid, Threshold, GLU, GroupNorm/InstanceNorm (GroupNormalization is
opset 18), Bilinear and the distances as compositions."""
import pytest

import tensorweaver as tw
from tensorweaver import nn

pytestmark = pytest.mark.onnx


def x(*rest, scale=3.0):
    return lambda n: tw.randn(n, *rest) * scale


class Pair(nn.Module):
    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, a, b):
        return self.layer(a, b)


def two(*rest):
    return lambda n: (tw.randn(n, *rest), tw.randn(n, *rest))


LAYERS = [
    ("ELU", lambda: nn.ELU(0.7), x(3, 4)), ("SELU", lambda: nn.SELU(), x(3, 4)), ("CELU", lambda: nn.CELU(1.5), x(3, 4)),
    ("Softplus", lambda: nn.Softplus(), x(3, 4, scale=12.0)), ("Softplus_beta", lambda: nn.Softplus(2.0, 3.0), x(3, 4)),
    ("Softsign", lambda: nn.Softsign(), x(3, 4)), ("Hardtanh", lambda: nn.Hardtanh(-0.5, 2.0), x(3, 4)),
    ("ReLU6", lambda: nn.ReLU6(), x(3, 4)), ("Hardswish", lambda: nn.Hardswish(), x(3, 4)),
    ("Hardsigmoid", lambda: nn.Hardsigmoid(), x(3, 4)), ("Mish", lambda: nn.Mish(), x(3, 4)),
    ("LogSigmoid", lambda: nn.LogSigmoid(), x(3, 4)), ("Threshold", lambda: nn.Threshold(0.3, -1.0), x(3, 4)),
    ("GLU", lambda: nn.GLU(), x(3, 4)), ("PReLU", lambda: nn.PReLU(), x(3, 4)),
    ("PReLU_channels", lambda: nn.PReLU(3, 0.1), x(3, 4, 5)),
    ("GroupNorm", lambda: nn.GroupNorm(2, 4), x(4, 3, 5)),
    ("InstanceNorm1d", lambda: nn.InstanceNorm1d(3, affine=True), x(3, 6)),
    ("InstanceNorm2d_running", lambda: nn.InstanceNorm2d(3, track_running_stats=True), x(3, 4, 5)),
    ("Bilinear", lambda: Pair(nn.Bilinear(4, 4, 3)), two(4)),
    ("CosineSimilarity", lambda: Pair(nn.CosineSimilarity(dim=1)), two(5)),
    ("PairwiseDistance", lambda: Pair(nn.PairwiseDistance()), two(5)),
]


@pytest.mark.parametrize("name,make,make_args", LAYERS, ids=[layer[0] for layer in LAYERS])
def test_layer_roundtrip(roundtrip, name, make, make_args):
    tw.manual_seed(0)
    roundtrip(make(), make_args, atol=2e-5)
