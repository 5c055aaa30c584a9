"""``Conv2d``: 2-D convolution over (N, C, H, W) inputs (im2col + matmul, see ``ops/conv.py``)."""
from __future__ import annotations

import math

from tensorweaver.nn import functional as F
from tensorweaver.nn import init
from tensorweaver.nn.modules._factory import empty_parameter, resolve_dtype
from tensorweaver.nn.modules.module import Module


class Conv2d(Module):
    r"""Applies a 2D convolution over an input signal composed of several input planes.

    Args:
        in_channels: Number of channels in the input image
        out_channels: Number of channels produced by the convolution
        kernel_size: Size of the convolving kernel (int or pair)
        stride: Stride of the convolution. Default: 1
        padding: Zero padding added to all four sides of the input: an int, a pair,
            ``'valid'`` (none) or ``'same'`` (stride 1 only). Default: 0
        dilation: Spacing between kernel elements. Default: 1
        groups: Number of blocked connections from input channels to output channels. Default: 1
        bias: If ``True``, adds a learnable bias to the output. Default: ``True``
        padding_mode: ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``. Default: ``'zeros'``

    Shape:
        - Input: :math:`(N, C_{in}, H_{in}, W_{in})` or :math:`(C_{in}, H_{in}, W_{in})`
        - Output: :math:`(N, C_{out}, H_{out}, W_{out})` or :math:`(C_{out}, H_{out}, W_{out})`, where

          .. math::
              H_{out} = \left\lfloor\frac{H_{in}  + 2 \times \text{padding}[0] - \text{dilation}[0]
                        \times (\text{kernel\_size}[0] - 1) - 1}{\text{stride}[0]} + 1\right\rfloor

          and likewise for :math:`W_{out}`.

    Attributes:
        weight: shape :math:`(\text{out\_channels}, \frac{\text{in\_channels}}{\text{groups}}, kH, kW)`,
            initialized from :math:`\mathcal{U}(-\sqrt{k}, \sqrt{k})` with
            :math:`k = \frac{groups}{C_\text{in} * kH * kW}`
        bias: shape :math:`(\text{out\_channels})`, initialized from the same distribution.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", device=None, dtype=None):
        super().__init__()
        dtype = resolve_dtype(dtype, device)
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ValueError("padding_mode must be one of ('zeros', 'reflect', 'replicate', 'circular'), but got "
                             f"padding_mode={padding_mode!r}")
        kernel_size, stride, dilation = F._pair(kernel_size, "kernel_size"), F._pair(stride, "stride"), \
            F._pair(dilation, "dilation")
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValueError(f"Invalid padding string {padding!r}, should be one of {{'valid', 'same'}}")
            if padding == "same" and stride != (1, 1):
                raise ValueError("padding='same' is not supported for strided convolutions")
        else:
            padding = F._pair(padding, "padding")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding, self.dilation = kernel_size, stride, padding, dilation
        self.groups, self.padding_mode = groups, padding_mode
        self.weight = empty_parameter((out_channels, in_channels // groups) + kernel_size, dtype)
        if bias:
            self.bias = empty_parameter((out_channels,), dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        return self._forward(input)

    def _forward(self, input, activation=None, pool=None):
        """``forward``, with ``activation`` ("relu") and a tiling max-pool over ``pool``
        windows applied in the same node (``nn.Sequential``)."""
        padding = self.padding
        if self.padding_mode != "zeros":     # pad explicitly (F.pad), then convolve without padding
            from tensorweaver.nn.modules.conv_family import mode_padding
            widths = mode_padding(self.padding, self.kernel_size, self.dilation)
            if widths is not None:
                input = F.pad(input, widths, mode=self.padding_mode)
            padding = 0
        return F._conv2d(input, self.weight, self.bias, self.stride, padding, self.dilation, self.groups,
                         activation, pool)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s
