"""Activation modules and ``MultiheadAttention``."""
from __future__ import annotations

from tensorweaver.nn import functional as F
from tensorweaver.nn import init
from tensorweaver.nn.modules._factory import empty_parameter, resolve_dtype
from tensorweaver.nn.modules.linear import NonDynamicallyQuantizableLinear
from tensorweaver.nn.modules.module import Module


class _Inplace(Module):
    """``inplace=True`` writes the result into the input tensor, with torch's in-place
    rules (refused on a leaf that requires grad; recorded in the graph otherwise)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class ReLU(_Inplace):
    r"""Applies the rectified linear unit function element-wise: :math:`\max(0, x)`.

    Shape:
        - Input: :math:`(*)`, where :math:`*` means any number of dimensions.
        - Output: :math:`(*)`, same shape as the input.
    """

    def forward(self, input):
        return F.relu(input, inplace=self.inplace)


class LeakyReLU(Module):
    r""":math:`\max(0, x) + \text{negative\_slope} * \min(0, x)`, element-wise.

    Args:
        negative_slope: the slope for negative inputs. Default: 1e-2
        inplace: write the result into the input. Default: False

    Shape:
        - Input: :math:`(*)`, any shape. Output: :math:`(*)`, same shape as the input.
    """

    def __init__(self, negative_slope: float = 1e-2, inplace: bool = False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, input):
        return F.leaky_relu(input, self.negative_slope, inplace=self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class GELU(Module):
    r"""Gaussian Error Linear Units: :math:`x * \Phi(x)`; with ``approximate='tanh'``
    :math:`0.5 x (1 + \tanh(\sqrt{2/\pi} (x + 0.044715 x^3)))`.

    Shape:
        - Input: :math:`(*)`, any shape. Output: :math:`(*)`, same shape as the input.
    """

    def __init__(self, approximate: str = "none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, input):
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Tanh(Module):
    r""":math:`\tanh(x)`, element-wise. Shape: any, unchanged."""

    def forward(self, input):
        return F.tanh(input)


class Sigmoid(Module):
    r""":math:`\sigma(x) = 1 / (1 + e^{-x})`, element-wise. Shape: any, unchanged."""

    def forward(self, input):
        return F.sigmoid(input)


class SiLU(_Inplace):
    r""":math:`x * \sigma(x)`, element-wise (also called swish). Shape: any, unchanged."""

    def forward(self, input):
        return F.silu(input)


class Softmax(Module):
    r"""Softmax along ``dim``: the slices along it are rescaled to lie in [0, 1] and sum to 1.

    Shape:
        - Input: :math:`(*)`, any shape. Output: :math:`(*)`, same shape as the input.
    """

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return F.softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    r""":math:`\log(\text{Softmax}(x))` along ``dim``, computed stably.

    Shape:
        - Input: :math:`(*)`, any shape. Output: :math:`(*)`, same shape as the input.
    """

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return F.log_softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class MultiheadAttention(Module):
    r"""Multi-head attention: :math:`\text{Concat}(head_1,\dots,head_h)W^O` with
    :math:`head_i = \text{softmax}(QW_i^Q (KW_i^K)^T / \sqrt{d_k} + \text{mask}) VW_i^V`.

    The parameters are laid out as torch's, so ``load_state_dict`` transfers weights from a
    ``torch.nn.MultiheadAttention``: ``in_proj_weight`` (3E, E) stacks the query, key and
    value projections (or ``q_proj_weight``/``k_proj_weight``/``v_proj_weight`` when
    ``kdim``/``vdim`` differ from E), ``in_proj_bias`` (3E,), and ``out_proj`` a Linear(E, E).

    Args:
        embed_dim: total dimension E of the model (split across heads)
        num_heads: number of parallel attention heads; must divide ``embed_dim``
        dropout: dropout probability on the attention weights (training only). Default: 0.0
        bias: add bias to the input/output projections. Default: ``True``
        add_bias_kv: add learned biases to the key and value sequences. Default: ``False``
        add_zero_attn: add a batch of zeros to the key and value sequences. Default: ``False``
        kdim, vdim: feature sizes of key and value. Default: ``embed_dim``
        batch_first: inputs and outputs are (N, L, E) instead of (L, N, E). Default: ``False``

    Shapes of ``forward(query, key, value, key_padding_mask=None, need_weights=True,
    attn_mask=None, average_attn_weights=True, is_causal=False)``:
        - query: :math:`(L, E)`, :math:`(L, N, E)`, or :math:`(N, L, E)` with ``batch_first``
        - key/value: :math:`(S, E_k)`, :math:`(S, N, E_k)` or :math:`(N, S, E_k)` (likewise E_v)
        - key_padding_mask: :math:`(N, S)` or :math:`(S,)`; True (bool) marks keys to ignore,
          float masks are added to the scores
        - attn_mask: :math:`(L, S)` or :math:`(N \cdot \text{num\_heads}, L, S)`; True (bool)
          marks blocked positions, float masks are added
        - outputs: attn_output shaped like the query (with E features), and attn_weights
          :math:`(N, L, S)` (averaged over heads), :math:`(N, \text{num\_heads}, L, S)` with
          ``average_attn_weights=False``, or None when ``need_weights=False``.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim=None, vdim=None,
                 batch_first: bool = False, device=None, dtype=None):
        super().__init__()
        dtype = resolve_dtype(dtype, device)
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"embed_dim and num_heads must be greater than 0, got embed_dim={embed_dim} and "
                             f"num_heads={num_heads} instead")
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})")
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads, self.dropout, self.batch_first = num_heads, dropout, batch_first
        self.head_dim = embed_dim // num_heads
        if not self._qkv_same_embed_dim:
            self.q_proj_weight = empty_parameter((embed_dim, embed_dim), dtype)
            self.k_proj_weight = empty_parameter((embed_dim, self.kdim), dtype)
            self.v_proj_weight = empty_parameter((embed_dim, self.vdim), dtype)
            self.register_parameter("in_proj_weight", None)
        else:
            self.in_proj_weight = empty_parameter((3 * embed_dim, embed_dim), dtype)
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        if bias:
            self.in_proj_bias = empty_parameter((3 * embed_dim,), dtype)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias, dtype=dtype)
        if add_bias_kv:
            self.bias_k = empty_parameter((1, 1, embed_dim), dtype)
            self.bias_v = empty_parameter((1, 1, embed_dim), dtype)
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
        if self.bias_v is not None:
            init.xavier_normal_(self.bias_v)

    def forward(self, query, key, value, key_padding_mask=None, need_weights: bool = True, attn_mask=None,
                average_attn_weights: bool = True, is_causal: bool = False):
        batched = query.ndim == 3
        if self.batch_first and batched:
            # Keep `key is value` / `query is key` identities: self-attention shares one projection.
            q = query.transpose(1, 0)
            k = q if key is query else key.transpose(1, 0)
            v = k if value is key else (q if value is query else value.transpose(1, 0))
            query, key, value = q, k, v
        out, weights = F.multi_head_attention_forward(
            query, key, value, self.embed_dim, self.num_heads, self.in_proj_weight, self.in_proj_bias,
            self.bias_k, self.bias_v, self.add_zero_attn, self.dropout, self.out_proj.weight, self.out_proj.bias,
            training=self.training, key_padding_mask=key_padding_mask, need_weights=need_weights,
            attn_mask=attn_mask, use_separate_proj_weight=not self._qkv_same_embed_dim,
            q_proj_weight=self.q_proj_weight, k_proj_weight=self.k_proj_weight, v_proj_weight=self.v_proj_weight,
            average_attn_weights=average_attn_weights, is_causal=is_causal)
        if self.batch_first and batched:
            out = out.transpose(1, 0)
        return out, weights
