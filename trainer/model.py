"""A Mistral/Llama-family decoder: RMSNorm, RoPE, grouped-query attention, SwiGLU, optional sliding
window. Parameter names follow Mistral's `consolidated.safetensors` so weights load by key.
No I/O here: `weights.py` reads model directories.

Attention is a swappable backend: a function `(q, k, v, mask) -> out` plus the function that builds
its mask from the packed rows' document ids and positions. SDPA with an explicit boolean
block-diagonal causal mask is the portable default (`SDPA`); `FLEX` is FlexAttention with a document
block mask, which skips the blocks of other documents entirely (the fast CUDA path, no padding to
per-document lengths). `Transformer.use_attention` switches backends; `Transformer.packed_mask`
builds the mask the current backend wants.

Speed switches for training (set by `trainer/speed.py`): `compile_blocks()` compiles each block
with torch.compile (fusing RMSNorm, RoPE, SwiGLU and the LoRA adds around the matmuls), and
`checkpoint_layers` recomputes the first N blocks' activations in backward to save memory.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from .lora import LoRALinear
from .rope import RopeScaling, rope_frequencies


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
    rope_scaling: RopeScaling | None = None  # llama3 / linear / yarn frequencies (rope.py)


AttentionFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
_SDPA_HAS_GQA = tuple(int(x) for x in torch.__version__.split(".")[:2]) >= (2, 5)  # enable_gqa appeared in 2.5


@dataclass(frozen=True)
class DocSpans:
    """Packed rows as runs of whole documents, `(row, start, end)` each, in row order: the same rule
    as `document_mask` when every document is one run of consecutive positions. Attention then runs
    causally per document, skipping every cross-document score (the CPU path: its SDPA kernel
    computes every tile of a dense mask)."""
    spans: tuple[tuple[int, int, int], ...]
    rows: int


MAX_SPANS_PER_ROW = 16  # more, shorter documents than this: one dense-mask call beats many small ones


def document_spans(doc_ids: torch.Tensor, positions: torch.Tensor, window: int | None) -> DocSpans | None:
    """The `document_mask` rule as per-document spans, or None where spans cannot express it (a
    document split into runs, positions not consecutive, a sliding window shorter than a document,
    or too many documents per row)."""
    B, T = doc_ids.shape
    starts = torch.ones_like(doc_ids, dtype=torch.bool)
    starts[:, 1:] = doc_ids[:, 1:] != doc_ids[:, :-1]
    if not bool(((positions[:, 1:] - positions[:, :-1] == 1) | starts[:, 1:]).all()):
        return None
    runs = starts.sum(1)
    ordered = doc_ids.sort(dim=1).values
    if not torch.equal(runs, 1 + (ordered[:, 1:] != ordered[:, :-1]).sum(1)) or int(runs.max()) > MAX_SPANS_PER_ROW:
        return None  # some document id occurs in two runs of a row
    spans = []
    for row, start in starts.nonzero().tolist():
        if spans and spans[-1][0] == row:
            spans[-1][2] = start
        spans.append([row, start, T])
    if window is not None and max(e - s for _, s, e in spans) > window:
        return None
    return DocSpans(tuple((r, s, e) for r, s, e in spans), B)


def sdpa_packed_mask(doc_ids: torch.Tensor, positions: torch.Tensor, window: int | None) -> DocSpans | torch.Tensor:
    """The SDPA backend's packed-row mask: per-document spans on CPU where they apply, else the
    dense boolean `document_mask`."""
    if doc_ids.device.type == "cpu":
        spans = document_spans(doc_ids, positions, window)
        if spans is not None:
            return spans
    return document_mask(doc_ids, positions, window)


def _sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if _SDPA_HAS_GQA:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=mask is None,
                                              enable_gqa=k.shape[1] != q.shape[1])
    group = q.shape[1] // k.shape[1]  # kv head j serves query heads j*group .. (j+1)*group-1
    k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=mask is None)


def sdpa_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | DocSpans) -> torch.Tensor:
    """q (B, H, T, hd), k/v (B, Hkv, S, hd), mask (B, 1, T, S) bool (True = may attend), or
    `DocSpans` (S = T, no cache): causal attention within each span."""
    if isinstance(mask, DocSpans):
        # the spans tile the rows in order, so (B*T, H, hd) splits into them as views; split's
        # backward is one concatenation (slicing would zero-fill and add a full gradient per span)
        B, H, T, hd = q.shape
        sizes = [e - s for _, s, e in mask.spans]
        parts = zip(*(t.transpose(1, 2).reshape(B * T, t.shape[1], hd).split(sizes) for t in (q, k, v)))
        outs = [_sdpa(qs.transpose(0, 1)[None], ks.transpose(0, 1)[None], vs.transpose(0, 1)[None], None)[0].transpose(0, 1)
                for qs, ks, vs in parts]
        return torch.cat(outs).view(B, T, H, hd).transpose(1, 2)
    return _sdpa(q, k, v, mask)


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


def flex_available() -> bool:
    """FlexAttention ships with torch >= 2.5."""
    try:
        from torch.nn.attention import flex_attention  # noqa: F401
    except ImportError:
        return False
    return True


def flex_document_mask(doc_ids: torch.Tensor, positions: torch.Tensor, window: int | None) -> Any:
    """The `document_mask` rule as a FlexAttention BlockMask: (B, T) document ids and positions ->
    a block-sparse mask; 128 x 128 tiles that cross documents are never computed."""
    from torch.nn.attention.flex_attention import create_block_mask

    def allowed(b, h, q, kv):
        dist = positions[b, q] - positions[b, kv]
        ok = (doc_ids[b, q] == doc_ids[b, kv]) & (dist >= 0)
        return ok & (dist < window) if window is not None else ok

    B, T = doc_ids.shape
    return create_block_mask(allowed, B, None, T, T, device=doc_ids.device)


_compiled_flex: Callable | None = None


def flex_attention_fn(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: Any) -> torch.Tensor:
    """q (B, H, T, hd), k/v (B, Hkv, T, hd), mask a BlockMask from `flex_document_mask`. Inside a
    compiled block the call is traced into the block's graph; outside one it runs compiled on CUDA
    (eager FlexAttention materialises every score) and eagerly elsewhere (tests, CPU)."""
    from torch.nn.attention.flex_attention import flex_attention
    global _compiled_flex
    gqa = k.shape[1] != q.shape[1]
    if torch.compiler.is_compiling() or q.device.type != "cuda":
        return flex_attention(q, k, v, block_mask=mask, enable_gqa=gqa)
    if _compiled_flex is None:
        _compiled_flex = torch.compile(flex_attention, dynamic=False)
    return _compiled_flex(q, k, v, block_mask=mask, enable_gqa=gqa)


@dataclass(frozen=True)
class AttentionBackend:
    name: str
    attend: AttentionFn
    make_mask: Callable[[torch.Tensor, torch.Tensor, int | None], Any]  # (doc_ids, positions, window) -> mask


SDPA = AttentionBackend("sdpa", sdpa_attention, sdpa_packed_mask)
FLEX = AttentionBackend("flex", flex_attention_fn, flex_document_mask)
ATTENTION_BACKENDS = {b.name: b for b in (SDPA, FLEX)}


def _upcast(dtype: torch.dtype) -> torch.dtype:
    return torch.promote_types(dtype, torch.float32)


def rope_angles(positions: torch.Tensor, head_dim: int, theta: float,
                scaling: RopeScaling | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin of the rotary angles for (B, T) positions -> each (B, T, 1, head_dim/2), fp32
    (times YaRN's attention factor when `scaling` is YaRN)."""
    inv_freq, attention = rope_frequencies(head_dim, theta, scaling)
    angles = positions.float()[..., None] * inv_freq.to(positions.device)  # (B, T, hd/2)
    if attention == 1.0:
        return angles.cos()[:, :, None], angles.sin()[:, :, None]
    return (angles.cos() * attention)[:, :, None], (angles.sin() * attention)[:, :, None]


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
        self.make_mask = document_mask  # the mask `attend` takes, built from packed rows (use_attention)
        self.checkpoint_layers = 0  # recompute the first N blocks in backward (activation checkpointing)
        self.tok_embeddings = nn.Embedding(args.vocab_size, args.dim)
        self.layers = nn.ModuleList(TransformerBlock(args) for _ in range(args.n_layers))
        self.norm = RMSNorm(args.dim, args.norm_eps)
        self.output = nn.Linear(args.dim, args.vocab_size, bias=False)
        if args.tied_embeddings:
            self.output.weight = self.tok_embeddings.weight

    def use_attention(self, backend: AttentionBackend) -> None:
        """Switch the attention function and the packed-row mask that goes with it."""
        self.attend, self.make_mask = backend.attend, backend.make_mask

    def packed_mask(self, doc_ids: torch.Tensor, positions: torch.Tensor) -> Any:
        """The attention mask for packed rows ((B, T) document ids and positions) in the form the
        current backend takes: a (B, 1, T, T) bool tensor for SDPA, a BlockMask for FlexAttention."""
        return self.make_mask(doc_ids, positions, self.args.sliding_window)

    def compile_blocks(self, **options: Any) -> None:
        """torch.compile each block (regional compilation: one graph serves every layer, so it
        compiles in about the time of one block)."""
        for layer in self.layers:
            layer.compile(**options)

    def embed(self, tokens: torch.Tensor, images: list[torch.Tensor] | None) -> torch.Tensor:
        """Token embeddings (B, T, dim); a vision model (vision_model.py) puts image features in."""
        if images:
            raise ValueError(f"this model has no vision encoder, but {len(images)} image(s) were given")
        return self.tok_embeddings(tokens)

    def forward(self, tokens: torch.Tensor, positions: torch.Tensor, mask: Any,
                adapter_ids: torch.Tensor | None = None, cache: KVCache | None = None,
                return_hidden: bool = False, images: list[torch.Tensor] | None = None) -> torch.Tensor:
        """tokens/positions (B, T), mask (B, 1, T, S) bool (or the
        current backend's mask, see `packed_mask`) -> logits (B, T, V), or the final-norm
        hidden states (B, T, dim) with `return_hidden` (chunked loss, classifier heads).
        `images` ([3, H, W] each, in the order of their blocks in the rows) go to the vision
        model's `[IMG]` positions."""
        h = self.embed(tokens, images)  # (B, T, dim)
        rope = rope_angles(positions, self.args.head_dim, self.args.rope_theta, self.args.rope_scaling)
        recompute = self.training and torch.is_grad_enabled() and cache is None
        for i, layer in enumerate(self.layers):
            if recompute and i < self.checkpoint_layers:
                h = checkpoint(layer, h, rope, mask, self.attend, adapter_ids, None, 0, use_reentrant=False)
            else:
                # the layer index only addresses the KV cache; a constant keeps compiled blocks to one graph
                h = layer(h, rope, mask, self.attend, adapter_ids, cache, i if cache is not None else 0)
        h = self.norm(h)
        return h if return_hidden else self.output(h)
