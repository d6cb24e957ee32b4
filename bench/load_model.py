"""Loading a ~1-billion-parameter checkpoint in Hugging Face layout: time and peak host memory.

  OMP_NUM_THREADS=1 .venv/bin/python bench/load_model.py [--dtype bf16|fp32] [--load-dtype bf16|fp32]
      [--shards 4] [--device cpu|cuda] [--trainer-root CHECKOUT] [--tmp DIR]

1. Writes a random Mistral-shaped model (dim 2048, 16 layers, 16 heads of 128, 4 KV heads, FFN
   7168, vocab 32768: 1.007e9 parameters) as `--shards` sharded safetensors files with
   model.safetensors.index.json and config.json, one tensor at a time (the writer holds one tensor).
2. Loads it with the trainer's loader (`trainer.weights.load_model`) in a fresh process that
   reports its baseline (peak RSS after importing torch and the trainer), the load time and its
   peak RSS after the load. Peaks are VmHWM (/proc/self/status), the high-water mark of the
   process's own memory: ru_maxrss is the same figure, except that Linux carries the parent's
   peak into a forked child across exec (the writer's, here), so it cannot show a baseline.
3. Prints one JSON line and deletes the folder.

The goal (issue 17): peak RSS < 1.5 x the largest shard + the process baseline when the weights go
to an accelerator. With `--device cpu` the loaded weights themselves live in host RAM, so the
loader's own cost is `peak - baseline - weights`, and the goal reads `overhead < 1.5 x shard`.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from trainer.safetensors_stream import SafetensorsWriter, nbytes  # noqa: E402

SHAPE = {"hidden_size": 2048, "num_hidden_layers": 16, "num_attention_heads": 16, "num_key_value_heads": 4,
         "head_dim": 128, "intermediate_size": 7168, "vocab_size": 32768}
DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}


def tensor_shapes(c: dict) -> list[tuple[str, tuple[int, ...]]]:
    """Every weight of MistralForCausalLM with config `c`, in layer order (embeddings first)."""
    d, hd, kv, ff = c["hidden_size"], c["head_dim"], c["num_key_value_heads"], c["intermediate_size"]
    q = c["num_attention_heads"] * hd
    out = [("model.embed_tokens.weight", (c["vocab_size"], d))]
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        out += [(p + "input_layernorm.weight", (d,)), (p + "self_attn.q_proj.weight", (q, d)),
                (p + "self_attn.k_proj.weight", (kv * hd, d)), (p + "self_attn.v_proj.weight", (kv * hd, d)),
                (p + "self_attn.o_proj.weight", (d, q)), (p + "post_attention_layernorm.weight", (d,)),
                (p + "mlp.gate_proj.weight", (ff, d)), (p + "mlp.up_proj.weight", (ff, d)), (p + "mlp.down_proj.weight", (d, ff))]
    return out + [("model.norm.weight", (d,)), ("lm_head.weight", (c["vocab_size"], d))]


def split(shapes: list[tuple[str, tuple[int, ...]]], dtype: torch.dtype, n: int) -> list[list[tuple[str, tuple[int, ...]]]]:
    """Consecutive tensors into n shards of about equal bytes (as save_pretrained's max_shard_size does)."""
    total = sum(nbytes(s, dtype) for _, s in shapes)
    shards, size = [[]], 0
    for name, shape in shapes:
        if size >= total / n * len(shards) and len(shards) < n:
            shards.append([])
        shards[-1].append((name, shape))
        size += nbytes(shape, dtype)
    return shards


def write_model(out: Path, dtype: torch.dtype, n_shards: int) -> list[int]:
    """Writes config.json, the shards and the index; returns the shard sizes in bytes."""
    config = {"architectures": ["MistralForCausalLM"], "model_type": "mistral", "max_position_embeddings": 32768,
              "rms_norm_eps": 1e-5, "rope_theta": 1e6, "sliding_window": None, "tie_word_embeddings": False,
              "hidden_act": "silu", "torch_dtype": {torch.bfloat16: "bfloat16", torch.float32: "float32"}[dtype], **SHAPE}
    (out / "config.json").write_text(json.dumps(config, indent=2))
    shards = split(tensor_shapes(SHAPE), dtype, n_shards)
    weight_map, sizes = {}, []
    g = torch.Generator().manual_seed(0)
    for i, part in enumerate(shards):
        name = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        writer = SafetensorsWriter(out / name, [(k, s, dtype) for k, s in part])
        for key, shape in part:
            writer.write(key, torch.randn(shape, generator=g, dtype=dtype).mul_(0.02))
            weight_map[key] = name
        writer.close()
        sizes.append((out / name).stat().st_size)
    (out / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": sum(sizes)}, "weight_map": weight_map}))
    return sizes


# The loading process: nothing but torch and the trainer imported before the baseline is taken.
CHILD = """
import json, resource, sys, time
import torch
from trainer.weights import load_model
def status(field):
    for line in open('/proc/self/status'):
        if line.startswith(field + ':'):
            return int(line.split()[1]) * 1024
baseline = status('VmHWM')
t0 = time.perf_counter()
model = load_model(sys.argv[1], device=sys.argv[2], dtype={'bf16': torch.bfloat16, 'fp32': torch.float32}[sys.argv[3]])
seconds = time.perf_counter() - t0
# Touch every page of every weight: a loader that leaves tensors on a lazily mapped file would
# otherwise look free here (its pages enter RSS only when training reads them).
for p in model.parameters():
    p.detach().view(-1)[::1024].float().sum()
weights = sum(p.numel() * p.element_size() for p in model.parameters())
print(json.dumps({"baseline_rss": baseline, "peak_rss": status('VmHWM'), "ru_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "rss_after": status('VmRSS'), "load_seconds": seconds, "weights_bytes": weights,
                  "params": sum(p.numel() for p in model.parameters())}))
"""


def measure(model_dir: Path, device: str, dtype: str, root: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, str(model_dir), device, dtype], cwd=root, check=True,
                          capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dtype", choices=sorted(DTYPES), default="bf16")
    p.add_argument("--shards", type=int, default=4)
    p.add_argument("--device", default="cpu", help="where the weights go: cpu, cuda, cuda:N")
    p.add_argument("--load-dtype", choices=sorted(DTYPES), default=None, help="dtype the weights load in (default: --dtype)")
    p.add_argument("--trainer-root", default=str(ROOT), help="checkout whose trainer/ loads (compare another version's loader)")
    p.add_argument("--tmp", default=None, help="folder for the checkpoint (needs ~2 GB for bf16, ~4 GB for fp32)")
    a = p.parse_args()
    out = Path(tempfile.mkdtemp(prefix="atelier-load-bench-", dir=a.tmp))
    try:
        t0 = time.perf_counter()
        sizes = write_model(out, DTYPES[a.dtype], a.shards)
        write_seconds = time.perf_counter() - t0
        r = measure(out, a.device, a.load_dtype or a.dtype, Path(a.trainer_root))
    finally:
        shutil.rmtree(out, ignore_errors=True)
    shard = max(sizes)
    host_weights = r["weights_bytes"] if a.device == "cpu" else 0
    overhead = r["peak_rss"] - r["baseline_rss"] - host_weights
    mib = lambda n: round(n / 2**20, 1)  # noqa: E731
    print(json.dumps({
        "params": r["params"], "dtype": a.dtype, "load_dtype": a.load_dtype or a.dtype, "device": a.device, "shards": len(sizes), "largest_shard_mib": mib(shard),
        "checkpoint_mib": mib(sum(sizes)), "write_seconds": round(write_seconds, 1), "load_seconds": round(r["load_seconds"], 1),
        "baseline_rss_mib": mib(r["baseline_rss"]), "peak_rss_mib": mib(r["peak_rss"]), "rss_after_load_mib": mib(r["rss_after"]), "weights_in_host_ram_mib": mib(host_weights),
        "loader_overhead_mib": mib(overhead), "overhead_per_shard": round(overhead / shard, 3),
        "goal_met": overhead < 1.5 * shard,
    }))


if __name__ == "__main__":
    main()
