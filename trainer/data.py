"""Token shards (written by the worker, format in docs/contracts.md) -> packed training windows.

Packing (docs/trainer.md has the full statement):
- Each sample of n tokens becomes n-1 positions: input tokens[:-1], target tokens[1:], and the
  target's own mask bit (mask[1:]) decides whether the position is trained. Targets never cross
  from one sample into the next.
- Samples are placed whole, in shuffled order, into windows of `seq_len` positions; each keeps its
  own document id (attention never crosses documents) and positions restarting at 0. When the next
  sample does not fit, the window is closed (padded: doc id -1, mask 0) and the sample opens the next
  window from the same file.
- A sample longer than `seq_len` is truncated to its first `seq_len` positions (so every trained
  token keeps all of its preceding context) and dropped if no trained target remains. Samples with
  no trained target at all are skipped. Unlike mistral-finetune we never train a tail fragment cut
  from its context.
- Training files are mixed per window: window w comes from file f with probability weight_f (a
  draw seeded by (seed, w)); each file is reshuffled every time it is exhausted (permutation seeded
  by (seed, file, epoch)). The whole state is the small JSON `cursor`, so a run resumes exactly.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported where batches are built, so counting tokens (count_tokens.py) stays light
    import torch

SHARD_FORMAT = "atelier-shard-v1"


class Shard:
    """A token shard directory, memory-mapped."""

    def __init__(self, path: str | Path):
        d = Path(path)
        meta_path = d / "meta.json"
        if not meta_path.is_file():
            raise ValueError(f"{d} is not a complete token shard (no meta.json; the worker writes it last)")
        self.meta = json.loads(meta_path.read_text())
        if self.meta.get("format") != SHARD_FORMAT:
            raise ValueError(f"{d}: shard format {self.meta.get('format')!r}, expected {SHARD_FORMAT!r}")
        self.path = d
        self.samples = int(self.meta["samples"])
        self.tokens = np.memmap(d / "tokens.u32", dtype="<u4", mode="r") if self.meta["tokens"] else np.zeros(0, "<u4")
        self.mask = np.memmap(d / "mask.u8", dtype="u1", mode="r") if self.meta["tokens"] else np.zeros(0, "u1")
        self.offsets = np.memmap(d / "offsets.u64", dtype="<u8", mode="r")
        n_tokens = int(self.meta["tokens"])
        if len(self.offsets) != self.samples + 1 or int(self.offsets[-1]) != n_tokens or len(self.tokens) != n_tokens \
                or len(self.mask) != n_tokens:
            raise ValueError(f"{d}: offsets/tokens do not match meta.json (a partial or corrupt shard; re-tokenize)")

    def sample(self, i: int, limit: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(inputs, targets, target mask) of sample i, at most `limit` positions from its start."""
        start, end = int(self.offsets[i]), int(self.offsets[i + 1])
        end = min(end, start + limit + 1)
        return self.tokens[start:end - 1], self.tokens[start + 1:end], self.mask[start + 1:end]


def write_shard(path: str | Path, samples: list[tuple[list[int], list[int]]]) -> None:
    """Write (tokens, mask) samples as a shard (the worker's format; used by tests and benchmarks)."""
    d = Path(path)
    d.mkdir(parents=True, exist_ok=True)
    tokens = np.array([t for s, _ in samples for t in s], dtype="<u4")
    mask = np.array([m for _, ms in samples for m in ms], dtype="u1")
    offsets = np.cumsum([0] + [len(s) for s, _ in samples]).astype("<u8")
    tokens.tofile(d / "tokens.u32")
    mask.tofile(d / "mask.u8")
    offsets.tofile(d / "offsets.u64")
    meta = {"format": SHARD_FORMAT, "samples": len(samples), "tokens": int(len(tokens)),
            "trained_tokens": int(mask.sum()), "tokenizer_sha256": "", "source_sha256": ""}
    (d / "meta.json").write_text(json.dumps(meta))


@dataclass
class Window:
    """One packed row of `seq_len` positions."""
    tokens: np.ndarray     # (T,) input ids
    targets: np.ndarray    # (T,) next-token ids
    mask: np.ndarray       # (T,) 1 = trained target
    positions: np.ndarray  # (T,) position within its document
    doc_ids: np.ndarray    # (T,) document index within the window, -1 for padding


@dataclass
class Batch:
    tokens: torch.Tensor     # (B, T)
    targets: torch.Tensor    # (B, T)
    mask: torch.Tensor       # (B, T) bool
    positions: torch.Tensor  # (B, T)
    doc_ids: torch.Tensor    # (B, T)

    def to(self, device: torch.device | str) -> "Batch":
        return Batch(*(t.to(device) for t in (self.tokens, self.targets, self.mask, self.positions, self.doc_ids)))


def collate(windows: list[Window]) -> Batch:
    """Stack windows into a (B, T) batch."""
    import torch
    def stack(name: str, dtype: torch.dtype) -> torch.Tensor:
        return torch.from_numpy(np.stack([getattr(w, name) for w in windows]).astype(np.int64)).to(dtype)
    return Batch(stack("tokens", torch.long), stack("targets", torch.long), stack("mask", torch.bool),
                 stack("positions", torch.long), stack("doc_ids", torch.long))


class _WindowBuilder:
    def __init__(self, seq_len: int):
        self.seq_len, self.parts, self.used = seq_len, [], 0

    def fits(self, n: int) -> bool:
        return self.used + n <= self.seq_len

    def add(self, x: np.ndarray, y: np.ndarray, m: np.ndarray) -> None:
        self.parts.append((x, y, m))
        self.used += len(x)

    def build(self) -> Window:
        T, pad = self.seq_len, self.seq_len - self.used
        cat = lambda arrs, fill: np.concatenate([*(np.asarray(a, dtype=np.int64) for a in arrs), np.full(pad, fill, np.int64)])
        positions = np.concatenate([*(np.arange(len(x)) for x, _, _ in self.parts), np.arange(pad)]).astype(np.int64)
        doc_ids = np.concatenate([*(np.full(len(x), i) for i, (x, _, _) in enumerate(self.parts)), np.full(pad, -1)])
        w = Window(cat([p[0] for p in self.parts], 0), cat([p[1] for p in self.parts], 0),
                   cat([p[2] for p in self.parts], 0), positions, doc_ids.astype(np.int64))
        assert len(w.tokens) == T
        return w


class TrainStream:
    """Infinite stream of packed training windows from weighted shards; resumable via `cursor`."""

    def __init__(self, shards: list[Shard], weights: list[float], seq_len: int, seed: int, cursor: dict | None = None):
        if any(s.samples == 0 or int(s.meta["trained_tokens"]) == 0 for s in shards):
            empty = [str(s.path) for s in shards if s.samples == 0 or int(s.meta["trained_tokens"]) == 0]
            raise ValueError(f"training shards without any trained token: {empty} (check the dataset's assistant turns)")
        self.shards, self.seq_len, self.seed = shards, seq_len, seed
        w = np.asarray(weights, dtype=np.float64)
        self.cum_weights = np.cumsum(w / w.sum())
        self.cursor = cursor or {"windows": 0, "files": [{"epoch": 0, "index": 0} for _ in shards]}
        self._orders: dict[tuple[int, int], np.ndarray] = {}

    def _order(self, f: int, epoch: int) -> np.ndarray:
        key = (f, epoch)
        if key not in self._orders:
            self._orders = {key: np.random.default_rng([self.seed, f, epoch]).permutation(self.shards[f].samples)}
        return self._orders[key]

    def _pick_file(self) -> int:
        u = np.random.default_rng([self.seed, 1_000_003, self.cursor["windows"]]).random()
        return int(min(np.searchsorted(self.cum_weights, u, side="right"), len(self.shards) - 1))

    def next_window(self) -> Window:
        f = self._pick_file()
        self.cursor["windows"] += 1
        shard, state, win = self.shards[f], self.cursor["files"][f], _WindowBuilder(self.seq_len)
        skipped = 0
        while True:
            if state["index"] >= shard.samples:
                state["epoch"], state["index"] = state["epoch"] + 1, 0
            i = int(self._order(f, state["epoch"])[state["index"]])
            x, y, m = shard.sample(i, self.seq_len)
            if len(x) > 0 and not win.fits(len(x)):
                break  # the sample opens the next window from this file
            state["index"] += 1
            if len(x) == 0 or not m.any():
                skipped += 1
                if skipped > shard.samples:
                    raise ValueError(f"{shard.path}: no sample has a trained token within seq_len={self.seq_len}; "
                                     "raise seq_len or check the dataset")
                continue
            win.add(x, y, m)
            if win.used == self.seq_len:
                break
        return win.build()

    def next_batch(self, batch_size: int) -> Batch:
        return collate([self.next_window() for _ in range(batch_size)])


def validation_batches(shards: list[Shard], seq_len: int, batch_size: int) -> list[Batch]:
    """All validation samples, in file order, packed like training (same truncation rule); the last
    window and batch may be partial."""
    windows, win = [], _WindowBuilder(seq_len)
    for shard in shards:
        for i in range(shard.samples):
            x, y, m = shard.sample(i, seq_len)
            if len(x) == 0 or not m.any():
                continue
            if not win.fits(len(x)):
                windows.append(win.build())
                win = _WindowBuilder(seq_len)
            win.add(x, y, m)
    if win.used:
        windows.append(win.build())
    return [collate(windows[s:s + batch_size]) for s in range(0, len(windows), batch_size)]
