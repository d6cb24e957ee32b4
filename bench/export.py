"""Export memory and time: a random ~1B-parameter Mistral-architecture model written as 4 bf16
safetensors shards (Hugging Face layout, in a temporary folder) plus a random rank-16 adapter, then
`python -m trainer.export` merges it (merged-hf, bf16) and converts it to GGUF (f16), each in its
own process. Reports wall time and peak RSS of each against the exporter's baseline (the same
process with its imports loaded and nothing read) and against the shard size: the exporters read
and write one tensor at a time, so the peak should stay about one shard above the baseline.

    .venv/bin/python bench/export.py [--layers 18]   # prints JSON, writes bench/results/export.json
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from trainer.adapter_io import save_adapter_atomic  # noqa: E402
from trainer.lora import LoRAConfig  # noqa: E402
from trainer.model import ModelArgs  # noqa: E402
from trainer.safetensors_stream import SafetensorsWriter, nbytes  # noqa: E402
from trainer.weights import hf_name  # noqa: E402

MB = 1 << 20


def arch(layers: int) -> ModelArgs:
    return ModelArgs(dim=2048, n_layers=layers, head_dim=128, hidden_dim=5632, n_heads=16, n_kv_heads=4,
                     vocab_size=32768, norm_eps=1e-5, rope_theta=1e6)


def shapes(a: ModelArgs) -> list[tuple[str, tuple[int, ...]]]:
    q, kv = a.n_heads * a.head_dim, a.n_kv_heads * a.head_dim
    out = [("tok_embeddings.weight", (a.vocab_size, a.dim))]
    for i in range(a.n_layers):
        p = f"layers.{i}."
        out += [(p + "attention.wq.weight", (q, a.dim)), (p + "attention.wk.weight", (kv, a.dim)),
                (p + "attention.wv.weight", (kv, a.dim)), (p + "attention.wo.weight", (a.dim, q)),
                (p + "feed_forward.w1.weight", (a.hidden_dim, a.dim)), (p + "feed_forward.w3.weight", (a.hidden_dim, a.dim)),
                (p + "feed_forward.w2.weight", (a.dim, a.hidden_dim)),
                (p + "attention_norm.weight", (a.dim,)), (p + "ffn_norm.weight", (a.dim,))]
    return out + [("norm.weight", (a.dim,)), ("output.weight", (a.vocab_size, a.dim))]


def write_model(d: Path, a: ModelArgs, n_shards: int = 4) -> tuple[int, int]:
    """Random bf16 weights in n_shards HF shards, one tensor in memory at a time; (params, largest shard bytes)."""
    specs = shapes(a)
    total = sum(nbytes(s, torch.bfloat16) for _, s in specs)
    shards: list[list[tuple[str, tuple[int, ...]]]] = [[]]
    size = 0
    for name, shape in specs:
        if size >= total / n_shards and len(shards) < n_shards:
            shards.append([])
            size = 0
        shards[-1].append((name, shape))
        size += nbytes(shape, torch.bfloat16)
    g = torch.Generator().manual_seed(0)
    weight_map = {}
    for k, shard in enumerate(shards, 1):
        fname = f"model-{k:05d}-of-{len(shards):05d}.safetensors"
        w = SafetensorsWriter(d / fname, [(hf_name(n), s, torch.bfloat16) for n, s in shard])
        for n, s in shard:
            t = torch.ones(s) if len(s) == 1 else torch.randn(s, generator=g) * 0.02
            w.write(hf_name(n), t.to(torch.bfloat16))
            weight_map[hf_name(n)] = fname
        w.close()
    (d / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}))
    config = {"architectures": ["MistralForCausalLM"], "model_type": "mistral", "hidden_size": a.dim, "intermediate_size": a.hidden_dim,
              "num_hidden_layers": a.n_layers, "num_attention_heads": a.n_heads, "num_key_value_heads": a.n_kv_heads,
              "head_dim": a.head_dim, "vocab_size": a.vocab_size, "rms_norm_eps": a.norm_eps, "rope_theta": a.rope_theta,
              "max_position_embeddings": 32768, "tie_word_embeddings": False}
    (d / "config.json").write_text(json.dumps(config))
    shutil.copyfile(REPO / "models" / "tiny-mistral" / "tokenizer.model.v3", d / "tokenizer.model.v3")
    largest = max(os.path.getsize(d / f) for f in set(weight_map.values()))
    return sum(torch.Size(s).numel() for _, s in specs), largest


def write_adapter(d: Path, a: ModelArgs, rank: int = 16) -> None:
    g = torch.Generator().manual_seed(1)
    state = {}
    for name, shape in shapes(a):
        if len(shape) == 2 and name.startswith("layers."):
            stem = name.removesuffix(".weight")
            state[f"{stem}.lora_A.weight"] = torch.randn(rank, shape[1], generator=g) * 0.01
            state[f"{stem}.lora_B.weight"] = torch.randn(shape[0], rank, generator=g) * 0.01
    save_adapter_atomic(d, state, a, LoRAConfig(rank=rank), "bench")


# Runs a module as __main__ and prints the process's own peak RSS (VmHWM) last. getrusage and
# wait4 would not do: a forked child's ru_maxrss starts from the parent's, and this parent is big.
_WRAPPER = """
import runpy, sys
module, sys.argv = sys.argv[1], sys.argv[1:]
try:
    runpy.run_module(module, run_name="__main__") if module != "-" else None
except SystemExit as e:
    if e.code:
        raise
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print("VMHWM_KB", hwm)
"""


def measure(module: str, args: list[str]) -> dict:
    """Runs `python -m module args` in a child; its wall time and its own peak RSS."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _WRAPPER, module, *args], cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{module} {args} failed: {proc.stdout[-500:]} {proc.stderr[-2000:]}")
    kb = int(proc.stdout.strip().split("\n")[-1].split()[1])
    return {"seconds": round(time.perf_counter() - start, 1), "peak_rss_mb": round(kb / 1024)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--layers", type=int, default=18, help="18 layers of dim 2048 = 0.95B parameters")
    a = arch(p.parse_args().layers)
    with tempfile.TemporaryDirectory(prefix="atelier-bench-export-") as tmp:
        root = Path(tmp)
        (root / "base").mkdir()
        t0 = time.perf_counter()
        params, shard = write_model(root / "base", a)
        write_adapter(root / "adapter", a)
        made = time.perf_counter() - t0
        base = measure("trainer.export", ["--help"])
        runs = {}
        for fmt, extra in (("merged-hf", ["--dtype", "bf16"]), ("gguf", ["--quant", "f16"])):
            out = root / fmt
            out.mkdir()
            runs[fmt] = measure("trainer.export", ["--format", fmt, "--model-dir", str(root / "base"),
                                                   "--adapter", str(root / "adapter"), "--out", str(out), *extra])
            runs[fmt]["above_baseline_mb"] = runs[fmt]["peak_rss_mb"] - base["peak_rss_mb"]
            runs[fmt]["above_baseline_in_shards"] = round(runs[fmt]["above_baseline_mb"] * MB / shard, 2)
            shutil.rmtree(out)
    result = {"params": params, "shards": 4, "largest_shard_mb": round(shard / MB), "model_write_s": round(made, 1),
              "baseline_rss_mb": base["peak_rss_mb"], "cpus": os.cpu_count(), **runs}
    (REPO / "bench" / "results").mkdir(exist_ok=True)
    (REPO / "bench" / "results" / "export.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
