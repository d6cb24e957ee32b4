"""Reads a base model directory into a `Transformer`: Mistral's native layout (`params.json` +
`consolidated.safetensors`) or Hugging Face's (`config.json` + `model.safetensors` or sharded
`model-*.safetensors` with `model.safetensors.index.json`).

Loading streams: the module is built on the meta device, then each tensor is read on its own
(safetensors_read.py), converted to the target device and dtype and assigned, so the host holds
about one tensor at a time whatever the model size (bench/load_model.py measures it).

Hugging Face stores q/k projections with rows permuted for its rotate-half RoPE; we use Mistral's
interleaved RoPE, so HF q/k rows (and PEFT's q/k lora_B rows) are un-permuted on the way in and
permuted on the way out.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import torch

from .hf_config import hf_model_args
from .model import ModelArgs, Transformer
from .safetensors_read import TensorEntry, TensorReader, read_header
from .vision_model import MultimodalTransformer
from .vision_encoder import VisionArgs
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
    try:
        return hf_model_args(hf_text_config(json.loads((d / "config.json").read_text())))
    except ValueError as e:
        raise ValueError(f"{d}/config.json: {e}") from e


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


def native_names(args: ModelArgs) -> dict[str, str]:
    """Hugging Face key -> native key for every weight of the architecture."""
    out = {v: k for k, v in _HF_TOP.items()}
    for i in range(args.n_layers):
        for native, hf in _HF_KEYS.items():
            out[f"model.layers.{i}.{hf}.weight"] = f"layers.{i}.{native}.weight"
    return out


def weight_plan(d: Path, args: ModelArgs, vision: VisionArgs | None = None) -> list[tuple[Path, TensorEntry, str]]:
    """(file, tensor entry, native name) of every weight to load, file by file in data order; reads headers only."""
    if model_layout(d) == "mistral":
        return [(d / "consolidated.safetensors", e, e.name) for e in read_header(d / "consolidated.safetensors")]
    index = d / "model.safetensors.index.json"
    files = sorted(set(json.loads(index.read_text())["weight_map"].values())) if index.is_file() else ["model.safetensors"]
    native_of = native_names(args)
    if vision is not None:  # a Llava / Mistral3 checkpoint: the encoder and projector, and the decoder under its prefix
        native_of.update({hf: native for hf, (native, _) in hf_vision_names(vision).items()})
    plan = []
    for name in files:
        if not (d / name).is_file():
            raise ValueError(f"{d}: {name} is named by model.safetensors.index.json but missing (incomplete download?)")
        # keys outside the architecture (rotary inv_freq buffers of older exports) are skipped
        for e in read_header(d / name):
            key = e.name if e.name in native_of else hf_decoder_key(e.name)
            if key in native_of:
                plan.append((d / name, e, native_of[key]))
    return plan


def _check_plan(d: Path, plan: list[tuple[Path, TensorEntry, str]], model: Transformer) -> None:
    """ValueError when the files' names or shapes differ from what the config describes."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    if model.args.tied_embeddings:
        expected.pop("output.weight")
        plan = [p for p in plan if p[2] != "output.weight"]
    got = {native: e.shape for _, e, native in plan}
    if set(got) != set(expected) or len(got) != len(plan):
        missing, extra = sorted(set(expected) - set(got))[:3], sorted(set(got) - set(expected))[:3]
        raise ValueError(f"{d}: weights do not match its config (missing {missing}, unexpected {extra})")
    for name, shape in got.items():
        if shape != expected[name]:
            raise ValueError(f"{d}: {name} has shape {list(shape)}, its config says {list(expected[name])}")


def _assign(model: Transformer, native: str, t: torch.Tensor) -> None:
    module_name, _, attr = native.rpartition(".")
    model.get_submodule(module_name)._parameters[attr] = torch.nn.Parameter(t, requires_grad=False)


def load_model(model_dir: str | Path, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> Transformer:
    """Build the model of `model_dir` with its weights, on `device` in `dtype` (base frozen).
    The module starts on the meta device and gets its tensors one by one: host memory holds one
    tensor (and its converted copy) at a time, never the state dict."""
    d = Path(model_dir)
    args = read_model_args(d)
    vision = read_vision_args(d)
    with torch.device("meta"):
        model = Transformer(args) if vision is None else MultimodalTransformer(args, vision)
    plan = weight_plan(d, args, vision)
    _check_plan(d, plan, model)
    hf_rows = model_layout(d) == "hf"
    vision_heads = {native: heads for native, heads in hf_vision_names(vision).values()} if vision is not None and hf_rows else {}
    for path in dict.fromkeys(p for p, _, _ in plan):
        with TensorReader(path) as reader:
            for _, entry, native in (p for p in plan if p[0] == path):
                if args.tied_embeddings and native == "output.weight":
                    continue
                t = reader.read(entry)
                heads = vision_heads.get(native) if native in vision_heads else rope_heads(native, args)
                if heads and hf_rows:
                    t = unpermute_rows_from_hf(t, heads)
                _assign(model, native, t.to(device=device, dtype=dtype))
                del t  # the host copy goes before the next tensor is read
    if args.tied_embeddings:
        model.output.weight = model.tok_embeddings.weight
    for p in model.parameters():
        p.requires_grad_(False)
    return model
