"""Classifier fine-tuning, top to bottom: `python -m trainer.train_classifier --config FILE`.

The recipe of `train.py`, copied and edited (torchtune's rule: recipes are copied, not inherited).
Same config file (task "classifier"), same JSON-lines events, same checkpoints layout. What differs:

- Data: classifier shards (docs/contracts.md): the completion shard files (every token is input; the
  mask is not used) plus `labels.json` with the targets and each sample's label indices per target.
  Samples are packed whole into windows of `seq_len` tokens (document mask, positions restart), so a
  step reads `seq_len x batch_size` tokens as the job's estimate says. A sample longer than
  `seq_len` keeps its first `seq_len` tokens.
- Model: LoRA on the base model, plus one linear head (with bias, fp32) per target over a pooled
  hidden state. Pooling: the final-norm hidden state of the sample's LAST token; with causal
  attention only that token has read the whole input (mean pooling would mix in states that have
  not).
- Loss per target: softmax cross-entropy (single_class) or sigmoid binary cross-entropy per label
  (multi_class), averaged over the step's samples, then averaged over targets with the targets'
  weights. Class imbalance: single_class uses inverse-frequency class weights
  N / (K x count_c) from the training labels (classes never seen get 1); multi_class uses
  pos_weight = negatives / positives per label, both clamped to [0.05, 20].
- The heads' peak learning rate is max(`HEAD_LR_SCALE` x learning_rate, `HEAD_LR_FLOOR`): they
  start from zero while LoRA starts from a function-preserving init. Measured on tiny-mistral
  (docs/classifiers.md): at Mistral's default 1e-4, heads at 10x reached 0.69 / 0.64 validation
  accuracy in 60 steps, at 1e-2 0.92 / 0.81; at 3e-3 the 10x rule (3e-2) is the better one.
- Checkpoint metrics: train_loss, valid_loss, valid_mean_token_accuracy (here: the mean of the
  targets' accuracies) and an extension `classifier: {target: {accuracy, macro_f1}}`.
- Output: `<out_dir>/adapter/` = the adapter files of train.py, `heads.safetensors`
  (`<target>.weight` (K, dim), `<target>.bias` (K,)) and `classifier.json` (targets, labels, pooling).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from .adapter_io import read_adapter, save_adapter_atomic
from .classify import CLASSIFIER_FORMAT
from .checkpoint import latest_checkpoint, restore_rng, save_checkpoint
from .config import TrainConfig, parse_config, read_config_json
from .data import Shard
from .lora import apply_lora, load_adapter_state
from .model import Transformer, document_mask
from .tensorboard_log import MetricsLog
from .protocol import emit, run_reporting_errors
from .train import ADAM_BETAS, StopFlag, checkpoint_steps, config_fingerprint, lr_at, pick_device
from .weights import load_model

HEAD_LR_SCALE = 10.0
HEAD_LR_FLOOR = 1e-2
CLASS_WEIGHT_RANGE = (0.05, 20.0)


@dataclass(frozen=True)
class Target:
    name: str
    labels: list[str]
    multi: bool
    weight: float = 1.0


# ---- config ----

def parse_classifier_config(raw: dict) -> tuple[TrainConfig, list[Target]]:
    """The completion config rules (trainer/config.py) plus the `classifier` block:
    {"targets": [{"name", "labels", "multi", "weight"}]}. ValueError says what to change."""
    if not isinstance(raw, dict):
        raise ValueError("the config must be a JSON object")
    if raw.get("task") != "classifier":
        raise ValueError(f"'task' must be 'classifier' for trainer.train_classifier, got {raw.get('task')!r}")
    block = raw.get("classifier")
    if not isinstance(block, dict) or not isinstance(block.get("targets"), list) or not block["targets"]:
        raise ValueError("config field 'classifier' must be {\"targets\": [{\"name\", \"labels\", \"multi\", \"weight\"}, ...]}")
    targets = []
    for i, t in enumerate(block["targets"]):
        ok = isinstance(t, dict) and isinstance(t.get("name"), str) and t["name"] and isinstance(t.get("labels"), list) \
            and len(t["labels"]) >= 1 and all(isinstance(x, str) for x in t["labels"]) and isinstance(t.get("multi", False), bool)
        weight = t.get("weight", 1.0) if isinstance(t, dict) else None
        if not ok or isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight > 0:
            raise ValueError(f"classifier.targets[{i}] must be {{\"name\": str, \"labels\": [str, ...], \"multi\": bool, \"weight\": > 0}}")
        if not t.get("multi", False) and len(t["labels"]) < 2:
            raise ValueError(f"classifier target {t['name']!r} is single_class with one label; give it at least two labels")
        targets.append(Target(t["name"], list(t["labels"]), bool(t.get("multi", False)), float(weight)))
    if len({t.name for t in targets}) != len(targets):
        raise ValueError("classifier target names must be unique")
    cfg = parse_config({**raw, "task": "completion", "classifier": None})
    return dataclasses.replace(cfg, task="classifier", classifier=block), targets


# ---- data ----

class LabelledShard:
    """A classifier shard: token samples + per-sample label indices for each target."""

    def __init__(self, path: str | Path, targets: list[Target]):
        self.shard = Shard(path)
        labels_path = Path(path) / "labels.json"
        if not labels_path.is_file():
            raise ValueError(f"{path} has no labels.json: it is not a classifier shard (re-create the job)")
        meta = json.loads(labels_path.read_text())
        names = [t["name"] for t in meta["targets"]]
        if names != [t.name for t in targets] or [t["labels"] for t in meta["targets"]] != [t.labels for t in targets]:
            raise ValueError(f"{path}: labels.json targets {names} do not match the config's targets")
        self.rows: list[list[list[int]]] = meta["rows"]  # rows[sample][target] = label indices
        if len(self.rows) != self.shard.samples:
            raise ValueError(f"{path}: labels.json has {len(self.rows)} rows for {self.shard.samples} samples")
        self.samples = self.shard.samples

    def tokens(self, i: int, limit: int) -> np.ndarray:
        start, end = int(self.shard.offsets[i]), int(self.shard.offsets[i + 1])
        return self.shard.tokens[start:min(end, start + limit)]


@dataclass
class Batch:
    tokens: torch.Tensor     # (B, T)
    positions: torch.Tensor  # (B, T)
    doc_ids: torch.Tensor    # (B, T), -1 = padding
    last: torch.Tensor       # (N, 2) (row, column) of each sample's last token
    labels: list[torch.Tensor]  # per target: (N,) class index (single) or (N, K) 0/1 floats (multi)

    def to(self, device: torch.device) -> "Batch":
        return Batch(self.tokens.to(device), self.positions.to(device), self.doc_ids.to(device), self.last.to(device),
                     [y.to(device) for y in self.labels])


def pack(samples: list[tuple[np.ndarray, list[list[int]]]], seq_len: int) -> list[list]:
    """Whole samples into windows of `seq_len` tokens, in order."""
    windows, current, used = [], [], 0
    for tokens, labels in samples:
        if current and used + len(tokens) > seq_len:
            windows.append(current)
            current, used = [], 0
        current.append((tokens, labels))
        used += len(tokens)
    if current:
        windows.append(current)
    return windows


def collate(windows: list[list], seq_len: int, targets: list[Target]) -> Batch:
    B = len(windows)
    tokens = torch.zeros(B, seq_len, dtype=torch.long)
    positions = torch.zeros(B, seq_len, dtype=torch.long)
    doc_ids = torch.full((B, seq_len), -1, dtype=torch.long)
    last, rows = [], []
    for b, window in enumerate(windows):
        at = 0
        for d, (toks, labels) in enumerate(window):
            n = len(toks)
            tokens[b, at:at + n] = torch.from_numpy(np.asarray(toks, dtype=np.int64))
            positions[b, at:at + n] = torch.arange(n)
            doc_ids[b, at:at + n] = d
            last.append((b, at + n - 1))
            rows.append(labels)
            at += n
        positions[b, at:] = torch.arange(seq_len - at)
    ys = []
    for t_i, t in enumerate(targets):
        if t.multi:
            y = torch.zeros(len(rows), len(t.labels))
            for s, r in enumerate(rows):
                y[s, r[t_i]] = 1.0
        else:
            y = torch.tensor([r[t_i][0] for r in rows], dtype=torch.long)
        ys.append(y)
    return Batch(tokens, positions, doc_ids, torch.tensor(last, dtype=torch.long), ys)


class SampleStream:
    """Infinite stream of training windows from weighted classifier shards, resumable via `cursor`
    (the same mixing and per-epoch shuffling rules as trainer/data.py's TrainStream)."""

    def __init__(self, shards: list[LabelledShard], weights: list[float], seq_len: int, seed: int, cursor: dict | None):
        if any(s.samples == 0 for s in shards):
            raise ValueError("a training shard has no samples (check the dataset)")
        self.shards, self.seq_len, self.seed = shards, seq_len, seed
        w = np.asarray(weights, dtype=np.float64)
        self.cum_weights = np.cumsum(w / w.sum())
        self.cursor = cursor or {"windows": 0, "files": [{"epoch": 0, "index": 0} for _ in shards]}

    def _order(self, f: int, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, f, epoch]).permutation(self.shards[f].samples)

    def next_window(self) -> list:
        u = np.random.default_rng([self.seed, 1_000_003, self.cursor["windows"]]).random()
        f = int(min(np.searchsorted(self.cum_weights, u, side="right"), len(self.shards) - 1))
        self.cursor["windows"] += 1
        shard, state, window, used = self.shards[f], self.cursor["files"][f], [], 0
        order = self._order(f, state["epoch"])
        while True:
            if state["index"] >= shard.samples:
                state["epoch"], state["index"] = state["epoch"] + 1, 0
                order = self._order(f, state["epoch"])
            i = int(order[state["index"]])
            toks = shard.tokens(i, self.seq_len)
            if window and used + len(toks) > self.seq_len:
                return window  # the sample opens the next window from this file
            state["index"] += 1
            window.append((toks, shard.rows[i]))
            used += len(toks)
            if used >= self.seq_len:
                return window


def class_weights(shards: list[LabelledShard], targets: list[Target]) -> list[torch.Tensor]:
    """Per target: inverse-frequency class weights (single_class) or pos_weight (multi_class)."""
    lo, hi = CLASS_WEIGHT_RANGE
    out = []
    for t_i, t in enumerate(targets):
        counts = np.zeros(len(t.labels))
        n = 0
        for s in shards:
            for r in s.rows:
                counts[r[t_i]] += 1
                n += 1
        if t.multi:
            w = np.where(counts > 0, (n - counts) / np.maximum(counts, 1), 1.0)
        else:
            w = np.where(counts > 0, n / (len(t.labels) * np.maximum(counts, 1)), 1.0)
        out.append(torch.tensor(np.clip(w, lo, hi), dtype=torch.float32))
    return out


# ---- model ----

def make_heads(dim: int, targets: list[Target], device: torch.device) -> nn.ModuleDict:
    """One zero-initialised linear head per target (fp32): the first step starts from uniform scores."""
    heads = nn.ModuleDict({t.name: nn.Linear(dim, len(t.labels), bias=True, device=device, dtype=torch.float32) for t in targets})
    for h in heads.values():
        nn.init.zeros_(h.weight)
        nn.init.zeros_(h.bias)
    return heads


def pooled(model: Transformer, b: Batch) -> torch.Tensor:
    """Hidden state of each sample's last token -> (N, dim) fp32."""
    mask = document_mask(b.doc_ids, b.positions, model.args.sliding_window)
    hidden = model(b.tokens, b.positions, mask, return_hidden=True)  # (B, T, dim)
    return hidden[b.last[:, 0], b.last[:, 1]].float()


def target_losses(logits: list[torch.Tensor], b: Batch, targets: list[Target], weights: list[torch.Tensor]) -> torch.Tensor:
    """Weighted mean over targets of each target's mean sample loss."""
    total = logits[0].new_zeros(())
    for z, y, t, w in zip(logits, b.labels, targets, weights):
        if t.multi:
            loss = F.binary_cross_entropy_with_logits(z, y, pos_weight=w.to(z.device))
        else:
            per = F.cross_entropy(z, y, weight=w.to(z.device), reduction="none")
            loss = per.sum() / w.to(z.device)[y].sum()  # weighted mean, as F.cross_entropy's 'mean'
        total = total + t.weight * loss
    return total / sum(t.weight for t in targets)


def f1_macro(pred: np.ndarray, gold: np.ndarray) -> float:
    """Macro F1 over columns of (N, K) 0/1 arrays; columns with neither gold nor predicted positives are skipped."""
    scores = []
    for k in range(gold.shape[1]):
        tp = float((pred[:, k] & gold[:, k]).sum())
        fp, fn = float((pred[:, k] & ~gold[:, k]).sum()), float((~pred[:, k] & gold[:, k]).sum())
        if tp + fp + fn > 0:
            scores.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores)) if scores else 1.0


@torch.no_grad()
def evaluate(model: Transformer, heads: nn.ModuleDict, batches: list[Batch], targets: list[Target],
             weights: list[torch.Tensor], device: torch.device) -> tuple[float | None, dict | None]:
    """(valid_loss, {target: {accuracy, macro_f1}}) over every validation sample."""
    if not batches:
        return None, None
    model.eval()
    loss_sum, n = 0.0, 0
    preds: list[list[np.ndarray]] = [[] for _ in targets]
    golds: list[list[np.ndarray]] = [[] for _ in targets]
    for b in batches:
        b = b.to(device)
        h = pooled(model, b)
        logits = [heads[t.name](h) for t in targets]
        loss_sum += float(target_losses(logits, b, targets, weights)) * len(b.last)
        n += len(b.last)
        for i, (z, y, t) in enumerate(zip(logits, b.labels, targets)):
            if t.multi:
                preds[i].append((z > 0).cpu().numpy())
                golds[i].append(y.cpu().numpy() > 0.5)
            else:
                eye = np.eye(len(t.labels), dtype=bool)
                preds[i].append(eye[z.argmax(-1).cpu().numpy()])
                golds[i].append(eye[y.cpu().numpy()])
    model.train()
    metrics = {}
    for i, t in enumerate(targets):
        p, g = np.concatenate(preds[i]), np.concatenate(golds[i])
        accuracy = float((p == g).all(axis=1).mean()) if not t.multi else float((p == g).mean())
        metrics[t.name] = {"accuracy": accuracy, "macro_f1": f1_macro(p, g)}
    return loss_sum / n, metrics


def validation_batches(shards: list[LabelledShard], seq_len: int, batch_size: int, targets: list[Target]) -> list[Batch]:
    samples = [(s.tokens(i, seq_len), s.rows[i]) for s in shards for i in range(s.samples)]
    windows = pack(samples, seq_len)
    return [collate(windows[k:k + batch_size], seq_len, targets) for k in range(0, len(windows), batch_size)]


# ---- checkpoints and outputs ----

def write_classifier_files(d: Path, heads: nn.ModuleDict, targets: list[Target]) -> None:
    """heads.safetensors + classifier.json into the existing directory `d`."""
    state = {}
    for t in targets:
        state[f"{t.name}.weight"] = heads[t.name].weight.detach().float().cpu().contiguous()
        state[f"{t.name}.bias"] = heads[t.name].bias.detach().float().cpu().contiguous()
    save_file(state, str(d / "heads.safetensors"))
    meta = {"format": CLASSIFIER_FORMAT, "pooling": "last",
            "targets": [{"name": t.name, "labels": t.labels, "multi": t.multi} for t in targets]}
    (d / "classifier.json").write_text(json.dumps(meta, indent=2))


def load_heads(heads: nn.ModuleDict, d: Path) -> None:
    state = load_file(str(d / "heads.safetensors"))
    with torch.no_grad():
        for name, head in heads.items():
            head.weight.copy_(state[f"{name}.weight"])
            head.bias.copy_(state[f"{name}.bias"])


def export(out_dir: Path, model: Transformer, cfg: TrainConfig) -> Path:
    """The newest checkpoint's adapter + heads as `<out_dir>/adapter`, atomically."""
    src = latest_checkpoint(out_dir).adapter_dir

    def copy_heads(tmp: Path) -> None:
        shutil.copy(src / "heads.safetensors", tmp / "heads.safetensors")
        shutil.copy(src / "classifier.json", tmp / "classifier.json")

    final = out_dir / "adapter"
    save_adapter_atomic(final, read_adapter(src, model.args)[0], model.args, cfg.lora, cfg.model_dir, write_extra=copy_heads)
    return final


# ---- the loop ----

def run(cfg: TrainConfig, targets: list[Target]) -> None:
    stop = StopFlag()
    device, dtype = pick_device(cfg.device)
    torch.manual_seed(cfg.seed)
    train_shards = [LabelledShard(f.shard, targets) for f in cfg.train]
    valid = validation_batches([LabelledShard(p, targets) for p in cfg.valid], cfg.seq_len, cfg.batch_size, targets)
    weights = class_weights(train_shards, targets)
    if cfg.training_steps is not None:
        total = cfg.training_steps
    else:
        total = max(1, math.ceil(cfg.epochs * sum(int(s.shard.meta["tokens"]) for s in train_shards) / cfg.tokens_per_step))
    ckpt_at = checkpoint_steps(total, cfg.checkpoint_every)

    model = load_model(cfg.model_dir, device, dtype)
    trainable = apply_lora(model, cfg.lora, device)
    heads = make_heads(model.args.dim, targets, device)
    model.train()
    lora_params = [p for p in model.parameters() if p.requires_grad]
    head_params = list(heads.parameters())
    optimizer = torch.optim.AdamW([{"params": lora_params, "scale": 1.0}, {"params": head_params, "scale": max(HEAD_LR_SCALE, HEAD_LR_FLOOR / cfg.learning_rate)}],
                                  lr=cfg.learning_rate, betas=ADAM_BETAS, eps=1e-8, weight_decay=cfg.weight_decay)
    params = lora_params + head_params

    out_dir, fingerprint = Path(cfg.out_dir), config_fingerprint(cfg)
    resumed = latest_checkpoint(out_dir) if cfg.resume else None
    if not cfg.resume:
        shutil.rmtree(out_dir / "checkpoints", ignore_errors=True)
    state = {"cursor": None, "trained_tokens": 0, "loss_sum": 0.0, "loss_steps": 0, "fingerprint": fingerprint}
    if resumed is not None:
        if resumed.trainer_state.get("fingerprint") != fingerprint:
            raise ValueError(f"the checkpoint in {out_dir} was written with a different config; set resume to false or use a new out_dir")
        load_adapter_state(model, read_adapter(resumed.adapter_dir, model.args)[0])
        load_heads(heads, resumed.adapter_dir)
        optimizer.load_state_dict(resumed.optimizer)
        restore_rng(resumed.rng)
        state.update({k: resumed.trainer_state[k] for k in ("cursor", "trained_tokens", "loss_sum", "loss_steps")})
    start = resumed.step if resumed else 0
    stream = SampleStream(train_shards, [f.weight for f in cfg.train], cfg.seq_len, cfg.seed, state["cursor"])
    emit("started", total_steps=total, resumed_from_step=start, device=str(device),
         trainable_params=trainable + sum(p.numel() for p in head_params))
    board = MetricsLog(cfg.tensorboard_dir)

    for step in range(start + 1, total + 1):
        t0 = time.perf_counter()
        lr = lr_at(step, total, cfg.learning_rate, cfg.warmup_fraction)
        for group in optimizer.param_groups:
            group["lr"] = lr * group["scale"]
        micro = [collate([stream.next_window() for _ in range(cfg.batch_size)], cfg.seq_len, targets) for _ in range(cfg.grad_accum)]
        n_samples = sum(len(b.last) for b in micro)  # normalise over the whole step's samples
        loss_total = 0.0
        for b in micro:
            b = b.to(device)
            h = pooled(model, b)
            loss = target_losses([heads[t.name](h) for t in targets], b, targets, weights) * len(b.last) / n_samples
            loss.backward()
            loss_total += loss.item()
        clip = cfg.max_grad_norm if cfg.max_grad_norm is not None else float("inf")
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, clip))
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        seen = sum(int((b.doc_ids >= 0).sum()) for b in micro)
        state["trained_tokens"] += seen
        state["loss_sum"] += loss_total
        state["loss_steps"] += 1
        tokens_per_s = seen / (time.perf_counter() - t0)
        emit("progress", step=step, total_steps=total, loss=loss_total, lr=lr, grad_norm=grad_norm,
             tokens_per_s=tokens_per_s, trained_tokens=state["trained_tokens"])
        board.step(step, loss=loss_total, learning_rate=lr, grad_norm=grad_norm, tokens_per_second=tokens_per_s,
                   trained_tokens=state["trained_tokens"])

        if step in ckpt_at or stop.requested:
            valid_loss, per_target = evaluate(model, heads, valid, targets, weights, device)
            train_loss = state["loss_sum"] / state["loss_steps"]
            state.update(cursor=stream.cursor, loss_sum=0.0, loss_steps=0)
            path = save_checkpoint(out_dir, step, model, optimizer, state, model.args, cfg.lora, cfg.model_dir,
                                   write_extra=lambda d: write_classifier_files(d, heads, targets))
            mean_acc = float(np.mean([m["accuracy"] for m in per_target.values()])) if per_target else None
            metrics = {"train_loss": train_loss, "valid_loss": valid_loss, "valid_mean_token_accuracy": mean_acc, "classifier": per_target}
            emit("checkpoint", step=step, path=str(path), metrics=metrics)
            board.evaluation(step, metrics)
        if stop.requested and step < total:
            board.close()
            emit("stopped", step=step)
            return
    board.close()

    adapter_dir = export(out_dir, model, cfg)
    emit("done", step=total, trained_tokens=state["trained_tokens"], adapter_dir=str(adapter_dir))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer.train_classifier", description="Atelier classifier trainer")
    parser.add_argument("--config", required=True, help="JSON config written by the worker (docs/contracts.md, task classifier)")
    args = parser.parse_args(argv)
    return run_reporting_errors(lambda: run(*parse_classifier_config(read_config_json(args.config))))


if __name__ == "__main__":
    sys.exit(main())
