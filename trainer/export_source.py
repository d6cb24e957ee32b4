"""The tensors an export writes, read one at a time: a base model directory (Mistral or Hugging Face
layout) with an optional LoRA adapter folded in. Nothing here holds more than one tensor, so
exporters that write as they read need memory for one tensor (plus their own output buffer).

Tensors come out in Mistral's native naming and row order (`layers.3.attention.wq.weight`,
interleaved RoPE rows); exporters rename and permute for their layout (weights.py).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch
from safetensors import safe_open

from .adapter_io import read_adapter
from .model import ModelArgs
from .weights import model_layout, native_names, read_model_args, rope_heads, unpermute_rows_from_hf

_DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16, "F64": torch.float64}


@dataclass(frozen=True)
class TensorSpec:
    native: str
    shape: tuple[int, ...]
    dtype: torch.dtype  # the base file's dtype
    file: Path
    key: str  # the name inside `file`


def _specs(d: Path, args: ModelArgs) -> list[TensorSpec]:
    if model_layout(d) == "mistral":
        files, rename = [d / "consolidated.safetensors"], None
    else:
        index = d / "model.safetensors.index.json"
        names = sorted(set(json.loads(index.read_text())["weight_map"].values())) if index.is_file() else ["model.safetensors"]
        files, rename = [d / n for n in names], native_names(args)
    specs = []
    for f in files:
        with safe_open(str(f), framework="pt") as st:
            for key in st.keys():
                native = key if rename is None else rename.get(key)
                if native is None:
                    continue  # rotary inv_freq buffers and the like
                sl = st.get_slice(key)
                specs.append(TensorSpec(native, tuple(sl.get_shape()), _DTYPES[sl.get_dtype()], f, key))
    return specs


class ExportSource:
    """A base model (and adapter) whose tensors are read lazily, in native layout."""

    def __init__(self, model_dir: str | Path, adapter_dir: str | Path | None = None):
        self.dir = Path(model_dir)
        self.args = read_model_args(self.dir)
        self.hf_base = model_layout(self.dir) == "hf"
        self.specs = _specs(self.dir, self.args)
        if self.args.tied_embeddings:
            self.specs = [s for s in self.specs if s.native != "output.weight"]
        self.lora: dict[str, torch.Tensor] = {}
        self.scaling = 0.0
        if adapter_dir is not None:
            self.lora, self.scaling = read_adapter(adapter_dir, self.args)
            check_adapter_shapes(self.lora, self.args)

    @property
    def base_dtype(self) -> torch.dtype:
        """The dtype most of the base's weights are stored in (its 'native' dtype)."""
        return max(self.specs, key=lambda s: s.shape[0] * (s.shape[1] if len(s.shape) > 1 else 1)).dtype

    def read(self, spec: TensorSpec) -> torch.Tensor:
        """One tensor, native layout, adapter merged. Merged tensors come out in fp32 (the merge is
        done in fp32); the others in the base file's dtype, so the biggest ones (embeddings,
        output) are never copied to fp32 on the way through."""
        with safe_open(str(spec.file), framework="pt") as st:
            t = st.get_tensor(spec.key)
        heads = rope_heads(spec.native, self.args) if self.hf_base else None
        if heads:
            t = unpermute_rows_from_hf(t, heads)
        prefix = spec.native.removesuffix(".weight")
        a, b = self.lora.get(f"{prefix}.lora_A.weight"), self.lora.get(f"{prefix}.lora_B.weight")
        if a is not None and b is not None:
            t = t.float().addmm_(b.float(), a.float(), alpha=self.scaling)  # W + s * B @ A
        return t

    def tensors(self) -> Iterator[tuple[TensorSpec, torch.Tensor]]:
        for spec in self.specs:
            yield spec, self.read(spec)


def check_adapter_shapes(state: dict[str, torch.Tensor], args: ModelArgs) -> None:
    """ValueError naming the first tensor whose shape does not fit the base's projections."""
    dims = {"wq": (args.n_heads * args.head_dim, args.dim), "wk": (args.n_kv_heads * args.head_dim, args.dim),
            "wv": (args.n_kv_heads * args.head_dim, args.dim), "wo": (args.dim, args.n_heads * args.head_dim),
            "w1": (args.hidden_dim, args.dim), "w3": (args.hidden_dim, args.dim), "w2": (args.dim, args.hidden_dim)}
    ranks = set()
    for key, t in state.items():
        parts = key.split(".")
        if len(parts) != 6 or parts[0] != "layers" or not parts[1].isdigit() or parts[3] not in dims:
            raise ValueError(f"unexpected adapter tensor {key}")
        if int(parts[1]) >= args.n_layers:
            raise ValueError(f"adapter tensor {key} names layer {parts[1]}, the base has {args.n_layers} layers")
        out, inp = dims[parts[3]]
        rank = t.shape[0] if parts[4] == "lora_A" else t.shape[-1]
        want = (rank, inp) if parts[4] == "lora_A" else (out, rank)
        if t.dim() != 2 or tuple(t.shape) != want:
            raise ValueError(f"adapter tensor {key} has shape {tuple(t.shape)}, the base expects {want} "
                             f"(r={rank}): was it trained on another base model?")
        ranks.add(rank)
    if len(ranks) > 1:
        raise ValueError(f"adapter tensors have different ranks {sorted(ranks)}")
    for key in state:
        other = key.replace("lora_A", "lora_B") if ".lora_A." in key else key.replace("lora_B", "lora_A")
        if other not in state:
            raise ValueError(f"adapter tensor {key} has no {other}")
    if not state:
        raise ValueError("the adapter holds no tensors")
