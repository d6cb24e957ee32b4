"""Adapter files in two layouts, written side by side in one directory:
- Hugging Face PEFT: `adapter_config.json` + `adapter_model.safetensors`, keys
  `base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight`, `lora_alpha = scaling * r`,
  q/k lora_B rows in HF's rotary order; loads with `PeftModel.from_pretrained` onto the HF model.
- Mistral: `lora.safetensors`, keys `layers.N.attention.wq.lora_A.weight` (mistral-inference's
  `--lora_path`), with `params.json`'s `lora` block giving rank and scaling.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file, save_file

from .lora import LoRAConfig
from .model import ModelArgs
from .weights import hf_name, permute_rows_for_hf, rope_heads, unpermute_rows_from_hf
from .weights_vision import hf_decoder_key, peft_decoder_prefix

_PEFT_PREFIX = "base_model.model."
_HF_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def write_adapter_files(d: Path, state: dict[str, torch.Tensor], args: ModelArgs, cfg: LoRAConfig, base: str) -> None:
    """Write both layouts of a Mistral-layout adapter `state` into the existing directory `d`."""
    save_file(state, str(d / "lora.safetensors"))
    # a vision base nests the decoder (model.language_model.*) beside an encoder that reuses the
    # projections' names: the targets are then anchored on the decoder, or PEFT adapts the encoder too
    prefix = peft_decoder_prefix(base)
    peft = {}
    for key, t in state.items():
        heads = rope_heads(key, args)
        name = prefix + hf_name(key).removeprefix("model.")
        peft[_PEFT_PREFIX + name] = (permute_rows_for_hf(t, heads) if heads else t).contiguous()
    save_file(peft, str(d / "adapter_model.safetensors"))
    targets: list[str] | str = _HF_TARGETS if prefix == "model." else \
        rf"{re.escape(prefix)}layers\.\d+\.(self_attn|mlp)\.({'|'.join(_HF_TARGETS)})"
    config = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": cfg.rank, "lora_alpha": cfg.scaling * cfg.rank,
              "lora_dropout": cfg.dropout, "target_modules": targets, "bias": "none", "fan_in_fan_out": False,
              "use_rslora": False, "inference_mode": True, "base_model_name_or_path": base}
    (d / "adapter_config.json").write_text(json.dumps(config, indent=2))
    (d / "params.json").write_text(json.dumps({"lora": {"rank": cfg.rank, "scaling": cfg.scaling}}))


def save_adapter_atomic(d: str | Path, state: dict[str, torch.Tensor], args: ModelArgs, cfg: LoRAConfig, base: str,
                        write_extra: Callable[[Path], None] | None = None) -> None:
    """Write an adapter directory through a temporary sibling and a rename; `write_extra(tmp_dir)`
    adds a recipe's own files (the classifier's heads) before the rename."""
    d = Path(d)
    tmp = d.with_name(f"tmp.{d.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    write_adapter_files(tmp, state, args, cfg, base)
    if write_extra is not None:
        write_extra(tmp)
    if d.exists():
        shutil.rmtree(d)
    os.replace(tmp, d)


def read_adapter(d: str | Path, args: ModelArgs) -> tuple[dict[str, torch.Tensor], float]:
    """(Mistral-layout fp32 state, scaling) from an adapter directory in either layout."""
    d = Path(d)
    if (d / "adapter_config.json").is_file() and (d / "adapter_model.safetensors").is_file():
        cfg = json.loads((d / "adapter_config.json").read_text())
        if cfg.get("use_rslora") or cfg.get("fan_in_fan_out"):
            raise ValueError(f"{d}: rsLoRA / fan_in_fan_out adapters are not supported")
        native_of = {hf_name(k): k for k in _native_keys(args)}
        state = {}
        for key, t in load_file(str(d / "adapter_model.safetensors")).items():
            name = hf_decoder_key(key.removeprefix(_PEFT_PREFIX))
            if name.endswith(".lora_A.default.weight") or name.endswith(".lora_B.default.weight"):
                name = name.replace(".default.weight", ".weight")
            if name not in native_of:
                raise ValueError(f"{d}: unexpected adapter tensor {key} (only q/k/v/o/gate/up/down projections are supported)")
            native = native_of[name]
            heads = rope_heads(native, args)
            state[native] = (unpermute_rows_from_hf(t, heads) if heads else t).float()
        return state, float(cfg["lora_alpha"]) / float(cfg["r"])
    if (d / "lora.safetensors").is_file():
        params = json.loads((d / "params.json").read_text()) if (d / "params.json").is_file() else {}
        scaling = float(params.get("lora", {}).get("scaling", LoRAConfig().scaling))
        return {k: t.float() for k, t in load_file(str(d / "lora.safetensors")).items()}, scaling
    raise ValueError(f"{d} holds no adapter: expected adapter_config.json + adapter_model.safetensors or lora.safetensors")


def _native_keys(args: ModelArgs) -> list[str]:
    names = ["attention.wq", "attention.wk", "attention.wv", "attention.wo", "feed_forward.w1", "feed_forward.w2", "feed_forward.w3"]
    return [f"layers.{i}.{n}.lora_{ab}.weight" for i in range(args.n_layers) for n in names for ab in "AB"]
