"""Generation for serving: one loaded base model, a KV cache, greedy / temperature / top-p
sampling with seeds and stop tokens, and several LoRA adapters in one batch (the base projection is
computed once per row; each row adds its own adapter's delta, see `LoRALinear.bank_*`).

    engine = Engine("models/tiny-mistral", device="cpu")
    for event in engine.generate([GenerateRequest(id="r1", prompt=[1, 3, ...], adapter="/path/adapter")]):
        ...  # TokenEvent(id, index, token) as each token is chosen, then DoneEvent(...)

A stop token ends its row with finish_reason "stop"; it is counted in completion_tokens but not
emitted as a TokenEvent (it is not part of the text).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import torch

from .adapter_io import read_adapter
from .lora import set_adapter_bank
from .model import KVCache, document_mask
from .train import pick_device
from .weights import load_model


@dataclass(frozen=True)
class GenerateRequest:
    id: str
    prompt: list[int]
    max_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[int, ...] = ()
    n: int = 1
    adapter: str | None = None  # adapter directory (PEFT or Mistral layout), None for the base model


@dataclass(frozen=True)
class TokenEvent:
    id: str
    index: int
    token: int


@dataclass(frozen=True)
class DoneEvent:
    id: str
    index: int
    finish_reason: str  # "stop" | "length"
    prompt_tokens: int
    completion_tokens: int


@dataclass
class _Row:
    request: GenerateRequest
    index: int
    generator: torch.Generator
    adapter_id: int
    produced: int = 0
    done: bool = False
    last: int = field(default=0)


def check_request(r: GenerateRequest, vocab_size: int) -> None:
    """ValueError naming the field when a request cannot be served."""
    if not r.prompt:
        raise ValueError(f"request {r.id}: prompt must hold at least one token")
    if any(not 0 <= t < vocab_size for t in r.prompt):
        raise ValueError(f"request {r.id}: prompt token ids must be in [0, {vocab_size})")
    if r.max_tokens < 1:
        raise ValueError(f"request {r.id}: max_tokens must be >= 1")
    if r.temperature < 0 or not 0 < r.top_p <= 1 or r.n < 1:
        raise ValueError(f"request {r.id}: need temperature >= 0, 0 < top_p <= 1 and n >= 1")


def sample_token(logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator) -> int:
    """Greedy at temperature 0, else nucleus sampling from softmax(logits / temperature)."""
    if temperature == 0:
        return int(logits.argmax())
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:
        sorted_p, order = probs.sort(descending=True)
        keep = sorted_p.cumsum(0) - sorted_p < top_p  # smallest prefix whose mass reaches top_p
        probs = torch.zeros_like(probs).scatter_(0, order[keep], sorted_p[keep])
    return int(torch.multinomial(probs.cpu(), 1, generator=generator))


class Engine:
    """A base model loaded once; serves batches of requests with per-row adapters."""

    def __init__(self, model_dir: str | Path, device: str = "auto"):
        self.device, self.dtype = pick_device(device)
        self.model = load_model(model_dir, self.device, self.dtype).eval()
        self.args = self.model.args
        self._adapters: dict[str, tuple[dict[str, torch.Tensor], float]] = {}

    def adapter(self, path: str) -> tuple[dict[str, torch.Tensor], float]:
        """Read (and keep) an adapter; ValueError when the directory holds none or does not fit."""
        key = os.path.realpath(path)
        if key not in self._adapters:
            state, scaling = read_adapter(key, self.args)
            self._adapters[key] = (state, scaling)
        return self._adapters[key]

    @torch.no_grad()
    def generate(self, requests: list[GenerateRequest]) -> Iterator[TokenEvent | DoneEvent]:
        """Run the requests as one batch (n rows per request); yields events as tokens are chosen."""
        for r in requests:
            check_request(r, self.args.vocab_size)
        paths = sorted({os.path.realpath(r.adapter) for r in requests if r.adapter})
        set_adapter_bank(self.model, [self.adapter(p) for p in paths], self.dtype, self.device)
        rows = [_Row(r, i, _generator(r.seed, i), paths.index(os.path.realpath(r.adapter)) + 1 if r.adapter else 0)
                for r in requests for i in range(r.n)]
        lengths = torch.tensor([len(row.request.prompt) for row in rows], device=self.device)
        size = max(len(row.request.prompt) + row.request.max_tokens for row in rows)
        cache = KVCache(self.args, len(rows), size, self.dtype, self.device)
        adapter_ids = torch.tensor([row.adapter_id for row in rows], device=self.device)

        logits = self._prefill(rows, lengths, cache, adapter_ids)  # (B, V) at each prompt's last token
        positions = lengths.clone()
        while True:
            for b, row in enumerate(rows):
                if not row.done:
                    yield from self._advance(row, logits[b])
            if all(row.done for row in rows):
                return
            tokens = torch.tensor([[row.last] for row in rows], device=self.device)
            logits = self._decode(tokens, positions, cache, adapter_ids)
            # Finished rows keep riding along; clamp them so their (ignored) writes stay in the cache.
            positions = torch.clamp(positions + 1, max=size - 1)

    def _prefill(self, rows: list[_Row], lengths: torch.Tensor, cache: KVCache, adapter_ids: torch.Tensor) -> torch.Tensor:
        T = int(lengths.max())
        tokens = torch.zeros(len(rows), T, dtype=torch.long, device=self.device)  # right-padded
        for b, row in enumerate(rows):
            tokens[b, : len(row.request.prompt)] = torch.tensor(row.request.prompt)
        positions = torch.arange(T, device=self.device).expand(len(rows), T)
        cache.slots = positions
        # Causal over the prompt; padding slots (>= length) are overwritten by decoded tokens before
        # any query can reach them, because a query at position p only sees slots <= p.
        mask = document_mask(torch.zeros_like(positions), positions, self.args.sliding_window)
        mask = torch.nn.functional.pad(mask, (0, cache.k[0].shape[1] - T), value=False)  # (B, 1, T, S)
        hidden = self.model(tokens, positions, mask, adapter_ids, cache, return_hidden=True)
        last = hidden[torch.arange(len(rows), device=self.device), lengths - 1]  # (B, dim)
        return self.model.output(last)

    def _decode(self, tokens: torch.Tensor, positions: torch.Tensor, cache: KVCache, adapter_ids: torch.Tensor) -> torch.Tensor:
        cache.slots = positions[:, None]
        keys = torch.arange(cache.k[0].shape[1], device=self.device)
        dist = positions[:, None] - keys[None, :]  # (B, S)
        allowed = dist >= 0
        if self.args.sliding_window is not None:
            allowed &= dist < self.args.sliding_window
        out = self.model(tokens, positions[:, None], allowed[:, None, None, :], adapter_ids, cache)
        return out[:, -1]

    def _advance(self, row: _Row, logits: torch.Tensor) -> Iterator[TokenEvent | DoneEvent]:
        r = row.request
        token = sample_token(logits, r.temperature, r.top_p, row.generator)
        row.produced, row.last = row.produced + 1, token
        if token in r.stop:
            row.done = True
            yield DoneEvent(r.id, row.index, "stop", len(r.prompt), row.produced)
            return
        yield TokenEvent(r.id, row.index, token)
        if row.produced >= r.max_tokens:
            row.done = True
            yield DoneEvent(r.id, row.index, "length", len(r.prompt), row.produced)

    @torch.no_grad()
    def hidden_states(self, inputs: list[list[int]], adapter: str | None = None) -> list[torch.Tensor]:
        """Final-norm hidden states (T_i, dim) per input, e.g. for a classifier head."""
        set_adapter_bank(self.model, [self.adapter(adapter)] if adapter else [], self.dtype, self.device)
        out = []
        for ids in inputs:
            tokens = torch.tensor([ids], device=self.device)
            positions = torch.arange(len(ids), device=self.device)[None]
            mask = document_mask(torch.zeros_like(positions), positions, self.args.sliding_window)
            adapter_ids = torch.ones(1, dtype=torch.long, device=self.device) if adapter else None
            out.append(self.model(tokens, positions, mask, adapter_ids, return_hidden=True)[0])
        return out


def _generator(seed: int | None, index: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(seed + index if seed is not None else int.from_bytes(os.urandom(8), "little") >> 1)
    return g
