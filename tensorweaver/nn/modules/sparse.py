"""``Embedding``: a lookup table of vectors indexed by integers."""
from __future__ import annotations

from tensorweaver.nn import functional as F
from tensorweaver.nn import init
from tensorweaver.nn.modules._factory import empty_parameter, resolve_dtype
from tensorweaver.nn.modules.module import Module
from tensorweaver.nn.parameter import Parameter


class Embedding(Module):
    r"""A lookup table that stores embeddings of a fixed dictionary and size.

    Args:
        num_embeddings: size of the dictionary of embeddings
        embedding_dim: the size of each embedding vector
        padding_idx: if given, the entries at :attr:`padding_idx` do not contribute to the
            gradient, and that row is initialised to zeros.
        max_norm: if given, each looked-up embedding vector with norm larger than
            :attr:`max_norm` is renormalized (in place) to have norm :attr:`max_norm`.
        norm_type: the p of the p-norm to compute for the :attr:`max_norm` option. Default ``2``.

    Attributes:
        weight: the learnable weights of shape (num_embeddings, embedding_dim), initialized
            from :math:`\mathcal{N}(0, 1)`

    Shape:
        - Input: :math:`(*)`, an integer tensor of arbitrary shape with indices to extract
        - Output: :math:`(*, H)`, where `*` is the input shape and :math:`H=\text{embedding\_dim}`
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx=None, max_norm=None,
                 norm_type: float = 2.0, _weight=None, _freeze: bool = False, device=None, dtype=None):
        super().__init__()
        dtype = resolve_dtype(dtype, device)
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Padding_idx must be within num_embeddings (got {padding_idx} for "
                                 f"num_embeddings={num_embeddings})")
            if padding_idx < 0:
                padding_idx += num_embeddings
        self.padding_idx, self.max_norm, self.norm_type = padding_idx, max_norm, norm_type
        if _weight is None:
            self.weight = empty_parameter((num_embeddings, embedding_dim), dtype)
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise ValueError(f"Shape of weight {tuple(_weight.shape)} does not match num_embeddings and "
                                 f"embedding_dim ({num_embeddings}, {embedding_dim})")
            self.weight = Parameter(_weight, requires_grad=not _freeze)

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def forward(self, input):
        return F.embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type)

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True, padding_idx=None, max_norm=None, norm_type=2.0):
        """An Embedding holding (a reference to) the 2-D ``embeddings`` tensor; frozen by default."""
        if embeddings.ndim != 2:
            raise ValueError(f"Embeddings parameter is expected to be 2-dimensional, got shape {embeddings.shape}")
        rows, cols = embeddings.shape
        return cls(rows, cols, padding_idx, max_norm, norm_type, _weight=embeddings, _freeze=freeze)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        return s
