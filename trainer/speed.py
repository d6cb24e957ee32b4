"""The trainer's speed switches, resolved for a device and applied to a model.

- attention: "sdpa" (per-document causal spans on CPU, a boolean block-diagonal mask elsewhere or
  when compiled) or "flex" (FlexAttention with a document
  block mask: cross-document tiles are skipped, no padding); "auto" = flex on CUDA, sdpa elsewhere
  (FlexAttention runs forward-only on CPU, so it cannot train there).
- compile: torch.compile each transformer block (fuses RMSNorm, RoPE, SwiGLU and the LoRA adds);
  None = on for CUDA, off for CPU (compiling costs tens of seconds there and gains little).
- checkpoint_layers: recompute the first N blocks' activations in backward (0 = none, the fastest;
  raise it only when activations do not fit).
- fused AdamW on CUDA (`optimizer_kwargs`).

The math is the same on every path; only rounding differs (tests compare SDPA and FlexAttention).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .model import ATTENTION_BACKENDS, Transformer, document_mask, flex_available


@dataclass(frozen=True)
class SpeedOptions:
    attention: str = "auto"
    compile: bool | None = None
    checkpoint_layers: int = 0


@dataclass(frozen=True)
class ResolvedSpeed:
    attention: str
    compile: bool
    checkpoint_layers: int


def resolve_speed(opts: SpeedOptions, device: torch.device, n_layers: int) -> ResolvedSpeed:
    """Pick concrete settings for `device`; ValueError when a requested one cannot run."""
    cuda = device.type == "cuda"
    attention = opts.attention
    if attention == "auto":
        attention = "flex" if cuda and flex_available() else "sdpa"
    if attention not in ATTENTION_BACKENDS:
        raise ValueError(f"attention must be 'auto', 'sdpa' or 'flex', got {opts.attention!r}")
    if attention == "flex" and not flex_available():
        raise ValueError(f"attention 'flex' needs torch >= 2.5 (FlexAttention); this is torch {torch.__version__}: "
                         "use 'sdpa' or 'auto'")
    if attention == "flex" and not cuda:
        raise ValueError(f"attention 'flex' trains on CUDA only (FlexAttention has no backward on {device.type} in "
                         f"torch {torch.__version__}): use 'sdpa' or 'auto'")
    compile_ = cuda if opts.compile is None else opts.compile
    if opts.checkpoint_layers < 0:
        raise ValueError(f"checkpoint_layers must be >= 0, got {opts.checkpoint_layers}")
    return ResolvedSpeed(attention, compile_, min(opts.checkpoint_layers, n_layers))


def apply_speed(model: Transformer, speed: ResolvedSpeed) -> None:
    """Configure `model` for training with `speed` (call after LoRA is attached)."""
    model.use_attention(ATTENTION_BACKENDS[speed.attention])
    if speed.compile and speed.attention == "sdpa":
        model.make_mask = document_mask  # compiled blocks want one mask shape; per-document spans would recompile per batch
    model.checkpoint_layers = speed.checkpoint_layers
    if speed.compile:
        model.compile_blocks()


def optimizer_kwargs(device: torch.device) -> dict:
    """AdamW's implementation: one fused kernel on CUDA, the default (foreach) elsewhere."""
    return {"fused": True} if device.type == "cuda" else {}
