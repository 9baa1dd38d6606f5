"""MultiheadAttention, with torch's parameters, masks, shapes and checks.

Parameters are torch's: `in_proj_weight` (3E, E) and `in_proj_bias` (3E,) stacking the q, k, v
projections (or `q_proj_weight`, `k_proj_weight`, `v_proj_weight` when kdim/vdim differ from
embed_dim), `out_proj` (a Linear), optional `bias_k`/`bias_v`. The forward follows torch's
`F.multi_head_attention_forward` (its slow path; torch's fused fast path computes the same):
sequences are (L, N, E) inside, `batch_first` only transposes, boolean masks become -inf
additive masks, and the attention weights are returned averaged over heads by default.
"""

from __future__ import annotations

import math
import warnings

import ember

from .. import functional as F
from .. import init
from ..parameter import Parameter
from .linear import Linear
from .module import Module

__all__ = ["MultiheadAttention"]

Tensor = ember.Tensor


class NonDynamicallyQuantizableLinear(Linear):
    """A Linear under another name: torch's type of `MultiheadAttention.out_proj`.

    Matches torch: it shows in the repr, and like torch it is not part of the public API.
    """


class MultiheadAttention(Module):
    """Attention over `num_heads` heads of size embed_dim // num_heads, then a projection."""

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
        device=None,
        dtype=None,
    ) -> None:
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(
                f"embed_dim and num_heads must be greater than 0, got embed_dim={embed_dim} "
                f"and num_heads={num_heads} instead"
            )
        super().__init__()
        factory = {"dtype": dtype, "device": device}
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        if self.head_dim * num_heads != embed_dim:
            raise AssertionError("embed_dim must be divisible by num_heads")
        if not self._qkv_same_embed_dim:
            self.q_proj_weight = Parameter(ember.empty((embed_dim, embed_dim), **factory))
            self.k_proj_weight = Parameter(ember.empty((embed_dim, self.kdim), **factory))
            self.v_proj_weight = Parameter(ember.empty((embed_dim, self.vdim), **factory))
            self.register_parameter("in_proj_weight", None)
        else:
            self.in_proj_weight = Parameter(ember.empty((3 * embed_dim, embed_dim), **factory))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(ember.empty(3 * embed_dim, **factory))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias, **factory)
        if add_bias_kv:
            self.bias_k = Parameter(ember.empty((1, 1, embed_dim), **factory))
            self.bias_v = Parameter(ember.empty((1, 1, embed_dim), **factory))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """Xavier-uniform projections, zero biases, Xavier-normal bias_k/bias_v (torch's)."""
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

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Tensor | None = None,
        need_weights: bool = True,
        attn_mask: Tensor | None = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """(attn_output, attn_weights or None); shapes (L, N, E) and (N, L, S) as torch's.

        Unbatched inputs (L, E) give (L, E) and (L, S); without averaging the weights keep a
        heads dim: (N, num_heads, L, S). Boolean masks mark positions that may NOT attend.
        """
        is_batched = query.dim() == 3
        key_padding_mask = _canonical_mask(
            key_padding_mask,
            "key_padding_mask",
            None if attn_mask is None else attn_mask.dtype,
            "attn_mask",
            query.dtype,
        )
        attn_mask = _canonical_mask(attn_mask, "attn_mask", None, "", query.dtype)
        if self.batch_first and is_batched:
            query, key, value = (x.transpose(1, 0) for x in (query, key, value))
        output, weights = self._attention(
            query, key, value, key_padding_mask, need_weights, attn_mask, is_causal
        )
        if weights is not None and average_attn_weights:
            weights = weights.mean(dim=1)
        if not is_batched:
            output = output.squeeze(1)
            weights = None if weights is None else weights.squeeze(0)
        if self.batch_first and is_batched:
            output = output.transpose(1, 0)
        return output, weights

    def _attention(self, query, key, value, key_padding_mask, need_weights, attn_mask, is_causal):
        """torch's multi_head_attention_forward on time-major inputs; weights per head.

        Returns the output (L, N, E) (N = 1 for unbatched input) and the weights
        (N, heads, L, S), or None when `need_weights` is False.
        """
        num_heads = self.num_heads
        if not _shape_check(query, key, value, key_padding_mask, attn_mask, num_heads):
            query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        tgt_len, bsz, embed_dim = query.shape
        src_len = key.shape[0]
        if is_causal and attn_mask is None:
            raise RuntimeError(
                "Need attn_mask if specifying the is_causal hint. You may use the Transformer "
                "module method `generate_square_subsequent_mask` to create this mask."
            )
        # Matches torch: without weights or padding mask, is_causal replaces attn_mask by the
        # causal mask; otherwise attn_mask is used and is_causal is only a hint.
        if is_causal and key_padding_mask is None and not need_weights:
            attn_mask = _causal_mask(tgt_len, src_len, query.dtype)
        if embed_dim != self.embed_dim:
            raise AssertionError(
                f"was expecting embedding dimension of {self.embed_dim}, but got {embed_dim}"
            )
        head_dim = embed_dim // num_heads
        q, k, v = self._in_projection(query, key, value)
        if attn_mask is not None:
            if attn_mask.dim() == 2:
                if tuple(attn_mask.shape) != (tgt_len, src_len):
                    raise RuntimeError(
                        f"The shape of the 2D attn_mask is {attn_mask.shape}, but should be "
                        f"{(tgt_len, src_len)}."
                    )
                attn_mask = attn_mask.unsqueeze(0)
            elif tuple(attn_mask.shape) != (bsz * num_heads, tgt_len, src_len):
                raise RuntimeError(
                    f"The shape of the 3D attn_mask is {attn_mask.shape}, but should be "
                    f"{(bsz * num_heads, tgt_len, src_len)}."
                )
        if self.bias_k is not None and self.bias_v is not None:
            k = ember.cat([k, self.bias_k.repeat(1, bsz, 1)])
            v = ember.cat([v, self.bias_v.repeat(1, bsz, 1)])
            attn_mask = _pad_last(attn_mask)
            key_padding_mask = _pad_last(key_padding_mask)
        # (L, N, E) -> (N * heads, L, head_dim): one batched matmul over batch and heads.
        q = q.reshape(tgt_len, bsz * num_heads, head_dim).transpose(0, 1)
        k = k.reshape(k.shape[0], bsz * num_heads, head_dim).transpose(0, 1)
        v = v.reshape(v.shape[0], bsz * num_heads, head_dim).transpose(0, 1)
        if self.add_zero_attn:
            zeros = ember.zeros(bsz * num_heads, 1, head_dim, dtype=k.dtype)
            k = ember.cat([k, zeros], dim=1)
            v = ember.cat([v, zeros], dim=1)
            attn_mask = _pad_last(attn_mask)
            key_padding_mask = _pad_last(key_padding_mask)
        src_len = k.size(1)
        if key_padding_mask is not None:
            if key_padding_mask.shape[0] != bsz:
                raise AssertionError(
                    f"Expected key_padded_mask.shape[0] to be {bsz}, but got "
                    f"{key_padding_mask.shape[0]}"
                )
            if key_padding_mask.shape[1] != src_len:
                raise AssertionError(
                    f"Expected key_padded_mask.shape[1] to be {src_len}, but got "
                    f"{key_padding_mask.shape[1]}"
                )
            key_padding_mask = (
                key_padding_mask.view(bsz, 1, 1, src_len)
                .expand(-1, num_heads, -1, -1)
                .reshape(bsz * num_heads, 1, src_len)
            )
            attn_mask = key_padding_mask if attn_mask is None else attn_mask + key_padding_mask
        scores = ember.bmm(q * math.sqrt(1.0 / float(head_dim)), k.transpose(-2, -1))
        if attn_mask is not None:
            scores = attn_mask + scores
        weights = F.softmax(scores, dim=-1)
        dropout_p = self.dropout if self.training else 0.0
        if dropout_p > 0.0:
            weights = F.dropout(weights, p=dropout_p)
        output = ember.bmm(weights, v).transpose(0, 1).reshape(tgt_len * bsz, embed_dim)
        output = F.linear(output, self.out_proj.weight, self.out_proj.bias)
        output = output.view(tgt_len, bsz, output.size(1))
        if not need_weights:
            return output, None
        return output, weights.view(bsz, num_heads, tgt_len, src_len)

    def _in_projection(self, query: Tensor, key: Tensor, value: Tensor) -> tuple:
        """q, k, v = the three input projections (one matmul for self-attention)."""
        b = self.in_proj_bias
        b_q, b_k, b_v = (None, None, None) if b is None else b.chunk(3)
        if not self._qkv_same_embed_dim:
            if key.shape[:2] != value.shape[:2]:
                raise AssertionError(
                    f"key's sequence and batch dims {key.shape[:2]} do not match value's "
                    f"{value.shape[:2]}"
                )
            for name, w, x in (
                ("key", self.k_proj_weight, key),
                ("value", self.v_proj_weight, value),
            ):
                if tuple(w.shape) != (self.embed_dim, x.size(-1)):
                    raise AssertionError(
                        f"expecting {name} weights shape of {(self.embed_dim, x.size(-1))}, "
                        f"but got {w.shape}"
                    )
            return (
                F.linear(query, self.q_proj_weight, b_q),
                F.linear(key, self.k_proj_weight, b_k),
                F.linear(value, self.v_proj_weight, b_v),
            )
        if key.shape != value.shape:
            raise AssertionError(f"key shape {key.shape} does not match value shape {value.shape}")
        if query is key and key is value:
            return F.linear(query, self.in_proj_weight, b).chunk(3, dim=-1)
        w_q, w_k, w_v = self.in_proj_weight.chunk(3)
        return F.linear(query, w_q, b_q), F.linear(key, w_k, b_k), F.linear(value, w_v, b_v)


def _canonical_mask(
    mask: Tensor | None, name: str, other_type, other_name: str, target_type
) -> Tensor | None:
    """A boolean mask as an additive float mask (-inf where True); float masks pass as is."""
    if mask is None:
        return None
    if mask.dtype != ember.bool and not mask.is_floating_point():
        raise AssertionError(f"only bool and floating types of {name} are supported")
    if other_type is not None and mask.dtype != other_type:
        warnings.warn(
            f"Support for mismatched {name} and {other_name} is deprecated. Use same type "
            "for both instead.",
            stacklevel=3,
        )
    if mask.is_floating_point():
        return mask
    return ember.zeros_like(mask, dtype=target_type).masked_fill_(mask, float("-inf"))


def _causal_mask(tgt_len: int, src_len: int, dtype) -> Tensor:
    """Additive mask letting query i attend to keys 0..i (top-left aligned, as torch's SDPA)."""
    allowed = ember.ones(tgt_len, src_len, dtype=ember.bool).tril()
    return ember.zeros(tgt_len, src_len, dtype=dtype).masked_fill_(~allowed, float("-inf"))


def _pad_last(mask: Tensor | None) -> Tensor | None:
    """One more (zero: attend) position at the end of the last dim, for bias_k or zero attn."""
    if mask is None:
        return None
    return ember.cat([mask, ember.zeros(*mask.shape[:-1], 1, dtype=mask.dtype)], dim=-1)


def _shape_check(query, key, value, key_padding_mask, attn_mask, num_heads: int) -> bool:
    """torch's `_mha_shape_check`: whether the input is batched, or its AssertionError."""
    if query.dim() == 3:
        if key.dim() != 3 or value.dim() != 3:
            raise AssertionError(
                "For batched (3-D) `query`, expected `key` and `value` to be 3-D but found "
                f"{key.dim()}-D and {value.dim()}-D tensors respectively"
            )
        if key_padding_mask is not None and key_padding_mask.dim() != 2:
            raise AssertionError(
                "For batched (3-D) `query`, expected `key_padding_mask` to be `None` or 2-D but "
                f"found {key_padding_mask.dim()}-D tensor instead"
            )
        if attn_mask is not None and attn_mask.dim() not in (2, 3):
            raise AssertionError(
                "For batched (3-D) `query`, expected `attn_mask` to be `None`, 2-D or 3-D but "
                f"found {attn_mask.dim()}-D tensor instead"
            )
        return True
    if query.dim() == 2:
        if key.dim() != 2 or value.dim() != 2:
            raise AssertionError(
                "For unbatched (2-D) `query`, expected `key` and `value` to be 2-D but found "
                f"{key.dim()}-D and {value.dim()}-D tensors respectively"
            )
        if key_padding_mask is not None and key_padding_mask.dim() != 1:
            raise AssertionError(
                "For unbatched (2-D) `query`, expected `key_padding_mask` to be `None` or 1-D "
                f"but found {key_padding_mask.dim()}-D tensor instead"
            )
        if attn_mask is not None:
            if attn_mask.dim() not in (2, 3):
                raise AssertionError(
                    "For unbatched (2-D) `query`, expected `attn_mask` to be `None`, 2-D or 3-D "
                    f"but found {attn_mask.dim()}-D tensor instead"
                )
            expected = (num_heads, query.shape[0], key.shape[0])
            if attn_mask.dim() == 3 and tuple(attn_mask.shape) != expected:
                raise AssertionError(
                    f"Expected `attn_mask` shape to be {expected} but got {attn_mask.shape}"
                )
        return False
    raise AssertionError(
        "query should be unbatched 2D or batched 3D tensor but received "
        f"{query.dim()}-D query tensor"
    )
