"""Measures the peak memory of LoRA training steps on CPU, for trainer/tests/test_memory_plan.py.

`python trainer/tests/measure_peak.py '<json list of cases>'` prints one {"peak_bytes", "baseline_bytes"}
per case. A case's peak is the process's peak resident set (VmHWM, reset through /proc/self/clear_refs
before each case) minus its resident set just before the case's model is built; a warm-up step on a
1-layer model has loaded every kernel first. glibc must be told (MALLOC_MMAP_THRESHOLD_=65536, set by
the caller) to serve every allocation of 64 KiB or more with its own mmap, so a freed tensor leaves
the resident set at once and RSS follows the live tensor bytes, not the heap's high-water mark.

What runs is the trainer's own step: `Transformer` with `apply_lora`, `apply_speed` (SDPA, no
compile, `checkpoint_layers`), AdamW as train.py builds it, `batch_loss_sum` (chunked loss), clip,
step, zero_grad (two steps, so AdamW's states exist at the second one's peak); weights are random fp32 (CPU) built in process rather than read from a file.
"""
from __future__ import annotations

import gc
import json
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402

from trainer.data import Batch  # noqa: E402
from trainer.lora import LoRAConfig, apply_lora  # noqa: E402
from trainer.model import ModelArgs, Transformer  # noqa: E402
from trainer.speed import SpeedOptions, apply_speed, optimizer_kwargs, resolve_speed  # noqa: E402
from trainer.train import ADAM_BETAS, batch_loss_sum  # noqa: E402


def rss_bytes() -> int:
    """Current resident set of this process (Linux /proc)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize()


def peak_rss_bytes() -> int:
    """Peak resident set since the last `reset_peak` (VmHWM)."""
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) * 1024


def reset_peak() -> None:
    """Linux >= 4.0: writing 5 to clear_refs resets VmHWM to the current resident set."""
    Path("/proc/self/clear_refs").write_text("5")


def packed_batch(batch: int, seq_len: int, vocab: int, docs_per_row: int, gen: torch.Generator) -> Batch:
    """Random tokens in rows of `docs_per_row` equal documents, every target trained."""
    tokens = torch.randint(0, vocab, (batch, seq_len), generator=gen)
    doc_len = seq_len // docs_per_row
    doc_ids = (torch.arange(seq_len) // doc_len).clamp(max=docs_per_row - 1).repeat(batch, 1)
    positions = torch.arange(seq_len).repeat(batch, 1) - doc_ids * doc_len
    return Batch(tokens, tokens.roll(-1, 1), torch.ones(batch, seq_len, dtype=torch.bool), positions, doc_ids)


def train_steps(args: ModelArgs, rank: int, seq_len: int, batch: int, checkpoint_layers: int, steps: int) -> None:
    """The trainer's step, `steps` times, on a random model of `args`."""
    device = torch.device("cpu")
    gen = torch.Generator().manual_seed(0)
    model = Transformer(args)
    apply_lora(model, LoRAConfig(rank=rank), device)
    apply_speed(model, resolve_speed(SpeedOptions("sdpa", False, checkpoint_layers), device, args.n_layers))
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4, betas=ADAM_BETAS, eps=1e-8, weight_decay=0.1, **optimizer_kwargs(device))
    for _ in range(steps):
        b = packed_batch(batch, seq_len, args.vocab_size, 2, gen)
        loss = batch_loss_sum(model, b) / int(b.mask.sum())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)


def measure(case: dict) -> dict:
    gc.collect()
    reset_peak()
    baseline = rss_bytes()
    m = case["model"]
    args = ModelArgs(dim=m["dim"], n_layers=m["nLayers"], head_dim=m["headDim"], hidden_dim=m["hiddenDim"],
                     n_heads=m["nHeads"], n_kv_heads=m["nKvHeads"], vocab_size=m["vocabSize"])
    j = case["job"]
    train_steps(args, j["loraRank"], j["seqLen"], j["batchSize"], case["checkpointLayers"], case.get("steps", 2))
    return {"peak_bytes": peak_rss_bytes() - baseline, "baseline_bytes": baseline}


def main(cases: list[dict]) -> list[dict]:
    torch.set_num_threads(1)
    warm = ModelArgs(dim=64, n_layers=1, head_dim=16, hidden_dim=128, n_heads=4, n_kv_heads=2, vocab_size=256)
    train_steps(warm, 4, 64, 1, 1, 2)  # loads the kernels (and the checkpoint path) before any baseline
    return [measure(c) for c in cases]


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
