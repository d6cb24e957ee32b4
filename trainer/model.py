"""A Mistral/Llama-family decoder: RMSNorm, RoPE, grouped-query attention, SwiGLU, optional sliding
window. Parameter names follow Mistral's `consolidated.safetensors` so weights load by key.
No I/O here: `weights.py` reads model directories.

Attention is a swappable function `(q, k, v, mask) -> out`: SDPA with an explicit boolean mask
(block-diagonal causal for packed documents) is the portable default; a CUDA path (FlexAttention
or varlen flash attention over document ids) can be dropped in without touching the layers.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .lora import LoRALinear


@dataclass(frozen=True)
class ModelArgs:
    dim: int
    n_layers: int
    head_dim: int
    hidden_dim: int
    n_heads: int
    n_kv_heads: int
    vocab_size: int
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    sliding_window: int | None = None
    tied_embeddings: bool = False


AttentionFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
_SDPA_HAS_GQA = tuple(int(x) for x in torch.__version__.split(".")[:2]) >= (2, 5)  # enable_gqa appeared in 2.5


def sdpa_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """q (B, H, T, hd), k/v (B, Hkv, S, hd), mask (B, 1, T, S) bool (True = may attend)."""
    if _SDPA_HAS_GQA:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=k.shape[1] != q.shape[1])
    group = q.shape[1] // k.shape[1]  # kv head j serves query heads j*group .. (j+1)*group-1
    k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def document_mask(doc_ids: torch.Tensor, positions: torch.Tensor, window: int | None) -> torch.Tensor:
    """Block-diagonal causal mask for packed rows: (B, T) document ids and per-document positions
    -> (B, 1, T, T). A token sees earlier tokens of its own document only (and, with a sliding
    window, only the last `window` of them)."""
    same_doc = doc_ids[:, :, None] == doc_ids[:, None, :]
    dist = positions[:, :, None] - positions[:, None, :]  # query pos - key pos
    allowed = same_doc & (dist >= 0)
    if window is not None:
        allowed &= dist < window
    return allowed[:, None]


def _upcast(dtype: torch.dtype) -> torch.dtype:
    return torch.promote_types(dtype, torch.float32)


def rope_angles(positions: torch.Tensor, head_dim: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin of the rotary angles for (B, T) positions -> each (B, T, 1, head_dim/2), fp32."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=positions.device, dtype=torch.float32) / head_dim))
    angles = positions.float()[..., None] * inv_freq  # (B, T, hd/2)
    return angles.cos()[:, :, None], angles.sin()[:, :, None]


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate interleaved pairs (x[2i], x[2i+1]), Mistral's native convention. x (B, T, H, hd)."""
    xf = x.to(_upcast(x.dtype)).unflatten(-1, (-1, 2))  # (B, T, H, hd/2, 2)
    x0, x1 = xf[..., 0], xf[..., 1]
    out = torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1)
    return out.flatten(-2).type_as(x)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.to(_upcast(x.dtype))  # normalise in fp32 (fp64 stays fp64) whatever the compute dtype
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x) * self.weight


class KVCache:
    """Per-layer key/value buffers (B, S, Hkv, hd) for generation; `slots` (B, T) says where the
    current tokens' keys/values go, so rows of different lengths share one batch."""

    def __init__(self, args: ModelArgs, batch: int, size: int, dtype: torch.dtype, device: torch.device):
        shape = (batch, size, args.n_kv_heads, args.head_dim)
        self.k = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(args.n_layers)]
        self.v = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(args.n_layers)]
        self.slots: torch.Tensor | None = None

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        assert self.slots is not None, "set cache.slots before the forward pass"
        rows = torch.arange(k.shape[0], device=k.device)[:, None].expand_as(self.slots)
        self.k[layer][rows, self.slots] = k
        self.v[layer][rows, self.slots] = v
        return self.k[layer], self.v[layer]


class Attention(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.n_heads, self.n_kv_heads, self.head_dim = args.n_heads, args.n_kv_heads, args.head_dim
        self.wq = LoRALinear(args.dim, args.n_heads * args.head_dim)
        self.wk = LoRALinear(args.dim, args.n_kv_heads * args.head_dim)
        self.wv = LoRALinear(args.dim, args.n_kv_heads * args.head_dim)
        self.wo = LoRALinear(args.n_heads * args.head_dim, args.dim)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor], mask: torch.Tensor,
                attend: AttentionFn, adapter_ids: torch.Tensor | None,
                cache: KVCache | None, layer: int) -> torch.Tensor:
        B, T, _ = x.shape
        q = self.wq(x, adapter_ids).view(B, T, self.n_heads, self.head_dim)
        k = self.wk(x, adapter_ids).view(B, T, self.n_kv_heads, self.head_dim)
        v = self.wv(x, adapter_ids).view(B, T, self.n_kv_heads, self.head_dim)
        q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        if cache is not None:
            k, v = cache.update(layer, k, v)  # (B, S, Hkv, hd)
        out = attend(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), mask)  # (B, H, T, hd)
        return self.wo(out.transpose(1, 2).reshape(B, T, -1), adapter_ids)


class FeedForward(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.w1 = LoRALinear(args.dim, args.hidden_dim)  # gate
        self.w2 = LoRALinear(args.hidden_dim, args.dim)  # down
        self.w3 = LoRALinear(args.dim, args.hidden_dim)  # up

    def forward(self, x: torch.Tensor, adapter_ids: torch.Tensor | None) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x, adapter_ids)) * self.w3(x, adapter_ids), adapter_ids)


class TransformerBlock(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.attention = Attention(args)
        self.feed_forward = FeedForward(args)
        self.attention_norm = RMSNorm(args.dim, args.norm_eps)
        self.ffn_norm = RMSNorm(args.dim, args.norm_eps)

    def forward(self, x, rope, mask, attend, adapter_ids, cache, layer):
        x = x + self.attention(self.attention_norm(x), rope, mask, attend, adapter_ids, cache, layer)
        return x + self.feed_forward(self.ffn_norm(x), adapter_ids)


class Transformer(nn.Module):
    def __init__(self, args: ModelArgs, attend: AttentionFn = sdpa_attention):
        super().__init__()
        self.args, self.attend = args, attend
        self.tok_embeddings = nn.Embedding(args.vocab_size, args.dim)
        self.layers = nn.ModuleList(TransformerBlock(args) for _ in range(args.n_layers))
        self.norm = RMSNorm(args.dim, args.norm_eps)
        self.output = nn.Linear(args.dim, args.vocab_size, bias=False)
        if args.tied_embeddings:
            self.output.weight = self.tok_embeddings.weight

    def forward(self, tokens: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor,
                adapter_ids: torch.Tensor | None = None, cache: KVCache | None = None,
                return_hidden: bool = False) -> torch.Tensor:
        """tokens/positions (B, T), mask (B, 1, T, S) bool -> logits (B, T, V), or the final-norm
        hidden states (B, T, dim) with `return_hidden` (chunked loss, classifier heads)."""
        h = self.tok_embeddings(tokens)  # (B, T, dim)
        rope = rope_angles(positions, self.args.head_dim, self.args.rope_theta)
        for i, layer in enumerate(self.layers):
            h = layer(h, rope, mask, self.attend, adapter_ids, cache, i)
        h = self.norm(h)
        return h if return_hidden else self.output(h)
