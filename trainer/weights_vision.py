"""What a vision model directory adds to a text one (reference vision.md §2): the encoder's settings
(params.json's `vision_encoder` section, or config.json's `vision_config` of a Hugging Face
`LlavaForConditionalGeneration` / `Mistral3ForConditionalGeneration`) and the Hugging Face names of
the vision tensors. `weights.py` reads the files; this module only names and checks.

Hugging Face's vision q/k rows are in rotate-half order, like its decoder's: `hf_vision_names` says
how many heads each q/k tensor has so the reader un-permutes it.
"""
from __future__ import annotations

import json
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

from .vision_encoder import VisionArgs

HF_VISION_ARCHITECTURES = {"llava": "LlavaForConditionalGeneration", "mistral3": "Mistral3ForConditionalGeneration"}
_HF_BLOCK = {"attention.q_proj": "attention.wq", "attention.k_proj": "attention.wk", "attention.v_proj": "attention.wv",
             "attention.o_proj": "attention.wo", "feed_forward.gate_proj": "feed_forward.w1",
             "feed_forward.down_proj": "feed_forward.w2", "feed_forward.up_proj": "feed_forward.w3",
             "attention_norm": "attention_norm", "ffn_norm": "ffn_norm"}
# Decoder names inside a Hugging Face vision model (on-disk and transformers 5 in-memory forms) ->
# the MistralForCausalLM names that weights.py maps.
_HF_DECODER_PREFIXES = (("model.language_model.", "model."), ("language_model.model.", "model."),
                        ("language_model.lm_head.", "lm_head."))


def _native_vision_args(section: dict[str, Any]) -> VisionArgs:
    known = {f.name for f in fields(VisionArgs)} - {"mm_norm_eps"}
    required = ("hidden_size", "num_channels", "image_size", "patch_size", "intermediate_size",
                "num_hidden_layers", "num_attention_heads")
    missing = [k for k in required if k not in section]
    if missing:
        raise ValueError(f"params.json vision_encoder lacks {missing}")
    args = VisionArgs(**{k: v for k, v in section.items() if k in known})
    args.check()
    return args


def _hf_vision_args(c: dict[str, Any]) -> VisionArgs:
    v, text = c["vision_config"], c.get("text_config") or {}
    model_type = c.get("model_type")
    if model_type not in HF_VISION_ARCHITECTURES:
        raise ValueError(f"config.json model_type {model_type!r} with a vision_config is not supported: "
                         f"expected one of {sorted(HF_VISION_ARCHITECTURES)} (Pixtral / Mistral Small 3.1)")
    if v.get("hidden_act", "gelu") != "silu":
        raise ValueError(f"vision_config.hidden_act is {v.get('hidden_act', 'gelu (the default)')!r}: Pixtral encoders use 'silu'")
    if c.get("vision_feature_layer", -1 if model_type == "mistral3" else -2) != -1:
        raise ValueError("vision_feature_layer must be -1 (the encoder's last block), as Pixtral checkpoints set it")
    if model_type == "llava" and c.get("vision_feature_select_strategy", "default") != "full":
        raise ValueError("vision_feature_select_strategy must be 'full' for Pixtral (the default drops a patch)")
    if c.get("projector_hidden_act", "gelu") != "gelu":
        raise ValueError(f"projector_hidden_act {c.get('projector_hidden_act')!r} is not supported (only 'gelu')")
    merge = int(c.get("spatial_merge_size", 2)) if model_type == "mistral3" else 1
    rope = v.get("rope_parameters") or {}
    args = VisionArgs(
        hidden_size=v["hidden_size"], num_channels=v.get("num_channels", 3), image_size=v["image_size"],
        patch_size=v["patch_size"], intermediate_size=v["intermediate_size"], num_hidden_layers=v["num_hidden_layers"],
        num_attention_heads=v["num_attention_heads"], rope_theta=float(v.get("rope_theta") or rope.get("rope_theta") or 1e4),
        image_token_id=int(c.get("image_token_id", c.get("image_token_index", 10))),
        adapter_bias=bool(c.get("multimodal_projector_bias", model_type == "llava")),
        spatial_merge_size=merge, add_pre_mm_projector_layer_norm=model_type == "mistral3",
        mm_projector_id="patch_merge" if merge > 1 else "", mm_norm_eps=float(text.get("rms_norm_eps", 1e-5)))
    if v.get("head_dim") not in (None, args.head_dim):
        raise ValueError(f"vision_config.head_dim {v['head_dim']} must be hidden_size / num_attention_heads = {args.head_dim}")
    args.check()
    return args


def read_vision_args(model_dir: str | Path) -> VisionArgs | None:
    """The vision encoder's settings of the model in `model_dir`, or None for a text-only model."""
    d = Path(model_dir)
    if (d / "params.json").is_file():
        section = json.loads((d / "params.json").read_text()).get("vision_encoder")
        return _native_vision_args(section) if section else None
    if (d / "config.json").is_file():
        c = json.loads((d / "config.json").read_text())
        return _hf_vision_args(c) if c.get("vision_config") else None
    return None


def hf_text_config(c: dict[str, Any]) -> dict[str, Any]:
    """The decoder's settings of a Hugging Face config.json: itself for a text model, its
    `text_config` for a vision one (tying: the top-level flag when set, as transformers reads it)."""
    if "text_config" not in c:
        return c
    text = dict(c["text_config"])
    text["tie_word_embeddings"] = bool(c.get("tie_word_embeddings") or text.get("tie_word_embeddings", False))
    return text


def hf_decoder_key(key: str) -> str:
    """A decoder tensor's name in a Hugging Face vision model -> its MistralForCausalLM name."""
    for prefix, plain in _HF_DECODER_PREFIXES:
        if key.startswith(prefix):
            return plain + key[len(prefix):]
    return key


def hf_vision_names(a: VisionArgs) -> dict[str, tuple[str, int | None]]:
    """Hugging Face vision tensor name (on-disk and transformers 5 in-memory forms) -> (native
    name, heads of a q/k tensor to un-permute, else None)."""
    names = {"vision_tower.patch_conv.weight": "vision_encoder.patch_conv.weight",
             "vision_tower.ln_pre.weight": "vision_encoder.ln_pre.weight"}
    for i in range(a.num_hidden_layers):
        for hf, native in _HF_BLOCK.items():
            names[f"vision_tower.transformer.layers.{i}.{hf}.weight"] = f"vision_encoder.transformer.layers.{i}.{native}.weight"
    for kind in ("weight", "bias") if a.adapter_bias else ("weight",):
        names[f"multi_modal_projector.linear_1.{kind}"] = f"vision_language_adapter.w_in.{kind}"
        names[f"multi_modal_projector.linear_2.{kind}"] = f"vision_language_adapter.w_out.{kind}"
    if a.mm_projector_id == "patch_merge":
        names["multi_modal_projector.patch_merger.merging_layer.weight"] = "patch_merger.merging_layer.weight"
    if a.add_pre_mm_projector_layer_norm:
        names["multi_modal_projector.norm.weight"] = "pre_mm_projector_norm.weight"
    out = {}
    for hf, native in names.items():
        heads = a.num_attention_heads if re.search(r"attention\.w[qk]\.weight$", native) else None
        out[hf] = out["model." + hf] = (native, heads)
    return out


def peft_decoder_prefix(model_dir: str | Path) -> str:
    """Where the decoder's blocks sit in the Hugging Face model PEFT wraps: `model.language_model.`
    in a transformers 5 vision model, `model.` in MistralForCausalLM."""
    try:
        return "model.language_model." if read_vision_args(model_dir) is not None else "model."
    except (OSError, ValueError, json.JSONDecodeError):
        return "model."
