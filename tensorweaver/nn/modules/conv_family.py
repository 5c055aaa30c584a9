"""``Conv1d``, ``ConvTranspose1d`` and ``ConvTranspose2d`` (``Conv2d`` is in ``conv.py``).

All share ``Conv2d``'s initialisation (torch's ``_ConvNd.reset_parameters``): weights
from ``kaiming_uniform_(a=sqrt(5))``, bias from U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
``fan_in`` computed on the weight as stored (for the transposed layers
``out_channels / groups * prod(kernel_size)``, as torch's).
"""
from __future__ import annotations

import math

from tensorweaver.nn import functional as F
from tensorweaver.nn import init
from tensorweaver.nn.modules._factory import empty_parameter, resolve_dtype
from tensorweaver.nn.modules.module import Module

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _tuple(value, n, name):
    if isinstance(value, int):
        return (value,) * n
    value = tuple(value)
    if len(value) == 1:
        value = value * n
    if len(value) != n or not all(isinstance(v, int) for v in value):
        raise ValueError(f"{name} must be an int or {n} ints, got {value!r}")
    return value


def mode_padding(padding, kernel_size, dilation):
    """F.pad widths (last dim first) for a non-'zeros' ``padding_mode``: ``padding`` (a
    tuple of ints, or 'same'/'valid') on both sides of each spatial dim."""
    if padding == "valid":
        return None
    widths = []
    for i in range(len(kernel_size) - 1, -1, -1):
        if padding == "same":
            total = dilation[i] * (kernel_size[i] - 1)
            widths += [total // 2, total - total // 2]
        else:
            widths += [padding[i], padding[i]]
    return tuple(widths)


class _ConvBase(Module):
    """Argument checks, parameters and initialisation shared by the layers here."""

    _dims = 1
    _transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                 padding_mode, output_padding=0, device=None, dtype=None):
        super().__init__()
        n, name = self._dims, type(self).__name__
        dtype = resolve_dtype(dtype, device)
        if not isinstance(groups, int) or groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        allowed = ("zeros",) if self._transposed else PADDING_MODES
        if padding_mode not in allowed:
            raise ValueError(f"{name}: padding_mode must be one of {allowed}, but got padding_mode={padding_mode!r}"
                             + (" (transposed convolutions pad with zeros only)" if self._transposed else ""))
        kernel_size, stride = _tuple(kernel_size, n, "kernel_size"), _tuple(stride, n, "stride")
        dilation = _tuple(dilation, n, "dilation")
        if isinstance(padding, str):
            if self._transposed or padding not in ("valid", "same"):
                raise ValueError(f"Invalid padding string {padding!r}, should be one of {{'valid', 'same'}}"
                                 + (f" ({name} takes int padding only)" if self._transposed else ""))
            if padding == "same" and any(s != 1 for s in stride):
                raise ValueError("padding='same' is not supported for strided convolutions")
        else:
            padding = _tuple(padding, n, "padding")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding, self.dilation = kernel_size, stride, padding, dilation
        self.transposed, self.output_padding = self._transposed, _tuple(output_padding, n, "output_padding")
        self.groups, self.padding_mode = groups, padding_mode
        shape = (in_channels, out_channels // groups) if self._transposed else (out_channels, in_channels // groups)
        self.weight = empty_parameter(shape + kernel_size, dtype)
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

    def extra_repr(self) -> str:
        n = self._dims
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * n:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * n:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * n:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv1d(_ConvBase):
    r"""Applies a 1D convolution over an input signal composed of several input planes.

    Args:
        in_channels: Number of channels in the input signal
        out_channels: Number of channels produced by the convolution
        kernel_size: Size of the convolving kernel
        stride: Stride of the convolution. Default: 1
        padding: Padding added to both sides of the input: an int, ``'valid'`` or
            ``'same'`` (stride 1 only). Default: 0
        dilation: Spacing between kernel elements. Default: 1
        groups: Number of blocked connections from input channels to output channels. Default: 1
        bias: If ``True``, adds a learnable bias to the output. Default: ``True``
        padding_mode: ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``. Default: ``'zeros'``

    Shape:
        - Input: :math:`(N, C_{in}, L_{in})` or :math:`(C_{in}, L_{in})`
        - Output: :math:`(N, C_{out}, L_{out})` or :math:`(C_{out}, L_{out})`, where
          :math:`L_{out} = \left\lfloor\frac{L_{in} + 2 \times \text{padding} - \text{dilation}
          \times (\text{kernel\_size} - 1) - 1}{\text{stride}} + 1\right\rfloor`

    Attributes:
        weight: shape :math:`(\text{out\_channels}, \frac{\text{in\_channels}}{\text{groups}}, \text{kernel\_size})`,
            from :math:`\mathcal{U}(-\sqrt{k}, \sqrt{k})`, :math:`k = \frac{groups}{C_\text{in} * \text{kernel\_size}}`
        bias: shape :math:`(\text{out\_channels})`, from the same distribution.
    """

    _dims = 1

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, device=device, dtype=dtype)

    def forward(self, input):
        if self.padding_mode != "zeros":
            widths = mode_padding(self.padding, self.kernel_size, self.dilation)
            if widths is not None:
                input = F.pad(input, widths, mode=self.padding_mode)
            return F.conv1d(input, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
        return F.conv1d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class _ConvTransposeBase(_ConvBase):
    _transposed = True

    def _output_padding(self, input, output_size):
        """torch's rule: ``output_size`` (the spatial sizes, or with N and C in front)
        picks the output padding; it must lie within the reachable range."""
        if output_size is None:
            return self.output_padding
        n = self._dims
        output_size = list(output_size)
        if len(output_size) == n + 2 or len(output_size) == n + 1:
            output_size = output_size[-n:]
        if len(output_size) != n:
            raise ValueError(f"ConvTranspose{n}D: for {input.ndim}D input, output_size must have {n} or "
                             f"{n + 2} elements (got {len(output_size)})")
        pads = []
        spatial = input.shape[input.ndim - n:]
        for d in range(n):
            smallest = ((spatial[d] - 1) * self.stride[d] - 2 * self.padding[d]
                        + self.dilation[d] * (self.kernel_size[d] - 1) + 1)
            largest = smallest + self.stride[d] - 1
            if not smallest <= output_size[d] <= largest:
                raise ValueError(f"requested an output size of {output_size}, but valid sizes range from "
                                 f"{smallest} to {largest} (for an input of {list(spatial)})")
            pads.append(output_size[d] - smallest)
        return tuple(pads)


class ConvTranspose1d(_ConvTransposeBase):
    r"""Applies a 1D transposed convolution operator over an input image composed of several input planes
    (the adjoint of ``Conv1d``; sometimes called a fractionally-strided convolution).

    Args:
        in_channels, out_channels, kernel_size, stride, dilation, groups, bias: as ``Conv1d``
        padding: ``dilation * (kernel_size - 1) - padding`` zero-padding is added to both
            sides of the input (int). Default: 0
        output_padding: Additional size added to one side of the output shape. Default: 0

    Shape:
        - Input: :math:`(N, C_{in}, L_{in})` or :math:`(C_{in}, L_{in})`
        - Output: :math:`(N, C_{out}, L_{out})` or :math:`(C_{out}, L_{out})`, where
          :math:`L_{out} = (L_{in} - 1) \times \text{stride} - 2 \times \text{padding} + \text{dilation}
          \times (\text{kernel\_size} - 1) + \text{output\_padding} + 1`

    Attributes:
        weight: shape :math:`(\text{in\_channels}, \frac{\text{out\_channels}}{\text{groups}}, \text{kernel\_size})`
        bias: shape :math:`(\text{out\_channels})`
    """

    _dims = 1

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0,
                 groups: int = 1, bias: bool = True, dilation=1, padding_mode: str = "zeros", device=None,
                 dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, output_padding, device=device, dtype=dtype)

    def forward(self, input, output_size=None):
        op = self._output_padding(input, output_size)
        return F.conv_transpose1d(input, self.weight, self.bias, self.stride, self.padding, op, self.groups,
                                  self.dilation)


class ConvTranspose2d(_ConvTransposeBase):
    r"""Applies a 2D transposed convolution operator over an input image composed of several input planes
    (the adjoint of ``Conv2d``; the upsampling layer of DCGAN-style generators).

    Args:
        in_channels, out_channels, kernel_size, stride, dilation, groups, bias: as ``Conv2d``
        padding: ``dilation * (kernel_size - 1) - padding`` zero-padding is added to both
            sides of each dimension of the input (int or pair). Default: 0
        output_padding: Additional size added to one side of each dimension in the output shape. Default: 0

    Shape:
        - Input: :math:`(N, C_{in}, H_{in}, W_{in})` or :math:`(C_{in}, H_{in}, W_{in})`
        - Output: :math:`(N, C_{out}, H_{out}, W_{out})` or :math:`(C_{out}, H_{out}, W_{out})`, where
          :math:`H_{out} = (H_{in} - 1) \times \text{stride}[0] - 2 \times \text{padding}[0] + \text{dilation}[0]
          \times (\text{kernel\_size}[0] - 1) + \text{output\_padding}[0] + 1`, and likewise :math:`W_{out}`.

    Attributes:
        weight: shape :math:`(\text{in\_channels}, \frac{\text{out\_channels}}{\text{groups}}, kH, kW)`
        bias: shape :math:`(\text{out\_channels})`
    """

    _dims = 2

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0,
                 groups: int = 1, bias: bool = True, dilation=1, padding_mode: str = "zeros", device=None,
                 dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, output_padding, device=device, dtype=dtype)

    def forward(self, input, output_size=None):
        op = self._output_padding(input, output_size)
        return F.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding, op, self.groups,
                                  self.dilation)
