"""Reads a base model directory into a `Transformer`: Mistral's native layout (`params.json` +
`consolidated.safetensors`) or Hugging Face's (`config.json` + `model.safetensors` or sharded
`model-*.safetensors` with `model.safetensors.index.json`).

Hugging Face stores q/k projections with rows permuted for its rotate-half RoPE; we use Mistral's
interleaved RoPE, so HF q/k rows (and PEFT's q/k lora_B rows) are un-permuted on the way in and
permuted on the way out.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from safetensors import safe_open

from .model import ModelArgs, Transformer
from .vision_model import MultimodalTransformer
from .weights_vision import hf_decoder_key, hf_text_config, hf_vision_names, read_vision_args

_HF_KEYS = {  # Mistral native name -> Hugging Face MistralForCausalLM name
    "attention.wq": "self_attn.q_proj", "attention.wk": "self_attn.k_proj",
    "attention.wv": "self_attn.v_proj", "attention.wo": "self_attn.o_proj",
    "feed_forward.w1": "mlp.gate_proj", "feed_forward.w2": "mlp.down_proj",
    "feed_forward.w3": "mlp.up_proj",
    "attention_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
}
_HF_TOP = {"tok_embeddings.weight": "model.embed_tokens.weight", "norm.weight": "model.norm.weight",
           "output.weight": "lm_head.weight"}
_LAYER_KEY = re.compile(r"^layers\.(\d+)\.(.+?)\.(weight|lora_A\.weight|lora_B\.weight)$")


def model_layout(model_dir: str | Path) -> str:
    """'mistral' or 'hf'; ValueError naming the files expected when it is neither."""
    d = Path(model_dir)
    if (d / "params.json").is_file() and (d / "consolidated.safetensors").is_file():
        return "mistral"
    if (d / "config.json").is_file() and ((d / "model.safetensors").is_file() or (d / "model.safetensors.index.json").is_file()):
        return "hf"
    raise ValueError(f"{d} is not a model directory: expected params.json + consolidated.safetensors "
                     "(Mistral layout) or config.json + model.safetensors[.index.json] (Hugging Face layout)")


def read_model_args(model_dir: str | Path) -> ModelArgs:
    """The architecture of the model in `model_dir`, from params.json or config.json."""
    d = Path(model_dir)
    if model_layout(d) == "mistral":
        p = json.loads((d / "params.json").read_text())
        head_dim = p.get("head_dim") or p["dim"] // p["n_heads"]
        return ModelArgs(dim=p["dim"], n_layers=p["n_layers"], head_dim=head_dim, hidden_dim=p["hidden_dim"],
                         n_heads=p["n_heads"], n_kv_heads=p.get("n_kv_heads", p["n_heads"]),
                         vocab_size=p["vocab_size"], norm_eps=p.get("norm_eps", 1e-5),
                         rope_theta=p.get("rope_theta", 10000.0), sliding_window=p.get("sliding_window"),
                         tied_embeddings=bool(p.get("tied_embeddings", False)))
    c = hf_text_config(json.loads((d / "config.json").read_text()))
    rope = c.get("rope_parameters") or {}
    theta = c.get("rope_theta") or rope.get("rope_theta") or 10000.0
    return ModelArgs(dim=c["hidden_size"], n_layers=c["num_hidden_layers"],
                     head_dim=c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"],
                     hidden_dim=c["intermediate_size"], n_heads=c["num_attention_heads"],
                     n_kv_heads=c.get("num_key_value_heads") or c["num_attention_heads"],
                     vocab_size=c["vocab_size"], norm_eps=c.get("rms_norm_eps", 1e-5), rope_theta=float(theta),
                     sliding_window=c.get("sliding_window"), tied_embeddings=bool(c.get("tie_word_embeddings", False)))


def permute_rows_for_hf(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Interleaved-RoPE rows (per head: re0, im0, re1, im1, ...) -> HF rotate-half rows (re..., im...)."""
    rows, cols = w.shape
    return w.view(n_heads, rows // n_heads // 2, 2, cols).transpose(1, 2).reshape(rows, cols)


def unpermute_rows_from_hf(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Inverse of `permute_rows_for_hf`."""
    rows, cols = w.shape
    return w.view(n_heads, 2, rows // n_heads // 2, cols).transpose(1, 2).reshape(rows, cols)


def hf_name(native: str) -> str:
    """Hugging Face key for a native key (`layers.3.attention.wq.weight` -> `model.layers.3.self_attn.q_proj.weight`)."""
    if native in _HF_TOP:
        return _HF_TOP[native]
    m = _LAYER_KEY.match(native)
    if not m or m.group(2) not in _HF_KEYS:
        raise KeyError(f"no Hugging Face name for {native}")
    return f"model.layers.{m.group(1)}.{_HF_KEYS[m.group(2)]}.{m.group(3)}"


def rope_heads(native: str, args: ModelArgs) -> int | None:
    """Number of heads whose rows need the RoPE permutation for this key (q/k weights), else None."""
    if native.endswith("attention.wq.weight") or native.endswith("attention.wq.lora_B.weight"):
        return args.n_heads
    if native.endswith("attention.wk.weight") or native.endswith("attention.wk.lora_B.weight"):
        return args.n_kv_heads
    return None


def to_hf_state(state: dict[str, torch.Tensor], args: ModelArgs) -> dict[str, torch.Tensor]:
    """Native-layout tensors -> Hugging Face names and q/k row order (used by tests and export)."""
    out = {}
    for key, t in state.items():
        heads = rope_heads(key, args)
        out[hf_name(key)] = permute_rows_for_hf(t, heads) if heads else t
    return out


def _read_native(d: Path, args: ModelArgs) -> dict[str, torch.Tensor]:
    with safe_open(str(d / "consolidated.safetensors"), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}


def _read_hf(d: Path, args: ModelArgs) -> dict[str, torch.Tensor]:
    index = d / "model.safetensors.index.json"
    files = sorted(set(json.loads(index.read_text())["weight_map"].values())) if index.is_file() else ["model.safetensors"]
    native_of = {}
    for i in range(args.n_layers):
        for native in _HF_KEYS:
            native_of[f"model.layers.{i}.{_HF_KEYS[native]}.weight"] = f"layers.{i}.{native}.weight"
    native_of.update({v: k for k, v in _HF_TOP.items()})
    vision = read_vision_args(d)
    vision_of = hf_vision_names(vision) if vision is not None else {}
    out = {}
    for name in files:
        with safe_open(str(d / name), framework="pt") as f:
            for key in f.keys():
                if key in vision_of:
                    native, heads = vision_of[key]
                    t = f.get_tensor(key)
                    out[native] = unpermute_rows_from_hf(t, heads) if heads else t
                    continue
                if hf_decoder_key(key) not in native_of:
                    continue  # e.g. rotary inv_freq buffers in older exports
                native = native_of[hf_decoder_key(key)]
                t = f.get_tensor(key)
                heads = rope_heads(native, args)
                out[native] = unpermute_rows_from_hf(t, heads) if heads else t
    return out


def load_model(model_dir: str | Path, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> Transformer:
    """Build the model of `model_dir` with its weights, on `device` in `dtype` (base frozen)."""
    d = Path(model_dir)
    args = read_model_args(d)
    state = _read_native(d, args) if model_layout(d) == "mistral" else _read_hf(d, args)
    if args.tied_embeddings:
        state.pop("output.weight", None)
    vision = read_vision_args(d)
    with torch.device("meta"):
        model = Transformer(args) if vision is None else MultimodalTransformer(args, vision)
    expected = set(model.state_dict())
    if args.tied_embeddings:
        expected.discard("output.weight")
    if set(state) != expected:
        missing, extra = sorted(expected - set(state))[:3], sorted(set(state) - expected)[:3]
        raise ValueError(f"{d}: weights do not match its config (missing {missing}, unexpected {extra})")
    state = {k: v.to(device=device, dtype=dtype) for k, v in state.items()}
    model.load_state_dict(state, assign=True, strict=not args.tied_embeddings)
    if args.tied_embeddings:
        model.output.weight = model.tok_embeddings.weight
    for p in model.parameters():
        p.requires_grad_(False)
    return model
