"""Attention: ``scaled_dot_product_attention`` and ``multi_head_attention_forward``.

Both run the same core, ``_attention`` (scores, mask, softmax, dropout, weighted sum),
so ``nn.MultiheadAttention`` and ``F.scaled_dot_product_attention`` cannot drift apart:
multi-head attention is the input projections, a reshape into heads, the core, and the
output projection.

Masks come in two conventions, as in torch: SDPA's bool ``attn_mask`` marks positions
that *take part* (True), while ``MultiheadAttention``'s bool masks mark positions to
*block* (True). Float masks are added to the scores in both. Everything is turned into
an additive float mask before the core.
"""
from __future__ import annotations

import math

from tensorweaver import backend
from tensorweaver.nn import functional as F
from tensorweaver.ops.linalg import linear
from tensorweaver.ops.reduction import softmax as _softmax
from tensorweaver.ops.shape import cat, transpose
from tensorweaver.tensor import _make_tensor

xp = backend.xp


def _const(array):
    return _make_tensor(backend.as_array(array), False, None)


def _canonical_mask(mask, name, dtype):
    """bool masks (True = blocked) -> float masks with -inf; float masks pass through."""
    if mask is None:
        return None
    if mask.dtype.kind == "b":
        return _const(xp.where(mask.data, -xp.inf, 0.0).astype(dtype))
    if mask.dtype.kind != "f":
        raise TypeError(f"only bool and floating types of {name} are supported, got {mask.dtype}")
    return mask


def _attention(query, key, value, attn_mask, dropout_p, scale):
    """The core: ``softmax(q @ k^T * scale + attn_mask)``, dropped out, times ``v``.

    Shapes: query (*, L, E), key (*, S, E), value (*, S, Ev), attn_mask None or an
    additive float mask broadcastable to (*, L, S). Returns (output (*, L, Ev),
    weights (*, L, S) after dropout)."""
    scores = (query @ transpose(key, -2, -1)) * scale
    if attn_mask is not None:
        scores = scores + attn_mask
    weights = _softmax(scores, -1)
    if dropout_p > 0.0:
        weights = F.dropout(weights, dropout_p, training=True)
    return weights @ value, weights


def _repeat_heads(t, groups):
    """(*, Hk, S, E) -> (*, Hk * groups, S, E), each head repeated ``groups`` times in place
    (``repeat_interleave`` on the head axis, for grouped-query attention)."""
    lead, (hk, s, e) = t.shape[:-3], t.shape[-3:]
    t = t.unsqueeze(-3).expand(*lead, hk, groups, s, e)
    return t.reshape(*lead, hk * groups, s, e)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False):
    """``softmax(q @ k^T * scale + mask) @ v``.

    Shapes: query (*, L, E), key (*, S, E), value (*, S, Ev) -> (*, L, Ev); ``scale``
    defaults to ``1/sqrt(E)``. ``attn_mask`` broadcasts to (*, L, S): a bool mask marks
    the positions that *take part* (True), a float mask is added. ``is_causal`` masks
    the upper triangle. ``enable_gqa``: query (N, Hq, L, E) may have more heads than
    key/value (N, Hk, S, E) when Hk divides Hq; each key/value head serves Hq / Hk queries."""
    L, S = query.shape[-2], key.shape[-2]
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    if is_causal:
        if attn_mask is not None:
            raise ValueError("scaled_dot_product_attention: pass either attn_mask or is_causal=True, not both")
        attn_mask = _const(xp.tril(xp.ones((L, S), dtype=bool)))
    if attn_mask is not None and attn_mask.dtype.kind == "b":
        attn_mask = _const(xp.where(attn_mask.data, 0.0, -xp.inf).astype(query.dtype))
    if enable_gqa and query.ndim >= 3 and key.shape[-3] != query.shape[-3]:
        hq, hk = query.shape[-3], key.shape[-3]
        if hq % hk or value.shape[-3] != hk:
            raise RuntimeError(f"scaled_dot_product_attention: with enable_gqa the number of query heads ({hq}) "
                               f"must be a multiple of the key/value heads ({hk}, {value.shape[-3]})")
        key, value = _repeat_heads(key, hq // hk), _repeat_heads(value, hq // hk)
    return _attention(query, key, value, attn_mask, dropout_p, scale)[0]


def _in_projection(query, key, value, w, b, e):
    """q, k, v = the three input projections, sharing one product for self-attention."""
    if key is query and value is query:
        q, k, v = linear(query, w, b).split(e, dim=-1)
        return q, k, v
    ws = w.split(e, dim=0)
    bs = b.split(e, dim=0) if b is not None else (None, None, None)
    return linear(query, ws[0], bs[0]), linear(key, ws[1], bs[1]), linear(value, ws[2], bs[2])


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads, in_proj_weight, in_proj_bias,
                                 bias_k, bias_v, add_zero_attn, dropout_p, out_proj_weight, out_proj_bias,
                                 training=True, key_padding_mask=None, need_weights=True, attn_mask=None,
                                 use_separate_proj_weight=False, q_proj_weight=None, k_proj_weight=None,
                                 v_proj_weight=None, static_k=None, static_v=None, average_attn_weights=True,
                                 is_causal=False):
    """Multi-head attention on sequence-first inputs, as ``torch.nn.functional``'s.

    Shapes: query (L, N, E) or (L, E); key/value (S, N, E_k/E_v) or (S, E_k/E_v);
    key_padding_mask (N, S) or (S,); attn_mask (L, S) or (N * num_heads, L, S).
    Bool masks mark *blocked* positions (True); float masks are added to the scores.
    ``is_causal`` is a hint that ``attn_mask`` is the causal mask (it must be given).
    Returns (output (L, N, E), weights (N, L, S) averaged over heads, or
    (N, num_heads, L, S), or None when ``need_weights=False``).
    """
    if static_k is not None or static_v is not None:
        raise NotImplementedError("multi_head_attention_forward: static_k/static_v are not supported; "
                                  "project the keys and values yourself and pass them as key/value")
    if query.ndim == 3:
        batched = True
        if key.ndim != 3 or value.ndim != 3:
            raise ValueError(f"For batched (3-D) `query`, expected `key` and `value` to be 3-D but found "
                             f"{key.ndim}-D and {value.ndim}-D tensors respectively")
    elif query.ndim == 2:
        batched = False
        if key.ndim != 2 or value.ndim != 2:
            raise ValueError(f"For unbatched (2-D) `query`, expected `key` and `value` to be 2-D but found "
                             f"{key.ndim}-D and {value.ndim}-D tensors respectively")
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    else:
        raise ValueError(f"query should be unbatched 2D or batched 3D tensor but received {query.ndim}-D query tensor")
    tgt_len, bsz, e = query.shape
    src_len = key.shape[0]
    if e != embed_dim_to_check:
        raise ValueError(f"was expecting embedding dimension of {embed_dim_to_check}, but got {e} "
                         f"(query of shape {query.shape}; with batch_first=True the input is (N, L, E))")
    head_dim = e // num_heads
    if key.shape[:2] != value.shape[:2]:
        raise ValueError(f"key's sequence and batch dims {key.shape[:2]} do not match value's {value.shape[:2]}")
    if key.shape[1] != bsz:
        raise ValueError(f"query has batch size {bsz} but key has {key.shape[1]}")
    if is_causal and attn_mask is None:
        raise RuntimeError("Need attn_mask if specifying the is_causal hint (build a causal mask, e.g. "
                           "nn.Transformer.generate_square_subsequent_mask(L))")
    key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask", query.dtype)
    attn_mask = _canonical_mask(attn_mask, "attn_mask", query.dtype)

    if use_separate_proj_weight:
        bs = in_proj_bias.split(e, dim=0) if in_proj_bias is not None else (None, None, None)
        q, k, v = (linear(query, q_proj_weight, bs[0]), linear(key, k_proj_weight, bs[1]),
                   linear(value, v_proj_weight, bs[2]))
    else:
        q, k, v = _in_projection(query, key, value, in_proj_weight, in_proj_bias, e)

    # Work in (N, H, L, hd) with the masks broadcasting as (1 or N, 1 or H, L, S): every reshape
    # then keeps L and N in place, so both stay dynamic axes in an ONNX export.
    if attn_mask is not None:
        if attn_mask.ndim == 2:
            if attn_mask.shape != (tgt_len, src_len):
                raise RuntimeError(f"The shape of the 2D attn_mask is {attn_mask.shape}, but should be "
                                   f"{(tgt_len, src_len)}.")
            attn_mask = attn_mask.unsqueeze(0)
        elif attn_mask.ndim == 3:
            if attn_mask.shape != (bsz * num_heads, tgt_len, src_len):
                raise RuntimeError(f"The shape of the 3D attn_mask is {attn_mask.shape}, but should be "
                                   f"{(bsz * num_heads, tgt_len, src_len)}.")
        else:
            raise RuntimeError(f"attn_mask's dimension {attn_mask.ndim} is not supported")

    def pad_last(mask):
        return None if mask is None else cat([mask, _const(xp.zeros(mask.shape[:-1] + (1,), dtype=mask.dtype))], -1)

    if bias_k is not None and bias_v is not None:
        k = cat([k, bias_k.expand(1, bsz, e)])
        v = cat([v, bias_v.expand(1, bsz, e)])
        attn_mask, key_padding_mask = pad_last(attn_mask), pad_last(key_padding_mask)

    def heads(t):                                                                # (L, N, E) -> (N, H, L, hd)
        return t.reshape(t.shape[0], bsz, num_heads, head_dim).permute(1, 2, 0, 3)

    q, k, v = heads(q), heads(k), heads(v)
    if add_zero_attn:
        # A zero key/value row; k[..., :1, :] * 0 (not a new zeros array) keeps the batch axis dynamic.
        k, v = cat([k, k[:, :, :1] * 0.0], 2), cat([v, v[:, :, :1] * 0.0], 2)
        attn_mask, key_padding_mask = pad_last(attn_mask), pad_last(key_padding_mask)
    src_len = k.shape[2]

    if attn_mask is not None:
        if attn_mask.shape[0] == 1:
            attn_mask = attn_mask.unsqueeze(0)                                   # (1, 1, L, S)
        else:
            attn_mask = attn_mask.reshape(bsz, num_heads, tgt_len, src_len)
    if key_padding_mask is not None:
        if key_padding_mask.shape != (bsz, src_len):
            raise RuntimeError(f"expecting key_padding_mask shape of {(bsz, src_len)}, but got {key_padding_mask.shape}")
        kpm = key_padding_mask.unsqueeze(1).unsqueeze(1)                         # (N, 1, 1, S)
        attn_mask = kpm if attn_mask is None else attn_mask + kpm

    out, weights = _attention(q, k, v, attn_mask, dropout_p if training else 0.0, 1.0 / math.sqrt(head_dim))
    out = out.permute(2, 0, 1, 3).reshape(tgt_len, bsz, e)                      # (L, N, E)
    out = linear(out, out_proj_weight, out_proj_bias)
    if not need_weights:
        return (out if batched else out.squeeze(1)), None
    if average_attn_weights:
        weights = weights.mean(dim=1)
    if not batched:
        return out.squeeze(1), weights.squeeze(0)
    return out, weights
