"""Transformer layers as torch's: ``TransformerEncoderLayer``, ``TransformerEncoder``,
``TransformerDecoderLayer``, ``TransformerDecoder`` and ``nn.Transformer``.

Submodules carry torch's names (``self_attn``, ``multihead_attn``, ``linear1``,
``linear2``, ``norm1``..``norm3``, ``dropout``..``dropout3``; stacks hold ``layers.0``,
``layers.1``, ... and an optional ``norm``), so state dicts load both ways. Attention is
``nn.MultiheadAttention``, whose core is ``F.scaled_dot_product_attention``'s.

torch's "fast path" (nested tensors, fused kernels in eval) only changes speed, never
the result, so it has no counterpart here: ``enable_nested_tensor`` and ``mask_check`` are
accepted and ignored. ``is_causal``/``tgt_is_causal``/``src_is_causal`` are hints that the
given mask is the causal one, as in torch: the mask itself must be passed.
"""
from __future__ import annotations

import copy

from tensorweaver import backend
from tensorweaver.nn import functional as F
from tensorweaver.nn import init
from tensorweaver.nn.modules.activation import MultiheadAttention
from tensorweaver.nn.modules.container import ModuleList
from tensorweaver.nn.modules.dropout import Dropout
from tensorweaver.nn.modules.linear import Linear
from tensorweaver.nn.modules.module import Module
from tensorweaver.nn.modules.normalization import LayerNorm
from tensorweaver.nn.modules._factory import resolve_dtype
from tensorweaver.tensor import _make_tensor

xp = backend.xp


def _generate_square_subsequent_mask(sz, device=None, dtype=None):
    """(sz, sz) float mask: 0 on and below the diagonal, -inf above (position i sees j <= i)."""
    dtype = resolve_dtype(dtype, device)
    mask = xp.triu(xp.full((sz, sz), -xp.inf, dtype=dtype), 1)
    return _make_tensor(backend.as_array(mask), False, None)


def _get_activation(activation):
    if activation == "relu":
        return F.relu, 1
    if activation == "gelu":
        return F.gelu, 2
    if callable(activation):
        return activation, 0
    raise RuntimeError(f"activation should be relu/gelu, not {activation}")


def _get_clones(module, n):
    return ModuleList([copy.deepcopy(module) for _ in range(n)])


def _detect_is_causal_mask(mask, is_causal=None, size=None) -> bool:
    """``is_causal`` if given; otherwise whether ``mask`` equals the causal mask (torch's rule)."""
    if is_causal is not None or mask is None:
        return bool(is_causal)
    sz = size if size is not None else mask.shape[-2]
    if tuple(mask.shape) != (sz, sz):
        return False
    causal = _generate_square_subsequent_mask(sz, dtype=mask.dtype).data if mask.dtype.kind == "f" else \
        xp.triu(xp.ones((sz, sz), dtype=bool), 1)
    return bool((mask.data == causal).all())


def _seq_len(x, batch_first):
    return x.shape[0] if x.ndim == 2 else x.shape[1 if batch_first else 0]


class TransformerEncoderLayer(Module):
    r"""Self-attention then a feed-forward block, each with a residual connection and LayerNorm
    (after each block, or before with ``norm_first=True``).

    Args:
        d_model: features E of the input; nhead: attention heads (must divide d_model)
        dim_feedforward: hidden size of the feed-forward block. Default: 2048
        dropout: dropout on attention weights and after each block. Default: 0.1
        activation: ``"relu"``, ``"gelu"`` or a callable. Default: relu
        layer_norm_eps: LayerNorm eps. Default: 1e-5
        batch_first: (N, S, E) instead of (S, N, E). Default: ``False``
        norm_first: LayerNorm before attention/feed-forward (pre-LN). Default: ``False``
        bias: biases in the linear layers and LayerNorms. Default: ``True``

    Shapes of ``forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False)``:
        - src: :math:`(S, E)`, :math:`(S, N, E)` or :math:`(N, S, E)` with ``batch_first``
        - src_mask: :math:`(S, S)` or :math:`(N \cdot \text{nhead}, S, S)` (bool True = blocked, or
          float added); src_key_padding_mask: :math:`(N, S)` (True = padding)
        - output: like src
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation="relu", layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device=None, dtype=None):
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation, self.activation_relu_or_gelu = _get_activation(activation)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal: bool = False):
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x):
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerDecoderLayer(Module):
    r"""Self-attention on the target, attention over the encoder's output (``memory``), then a
    feed-forward block; residual connections and LayerNorms as ``TransformerEncoderLayer``.

    Args: as ``TransformerEncoderLayer``.

    Shapes of ``forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False)``:
        - tgt: :math:`(T, N, E)` (or batch first, or unbatched (T, E)); memory: :math:`(S, N, E)`
        - tgt_mask: :math:`(T, T)`; memory_mask: :math:`(T, S)`; key padding masks :math:`(N, T)`,
          :math:`(N, S)`
        - output: like tgt
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation="relu", layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device=None, dtype=None):
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, **kw)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                                 batch_first=batch_first, **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.activation, self.activation_relu_or_gelu = _get_activation(activation)

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal: bool = False, memory_is_causal: bool = False):
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask, memory_is_causal)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask, memory_is_causal))
            x = self.norm3(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           is_causal=is_causal, need_weights=False)[0]
        return self.dropout1(x)

    def _mha_block(self, x, mem, attn_mask, key_padding_mask, is_causal):
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                is_causal=is_causal, need_weights=False)[0]
        return self.dropout2(x)

    def _ff_block(self, x):
        return self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerEncoder(Module):
    r"""``num_layers`` copies of ``encoder_layer`` (deep copies: separate weights, held in
    ``layers``), then ``norm`` if given.

    Shapes of ``forward(src, mask=None, src_key_padding_mask=None, is_causal=None)``: as
    ``TransformerEncoderLayer``'s. ``enable_nested_tensor`` and ``mask_check`` (torch's fast
    path) are accepted and have no effect.
    """

    def __init__(self, encoder_layer, num_layers: int, norm=None, enable_nested_tensor: bool = True,
                 mask_check: bool = True):
        super().__init__()
        if not isinstance(encoder_layer, Module):
            raise TypeError(f"encoder_layer must be a Module (e.g. nn.TransformerEncoderLayer), got "
                            f"{type(encoder_layer).__name__}")
        self.layers = _get_clones(encoder_layer, num_layers)
        self.num_layers, self.norm = num_layers, norm
        self.enable_nested_tensor, self.mask_check = enable_nested_tensor, mask_check

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        first = self.layers[0] if len(self.layers) else None
        batch_first = getattr(getattr(first, "self_attn", None), "batch_first", False)
        is_causal = _detect_is_causal_mask(mask, is_causal, _seq_len(src, batch_first))
        output = src
        for mod in self.layers:
            output = mod(output, src_mask=mask, is_causal=is_causal, src_key_padding_mask=src_key_padding_mask)
        return self.norm(output) if self.norm is not None else output


class TransformerDecoder(Module):
    r"""``num_layers`` copies of ``decoder_layer``, then ``norm`` if given.

    Shapes of ``forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False)``: as
    ``TransformerDecoderLayer``'s.
    """

    def __init__(self, decoder_layer, num_layers: int, norm=None):
        super().__init__()
        if not isinstance(decoder_layer, Module):
            raise TypeError(f"decoder_layer must be a Module (e.g. nn.TransformerDecoderLayer), got "
                            f"{type(decoder_layer).__name__}")
        self.layers = _get_clones(decoder_layer, num_layers)
        self.num_layers, self.norm = num_layers, norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal: bool = False):
        first = self.layers[0] if len(self.layers) else None
        batch_first = getattr(getattr(first, "self_attn", None), "batch_first", False)
        tgt_is_causal = _detect_is_causal_mask(tgt_mask, tgt_is_causal, _seq_len(tgt, batch_first))
        output = tgt
        for mod in self.layers:
            output = mod(output, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                         tgt_key_padding_mask=tgt_key_padding_mask, memory_key_padding_mask=memory_key_padding_mask,
                         tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)
        return self.norm(output) if self.norm is not None else output


class Transformer(Module):
    r"""The encoder-decoder Transformer ("Attention Is All You Need"): a ``TransformerEncoder``
    and a ``TransformerDecoder``, each ending in a LayerNorm; every weight matrix initialised
    with ``xavier_uniform_``.

    Args: d_model (512), nhead (8), num_encoder_layers (6), num_decoder_layers (6),
    dim_feedforward (2048), dropout (0.1), activation (relu), custom_encoder, custom_decoder
    (modules used instead of the built ones), layer_norm_eps (1e-5), batch_first (False),
    norm_first (False), bias (True).

    Shapes of ``forward(src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
    src_key_padding_mask=None, tgt_key_padding_mask=None, memory_key_padding_mask=None,
    src_is_causal=None, tgt_is_causal=None, memory_is_causal=False)``:
        - src :math:`(S, N, E)`, tgt :math:`(T, N, E)` (batch first: :math:`(N, S, E)`, :math:`(N, T, E)`;
          unbatched: :math:`(S, E)`, :math:`(T, E)`); output like tgt
        - src_mask :math:`(S, S)`, tgt_mask :math:`(T, T)` (``generate_square_subsequent_mask(T)``),
          memory_mask :math:`(T, S)`; key padding masks :math:`(N, S)`, :math:`(N, T)`, :math:`(N, S)`
    """

    def __init__(self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6,
                 num_decoder_layers: int = 6, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation="relu", custom_encoder=None, custom_decoder=None, layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True, device=None, dtype=None):
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            layer = TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                                            batch_first, norm_first, bias, **kw)
            self.encoder = TransformerEncoder(layer, num_encoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            layer = TransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                                            batch_first, norm_first, bias, **kw)
            self.decoder = TransformerDecoder(layer, num_decoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
        self._reset_parameters()
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None, src_key_padding_mask=None,
                tgt_key_padding_mask=None, memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
                memory_is_causal: bool = False):
        is_batched = src.ndim == 3
        if not self.batch_first and src.shape[1] != tgt.shape[1] and is_batched:
            raise RuntimeError("the batch number of src and tgt must be equal (with batch_first=False the "
                               "inputs are (S, N, E) and (T, N, E))")
        if self.batch_first and src.shape[0] != tgt.shape[0] and is_batched:
            raise RuntimeError("the batch number of src and tgt must be equal")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise RuntimeError("the feature number of src and tgt must be equal to d_model")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask,
                            tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device=None, dtype=None):
        """A causal mask for a sequence of length ``sz``: (sz, sz) float, -inf above the diagonal."""
        return _generate_square_subsequent_mask(sz, device, dtype)

    def _reset_parameters(self) -> None:
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)
