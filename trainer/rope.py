"""Rotary position frequencies, with the scaling variants Llama and Mistral checkpoints use.

`rope_frequencies(head_dim, theta, scaling)` -> (inverse frequencies (head_dim/2,), attention
factor): the angles are `position * inv_freq`, and cos/sin are multiplied by the attention factor
(1 except YaRN). The formulas are transformers' `modeling_rope_utils` ones (default, linear,
llama3, yarn), so logits match its classes; `test_hf_variants.py` checks each against them.
No I/O: `hf_config.py` builds a `RopeScaling` from a config.json.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

ROPE_TYPES = ("default", "linear", "llama3", "yarn")


@dataclass(frozen=True)
class RopeScaling:
    kind: str  # one of ROPE_TYPES except "default" (no scaling is None)
    factor: float
    original_max_position_embeddings: int
    low_freq_factor: float = 1.0  # llama3
    high_freq_factor: float = 4.0  # llama3
    beta_fast: float = 32.0  # yarn
    beta_slow: float = 1.0  # yarn
    attention_factor: float | None = None  # yarn; None: from factor (and mscale / mscale_all_dim)
    mscale: float | None = None
    mscale_all_dim: float | None = None
    truncate: bool = True  # yarn: round the correction range to whole dimensions


def _plain(head_dim: int, theta: float) -> torch.Tensor:
    return 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))


def _llama3(inv_freq: torch.Tensor, s: RopeScaling) -> torch.Tensor:
    # Long wavelengths are divided by factor, short ones kept, the band between interpolated.
    old = s.original_max_position_embeddings
    low_wavelen, high_wavelen = old / s.low_freq_factor, old / s.high_freq_factor
    wavelen = 2 * math.pi / inv_freq
    scaled = torch.where(wavelen > low_wavelen, inv_freq / s.factor, inv_freq)
    smooth = (old / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor)
    smoothed = (1 - smooth) * scaled / s.factor + smooth * scaled
    medium = ~(wavelen < high_wavelen) * ~(wavelen > low_wavelen)
    return torch.where(medium, smoothed, scaled)


def _yarn_mscale(scale: float, mscale: float = 1.0) -> float:
    return 1.0 if scale <= 1 else 0.1 * mscale * math.log(scale) + 1.0


def _yarn(head_dim: int, theta: float, s: RopeScaling) -> tuple[torch.Tensor, float]:
    # YaRN (arXiv 2309.00071): high-frequency dimensions extrapolate, low-frequency ones interpolate
    # by factor, with a linear ramp between; cos/sin are scaled by the attention factor.
    if s.attention_factor is not None:
        attention = s.attention_factor
    elif s.mscale and s.mscale_all_dim:
        attention = _yarn_mscale(s.factor, s.mscale) / _yarn_mscale(s.factor, s.mscale_all_dim)
    else:
        attention = _yarn_mscale(s.factor)

    def correction_dim(rotations: float) -> float:
        return head_dim * math.log(s.original_max_position_embeddings / (rotations * 2 * math.pi)) / (2 * math.log(theta))

    low, high = correction_dim(s.beta_fast), correction_dim(s.beta_slow)
    if s.truncate:
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, head_dim - 1)
    if low == high:
        high += 0.001  # no singularity
    ramp = ((torch.arange(head_dim // 2, dtype=torch.float32) - low) / (high - low)).clamp(0, 1)
    extrapolate = 1 - ramp
    pos_freqs = theta ** (torch.arange(0, head_dim, 2).float() / head_dim)
    inv_freq = (1.0 / (s.factor * pos_freqs)) * (1 - extrapolate) + (1.0 / pos_freqs) * extrapolate
    return inv_freq, float(attention)


def rope_frequencies(head_dim: int, theta: float, scaling: RopeScaling | None) -> tuple[torch.Tensor, float]:
    """(inv_freq (head_dim/2,) fp32 on CPU, attention factor) for this RoPE variant."""
    if scaling is None:
        return _plain(head_dim, theta), 1.0
    if scaling.kind == "linear":
        return _plain(head_dim, theta) / scaling.factor, 1.0
    if scaling.kind == "llama3":
        return _llama3(_plain(head_dim, theta), scaling), 1.0
    if scaling.kind == "yarn":
        return _yarn(head_dim, theta, scaling)
    raise ValueError(f"unsupported rope type {scaling.kind!r}; supported: {', '.join(ROPE_TYPES)}")
