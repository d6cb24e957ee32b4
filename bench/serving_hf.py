"""HF transformers' `generate` on the same weights as Atelier's serving benchmark (bench/serving.ts).

tiny-mistral's native checkpoint (consolidated.safetensors + params.json) is converted in memory to
a Hugging Face MistralForCausalLM (trainer/weights.py: names and the q/k row order), then timed with
greedy `generate` on the CPU: time to first token and decode tokens/s for one stream, and aggregate
tokens/s for static batches (left-padded), with and without a LoRA adapter (PEFT, unmerged, as a
server holding many adapters would run it). The first token is timed with a streamer, inside the
same `generate` call that produces the rest.

    .venv/bin/python bench/serving_hf.py --model-dir models/tiny-mistral --prompts prompts.json \
        --new-tokens 128 --batches 1,8,32 [--adapter DIR] [--threads 2]

prompts.json: {"prompts": [[ids...], ...]} (the chat prompts the TypeScript side rendered).
Prints one JSON object on stdout.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from trainer.weights import load_model, to_hf_state  # noqa: E402


class FirstTokenTimer:
    """A transformers streamer that records when each generate step hands over new tokens
    (the first `put` is the prompt itself)."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def put(self, value: torch.Tensor) -> None:
        self.calls.append(time.perf_counter())

    def end(self) -> None:
        pass


def build_hf(model_dir: str):
    from transformers import MistralConfig, MistralForCausalLM
    native = load_model(model_dir)
    a = native.args
    config = MistralConfig(hidden_size=a.dim, intermediate_size=a.hidden_dim, num_hidden_layers=a.n_layers,
                           num_attention_heads=a.n_heads, num_key_value_heads=a.n_kv_heads, head_dim=a.head_dim,
                           vocab_size=a.vocab_size, rms_norm_eps=a.norm_eps, rope_theta=a.rope_theta,
                           sliding_window=None, tie_word_embeddings=False, max_position_embeddings=4096,
                           attn_implementation="sdpa")
    model = MistralForCausalLM(config)
    model.load_state_dict(to_hf_state(native.state_dict(), a), strict=True)
    return model.eval()


def run_batch(model, prompts: list[list[int]], new_tokens: int, pad_id: int) -> dict:
    """One greedy generate over `prompts` (left-padded); every row makes exactly `new_tokens`."""
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[pad_id] * (width - len(p)) + p for p in prompts])
    attn = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    timer = FirstTokenTimer()
    t0 = time.perf_counter()
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=attn, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                             do_sample=False, pad_token_id=pad_id, streamer=timer)
    total = time.perf_counter() - t0
    made = (out.shape[1] - width) * len(prompts)
    ttft = timer.calls[1] - t0 if len(timer.calls) > 1 else total
    decode = total - ttft
    return {"streams": len(prompts), "new_tokens": made, "total_s": round(total, 4), "ttft_s": round(ttft, 4),
            "tokens_per_s": round(made / total, 1),
            "decode_tokens_per_s": round((made - len(prompts)) / decode, 1) if decode > 0 else None}


def measure(model, prompts: list[list[int]], new_tokens: int, batches: list[int], repeats: int, pad_id: int) -> dict:
    run_batch(model, prompts[:1], 8, pad_id)  # warm-up (first-call allocations)
    single = [run_batch(model, [prompts[i % len(prompts)]], new_tokens, pad_id) for i in range(repeats)]
    out = {
        "single_stream": {
            "runs": repeats,
            "ttft_s_median": round(statistics.median(r["ttft_s"] for r in single), 4),
            "tokens_per_s_median": round(statistics.median(r["tokens_per_s"] for r in single), 1),
            "decode_tokens_per_s_median": round(statistics.median(r["decode_tokens_per_s"] for r in single), 1),
        },
        "batches": [],
    }
    for b in batches:
        rows = [prompts[i % len(prompts)] for i in range(b)]
        out["batches"].append(run_batch(model, rows, new_tokens, pad_id))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--prompts", required=True, help='JSON file {"prompts": [[ids...], ...]}')
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--batches", default="1,8,32")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--adapter", default=None, help="PEFT adapter directory (adapter_config.json + adapter_model.safetensors)")
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    prompts = json.loads(Path(a.prompts).read_text())["prompts"]
    batches = [int(x) for x in a.batches.split(",") if x]
    import transformers
    t0 = time.perf_counter()
    model = build_hf(a.model_dir)
    pad_id = 2  # </s>: padding is masked out, any id works
    result = {"transformers": transformers.__version__, "torch": torch.__version__, "threads": torch.get_num_threads(),
              "load_s": round(time.perf_counter() - t0, 2), "base": measure(model, prompts, a.new_tokens, batches, a.repeats, pad_id)}
    if a.adapter:
        from peft import PeftModel
        peft_model = PeftModel.from_pretrained(model, a.adapter).eval()
        result["adapter"] = measure(peft_model, prompts, a.new_tokens, batches, a.repeats, pad_id)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
