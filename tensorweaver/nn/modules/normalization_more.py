"""Group and instance normalization layers: ``GroupNorm``, ``InstanceNorm1d``, ``InstanceNorm2d``."""
from __future__ import annotations

import warnings

from tensorweaver import backend, dtypes
from tensorweaver.nn import functional as F
from tensorweaver.nn import init
from tensorweaver.nn.modules._factory import empty_parameter, resolve_dtype
from tensorweaver.nn.modules.module import Module
from tensorweaver.tensor import Tensor

xp = backend.xp


class GroupNorm(Module):
    r"""Group Normalization: the channels are split into ``num_groups`` groups, each
    normalized (mean 0, variance 1, biased variance) over its channels and all positions.

    Args:
        num_groups: number of groups to separate the channels into
        num_channels: number of channels expected in input
        eps: a value added to the denominator for numerical stability. Default: 1e-5
        affine: learnable per-channel ``weight`` (ones) and ``bias`` (zeros). Default: ``True``
        bias: (keyword) with ``affine``, whether to learn the ``bias`` too. Default: ``True``

    Shape:
        - Input: :math:`(N, C, *)` where :math:`C=\text{num\_channels}`
        - Output: :math:`(N, C, *)` (same shape as input)
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True, device=None,
                 dtype=None, *, bias: bool = True):
        super().__init__()
        if num_channels % num_groups != 0:
            raise ValueError("num_channels must be divisible by num_groups")
        dtype = resolve_dtype(dtype, device)
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        if affine:
            self.weight = empty_parameter((num_channels,), dtype)
            if bias:
                self.bias = empty_parameter((num_channels,), dtype)
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input):
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


class _InstanceNorm(Module):
    _dims = 1

    def __init__(self, num_features: int, eps: float = 1e-5, momentum=0.1, affine: bool = False,
                 track_running_stats: bool = False, device=None, dtype=None, *, bias: bool = True):
        super().__init__()
        dtype = resolve_dtype(dtype, device)
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = empty_parameter((num_features,), dtype)
            if bias:
                self.bias = empty_parameter((num_features,), dtype)
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(xp.zeros(num_features, dtype=dtype)))
            self.register_buffer("running_var", Tensor(xp.ones(num_features, dtype=dtype)))
            self.register_buffer("num_batches_tracked", Tensor(xp.zeros((), dtype=dtypes.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        if affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input):
        n = self._dims
        if input.ndim not in (n + 1, n + 2):
            raise ValueError(f"expected {n + 1}D or {n + 2}D input (got {input.ndim}D input)")
        unbatched = input.ndim == n + 1
        if unbatched:
            input = input.unsqueeze(0)
        if input.shape[1] != self.num_features:
            if self.affine:
                raise ValueError(f"expected input's size at dim=1 to match num_features ({self.num_features}), "
                                 f"but got: {input.shape[1]}.")
            warnings.warn(f"input's size at dim=1 does not match num_features. You can silence this warning by "
                          f"not passing in num_features, which is not used because affine=False", stacklevel=2)
        out = F.instance_norm(input, self.running_mean, self.running_var, self.weight, self.bias,
                              self.training or not self.track_running_stats,
                              self.momentum if self.momentum is not None else 0.0, self.eps)
        return out.squeeze(0) if unbatched else out

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class InstanceNorm1d(_InstanceNorm):
    r"""Instance Normalization over a 3D input: each channel of each sample normalized over its length.

    Args:
        num_features: number of channels :math:`C`
        eps: a value added to the denominator for numerical stability. Default: 1e-5
        momentum: the update factor of the running statistics. Default: 0.1
        affine: learnable per-channel ``weight`` and ``bias``. Default: ``False``
        track_running_stats: keep running mean/variance for eval mode. Default: ``False``
        bias: (keyword) with ``affine``, whether to learn the ``bias`` too. Default: ``True``

    Shape:
        - Input: :math:`(N, C, L)` or :math:`(C, L)`
        - Output: the same shape
    """

    _dims = 1


class InstanceNorm2d(_InstanceNorm):
    r"""Instance Normalization over a 4D input: each channel of each sample normalized over (H, W).

    Args: as ``InstanceNorm1d``.

    Shape:
        - Input: :math:`(N, C, H, W)` or :math:`(C, H, W)`
        - Output: the same shape
    """

    _dims = 2
