"""The adapter package: everything each adapter consumer needs, in one folder.

- PEFT: adapter_config.json (`base_model_name_or_path` = the base as users name it, see
  `base_reference`) + adapter_model.safetensors (HF names, q/k lora_B rows permuted), for
  `AutoPeftModelForCausalLM` and vLLM `--lora-modules`.
- mistral-inference: lora.safetensors (native names) + params.json (the base's params with the
  `lora` block), all tensors in one dtype (mistral-inference asserts the model's dtype).
- README.md: a model card (base, data, hyperparameters, metrics, how to load it).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from safetensors.torch import save_file

from .export_merged import max_positions, native_params
from .export_source import ExportSource
from .weights import hf_name, permute_rows_for_hf, rope_heads

_HF_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
_REPO_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


def base_reference(model_dir: Path, model_id: str) -> str:
    """How users name the base: the Hugging Face repo id it declares (`hf_repo_id` in atelier.json,
    or config.json's `_name_or_path` when it is `owner/name`), else its Atelier model id."""
    for name, key in (("atelier.json", "hf_repo_id"), ("config.json", "_name_or_path")):
        f = model_dir / name
        if f.is_file():
            value = json.loads(f.read_text()).get(key)
            if isinstance(value, str) and _REPO_ID.match(value):
                return value
    return model_id


def write_adapter_package(src: ExportSource, out: Path, dtype: torch.dtype, base_name: str, card: dict) -> list[str]:
    """PEFT + mistral-inference files and the card; returns the file names written."""
    rank = next(t.shape[0] for k, t in src.lora.items() if ".lora_A." in k)
    save_file({k: t.to(dtype).contiguous() for k, t in src.lora.items()}, str(out / "lora.safetensors"), metadata={"format": "pt"})
    peft = {}
    for key, t in src.lora.items():
        heads = rope_heads(key, src.args)
        peft["base_model.model." + hf_name(key)] = (permute_rows_for_hf(t, heads) if heads else t).to(dtype).contiguous()
    save_file(peft, str(out / "adapter_model.safetensors"), metadata={"format": "pt"})
    config = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": rank, "lora_alpha": src.scaling * rank, "lora_dropout": 0.0,
              "target_modules": _HF_TARGETS, "bias": "none", "fan_in_fan_out": False, "use_rslora": False, "use_dora": False,
              "modules_to_save": None, "inference_mode": True, "base_model_name_or_path": base_name}
    (out / "adapter_config.json").write_text(json.dumps(config, indent=2))
    params = {**native_params(src.args, max_positions(src.dir)), "lora": {"rank": rank, "scaling": src.scaling}}
    (out / "params.json").write_text(json.dumps(params, indent=2))
    (out / "README.md").write_text(model_card(card, base_name, rank, src.scaling, str(dtype).removeprefix("torch.")))
    return ["adapter_config.json", "adapter_model.safetensors", "lora.safetensors", "params.json", "README.md"]


def _table(d: dict) -> str:
    if not d:
        return "(none recorded)\n"
    return "| | |\n|---|---|\n" + "".join(f"| {k} | {json.dumps(v) if not isinstance(v, str) else v} |\n" for k, v in d.items())


def model_card(card: dict, base_name: str, rank: int, scaling: float, dtype: str) -> str:
    """README.md of the adapter package: what it is, how it was trained, how to load it."""
    model_id = card.get("model_id", "adapter")
    files = card.get("training_files") or []
    data = "".join(f"- {f.get('filename', f.get('id'))} (`{f.get('id')}`, {f.get('bytes', '?')} bytes)\n" for f in files) or "(not recorded)\n"
    return f"""---
base_model: {base_name}
library_name: peft
tags: [lora, atelier]
---
# {model_id}

LoRA adapter (rank {rank}, scaling {scaling}, i.e. PEFT `lora_alpha` {scaling * rank}) for **{base_name}**,
fine-tuned with Atelier (job `{card.get('job_id')}`). Tensors are {dtype}.

## Training data
{data}
## Hyperparameters
{_table(card.get('hyperparameters') or {})}
## Metrics
{_table(card.get('metrics') or {})}
## How to load it
PEFT / transformers (`{base_name}` must resolve: a Hugging Face repo id or a local folder of that
name, e.g. `atelier export {card.get('base_model', base_name)} --format merged-hf --out {base_name}`):

```python
from peft import AutoPeftModelForCausalLM
model = AutoPeftModelForCausalLM.from_pretrained("path/to/this/folder")
```

vLLM: `vllm serve {base_name} --enable-lora --max-lora-rank {max(16, rank)} --lora-modules {model_id}=path/to/this/folder`

mistral-inference: copy `params.json`'s `lora` block into the base's params.json and pass
`--lora_path path/to/this/folder/lora.safetensors` (set `--dtype` to this file's dtype).
"""
