"""Loads Atelier's exports with the consumers' own libraries and reports what they generate (used by
test/e2e/export.test.ts; every comparison is made there, or against Atelier's own model code here).

  python export_check.py --prompts '[[1, 3, ...], ...]' --max-tokens N --merged DIR
      --peft DIR (its base_model_name_or_path must resolve from the current directory)
      --atelier-base DIR --adapter DIR

Prints one JSON line: {"merged": [[ids]...], "peft": [[ids]...], "max_logit_diff": x} where the
logit difference is between transformers on the merged export and Atelier's Transformer with the
adapter (trainer/), over each prompt followed by its greedy answer.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from trainer.adapter_io import read_adapter  # noqa: E402
from trainer.lora import set_adapter_bank  # noqa: E402
from trainer.weights import load_model  # noqa: E402


def greedy(model, prompt: list[int], max_tokens: int, eos: int = 2) -> list[int]:
    out = model.generate(torch.tensor([prompt]), max_new_tokens=max_tokens, do_sample=False, eos_token_id=eos,
                         pad_token_id=eos, attention_mask=torch.ones(1, len(prompt), dtype=torch.long))
    return out[0, len(prompt):].tolist()


def atelier_logits(base: str, adapter: str, ids: list[int]) -> torch.Tensor:
    model = load_model(base)
    set_adapter_bank(model, [read_adapter(adapter, model.args)], torch.float32, "cpu")
    t = torch.tensor([ids])
    pos = torch.arange(len(ids))[None]
    with torch.no_grad():
        return model(t, pos, None, adapter_ids=torch.tensor([1]))[0]


def main() -> None:
    p = argparse.ArgumentParser()
    for name in ("prompts", "merged", "peft", "atelier-base", "adapter"):
        p.add_argument(f"--{name}", required=True)
    p.add_argument("--max-tokens", type=int, default=24)
    a = p.parse_args()
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoModelForCausalLM
    prompts = json.loads(a.prompts)
    merged = AutoModelForCausalLM.from_pretrained(a.merged, dtype=torch.float32).eval()
    peft = AutoPeftModelForCausalLM.from_pretrained(a.peft, dtype=torch.float32).eval()
    result = {"merged": [], "peft": [], "max_logit_diff": 0.0}
    for prompt in prompts:
        answer = greedy(merged, prompt, a.max_tokens)
        result["merged"].append(answer)
        result["peft"].append(greedy(peft, prompt, a.max_tokens))
        ids = prompt + answer
        with torch.no_grad():
            hf = merged(torch.tensor([ids])).logits[0].float()
        diff = (hf - atelier_logits(a.atelier_base, a.adapter, ids)).abs().max().item()
        result["max_logit_diff"] = max(result["max_logit_diff"], diff)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
