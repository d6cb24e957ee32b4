"""Classifier inference: a fine-tuned classifier's heads over the serving engine's base model with
its LoRA adapter. Used by the `classify` op of trainer/serve.py (docs/contracts.md):

  -> {"id","op":"classify","adapter":DIR,"inputs":[[ids],...]}
  <- {"id","type":"scores","scores":[{"<target>":{"<label>":score}} per input]}

Scores are softmax probabilities for a single_class target and per-label sigmoid probabilities for a
multi_class one. Inputs are scored one per row (right-padded, in chunks of `CHUNK`), pooled at their
last token exactly as trainer/train_classifier.py trains them.
"""
from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
from safetensors.torch import load_file

from .model import Transformer, document_mask

CHUNK = 32  # inputs per forward pass: bounds the (B, T, T) attention mask and activations
HEADS_KEPT = 16  # classifiers whose heads stay loaded (they are small: labels x dim each)
CLASSIFIER_FORMAT = "atelier-classifier-v1"


@dataclass
class Heads:
    targets: list[dict]  # [{"name", "labels", "multi"}]
    weights: dict[str, tuple[torch.Tensor, torch.Tensor]]  # name -> ((K, dim) weight, (K,) bias), fp32


class Bank(Protocol):
    """The serving engine's adapter bank (trainer/serve.py AdapterBank)."""

    def ensure(self, path: str, busy: set[str]) -> bool: ...
    def slot(self, path: str | None) -> int: ...


_heads: OrderedDict[str, Heads] = OrderedDict()


def read_heads(adapter_dir: str) -> Heads:
    """The heads and targets of a classifier adapter directory; ValueError when it is not one."""
    d = Path(adapter_dir)
    meta_path, weights_path = d / "classifier.json", d / "heads.safetensors"
    if not meta_path.is_file() or not weights_path.is_file():
        raise ValueError(f"{adapter_dir} is not a classifier (no classifier.json / heads.safetensors)")
    meta = json.loads(meta_path.read_text())
    if meta.get("format") != CLASSIFIER_FORMAT:
        raise ValueError(f"{adapter_dir}: classifier format {meta.get('format')!r}, expected {CLASSIFIER_FORMAT!r}")
    state = load_file(str(weights_path))
    weights = {t["name"]: (state[f"{t['name']}.weight"].float(), state[f"{t['name']}.bias"].float()) for t in meta["targets"]}
    return Heads(targets=meta["targets"], weights=weights)


def cached_heads(adapter_dir: str) -> Heads:
    if adapter_dir in _heads:
        _heads.move_to_end(adapter_dir)
        return _heads[adapter_dir]
    heads = read_heads(adapter_dir)
    _heads[adapter_dir] = heads
    while len(_heads) > HEADS_KEPT:
        _heads.popitem(last=False)
    return heads


@torch.no_grad()
def pooled_hidden(model: Transformer, inputs: list[list[int]], adapter_slot: int | None, device: torch.device) -> torch.Tensor:
    """Final-norm hidden state of each input's last token -> (N, dim) fp32."""
    out = []
    for s in range(0, len(inputs), CHUNK):
        chunk = inputs[s:s + CHUNK]
        B, T = len(chunk), max(len(x) for x in chunk)
        tokens = torch.zeros(B, T, dtype=torch.long)
        doc_ids = torch.full((B, T), -1, dtype=torch.long)
        for i, x in enumerate(chunk):
            tokens[i, :len(x)] = torch.tensor(x, dtype=torch.long)
            doc_ids[i, :len(x)] = 0
        positions = torch.arange(T).expand(B, T).contiguous()
        mask = document_mask(doc_ids, positions, model.args.sliding_window).to(device)
        ids = None if adapter_slot is None else torch.full((B,), adapter_slot, dtype=torch.long, device=device)
        hidden = model(tokens.to(device), positions.to(device), mask, adapter_ids=ids, return_hidden=True)  # (B, T, dim)
        last = torch.tensor([len(x) - 1 for x in chunk], device=device)
        out.append(hidden[torch.arange(B, device=device), last].float())
    return torch.cat(out)


def scores_of(heads: Heads, hidden: torch.Tensor) -> list[dict[str, dict[str, float]]]:
    """Per input: {target: {label: probability}}."""
    per_target = {}
    for t in heads.targets:
        w, b = heads.weights[t["name"]]
        logits = hidden @ w.to(hidden.device).t() + b.to(hidden.device)  # (N, K)
        per_target[t["name"]] = (torch.sigmoid(logits) if t["multi"] else torch.softmax(logits, dim=-1)).cpu().tolist()
    return [{t["name"]: dict(zip(t["labels"], per_target[t["name"]][i])) for t in heads.targets} for i in range(hidden.shape[0])]


def classify_request(msg: dict, model: Transformer, bank: Bank, busy: set[str], max_len: int) -> dict:
    """Answer one `classify` op; ValueError (reported as the request's error) for a bad request."""
    adapter, inputs = msg.get("adapter"), msg.get("inputs")
    if not isinstance(adapter, str) or not adapter:
        raise ValueError("classify needs 'adapter': the fine-tuned classifier's adapter directory")
    if not isinstance(inputs, list) or not inputs or not all(isinstance(x, list) and x for x in inputs):
        raise ValueError("classify needs 'inputs': a non-empty list of non-empty token id lists")
    vocab = model.args.vocab_size
    ids = [[int(t) for t in x[:max_len]] for x in inputs]  # training keeps a sample's first seq_len tokens too
    if any(t < 0 or t >= vocab for x in ids for t in x):
        raise ValueError(f"inputs have token ids outside the vocabulary (size {vocab})")
    heads = cached_heads(adapter)
    if not bank.ensure(adapter, busy):
        raise ValueError("every adapter slot is held by running generations; retry shortly or raise --max-adapters")
    device = next(model.parameters()).device
    hidden = pooled_hidden(model, ids, bank.slot(adapter), device)
    return {"id": msg.get("id"), "type": "scores", "scores": scores_of(heads, hidden)}
