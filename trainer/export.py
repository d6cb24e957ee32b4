"""Export a base model, or a base plus a fine-tuned adapter, for use outside Atelier; or import a
PEFT adapter trained elsewhere (validated against the base, rewritten in Atelier's layout).

  python -m trainer.export --format peft|merged-hf|merged-mistral|gguf --model-dir BASE
      [--adapter DIR] --out DIR [--dtype fp32|bf16|fp16] [--quant f16|q8_0|...] [--name STEM]
      [--model-id ID] [--base-id ID] [--card FILE.json] [--shard-bytes N]
  python -m trainer.export --import-adapter DIR --model-dir BASE --out DIR

Writes into the existing folder --out and prints one JSON line {"files": [...]} (or
{"error": "..."} with exit code 2 for bad input). docs/export.md describes each format.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

import torch

from .adapter_io import read_adapter, write_adapter_files
from .export_adapter import base_reference, write_adapter_package
from .export_gguf import QUANTS, modelfile, write_lora_gguf, write_model_gguf
from .export_merged import DTYPES, write_merged_hf, write_merged_mistral
from .export_source import ExportSource, check_adapter_shapes
from .export_tokenizer import find_tokenizer
from .lora import LoRAConfig
from .weights import read_model_args

FORMATS = ("peft", "merged-hf", "merged-mistral", "gguf")
_DTYPE_NAMES = {v: k for k, v in DTYPES.items()}


def export(a: argparse.Namespace) -> list[str]:
    src = ExportSource(a.model_dir, a.adapter)
    out = Path(a.out)
    dtype = DTYPES[a.dtype] if a.dtype else (src.base_dtype if src.base_dtype in _DTYPE_NAMES else torch.float32)
    if a.format == "peft":
        if not a.adapter:
            raise ValueError("format 'peft' needs a fine-tuned model (a base model has no adapter)")
        card = json.loads(Path(a.card).read_text()) if a.card else {}
        return write_adapter_package(src, out, dtype, base_reference(src.dir, a.base_id or src.dir.name), card)
    if a.format == "merged-hf":
        return write_merged_hf(src, out, dtype, a.shard_bytes)
    if a.format == "merged-mistral":
        return write_merged_mistral(src, out, dtype)
    return export_gguf(src, out, a)


def export_gguf(src: ExportSource, out: Path, a: argparse.Namespace) -> list[str]:
    """The model GGUF and its Modelfile; for a fine-tune also the GGUF LoRA and Modelfile.adapter."""
    info = find_tokenizer(src.dir)
    name = a.name or src.dir.name
    model_file = f"{name}-{a.quant}.gguf"
    write_model_gguf(src, out / model_file, a.quant, info, name)
    (out / "Modelfile").write_text(modelfile(model_file, info))
    files = [model_file, "Modelfile"]
    if src.lora:
        lora_type = a.quant if a.quant in ("f32", "f16", "bf16") else "f16"
        lora_file = f"{name}-lora-{lora_type}.gguf"
        write_lora_gguf(src, out / lora_file, lora_type, name)
        base_file = f"{a.base_id or src.dir.name}-{a.quant}.gguf"
        (out / "Modelfile.adapter").write_text(modelfile(base_file, info, adapter=lora_file))
        files += [lora_file, "Modelfile.adapter"]
    return files


_ADAPTER_NAMES = {"adapter_config.json", "adapter_model.safetensors", "lora.safetensors", "params.json"}


def unpack_adapter(tar_path: Path, into: Path) -> Path:
    """Extract the adapter files of a tar (any folder depth, regular files only) into `into`."""
    try:
        with tarfile.open(tar_path) as tar:
            for member in tar:
                name = Path(member.name).name
                if member.isfile() and name in _ADAPTER_NAMES and not (into / name).exists():
                    src = tar.extractfile(member)
                    assert src is not None
                    with src, open(into / name, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
    except tarfile.TarError as e:
        raise ValueError(f"the upload is not a tar archive: {e}") from e
    return into


def import_adapter(a: argparse.Namespace) -> list[str]:
    """Read a PEFT (or Mistral) adapter, check it fits the base, write it in Atelier's layout."""
    args = read_model_args(a.model_dir)
    source = Path(a.import_adapter)
    if source.is_file():
        source = unpack_adapter(source, Path(tempfile.mkdtemp(dir=a.out)))
    try:
        state, scaling = read_adapter(source, args)
    except ValueError:
        raise
    except Exception as e:  # noqa: BLE001 - uploaded bytes: unreadable safetensors, missing keys, q/k rows of other heads
        raise ValueError(f"the adapter cannot be read for this base model: {type(e).__name__}: {e}") from e
    check_adapter_shapes(state, args)
    rank = next(t.shape[0] for k, t in state.items() if ".lora_A." in k)
    expected = {f"layers.{i}.{m}.lora_{ab}.weight" for i in range(args.n_layers)
                for m in ("attention.wq", "attention.wk", "attention.wv", "attention.wo", "feed_forward.w1", "feed_forward.w2", "feed_forward.w3")
                for ab in "AB"}
    for key in expected - set(state):  # modules the adapter does not touch: a zero delta
        out_dim, in_dim = _zero_shape(key, state, args, rank)
        state[key] = torch.zeros(out_dim, in_dim)
    write_adapter_files(Path(a.out), {k: v.float().contiguous() for k, v in state.items()}, args,
                        LoRAConfig(rank=rank, scaling=scaling), a.base_id or Path(a.model_dir).name)
    if source != Path(a.import_adapter):
        shutil.rmtree(source)
    return ["adapter_config.json", "adapter_model.safetensors", "lora.safetensors", "params.json"]


def _zero_shape(key: str, state: dict, args, rank: int) -> tuple[int, int]:
    dims = {"wq": (args.n_heads * args.head_dim, args.dim), "wk": (args.n_kv_heads * args.head_dim, args.dim),
            "wv": (args.n_kv_heads * args.head_dim, args.dim), "wo": (args.dim, args.n_heads * args.head_dim),
            "w1": (args.hidden_dim, args.dim), "w3": (args.hidden_dim, args.dim), "w2": (args.dim, args.hidden_dim)}
    out_dim, in_dim = dims[key.split(".")[3]]
    return (rank, in_dim) if ".lora_A." in key else (out_dim, rank)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m trainer.export", description=__doc__.split("\n")[0])
    p.add_argument("--format", choices=FORMATS)
    p.add_argument("--model-dir", required=True)
    p.add_argument("--adapter")
    p.add_argument("--out", required=True)
    p.add_argument("--dtype", choices=sorted(DTYPES))
    p.add_argument("--quant", choices=sorted(QUANTS), default="f16")
    p.add_argument("--name")
    p.add_argument("--base-id")
    p.add_argument("--card")
    p.add_argument("--shard-bytes", type=int, default=2 << 30)
    p.add_argument("--import-adapter")
    return p


def main(argv: list[str] | None = None) -> int:
    a = parser().parse_args(argv)
    try:
        if a.import_adapter:
            files = import_adapter(a)
        elif a.format:
            files = export(a)
        else:
            raise ValueError("give --format or --import-adapter")
    except ValueError as e:
        print(json.dumps({"error": str(e)}), flush=True)
        return 2
    print(json.dumps({"files": files}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
