"""The convolution family exported with a dynamic batch, checked, and run in ONNX Runtime
at two batch sizes (ConvTranspose, Pad, MatMul resampling, Conv/ConvTranspose for
unfold/fold, MaxPool/Gather+ReduceMax for adaptive max pooling)."""
import pytest

import tensorweaver as tw
from tensorweaver import nn

pytestmark = pytest.mark.onnx


def x(*rest):
    return lambda n: tw.randn(n, *rest)


LAYERS = [
    ("Conv1d", lambda: nn.Conv1d(3, 4, 3, padding=1), x(3, 10)),
    ("Conv1d_groups_dilation", lambda: nn.Conv1d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2), x(4, 11)),
    ("Conv1d_reflect", lambda: nn.Conv1d(3, 4, 3, padding=2, dilation=2, padding_mode="reflect"), x(3, 10)),
    ("Conv2d_replicate", lambda: nn.Conv2d(3, 4, 3, padding=1, padding_mode="replicate"), x(3, 6, 7)),
    ("Conv2d_circular", lambda: nn.Conv2d(3, 4, 3, padding=(1, 2), padding_mode="circular"), x(3, 6, 7)),
    ("ConvTranspose2d", lambda: nn.ConvTranspose2d(4, 3, 4, stride=2, padding=1), x(4, 5, 6)),
    ("ConvTranspose2d_opad_groups", lambda: nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1,
                                                               groups=2), x(4, 5, 6)),
    ("ConvTranspose2d_dilation", lambda: nn.ConvTranspose2d(4, 3, (3, 2), stride=(1, 2), dilation=(2, 1),
                                                            bias=False), x(4, 5, 6)),
    ("ConvTranspose1d", lambda: nn.ConvTranspose1d(4, 3, 3, stride=3, padding=1, output_padding=2, dilation=2),
     x(4, 7)),
    ("MaxPool1d", lambda: nn.MaxPool1d(3, 2, 1), x(3, 11)),
    ("AvgPool1d", lambda: nn.AvgPool1d(3, 2, 1, count_include_pad=False), x(3, 11)),
    ("AdaptiveAvgPool1d", lambda: nn.AdaptiveAvgPool1d(4), x(3, 11)),
    ("AdaptiveMaxPool1d", lambda: nn.AdaptiveMaxPool1d(3), x(3, 8)),
    ("AdaptiveMaxPool2d_uneven", lambda: nn.AdaptiveMaxPool2d((3, 4)), x(3, 8, 7)),
    ("AdaptiveMaxPool2d_even", lambda: nn.AdaptiveMaxPool2d((2, 3)), x(3, 8, 6)),
    ("AdaptiveMaxPool2d_global", lambda: nn.AdaptiveMaxPool2d(1), x(3, 8, 6)),
    ("Upsample_nearest", lambda: nn.Upsample(scale_factor=2), x(3, 4, 5)),
    ("Upsample_bilinear", lambda: nn.Upsample(size=(7, 9), mode="bilinear"), x(3, 4, 5)),
    ("Upsample_bilinear_align", lambda: nn.Upsample(scale_factor=1.5, mode="bilinear", align_corners=True),
     x(3, 4, 5)),
    ("Upsample_linear", lambda: nn.Upsample(scale_factor=3, mode="linear"), x(3, 5)),
    ("Upsample_bicubic", lambda: nn.Upsample(scale_factor=2, mode="bicubic"), x(3, 4, 5)),
    ("Upsample_trilinear", lambda: nn.Upsample(size=(3, 4, 5), mode="trilinear"), x(2, 2, 3, 2)),
    ("PixelShuffle", lambda: nn.PixelShuffle(2), x(8, 3, 4)),
    ("PixelUnshuffle", lambda: nn.PixelUnshuffle(2), x(2, 4, 6)),
    ("Unfold", lambda: nn.Unfold(3, padding=1, stride=2), x(3, 7, 6)),
    ("Fold", lambda: nn.Fold((7, 6), 3, padding=1, stride=2), x(27, 12)),
    ("ReflectionPad2d", lambda: nn.ReflectionPad2d((1, 2, 2, 0)), x(3, 5, 6)),
    ("ReplicationPad1d", lambda: nn.ReplicationPad1d((3, 1)), x(3, 5)),
    ("CircularPad2d", lambda: nn.CircularPad2d(1), x(3, 5, 6)),
    ("ConstantPad2d_crop", lambda: nn.ConstantPad2d((1, -1, 2, 0), 1.5), x(3, 5, 6)),
]


@pytest.mark.parametrize("name,make,make_args", LAYERS, ids=[layer[0] for layer in LAYERS])
def test_layer_roundtrip(roundtrip, name, make, make_args):
    tw.manual_seed(0)
    roundtrip(make(), make_args)


def test_dcgan_generator_block_roundtrip(roundtrip):
    tw.manual_seed(0)
    gen = nn.Sequential(nn.ConvTranspose2d(8, 6, 4, 1, 0, bias=False), nn.BatchNorm2d(6), nn.ReLU(),
                        nn.ConvTranspose2d(6, 3, 4, 2, 1, bias=False), nn.Tanh())
    roundtrip(gen, x(8, 1, 1))
