"""CPU training throughput: Atelier's trainer vs Hugging Face transformers + PEFT, same model, data
and LoRA (hidden 256, 4 layers, 8 heads, 4 kv heads, vocab 32768, r16 on every linear projection,
8 x 512 tokens per step). Each side runs in its own subprocess so peak RSS is its own.

    .venv/bin/python bench/cpu_train.py            # prints one JSON line, writes bench/results/cpu-train.json
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PARAMS = {"dim": 256, "n_layers": 4, "head_dim": 32, "hidden_dim": 1024, "n_heads": 8, "n_kv_heads": 4,
          "norm_eps": 1e-5, "vocab_size": 32768, "rope_theta": 1000000.0}
BATCH, SEQ, WARMUP, TIMED, LR = 8, 512, 2, 5, 1e-3


def make_inputs(root: Path) -> tuple[Path, Path]:
    """A model in Mistral layout and a shard of chat-like samples (prompt untrained, answer trained)."""
    from safetensors.torch import save_file
    from trainer.data import write_shard
    from trainer.tiny_model import tiny_weights
    model = root / "model"
    model.mkdir()
    (model / "params.json").write_text(json.dumps(PARAMS))
    save_file(tiny_weights(PARAMS, seed=1), str(model / "consolidated.safetensors"))
    rng = np.random.default_rng(0)
    samples = []
    for _ in range(600):
        prompt, answer = int(rng.integers(20, 200)), int(rng.integers(20, 200))
        tokens = [1] + rng.integers(5, PARAMS["vocab_size"], prompt + answer - 1).tolist()
        samples.append((tokens, [0] * prompt + [1] * answer))
    write_shard(root / "shard", samples)
    return model, root / "shard"


def batches(shard: Path, n: int):
    from trainer.data import Shard, TrainStream
    stream = TrainStream([Shard(shard)], [1.0], SEQ, seed=0)
    return [stream.next_batch(BATCH) for _ in range(n)]


def run_atelier(model_dir: Path, shard: Path) -> list[tuple[float, float, float]]:
    from trainer.lora import LoRAConfig, apply_lora
    from trainer.speed import SpeedOptions, apply_speed, resolve_speed
    from trainer.train import ADAM_BETAS, batch_loss_sum
    from trainer.weights import load_model
    model = load_model(model_dir)
    apply_lora(model, LoRAConfig(rank=16, scaling=2.0))
    # the speed settings `python -m trainer.train` resolves for a CPU run (sdpa, no compile)
    apply_speed(model, resolve_speed(SpeedOptions(), torch.device("cpu"), model.args.n_layers))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=LR, betas=ADAM_BETAS, weight_decay=0.1)
    out = []
    for b in batches(shard, WARMUP + TIMED):
        t0 = time.perf_counter()
        loss = batch_loss_sum(model, b) / b.mask.sum()
        loss.backward()
        norm = float(torch.nn.utils.clip_grad_norm_(params, 1.0))
        opt.step()
        opt.zero_grad(set_to_none=True)
        out.append((time.perf_counter() - t0, loss.item(), norm))
    return out


def run_hf(model_dir: Path, shard: Path) -> list[tuple[float, float, float]]:
    from peft import LoraConfig, get_peft_model
    from transformers import MistralConfig, MistralForCausalLM
    from trainer.weights import load_model, to_hf_state
    native = load_model(model_dir)
    a = native.args
    config = MistralConfig(hidden_size=a.dim, intermediate_size=a.hidden_dim, num_hidden_layers=a.n_layers,
                           num_attention_heads=a.n_heads, num_key_value_heads=a.n_kv_heads, head_dim=a.head_dim,
                           vocab_size=a.vocab_size, rms_norm_eps=a.norm_eps, rope_theta=a.rope_theta,
                           sliding_window=None, tie_word_embeddings=False, attn_implementation="sdpa")
    model = MistralForCausalLM(config)
    model.load_state_dict(to_hf_state(native.state_dict(), a), strict=True)
    del native
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules=[
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]))
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=LR, betas=(0.9, 0.95), weight_decay=0.1)
    out = []
    for b in batches(shard, WARMUP + TIMED):
        # Not equal terms (docs/trainer.md, CPU benchmark): no position_ids and no document mask, so HF
        # attends densely across the packed documents of a row; Atelier attends per document.
        # HF shifts labels itself: label t = token t where token t is trained (mask[t]), else -100.
        tokens = torch.cat([b.tokens, b.targets[:, -1:]], dim=1)[:, :SEQ]
        labels = torch.where(torch.cat([torch.zeros_like(b.mask[:, :1]), b.mask], 1)[:, :SEQ], tokens, -100)
        t0 = time.perf_counter()
        loss = model(input_ids=tokens, labels=labels).loss
        loss.backward()
        norm = float(torch.nn.utils.clip_grad_norm_(params, 1.0))
        opt.step()
        opt.zero_grad(set_to_none=True)
        out.append((time.perf_counter() - t0, loss.item(), norm))
    return out


def child(side: str, model_dir: Path, shard: Path) -> None:
    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(0)
    steps = (run_atelier if side == "atelier" else run_hf)(model_dir, shard)
    timed = steps[WARMUP:]
    print(json.dumps({"tokens_per_s": BATCH * SEQ * len(timed) / sum(t for t, _, _ in timed),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "losses": [round(l, 4) for _, l, _ in steps], "grad_norms": [round(g, 4) for _, _, g in steps]}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--side", choices=["atelier", "hf"])
    parser.add_argument("--model-dir")
    parser.add_argument("--shard")
    args = parser.parse_args()
    if args.side:
        child(args.side, Path(args.model_dir), Path(args.shard))
        return
    with tempfile.TemporaryDirectory() as tmp:
        model_dir, shard = make_inputs(Path(tmp))
        res = {}
        for side in ("atelier", "hf"):
            p = subprocess.run([sys.executable, __file__, "--side", side, "--model-dir", str(model_dir), "--shard", str(shard)],
                               capture_output=True, text=True, check=True)
            res[side] = json.loads(p.stdout.strip().splitlines()[-1])
    result = {"atelier_tokens_per_s": round(res["atelier"]["tokens_per_s"], 1),
              "hf_peft_tokens_per_s": round(res["hf"]["tokens_per_s"], 1),
              "speedup": round(res["atelier"]["tokens_per_s"] / res["hf"]["tokens_per_s"], 2),
              "atelier_peak_rss_mb": round(res["atelier"]["peak_rss_mb"], 1), "hf_peak_rss_mb": round(res["hf"]["peak_rss_mb"], 1),
              "config": {**PARAMS, "lora_rank": 16, "batch": BATCH, "seq_len": SEQ, "warmup_steps": WARMUP, "timed_steps": TIMED,
                         "threads": os.cpu_count(), "torch": torch.__version__},
              "atelier": {k: res["atelier"][k] for k in ("losses", "grad_norms")},
              "hf_peft": {k: res["hf"][k] for k in ("losses", "grad_norms")}}
    out = REPO / "bench" / "results" / "cpu-train.json"
    tmp_out = out.with_suffix(".json.tmp")
    tmp_out.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(tmp_out, out)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
