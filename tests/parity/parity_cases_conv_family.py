"""Parity cases of the convolution family (Conv1d, ConvTranspose1d/2d, padding modes,
1-D and adaptive pools, interpolate, pad, pixel (un)shuffle, unfold/fold).

Imported at the end of ``parity_cases.py``; registered in its ``CASES`` table.
"""
from __future__ import annotations

import tensorweaver as tw
from parity_cases import case, forward_backward, images, layer, randn, rows

nn = tw.nn
F = tw.nn.functional

layer("Conv1d", lambda: nn.Conv1d(4, 6, 3, stride=2, padding=1, groups=2), rows(2, 4, 9))
layer("Conv1d_reflect_dilation", lambda: nn.Conv1d(3, 4, 3, padding=2, dilation=2, padding_mode="reflect"),
      rows(2, 3, 9))
layer("Conv2d_circular", lambda: nn.Conv2d(3, 4, 3, padding=1, padding_mode="circular"), images())
layer("Conv2d_replicate", lambda: nn.Conv2d(3, 4, 3, stride=2, padding=1, padding_mode="replicate"), images())
layer("ConvTranspose2d", lambda: nn.ConvTranspose2d(3, 4, 4, stride=2, padding=1), images(h=4, w=5))
layer("ConvTranspose2d_opad_groups_dilation",
      lambda: nn.ConvTranspose2d(4, 6, 3, stride=(2, 3), padding=(1, 0), output_padding=(1, 2), groups=2,
                                 dilation=(2, 1)), images(c=4, h=4, w=5))
layer("ConvTranspose1d", lambda: nn.ConvTranspose1d(4, 3, 3, stride=2, padding=1, output_padding=1),
      rows(2, 4, 6))
layer("MaxPool1d", lambda: nn.MaxPool1d(3, 2, 1), rows(2, 3, 9))
layer("AvgPool1d", lambda: nn.AvgPool1d(3, 2, 1, count_include_pad=False), rows(2, 3, 9))
layer("AdaptiveAvgPool1d", lambda: nn.AdaptiveAvgPool1d(4), rows(2, 3, 9))
layer("AdaptiveMaxPool1d", lambda: nn.AdaptiveMaxPool1d(4), rows(2, 3, 9))
layer("AdaptiveMaxPool2d", lambda: nn.AdaptiveMaxPool2d((3, 4)), images(h=8, w=7))
layer("Upsample_nearest", lambda: nn.Upsample(scale_factor=2), images(h=3, w=4))
layer("Upsample_bilinear", lambda: nn.Upsample(size=(5, 7), mode="bilinear"), images(h=3, w=4))
layer("UpsamplingNearest2d", lambda: nn.UpsamplingNearest2d(size=(5, 7)), images(h=3, w=4))
layer("UpsamplingBilinear2d", lambda: nn.UpsamplingBilinear2d(scale_factor=2), images(h=3, w=4))
layer("PixelShuffle", lambda: nn.PixelShuffle(2), images(c=8, h=3, w=4))
layer("PixelUnshuffle", lambda: nn.PixelUnshuffle(2), images(h=4, w=6))
layer("Unfold", lambda: nn.Unfold(3, padding=1, stride=2), images())
layer("Fold", lambda: nn.Fold((7, 6), 3, padding=1, stride=2), rows(2, 27, 12))
for _name, _make in [("ZeroPad1d", lambda: nn.ZeroPad1d(2)), ("ConstantPad1d", lambda: nn.ConstantPad1d(1, 0.5)),
                     ("ReflectionPad1d", lambda: nn.ReflectionPad1d((2, 1))),
                     ("ReplicationPad1d", lambda: nn.ReplicationPad1d(3)),
                     ("CircularPad1d", lambda: nn.CircularPad1d(2))]:
    layer(_name, _make, rows(2, 3, 6))
for _name, _make in [("ZeroPad2d", lambda: nn.ZeroPad2d((1, 2, 0, 1))),
                     ("ConstantPad2d", lambda: nn.ConstantPad2d((1, -1, 2, 0), 1.5)),
                     ("ReflectionPad2d", lambda: nn.ReflectionPad2d(2)),
                     ("ReplicationPad2d", lambda: nn.ReplicationPad2d((1, 0, 2, 3))),
                     ("CircularPad2d", lambda: nn.CircularPad2d(1))]:
    layer(_name, _make, images())


@case("conv_family.interpolate_bicubic_align")
def interpolate_bicubic(dtype):
    return forward_backward(lambda x: F.interpolate(x, scale_factor=2, mode="bicubic", align_corners=True),
                            randn(1, 2, 3, 4, dtype=dtype))


@case("conv_family.interpolate_trilinear")
def interpolate_trilinear(dtype):
    return forward_backward(lambda x: F.interpolate(x, size=(3, 4, 5), mode="trilinear"),
                            randn(1, 2, 2, 3, 2, dtype=dtype))


@case("conv_family.pad_reflect_3d")
def pad_reflect_3d(dtype):
    return forward_backward(lambda x: F.pad(x, (1, 2, 2, 1, 1, 0), "reflect"), randn(1, 2, 3, 4, 5, dtype=dtype))
