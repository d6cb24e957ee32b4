"""Merged weights: the base with the adapter folded in (W' = W + s·B·A in fp32, then cast), written
tensor by tensor through `SafetensorsWriter`, so memory stays about one tensor whatever the model.

- Hugging Face layout: config.json (MistralForCausalLM), generation_config.json, weights in
  `model-0000k-of-0000N.safetensors` shards of at most `shard_bytes` plus
  `model.safetensors.index.json`, q/k rows permuted to HF's rotate-half order, tokenizer files.
- Mistral layout: params.json + consolidated.safetensors (mistral-inference, vLLM
  `--config-format mistral --load-format mistral`) + the tokenizer file.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from .export_source import ExportSource, TensorSpec
from .export_tokenizer import find_tokenizer, write_hf_tokenizer
from .model import ModelArgs
from .safetensors_stream import SafetensorsWriter, nbytes
from .weights import hf_name, permute_rows_for_hf, rope_heads

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
_HF_DTYPE_NAMES = {torch.float32: "float32", torch.bfloat16: "bfloat16", torch.float16: "float16"}


def max_positions(model_dir: Path) -> int:
    """The context length the base declares (params.json max_seq_len / config.json), else 32768."""
    for name, keys in (("params.json", ("max_seq_len", "max_position_embeddings")), ("config.json", ("max_position_embeddings",))):
        f = model_dir / name
        if f.is_file():
            raw = json.loads(f.read_text())
            for k in keys:
                if isinstance(raw.get(k), int):
                    return raw[k]
    return 32768


def hf_config(args: ModelArgs, dtype: torch.dtype, max_pos: int) -> dict:
    """config.json of MistralForCausalLM; every field set (class defaults differ from Mistral's)."""
    return {
        "architectures": ["MistralForCausalLM"], "model_type": "mistral", "hidden_size": args.dim,
        "intermediate_size": args.hidden_dim, "num_hidden_layers": args.n_layers,
        "num_attention_heads": args.n_heads, "num_key_value_heads": args.n_kv_heads, "head_dim": args.head_dim,
        "vocab_size": args.vocab_size, "max_position_embeddings": max_pos, "rms_norm_eps": args.norm_eps,
        "rope_theta": args.rope_theta, "rope_parameters": {"rope_type": "default", "rope_theta": args.rope_theta},
        "sliding_window": args.sliding_window, "tie_word_embeddings": args.tied_embeddings,
        "hidden_act": "silu", "attention_dropout": 0.0, "bos_token_id": 1, "eos_token_id": 2,
        "torch_dtype": _HF_DTYPE_NAMES[dtype], "dtype": _HF_DTYPE_NAMES[dtype], "use_cache": True,
    }


def native_params(args: ModelArgs, max_pos: int) -> dict:
    p = {"dim": args.dim, "n_layers": args.n_layers, "head_dim": args.head_dim, "hidden_dim": args.hidden_dim,
         "n_heads": args.n_heads, "n_kv_heads": args.n_kv_heads, "norm_eps": args.norm_eps,
         "vocab_size": args.vocab_size, "rope_theta": args.rope_theta, "max_seq_len": max_pos}
    if args.sliding_window is not None:
        p["sliding_window"] = args.sliding_window
    if args.tied_embeddings:
        p["tied_embeddings"] = True
    return p


def plan_shards(specs: list[TensorSpec], dtype: torch.dtype, shard_bytes: int) -> list[list[TensorSpec]]:
    """Tensors in order, cut into shards of at most shard_bytes (a bigger tensor gets its own)."""
    shards: list[list[TensorSpec]] = [[]]
    size = 0
    for s in specs:
        n = nbytes(s.shape, dtype)
        if shards[-1] and size + n > shard_bytes:
            shards.append([])
            size = 0
        shards[-1].append(s)
        size += n
    return shards


def _hf_tensor(src: ExportSource, spec: TensorSpec, t: torch.Tensor) -> tuple[str, torch.Tensor]:
    heads = rope_heads(spec.native, src.args)
    return hf_name(spec.native), (permute_rows_for_hf(t, heads) if heads else t)


def write_merged_hf(src: ExportSource, out: Path, dtype: torch.dtype, shard_bytes: int) -> list[str]:
    """The Hugging Face folder; returns the file names written."""
    shards = plan_shards(src.specs, dtype, shard_bytes)
    n = len(shards)
    weight_map, names, total = {}, [], 0
    for k, shard in enumerate(shards, 1):
        fname = "model.safetensors" if n == 1 else f"model-{k:05d}-of-{n:05d}.safetensors"
        writer = SafetensorsWriter(out / fname, [(hf_name(s.native), s.shape, dtype) for s in shard])
        for spec in shard:
            name, t = _hf_tensor(src, spec, src.read(spec))
            writer.write(name, t.to(dtype))
            weight_map[name] = fname
            total += nbytes(spec.shape, dtype)
        writer.close()
        names.append(fname)
    if n > 1:
        index = {"metadata": {"total_size": total}, "weight_map": weight_map}
        (out / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
        names.append("model.safetensors.index.json")
    (out / "config.json").write_text(json.dumps(hf_config(src.args, dtype, max_positions(src.dir)), indent=2))
    (out / "generation_config.json").write_text(json.dumps({"bos_token_id": 1, "eos_token_id": 2}, indent=2))
    return names + ["config.json", "generation_config.json"] + write_hf_tokenizer(find_tokenizer(src.dir), out)


def write_merged_mistral(src: ExportSource, out: Path, dtype: torch.dtype) -> list[str]:
    """Mistral's native folder (one consolidated.safetensors, written streaming)."""
    writer = SafetensorsWriter(out / "consolidated.safetensors", [(s.native, s.shape, dtype) for s in src.specs])
    for spec, t in src.tensors():
        writer.write(spec.native, t.to(dtype))
    writer.close()
    (out / "params.json").write_text(json.dumps(native_params(src.args, max_positions(src.dir)), indent=2))
    tok = find_tokenizer(src.dir)
    (out / tok.path.name).write_bytes(tok.path.read_bytes())
    return ["consolidated.safetensors", "params.json", tok.path.name]
