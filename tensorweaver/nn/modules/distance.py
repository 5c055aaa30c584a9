"""Distance layers: ``CosineSimilarity``, ``PairwiseDistance``, and ``Bilinear`` (a layer
whose output is a bilinear form of two inputs)."""
from __future__ import annotations

import math

from tensorweaver.nn import functional as F
from tensorweaver.nn import init
from tensorweaver.nn.modules._factory import empty_parameter, resolve_dtype
from tensorweaver.nn.modules.module import Module


class CosineSimilarity(Module):
    r"""Cosine similarity along ``dim``: :math:`\frac{x_1 \cdot x_2}{\max(\|x_1\|, \epsilon) \max(\|x_2\|, \epsilon)}`.

    Shape: inputs :math:`(\ast_1, D, \ast_2)` broadcasting together; output without ``dim``.
    """

    def __init__(self, dim: int = 1, eps: float = 1e-8):
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x1, x2):
        return F.cosine_similarity(x1, x2, self.dim, self.eps)


class PairwiseDistance(Module):
    r""":math:`\|x_1 - x_2 + \epsilon\|_p` along the last dim.

    Shape: inputs :math:`(N, D)` or :math:`(D,)`; output :math:`(N)` or :math:`()` (``keepdim`` keeps a dim of 1).
    """

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False):
        super().__init__()
        self.norm, self.eps, self.keepdim = p, eps, keepdim

    def forward(self, x1, x2):
        return F.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)


class Bilinear(Module):
    r"""Applies a bilinear transformation: :math:`y = x_1^T A x_2 + b`.

    Args:
        in1_features, in2_features: sizes of each input sample
        out_features: size of each output sample
        bias: learn an additive bias. Default: ``True``

    Shape:
        - input1 :math:`(*, H_{in1})`, input2 :math:`(*, H_{in2})` (same leading dims)
        - output :math:`(*, H_{out})`

    Attributes:
        weight: :math:`(\text{out\_features}, \text{in1\_features}, \text{in2\_features})`, from
            :math:`\mathcal{U}(-\sqrt{k}, \sqrt{k})`, :math:`k = \frac{1}{\text{in1\_features}}`
        bias: :math:`(\text{out\_features})`, from the same distribution.
    """

    def __init__(self, in1_features: int, in2_features: int, out_features: int, bias: bool = True, device=None,
                 dtype=None):
        super().__init__()
        dtype = resolve_dtype(dtype, device)
        self.in1_features, self.in2_features, self.out_features = in1_features, in2_features, out_features
        self.weight = empty_parameter((out_features, in1_features, in2_features), dtype)
        if bias:
            self.bias = empty_parameter((out_features,), dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1 / math.sqrt(self.weight.shape[1])
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1, input2):
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")
