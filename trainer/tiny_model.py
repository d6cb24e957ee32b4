"""The built-in `tiny-mistral` base model: Mistral architecture, the real v3 SentencePiece
tokenizer's vocabulary (32768), random weights from a fixed seed, written in Mistral's layout.

`python -m trainer.tiny_model --out DIR` writes DIR/params.json and DIR/consolidated.safetensors.
The weights are byte-identical on every run (fixed seed and order, CPU generator); the write is
atomic (temporary file + rename) and skipped when an identical file is already there.

The size trains in seconds on two CPU cores. The output projection is drawn with a larger scale
than usual (rows of norm ~2.5 rather than ~1) so that LoRA on the block projections alone can push
a target token's logit far enough above the other 32767 to memorise answers (a random head of the
usual scale caps the reachable probability of any token well below 1).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors.torch import save

TINY_PARAMS = {"dim": 128, "n_layers": 2, "head_dim": 32, "hidden_dim": 512, "n_heads": 4, "n_kv_heads": 2,
               "norm_eps": 1e-5, "vocab_size": 32768, "rope_theta": 1000000.0}
SEED = 20240718
OUTPUT_SCALE = 2.5  # output rows ~ N(0, OUTPUT_SCALE^2 / dim) per entry, see the module docstring


def tiny_weights(p: dict = TINY_PARAMS, seed: int = SEED) -> dict[str, torch.Tensor]:
    """The tiny model's tensors, drawn in a fixed order from one seeded CPU generator."""
    g = torch.Generator().manual_seed(seed)
    def normal(rows: int, cols: int, std: float) -> torch.Tensor:
        return (torch.randn(rows, cols, generator=g) * std).contiguous()
    dim, hd, hidden = p["dim"], p["head_dim"], p["hidden_dim"]
    q_out, kv_out = p["n_heads"] * hd, p["n_kv_heads"] * hd
    w = {"tok_embeddings.weight": normal(p["vocab_size"], dim, 1.0)}
    for i in range(p["n_layers"]):
        pre = f"layers.{i}."
        w[pre + "attention.wq.weight"] = normal(q_out, dim, dim ** -0.5)
        w[pre + "attention.wk.weight"] = normal(kv_out, dim, dim ** -0.5)
        w[pre + "attention.wv.weight"] = normal(kv_out, dim, dim ** -0.5)
        w[pre + "attention.wo.weight"] = normal(dim, q_out, q_out ** -0.5)
        w[pre + "feed_forward.w1.weight"] = normal(hidden, dim, dim ** -0.5)
        w[pre + "feed_forward.w3.weight"] = normal(hidden, dim, dim ** -0.5)
        w[pre + "feed_forward.w2.weight"] = normal(dim, hidden, hidden ** -0.5)
        w[pre + "attention_norm.weight"] = torch.ones(dim)
        w[pre + "ffn_norm.weight"] = torch.ones(dim)
    w["norm.weight"] = torch.ones(dim)
    w["output.weight"] = normal(p["vocab_size"], dim, OUTPUT_SCALE * dim ** -0.5)
    return w


def _write_atomic(path: Path, data: bytes) -> None:
    if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
        return  # idempotent: already there, byte for byte
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_tiny_model(out: str | Path) -> Path:
    """Write params.json + consolidated.safetensors into `out` (created if needed); returns it.
    Files already holding the exact bytes are left untouched."""
    d = Path(out)
    d.mkdir(parents=True, exist_ok=True)
    _write_atomic(d / "params.json", (json.dumps(TINY_PARAMS, indent=2) + "\n").encode())
    # One metadata key only: safetensors serialises metadata from a hash map, so several keys
    # come out in varying order and the file would not be byte-identical across runs.
    _write_atomic(d / "consolidated.safetensors", save(tiny_weights(), metadata={"format": "pt"}))
    return d


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m trainer.tiny_model", description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="directory to write the model into")
    print(write_tiny_model(parser.parse_args().out))


if __name__ == "__main__":
    main()
