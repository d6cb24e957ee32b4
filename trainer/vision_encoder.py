"""The Pixtral vision encoder and its projectors into the decoder's embedding space (reference
vision.md §1-2). Parameter names follow Mistral's `consolidated.safetensors` (`vision_encoder.*`,
`vision_language_adapter.*`, `patch_merger.*`, `pre_mm_projector_norm.*`), so weights load by key;
`weights_vision.py` maps Hugging Face names. No I/O here.

- Encoder: bias-free conv patch embedding, `ln_pre` RMSNorm, pre-norm blocks (RMSNorm, attention with
  2-D RoPE, SiLU-gated MLP), no final norm. Every image's patches attend only to their own image
  (block-diagonal attention, one SDPA call per image), whatever the images' sizes.
- Pixtral 12B's projector: Linear -> GELU(erf) -> Linear, with bias (`vision_language_adapter`).
- Mistral Small 3.1's: RMSNorm, then a patch merger (each 2x2 block of patches concatenated
  channel-major, Linear back to the encoder width), then the same MLP without bias.

RoPE is Mistral's interleaved convention (pairs x[2i], x[2i+1]); per head, the first quarter of the
pairs rotates by the patch's row times the even frequencies, the second by its column times the odd
ones. Hugging Face's q/k rows are permuted for rotate-half; `weights_vision.py` un-permutes them.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .model import RMSNorm, apply_rope

ENCODER_NORM_EPS = 1e-5  # Pixtral's encoder norms (mistral-inference and transformers hard-code it)


@dataclass(frozen=True)
class VisionArgs:
    """params.json's `vision_encoder` section (mistral-inference `VisionEncoderArgs`), defaults as there."""
    hidden_size: int
    num_channels: int
    image_size: int
    patch_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    rope_theta: float = 1e4
    image_token_id: int = 10
    image_break_token_id: int = 12
    image_end_token_id: int = 13
    adapter_bias: bool = True
    spatial_merge_size: int = 1
    add_pre_mm_projector_layer_norm: bool = False
    mm_projector_id: str = ""
    mm_norm_eps: float = 1e-5  # the pre-projector norm (transformers: text_config.rms_norm_eps)
    max_image_size: int | None = None  # preprocessing's limit on the longer side; None: image_size

    @property
    def image_limit(self) -> int:
        """The longer side images are shrunk to fit before patching."""
        return self.max_image_size or self.image_size

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def check(self) -> None:
        """ValueError naming the field when the encoder cannot be built as described."""
        if self.hidden_size % self.num_attention_heads or self.head_dim % 4:
            raise ValueError(f"vision_encoder: hidden_size {self.hidden_size} must split into {self.num_attention_heads} "
                             "heads whose size is a multiple of 4 (2-D RoPE)")
        if self.mm_projector_id not in ("", "patch_merge"):
            raise ValueError(f"vision_encoder.mm_projector_id {self.mm_projector_id!r} is not supported ('' or 'patch_merge')")
        if (self.mm_projector_id == "patch_merge") != (self.spatial_merge_size > 1):
            raise ValueError("vision_encoder: a patch merger needs spatial_merge_size > 1 and mm_projector_id 'patch_merge'")


def rope_2d(rows: int, cols: int, head_dim: int, theta: float, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin (1, rows*cols, 1, head_dim/2) of one image's patches, row-major."""
    freqs = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim))
    r, c = torch.meshgrid(torch.arange(rows, device=device, dtype=torch.float32),
                          torch.arange(cols, device=device, dtype=torch.float32), indexing="ij")
    angles = torch.cat((r.reshape(-1, 1) * freqs[0::2], c.reshape(-1, 1) * freqs[1::2]), dim=-1)
    return angles.cos()[None, :, None], angles.sin()[None, :, None]


class VisionAttention(nn.Module):
    def __init__(self, a: VisionArgs):
        super().__init__()
        self.n_heads, self.head_dim = a.num_attention_heads, a.head_dim
        self.wq, self.wk, self.wv, self.wo = (nn.Linear(a.hidden_size, a.hidden_size, bias=False) for _ in range(4))

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor], sizes: list[int]) -> torch.Tensor:
        """x (1, N, d) = every image's patches back to back; `sizes` = patches per image."""
        N = x.shape[1]
        q, k, v = (w(x).view(1, N, self.n_heads, self.head_dim) for w in (self.wq, self.wk, self.wv))
        q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        # block-diagonal attention as one unmasked call per image: no N x N mask, no cross-image scores
        outs = [F.scaled_dot_product_attention(qi.transpose(1, 2), ki.transpose(1, 2), vi.transpose(1, 2)).transpose(1, 2)
                for qi, ki, vi in zip(q.split(sizes, 1), k.split(sizes, 1), v.split(sizes, 1))]
        return self.wo(torch.cat(outs, 1).reshape(1, N, -1))


class VisionFeedForward(nn.Module):
    def __init__(self, a: VisionArgs):
        super().__init__()
        self.w1 = nn.Linear(a.hidden_size, a.intermediate_size, bias=False)  # gate
        self.w2 = nn.Linear(a.intermediate_size, a.hidden_size, bias=False)  # down
        self.w3 = nn.Linear(a.hidden_size, a.intermediate_size, bias=False)  # up

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class VisionBlock(nn.Module):
    def __init__(self, a: VisionArgs):
        super().__init__()
        self.attention = VisionAttention(a)
        self.feed_forward = VisionFeedForward(a)
        self.attention_norm = RMSNorm(a.hidden_size, ENCODER_NORM_EPS)
        self.ffn_norm = RMSNorm(a.hidden_size, ENCODER_NORM_EPS)

    def forward(self, x, rope, sizes):
        x = x + self.attention(self.attention_norm(x), rope, sizes)
        return x + self.feed_forward(self.ffn_norm(x))


class VisionLayers(nn.Module):
    """Holds the blocks under `transformer.layers` (the checkpoint's names)."""

    def __init__(self, a: VisionArgs):
        super().__init__()
        self.layers = nn.ModuleList(VisionBlock(a) for _ in range(a.num_hidden_layers))


class VisionEncoder(nn.Module):
    def __init__(self, a: VisionArgs):
        super().__init__()
        self.args = a
        self.patch_conv = nn.Conv2d(a.num_channels, a.hidden_size, kernel_size=a.patch_size, stride=a.patch_size, bias=False)
        self.ln_pre = RMSNorm(a.hidden_size, ENCODER_NORM_EPS)
        self.transformer = VisionLayers(a)

    def forward(self, images: list[torch.Tensor]) -> tuple[torch.Tensor, list[tuple[int, int]]]:
        """images [3, H, W] each (H, W multiples of patch_size) -> (patches of all images (N, d),
        each image's (rows, cols) of patches)."""
        p, w = self.args.patch_size, self.patch_conv.weight
        for i, img in enumerate(images):
            if img.dim() != 3 or img.shape[0] != self.args.num_channels or img.shape[1] % p or img.shape[2] % p or img.shape[1] * img.shape[2] == 0:
                raise ValueError(f"image {i} has shape {tuple(img.shape)}: expected [{self.args.num_channels}, H, W] "
                                 f"with H and W positive multiples of the patch size {p}")
        grids = [(img.shape[1] // p, img.shape[2] // p) for img in images]
        patches = [self.patch_conv(img.to(device=w.device, dtype=w.dtype)[None])[0].flatten(1).t() for img in images]
        x = self.ln_pre(torch.cat(patches)[None])  # (1, N, d)
        ropes = [rope_2d(r, c, self.args.head_dim, self.args.rope_theta, x.device) for r, c in grids]
        rope = (torch.cat([cs for cs, _ in ropes], 1), torch.cat([sn for _, sn in ropes], 1))
        sizes = [r * c for r, c in grids]
        for layer in self.transformer.layers:
            x = layer(x, rope, sizes)
        return x[0], grids


class VisionLanguageAdapter(nn.Module):
    """Linear -> GELU (erf) -> Linear into the decoder's width."""

    def __init__(self, in_dim: int, dim: int, bias: bool):
        super().__init__()
        self.w_in = nn.Linear(in_dim, dim, bias=bias)
        self.w_out = nn.Linear(dim, dim, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w_out(F.gelu(self.w_in(x.to(self.w_in.weight.dtype))))


class PatchMerger(nn.Module):
    """Each s x s block of an image's patch grid -> one row: the block's patches concatenated
    channel-major ((d, s, s) order, as torch's unfold gives), then Linear(s*s*d -> d)."""

    def __init__(self, dim: int, merge: int):
        super().__init__()
        self.merge = merge
        self.merging_layer = nn.Linear(dim * merge * merge, dim, bias=False)

    def forward(self, x: torch.Tensor, grids: list[tuple[int, int]]) -> torch.Tensor:
        s, d, out = self.merge, x.shape[-1], []
        for img, (r, c) in zip(x.split([r * c for r, c in grids]), grids):
            if r % s or c % s:
                raise ValueError(f"an image of {r} x {c} patches cannot be merged in {s} x {s} blocks: "
                                 f"its height and width must be multiples of {s} patches")
            blocks = img.view(r // s, s, c // s, s, d).permute(0, 2, 4, 1, 3)  # (R, C, d, s, s)
            out.append(blocks.reshape((r // s) * (c // s), d * s * s))
        merged = torch.cat(out)
        return self.merging_layer(merged.to(self.merging_layer.weight.dtype))
