"""``LayerNorm``."""
from __future__ import annotations

from tensorweaver.nn import functional as F
from tensorweaver.nn import init
from tensorweaver.nn.modules._factory import empty_parameter, resolve_dtype
from tensorweaver.nn.modules.module import Module


class LayerNorm(Module):
    r"""Applies Layer Normalization over the trailing dimensions ``normalized_shape`` of a
    mini-batch: :math:`y = \frac{x - \mathrm{E}[x]}{ \sqrt{\mathrm{Var}[x] + \epsilon}} * \gamma + \beta`
    (biased variance), with the same statistics in training and evaluation.

    Args:
        normalized_shape: input shape from an expected input of size
            :math:`[* \times \text{normalized\_shape}[0] \times \ldots]`; an int is a 1-tuple.
        eps: a value added to the denominator for numerical stability. Default: 1e-5
        elementwise_affine: learnable per-element ``weight`` (ones) and ``bias`` (zeros)
            of shape ``normalized_shape``. Default: ``True``.
        bias: If set to ``False``, the layer will not learn an additive bias. Default: ``True``.

    Shape:
        - Input: :math:`(N, *)` ending in ``normalized_shape``
        - Output: :math:`(N, *)` (same shape as input)
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True,
                 device=None, dtype=None):
        super().__init__()
        dtype = resolve_dtype(dtype, device)
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        if elementwise_affine:
            self.weight = empty_parameter(self.normalized_shape, dtype)
            if bias:
                self.bias = empty_parameter(self.normalized_shape, dtype)
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.elementwise_affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input):
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
