"""Batch normalization: ``BatchNorm1d`` and ``BatchNorm2d``."""
from __future__ import annotations

from tensorweaver.ops.inplace import bump_version
from tensorweaver import backend, dtypes
from tensorweaver.nn import functional as F
from tensorweaver.nn import init
from tensorweaver.nn.modules._factory import empty_parameter, resolve_dtype
from tensorweaver.nn.modules.module import Module
from tensorweaver.tensor import Tensor

xp = backend.xp


class _BatchNorm(Module):
    """Shared by BatchNorm1d/2d; they differ only in the accepted input ranks."""

    _expected = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum=0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None):
        super().__init__()
        dtype = resolve_dtype(dtype, device)
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = empty_parameter((num_features,), dtype)
            self.bias = empty_parameter((num_features,), dtype)
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
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0
            for buf in (self.running_mean, self.running_var, self.num_batches_tracked):
                bump_version(buf)

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def _check_input_dim(self, input):
        raise NotImplementedError

    def forward(self, input):
        self._check_input_dim(input)
        if input.ndim >= 2 and input.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}({self.num_features}) expected an input with {self.num_features} "
                             f"channels in dim 1, i.e. of shape {self._expected.format(C=self.num_features)}; "
                             f"got {input.shape}")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1
            bump_version(self.num_batches_tracked)
            if self.momentum is None:      # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked.item())
        # Batch statistics in training, and in eval when no running stats are kept.
        use_batch_stats = self.training or (self.running_mean is None and self.running_var is None)
        track = not self.training or self.track_running_stats
        return F.batch_norm(input, self.running_mean if track else None, self.running_var if track else None,
                            self.weight, self.bias, use_batch_stats, factor, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    r"""Applies Batch Normalization over a 2D or 3D input:
    :math:`y = \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + \epsilon}} * \gamma + \beta`.

    In training mode the mean and (biased) variance are computed per channel over the
    batch, and the running estimates are updated with ``momentum``
    (``running = (1 - momentum) * running + momentum * batch``, using the unbiased
    variance); ``momentum=None`` gives a cumulative average. In eval mode the running
    estimates are used.

    Args:
        num_features: number of features or channels :math:`C` of the input
        eps: a value added to the denominator for numerical stability. Default: 1e-5
        momentum: the value used for the running_mean and running_var computation. Default: 0.1
        affine: when ``True``, this module has learnable affine parameters. Default: ``True``
        track_running_stats: when ``True``, keeps running estimates (buffers ``running_mean``,
            ``running_var``, ``num_batches_tracked``). Default: ``True``

    Shape:
        - Input: :math:`(N, C)` or :math:`(N, C, L)`
        - Output: same shape as input
    """

    _expected = "(N, {C}) or (N, {C}, L)"

    def _check_input_dim(self, input):
        if input.ndim not in (2, 3):
            raise ValueError(f"expected 2D or 3D input (got {input.ndim}D input of shape {input.shape}); "
                             f"BatchNorm1d takes (N, C) or (N, C, L)")


class BatchNorm2d(_BatchNorm):
    r"""Applies Batch Normalization over a 4D input (a mini-batch of 2D inputs with channels),
    per channel; see :class:`BatchNorm1d` for the statistics and arguments.

    Shape:
        - Input: :math:`(N, C, H, W)`
        - Output: :math:`(N, C, H, W)` (same shape as input)
    """

    _expected = "(N, {C}, H, W)"

    def _check_input_dim(self, input):
        if input.ndim != 4:
            raise ValueError(f"expected 4D input (got {input.ndim}D input of shape {input.shape}); "
                             "BatchNorm2d takes (N, C, H, W)")
