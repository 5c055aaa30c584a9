"""``Flatten`` and ``Unflatten``."""
from __future__ import annotations

from tensorweaver.nn.modules.module import Module


class Flatten(Module):
    r"""Flattens a contiguous range of dims into one.

    Shape:
        - Input: :math:`(*, S_{\text{start}},..., S_{i}, ..., S_{\text{end}}, *)`
        - Output: :math:`(*, \prod_{i=\text{start}}^{\text{end}} S_{i}, *)`; with the defaults
          ``start_dim=1, end_dim=-1`` an (N, C, H, W) input becomes (N, C*H*W).
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input):
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    r"""Unflattens dim ``dim`` into the shape ``unflattened_size``.

    Shape:
        - Input: :math:`(*, S_{\text{dim}}, *)`
        - Output: :math:`(*, U_1, ..., U_n, *)` with :math:`\prod U_i = S_{\text{dim}}`.
    """

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, input):
        d = self.dim % input.ndim
        return input.reshape(input.shape[:d] + self.unflattened_size + input.shape[d + 1:])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
