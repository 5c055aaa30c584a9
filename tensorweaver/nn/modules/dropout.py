"""``Dropout`` and ``Dropout2d``: masks come from the seeded host generator."""
from __future__ import annotations

from tensorweaver.nn import functional as F
from tensorweaver.nn.modules.module import Module


class _DropoutNd(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p, self.inplace = p, inplace

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    r"""During training, randomly zeroes each element of the input with probability
    :attr:`p` and scales the outputs by :math:`\frac{1}{1-p}`; in evaluation mode it is the
    identity. The mask is drawn from the seeded host generator (``tw.manual_seed``).

    Args:
        p: probability of an element to be zeroed. Default: 0.5
        inplace: write the result into the input (torch's in-place rules). Default: False

    Shape:
        - Input: :math:`(*)`. Input can be of any shape
        - Output: :math:`(*)`. Output is of the same shape as input
    """

    def forward(self, input):
        return F.dropout(input, self.p, self.training, self.inplace)


class Dropout2d(_DropoutNd):
    r"""Randomly zeroes whole channels (each :math:`(H, W)` plane) with probability :attr:`p`
    during training, scaling the rest by :math:`\frac{1}{1-p}`.

    Shape:
        - Input: :math:`(N, C, H, W)` or :math:`(C, H, W)`.
        - Output: same shape as input.
    """

    def forward(self, input):
        return F.dropout2d(input, self.p, self.training, self.inplace)
