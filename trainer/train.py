"""LoRA fine-tuning, top to bottom: `python -m trainer.train --config FILE`.

Events go to stdout as JSON lines (protocol.py, docs/contracts.md). The loop: linear warm-up then
cosine decay, gradient accumulation over the step's micro-batches with the loss normalised by the
step's trained tokens, clipping, AdamW on the adapter only, evaluation + atomic checkpoint at each
10% of progress (or every `checkpoint_every` steps) and at the last step, SIGTERM -> checkpoint and
stop. A restart with `resume: true` continues from the newest checkpoint bit for bit.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import shutil
import signal
import sys
import time
from pathlib import Path

import torch

from .adapter_io import save_adapter_atomic, read_adapter
from .checkpoint import latest_checkpoint, restore_rng, save_checkpoint
from .config import TrainConfig, load_config
from .device import pick_device  # noqa: F401  (re-exported: train_classifier imports it from here)
from .data import Batch, ImageConfig, Shard, TrainStream, validation_batches
from .distributed import SINGLE, Ranks, init_ranks
from .lora import apply_lora, load_adapter_state
from .loss import chunked_ce_sum, chunked_eval
from .model import Transformer
from .protocol import emit, log, run_reporting_errors
from .tensorboard_log import MetricsLog
from .speed import SpeedOptions, apply_speed, optimizer_kwargs, resolve_speed
from .vision_train import copy_vision_from, load_vision_state, unfreeze_vision, vision_writer
from .weights import load_model

ADAM_BETAS = (0.9, 0.95)  # mistral-finetune's AdamW betas (reference §1.6)


def lr_at(step: int, total: int, peak: float, warmup_fraction: float) -> float:
    """Learning rate of 1-based `step`: linear warm-up to `peak` over the first `warmup_fraction` of
    the steps, then cosine decay towards 0 (the last step still gets a small positive rate)."""
    warm = math.ceil(warmup_fraction * total)
    if step <= warm:
        return peak * step / warm
    progress = (step - warm - 1) / max(1, total - warm)
    return peak * 0.5 * (1.0 + math.cos(math.pi * progress))


def checkpoint_steps(total: int, every: int | None) -> set[int]:
    """Steps that end with evaluation + checkpoint: every `every` steps, or Mistral's rule (each 10%
    of progress, at least 10 steps apart); always the last step."""
    if every is not None:
        return set(range(every, total + 1, every)) | {total}
    steps, last = set(), 0
    for k in range(1, 11):
        s = math.ceil(total * k / 10)
        if s - last >= 10:
            steps.add(s)
            last = s
    return steps | {total}


def total_steps(cfg: TrainConfig, shards: list[Shard]) -> int:
    """`training_steps`, or enough steps for `epochs` passes over the training tokens."""
    if cfg.training_steps is not None:
        return cfg.training_steps
    data_tokens = sum(int(s.meta["tokens"]) for s in shards)
    return max(1, math.ceil(cfg.epochs * data_tokens / cfg.tokens_per_step))


# Settings a resumed run may change: where and how fast it runs, not what it computes.
_NOT_FINGERPRINTED = ("resume", "device", "checkpoint_every", "out_dir", "attention", "compile", "activation_checkpointing",
                      "tensorboard_dir", "parallel", "collective_timeout_s")


def config_fingerprint(cfg: TrainConfig) -> str:
    """Hash of the settings a resumed run must share with the checkpoint's run."""
    fixed = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in _NOT_FINGERPRINTED}
    return hashlib.sha256(json.dumps(fixed, sort_keys=True, default=str).encode()).hexdigest()


def batch_loss_sum(model: Transformer, batch: Batch) -> torch.Tensor:
    """Sum of cross-entropy over the batch's trained targets (chunked, no full logits)."""
    mask = model.packed_mask(batch.doc_ids, batch.positions)
    hidden = model(batch.tokens, batch.positions, mask, return_hidden=True, images=batch.images or None)  # (B, T, dim)
    return chunked_ce_sum(hidden[batch.mask], model.output.weight, batch.targets[batch.mask])


@torch.no_grad()
def evaluate(model: Transformer, batches: list[Batch], device: torch.device, ranks: Ranks = SINGLE) -> tuple[float | None, float | None]:
    """(valid_loss, valid_mean_token_accuracy) over trained targets, or (None, None) without data;
    with several ranks each evaluates its share and the sums are added up."""
    if not batches:
        return None, None
    model.eval()
    loss, correct, count = 0.0, 0, 0
    for b in ranks.shard(batches):
        b = b.to(device)
        mask = model.packed_mask(b.doc_ids, b.positions)
        hidden = model(b.tokens, b.positions, mask, return_hidden=True, images=b.images or None)
        l, c = chunked_eval(hidden[b.mask], model.output.weight, b.targets[b.mask])
        loss, correct, count = loss + l, correct + c, count + int(b.mask.sum())
    model.train()
    loss, correct, count = ranks.sum(loss, correct, count)
    return loss / count, correct / count


class StopFlag:
    """Set by SIGTERM; the loop finishes its step, checkpoints and exits."""

    def __init__(self):
        self.requested = False
        signal.signal(signal.SIGTERM, self._set)

    def _set(self, signum, frame) -> None:
        self.requested = True


def image_config(model: torch.nn.Module) -> ImageConfig | None:
    """How the model's vision encoder wants its pixels; None for a text-only model (image shards then fail clearly)."""
    v = getattr(model, "vision_args", None)
    return ImageConfig(v.patch_size, v.image_limit, v.spatial_merge_size) if v is not None else None


def run(cfg: TrainConfig) -> None:
    stop = StopFlag()
    device, dtype = pick_device(cfg.device)
    ranks, device = init_ranks(device, cfg.parallel, cfg.collective_timeout_s)  # torchrun: this rank's place and device
    torch.manual_seed(cfg.seed)
    train_shards = [Shard(f.shard) for f in cfg.train]
    total = total_steps(cfg, train_shards)
    ckpt_at = checkpoint_steps(total, cfg.checkpoint_every)

    model = load_model(cfg.model_dir, ranks.load_device(device), dtype)  # FSDP: on the host until sharded
    images = image_config(model)
    valid = validation_batches([Shard(p) for p in cfg.valid], cfg.seq_len, cfg.batch_size, images)
    trainable = apply_lora(model, cfg.lora, device)
    trainable += unfreeze_vision(model, cfg.train_projector, cfg.train_vision_encoder)
    speed = resolve_speed(SpeedOptions(cfg.attention, cfg.compile, cfg.checkpoint_layers), device, model.args.n_layers)
    apply_speed(model, speed)
    log(f"speed: attention={speed.attention} compile={speed.compile} checkpoint_layers={speed.checkpoint_layers} "
        f"fused_adamw={device.type == 'cuda'}")
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]  # fp32 adapter weights = AdamW state dtype
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, betas=ADAM_BETAS, eps=1e-8, weight_decay=cfg.weight_decay,
                                  **optimizer_kwargs(device))

    out_dir, fingerprint = Path(cfg.out_dir), config_fingerprint(cfg)
    resumed = latest_checkpoint(out_dir) if cfg.resume else None
    if not cfg.resume and ranks.writer:
        shutil.rmtree(out_dir / "checkpoints", ignore_errors=True)
    state = {"cursor": None, "trained_tokens": 0, "loss_sum": 0.0, "loss_steps": 0, "fingerprint": fingerprint}
    if resumed is not None:
        if resumed.trainer_state.get("fingerprint") != fingerprint:
            raise ValueError(f"the checkpoint in {out_dir} was written with a different config; "
                             "set resume to false or use a new out_dir")
        load_adapter_state(model, read_adapter(resumed.adapter_dir, model.args)[0])
        load_vision_state(model, resumed.adapter_dir)
        optimizer.load_state_dict(resumed.optimizer)
        restore_rng(resumed.rng)
        state.update({k: resumed.trainer_state[k] for k in ("cursor", "trained_tokens", "loss_sum", "loss_steps")})
    start = resumed.step if resumed else 0
    stream = TrainStream(train_shards, [f.weight for f in cfg.train], cfg.seq_len, cfg.seed, state["cursor"], images=images)
    emit("started", total_steps=total, resumed_from_step=start, device=str(device), trainable_params=trainable,
         ranks=ranks.world, parallel=ranks.mode)
    board = MetricsLog(cfg.tensorboard_dir if ranks.writer else None)
    net = ranks.wrap(model, device)  # what the training forward runs through (DDP with several ranks)
    ranks.reseed(cfg.seed, start)

    for step in range(start + 1, total + 1):
        t0 = time.perf_counter()
        lr = lr_at(step, total, cfg.learning_rate, cfg.warmup_fraction)
        for group in optimizer.param_groups:
            group["lr"] = lr
        # This rank's micro-batches; the counts are the whole step's (all ranks): normalise over its trained tokens.
        micro, n_trained, seen = ranks.step_batches(stream, cfg.batch_size, cfg.grad_accum)
        loss_total = 0.0
        for i, b in enumerate(micro):
            loss = batch_loss_sum(net, b.to(device)) / n_trained
            ranks.backward(loss, net, last=i == len(micro) - 1)
            loss_total += loss.item()
        loss_total, stopping = ranks.agree(loss_total, stop.requested)  # every rank stops at the same step
        clip = cfg.max_grad_norm if cfg.max_grad_norm is not None else float("inf")
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, clip))
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        state["trained_tokens"] += n_trained
        state["loss_sum"] += loss_total
        state["loss_steps"] += 1
        tokens_per_s = seen / (time.perf_counter() - t0)
        emit("progress", step=step, total_steps=total, loss=loss_total, lr=lr, grad_norm=grad_norm,
             tokens_per_s=tokens_per_s, trained_tokens=state["trained_tokens"])
        board.step(step, loss=loss_total, learning_rate=lr, grad_norm=grad_norm, tokens_per_second=tokens_per_s,
                   trained_tokens=state["trained_tokens"])

        if step in ckpt_at or stopping:
            valid_loss, valid_acc = evaluate(model, valid, device, ranks)
            train_loss = state["loss_sum"] / state["loss_steps"]
            state.update(cursor=stream.cursor, loss_sum=0.0, loss_steps=0)
            path = save_checkpoint(out_dir, step, model, optimizer, state, model.args, cfg.lora, cfg.model_dir,
                                   write_extra=vision_writer(model)) if ranks.writer else None
            metrics = {"train_loss": train_loss, "valid_loss": valid_loss, "valid_mean_token_accuracy": valid_acc}
            emit("checkpoint", step=step, path=str(path), metrics=metrics)
            board.evaluation(step, metrics)
        if stopping and step < total:
            board.close()
            emit("stopped", step=step)
            return ranks.close()
    board.close()
    ranks.close()
    if not ranks.writer:
        return

    adapter_dir = out_dir / "adapter"
    last = latest_checkpoint(out_dir).adapter_dir
    final = read_adapter(last, model.args)[0]
    save_adapter_atomic(adapter_dir, final, model.args, cfg.lora, cfg.model_dir, write_extra=copy_vision_from(last))
    emit("done", step=total, trained_tokens=state["trained_tokens"], adapter_dir=str(adapter_dir))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer.train", description="Atelier LoRA trainer")
    parser.add_argument("--config", required=True, help="JSON config written by the worker (docs/contracts.md)")
    args = parser.parse_args(argv)
    return run_reporting_errors(lambda: run(load_config(args.config)))


if __name__ == "__main__":
    sys.exit(main())
