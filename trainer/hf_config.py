"""A Hugging Face `config.json` (LlamaForCausalLM or MistralForCausalLM) as `ModelArgs`.

Variants read from the config: grouped-query attention (num_key_value_heads), head_dim that is not
hidden_size / heads (Mistral Nemo: 5120 / 32 heads, head_dim 128), sliding_window (Mistral 7B v0.1),
tied embeddings (Llama 3.2 1B/3B) and RoPE scaling (`rope_scaling`, or `rope_parameters` as
transformers >= 5 writes it): linear, llama3 (Llama 3.1+), yarn. Anything the decoder in
model.py does not compute (biases, another activation, partial rotary, dynamic NTK...) is refused
with a ValueError naming the field, never loaded into a model that would give other logits.
"""
from __future__ import annotations

from typing import Any

from .model import ModelArgs
from .rope import ROPE_TYPES, RopeScaling

ARCHITECTURES = ("MistralForCausalLM", "LlamaForCausalLM")


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _rope_params(c: dict[str, Any]) -> dict[str, Any]:
    """The RoPE dict whatever the transformers version wrote: `rope_scaling` (<= 4.x) merged with `rope_parameters` (5.x)."""
    params = dict(c.get("rope_scaling") or {})
    params.update(c.get("rope_parameters") or {})
    return params


def rope_scaling_of(c: dict[str, Any]) -> RopeScaling | None:
    """The config's RoPE scaling, None for plain RoPE; ValueError for a type model.py does not compute."""
    p = _rope_params(c)
    kind = p.get("rope_type") or p.get("type") or "default"
    _check(kind in ROPE_TYPES, f"unsupported rope type {kind!r} in config.json; supported: {', '.join(ROPE_TYPES)}")
    _check(float(p.get("partial_rotary_factor", c.get("partial_rotary_factor", 1.0)) or 1.0) == 1.0,
           "partial_rotary_factor != 1 is not supported (RoPE on part of each head)")
    if kind == "default":
        return None
    original = p.get("original_max_position_embeddings") or c.get("max_position_embeddings")
    _check(isinstance(original, int), f"rope type {kind!r} needs original_max_position_embeddings (or max_position_embeddings)")
    factor = p.get("factor")
    if factor is None and kind == "yarn":
        factor = c["max_position_embeddings"] / original  # transformers' fallback (DeepSeek-V3 style configs)
    _check(isinstance(factor, (int, float)) and factor > 0, f"rope type {kind!r} needs a positive 'factor', got {factor!r}")
    extra = {}
    if kind == "llama3":
        extra = {"low_freq_factor": float(p["low_freq_factor"]), "high_freq_factor": float(p["high_freq_factor"])}
    if kind == "yarn":
        extra = {"beta_fast": float(p.get("beta_fast") or 32), "beta_slow": float(p.get("beta_slow") or 1),
                 "attention_factor": p.get("attention_factor"), "mscale": p.get("mscale"),
                 "mscale_all_dim": p.get("mscale_all_dim"), "truncate": bool(p.get("truncate", True))}
    return RopeScaling(kind=kind, factor=float(factor), original_max_position_embeddings=int(original), **extra)


def _check_architecture(c: dict[str, Any]) -> None:
    arch = c.get("architectures") or []
    model_type = c.get("model_type")
    # a hand-written config naming neither is read as the Llama/Mistral keys it uses
    known = any(a in ARCHITECTURES for a in arch) or (not arch and model_type in ("mistral", "llama", None))
    _check(known, f"unsupported architecture {arch or model_type!r} in config.json; supported: {', '.join(ARCHITECTURES)} "
                  "(model_type mistral or llama)")
    _check(c.get("hidden_act", "silu") == "silu", f"hidden_act {c.get('hidden_act')!r} is not supported (SwiGLU with silu only)")
    _check(not c.get("attention_bias") and not c.get("mlp_bias"), "attention_bias / mlp_bias are not supported (bias-free projections only)")


def hf_model_args(c: dict[str, Any]) -> ModelArgs:
    """ModelArgs of a Llama/Mistral config.json; ValueError naming what is not supported."""
    _check_architecture(c)
    rope = _rope_params(c)
    heads = c["num_attention_heads"]
    return ModelArgs(dim=c["hidden_size"], n_layers=c["num_hidden_layers"],
                     head_dim=c.get("head_dim") or c["hidden_size"] // heads,
                     hidden_dim=c["intermediate_size"], n_heads=heads,
                     n_kv_heads=c.get("num_key_value_heads") or heads,
                     vocab_size=c["vocab_size"], norm_eps=c.get("rms_norm_eps", 1e-5),
                     rope_theta=float(c.get("rope_theta") or rope.get("rope_theta") or 10000.0),
                     sliding_window=c.get("sliding_window") if c.get("use_sliding_window", True) else None,
                     tied_embeddings=bool(c.get("tie_word_embeddings", False)),
                     rope_scaling=rope_scaling_of(c))
