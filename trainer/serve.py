"""Serving engine: one process per base model, many LoRA adapters, continuous (step-level) batching.

Protocol (docs/contracts.md, "Serving engine"): one JSON object per stdin line, one per stdout line.

  -> {"id","op":"generate","adapter":dir|null,"prompt":[ids],"max_tokens","temperature","top_p",
      "seed","stop":[ids],"n", "banned":[ids]?, "constrained":bool?,
      "images":[base64]?, "image_settings":{patch_size,max_image_size,spatial_merge_size}?}
     (images in the order of the prompt's [IMG] blocks; trainer/serve_images.py decodes them and
      they reach the model's forward at prefill only: decoding steps never see image positions)
  -> {"id","op":"mask","index","allow":[ids]} | {..., "deny":[ids]} | {..., "free":true}
  -> {"id","op":"cancel","index"?}   (without index: every choice of the request)
  -> {"id","op":"classify","adapter":dir,"inputs":[[ids],...]}  <- {"id","type":"scores","scores":[...]}
     (trainer/classify.py: a fine-tuned classifier's heads; answered between two decoding steps)
  <- {"type":"ready","device","vocab_size","max_seq_len"} once the weights are loaded
  <- {"id","type":"token","index","token"} / {"id","type":"done","index","finish_reason",...}
  <- {"id","type":"error","message"}

A `constrained` sequence samples a token only after a mask for that step arrived (the TypeScript
side runs the JSON grammar and answers each token with the next mask); it sits out the batch
meanwhile, so other sequences never wait for it.

Every sequence owns a row of one pooled KV cache; each step runs one forward pass over all rows that
have a token to feed, whatever their adapter (the adapter bank selects per row) and length.
"""
from __future__ import annotations

import argparse
import inspect
import json
import queue
import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import torch

from . import protocol
from .adapter_io import read_adapter
from .classify import classify_request
from .device import pick_device
from .lora import set_adapter_bank
from .model import KVCache, ModelArgs, Transformer
from .serve_images import VisionOverrides, request_images
from .weights import load_model


def emit(obj: dict) -> None:
    """One protocol line on stdout (trainer/protocol.py writes it: flushed, NaN as null)."""
    protocol.emit(obj["type"], **{k: v for k, v in obj.items() if k != "type"})


def log(msg: str) -> None:
    protocol.log(f"[serve] {msg}")


@dataclass
class Sequence:
    req_id: str
    index: int
    adapter: str | None
    prompt: list[int]
    max_tokens: int
    temperature: float
    top_p: float
    stop: set[int]
    banned: list[int]
    constrained: bool
    generator: torch.Generator | None
    row: int = -1
    length: int = 0  # tokens already in the cache
    generated: int = 0
    logits: torch.Tensor | None = None  # (V,) next-token logits, set after a forward pass
    feed: int | None = None  # sampled token still to be fed to the model
    mask: dict | None = None  # pending constraint for the next sample
    masks: list = field(default_factory=list)
    images: list[torch.Tensor] | None = None  # [3, H, W] per [IMG] block of the prompt, shared by the request's choices


class PooledCache(KVCache):
    """A KVCache over a fixed pool of rows: `rows` picks the pool rows of the current batch and
    `width` how many slots attention reads, so sequences join and leave between steps."""

    def __init__(self, args: ModelArgs, rows: int, size: int, dtype: torch.dtype, device: torch.device):
        super().__init__(args, rows, size, dtype, device)
        self.rows: torch.Tensor | None = None
        self.width = 0

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        assert self.rows is not None and self.slots is not None
        rows = self.rows[:, None].expand_as(self.slots)
        self.k[layer][rows, self.slots] = k
        self.v[layer][rows, self.slots] = v
        return self.k[layer][self.rows, : self.width], self.v[layer][self.rows, : self.width]


class AdapterBank:
    """Loaded adapters (LRU, at most `limit`), installed in the model's per-row adapter bank."""

    def __init__(self, model: Transformer, limit: int, dtype: torch.dtype, device: torch.device):
        self.model, self.limit, self.dtype, self.device = model, max(1, limit), dtype, device
        self.loaded: OrderedDict[str, tuple[dict[str, torch.Tensor], float]] = OrderedDict()

    def ensure(self, path: str, busy: set[str]) -> bool:
        """Load `path` if needed; False when the bank is full of adapters in use (try later)."""
        if path in self.loaded:
            self.loaded.move_to_end(path)
            return True
        if len(self.loaded) >= self.limit:
            victim = next((p for p in self.loaded if p not in busy), None)
            if victim is None:
                return False
            del self.loaded[victim]
            log(f"evicted adapter {victim}")
        self.loaded[path] = read_adapter(path, self.model.args)  # either layout (trainer/adapter_io.py)
        set_adapter_bank(self.model, list(self.loaded.values()), self.dtype, self.device)
        log(f"loaded adapter {path} ({len(self.loaded)}/{self.limit})")
        return True

    def slot(self, path: str | None) -> int:
        return 0 if path is None else list(self.loaded).index(path) + 1


class NoTokenLeft(ValueError):
    """The bans and mask of a step exclude every token: that sequence cannot go on."""


def sample(seq: Sequence, logits: torch.Tensor) -> int:
    """One token from (V,) logits with the sequence's bans, mask, temperature and top-p; raises
    NoTokenLeft when they leave no token (sampling from an all -inf row would kill the process)."""
    logits = logits.float().clone()
    if seq.banned:
        logits[seq.banned] = float("-inf")
    if seq.mask is not None:
        if "allow" in seq.mask:
            keep = torch.full_like(logits, float("-inf"))
            ids = torch.tensor(seq.mask["allow"], dtype=torch.long, device=logits.device)
            keep[ids] = 0.0
            logits = logits + keep
        elif "deny" in seq.mask and seq.mask["deny"]:
            logits[torch.tensor(seq.mask["deny"], dtype=torch.long, device=logits.device)] = float("-inf")
    if not bool(torch.isfinite(logits).any()):
        raise NoTokenLeft("the constraint left no token to sample (the response_format or tool schema admits no output here)")
    if seq.temperature <= 0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits / seq.temperature, dim=-1)
    if seq.top_p < 1.0:
        sorted_p, order = torch.sort(probs, descending=True)
        cut = torch.cumsum(sorted_p, dim=-1) - sorted_p >= seq.top_p  # drop tokens past the nucleus
        sorted_p[cut] = 0.0
        probs = torch.zeros_like(probs).scatter_(0, order, sorted_p)
    return int(torch.multinomial(probs.cpu(), 1, generator=seq.generator))


class Engine:
    def __init__(self, model: Transformer, device: torch.device, dtype: torch.dtype, max_batch: int,
                 max_seq_len: int, max_adapters: int):
        self.model, self.device, self.dtype = model, device, dtype
        self.args = model.args
        # A model reads images when its forward takes them (trainer/model.py with a vision encoder).
        self.takes_images = "images" in inspect.signature(model.forward).parameters
        self.max_seq_len = max_seq_len
        self.cache = PooledCache(self.args, max_batch, max_seq_len, dtype, device)
        self.free_rows = list(range(max_batch))
        self.bank = AdapterBank(model, max_adapters, dtype, device)
        self.vision = VisionOverrides(model)  # adapters' own vision weights, swapped in for their prefills
        self.waiting: list[Sequence] = []  # admitted once a row and their adapter are available
        self.active: list[Sequence] = []

    # ---- requests ----
    def handle(self, msg: dict) -> None:
        op, rid = msg.get("op"), msg.get("id")
        try:
            if op == "generate":
                self.waiting.extend(self.parse_generate(msg))
            elif op == "mask":
                self.set_mask(rid, int(msg.get("index", 0)), msg)
            elif op == "cancel":
                self.cancel(rid, msg.get("index"))
            elif op == "classify":  # fine-tuned classifier heads, answered at once (trainer/classify.py)
                busy = {s.adapter for s in self.active if s.adapter}
                emit(classify_request(msg, self.model, self.bank, busy, self.max_seq_len))
            else:
                raise ValueError(f"unknown op {op!r}: expected generate, mask, cancel or classify")
        except (ValueError, KeyError, TypeError) as e:
            self.cancel(rid)
            emit({"id": rid, "type": "error", "message": str(e)})

    def parse_generate(self, msg: dict) -> list[Sequence]:
        prompt = [int(t) for t in msg["prompt"]]
        if not prompt:
            raise ValueError("prompt is empty")
        if len(prompt) >= self.max_seq_len:
            raise ValueError(f"prompt has {len(prompt)} tokens; this engine holds at most {self.max_seq_len - 1}")
        vocab = self.args.vocab_size
        if any(t < 0 or t >= vocab for t in prompt):
            raise ValueError(f"prompt has token ids outside the vocabulary (size {vocab})")
        if any(not 0 <= int(t) < vocab for t in msg.get("banned") or []):
            raise ValueError(f"banned has token ids outside the vocabulary (size {vocab})")
        n, seed = int(msg.get("n") or 1), msg.get("seed")
        if msg.get("images") and not self.takes_images:
            raise ValueError("this model has no vision encoder: it cannot read images")
        images = request_images(msg)
        seqs = []
        for i in range(n):
            gen = None
            if seed is not None:
                gen = torch.Generator().manual_seed(int(seed) + i)
            seqs.append(Sequence(
                req_id=str(msg["id"]), index=i, adapter=msg.get("adapter"), prompt=prompt,
                max_tokens=int(msg.get("max_tokens") or self.max_seq_len),
                temperature=float(msg.get("temperature") or 0.0), top_p=float(msg.get("top_p") or 1.0),
                stop=set(int(t) for t in msg.get("stop") or []), banned=[int(t) for t in msg.get("banned") or []],
                constrained=bool(msg.get("constrained")), generator=gen, images=images))
        return seqs

    def set_mask(self, rid: str, index: int, msg: dict) -> None:
        for seq in self.waiting + self.active:
            if seq.req_id == rid and seq.index == index:
                if msg.get("free"):
                    seq.constrained = False
                    seq.mask = None
                else:
                    vocab = self.args.vocab_size
                    if any(not 0 <= int(t) < vocab for t in msg.get("allow", []) + msg.get("deny", [])):
                        raise ValueError(f"mask has token ids outside the vocabulary (size {vocab})")
                    seq.masks.append({k: msg[k] for k in ("allow", "deny") if k in msg})
                return

    def cancel(self, rid: str | None, index: int | None = None) -> None:
        """Drop a request's sequences (only choice `index` when given); nothing more is emitted."""
        def hit(s: Sequence) -> bool:
            return s.req_id == rid and (index is None or s.index == index)
        self.waiting = [s for s in self.waiting if not hit(s)]
        for seq in [s for s in self.active if hit(s)]:
            self.release(seq)

    def release(self, seq: Sequence) -> None:
        self.active.remove(seq)
        self.free_rows.append(seq.row)

    # ---- scheduling ----
    def admit(self) -> None:
        """Give waiting sequences a cache row and their adapter, then prefill them."""
        failed: set[str] = set()
        still: list[Sequence] = []
        for seq in self.waiting:
            if seq.req_id in failed:
                continue
            busy = {s.adapter for s in self.active if s.adapter}
            if not self.free_rows or not self.load_adapter(seq, busy, failed):
                if seq.req_id not in failed:
                    still.append(seq)
                continue
            seq.row = self.free_rows.pop()
            self.active.append(seq)
            try:
                self.prefill(seq)
            except ValueError as e:  # the model refused the images (e.g. features and [IMG] counts differ)
                if seq.images is None:
                    raise
                failed.add(seq.req_id)
                self.cancel(seq.req_id)
                emit({"id": seq.req_id, "type": "error", "message": f"cannot read the images: {e}"})
        self.waiting = [s for s in still if s.req_id not in failed]

    def load_adapter(self, seq: Sequence, busy: set[str], failed: set[str]) -> bool:
        """Whether the sequence's adapter is in the bank; a load error fails its request."""
        if not seq.adapter:
            return True
        try:
            return self.bank.ensure(seq.adapter, busy)
        except (ValueError, OSError, KeyError, RuntimeError) as e:
            failed.add(seq.req_id)
            self.cancel(seq.req_id)
            emit({"id": seq.req_id, "type": "error", "message": f"cannot load adapter {seq.adapter}: {e}"})
            return False

    def can_progress(self) -> bool:
        return any(self.ready_to_sample(s) or s.feed is not None for s in self.active)

    @staticmethod
    def ready_to_sample(seq: Sequence) -> bool:
        return seq.logits is not None and (not seq.constrained or bool(seq.masks))

    def step(self) -> None:
        for seq in list(self.active):
            if seq in self.active and self.ready_to_sample(seq):
                seq.mask = seq.masks.pop(0) if seq.constrained else None
                try:
                    token = sample(seq, seq.logits)
                except NoTokenLeft as e:  # this request fails; every other sequence carries on
                    self.cancel(seq.req_id)
                    emit({"id": seq.req_id, "type": "error", "message": str(e)})
                    continue
                self.take(seq, token)
        feeding = [s for s in self.active if s.feed is not None]
        if feeding:
            self.forward(feeding, [[s.feed] for s in feeding])

    def take(self, seq: Sequence, token: int) -> None:
        seq.logits = None
        if token in seq.stop:
            self.finish(seq, "stop")
            return
        seq.generated += 1
        emit({"id": seq.req_id, "type": "token", "index": seq.index, "token": token})
        if seq.generated >= seq.max_tokens or seq.length + 1 >= self.max_seq_len:
            self.finish(seq, "length")
        else:
            seq.feed = token

    def finish(self, seq: Sequence, reason: str) -> None:
        emit({"id": seq.req_id, "type": "done", "index": seq.index, "finish_reason": reason,
              "prompt_tokens": len(seq.prompt), "completion_tokens": seq.generated})
        self.release(seq)

    # ---- model ----
    def prefill(self, seq: Sequence) -> None:
        with self.vision.applied(seq.adapter if seq.images else None, self.bank.loaded):
            self.forward([seq], [seq.prompt], seq.images)

    @torch.no_grad()
    def forward(self, seqs: list[Sequence], tokens: list[list[int]], images: list[torch.Tensor] | None = None) -> None:
        """One pass over `seqs`, each extended by its `tokens` (right-padded to one length);
        `images` (a prefill of one sequence) fill the prompt's [IMG] positions in order."""
        T = max(len(t) for t in tokens)
        B = len(seqs)
        dev = self.device
        tok = torch.zeros(B, T, dtype=torch.long)
        pos = torch.zeros(B, T, dtype=torch.long)
        for i, (s, t) in enumerate(zip(seqs, tokens)):
            tok[i, : len(t)] = torch.tensor(t)
            pos[i] = torch.arange(s.length, s.length + T).clamp(max=self.max_seq_len - 1)
        width = int(pos.max()) + 1
        key_pos = torch.arange(width)
        lengths = torch.tensor([s.length + len(t) for s, t in zip(seqs, tokens)])
        mask = (key_pos[None, None, :] <= pos[:, :, None]) & (key_pos[None, None, :] < lengths[:, None, None])
        window = self.args.sliding_window
        if window is not None:
            mask &= pos[:, :, None] - key_pos[None, None, :] < window
        self.cache.rows = torch.tensor([s.row for s in seqs], device=dev)
        self.cache.slots = pos.to(dev)
        self.cache.width = width
        adapter_ids = torch.tensor([self.bank.slot(s.adapter) for s in seqs], device=dev)
        use_bank = bool(self.bank.loaded)
        extra = {"images": [im.to(device=dev, dtype=self.dtype) for im in images]} if images else {}
        logits = self.model(tok.to(dev), pos.to(dev), mask[:, None].to(dev),
                            adapter_ids=adapter_ids if use_bank else None, cache=self.cache, **extra)
        for i, (s, t) in enumerate(zip(seqs, tokens)):
            s.length += len(t)
            s.feed = None
            s.logits = logits[i, len(t) - 1]


def read_stdin(q: queue.Queue) -> None:
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            q.put(json.loads(line))
        except json.JSONDecodeError as e:
            emit({"id": None, "type": "error", "message": f"bad JSON line: {e}"})
    q.put(None)


def serve(engine: Engine, inbox: queue.Queue) -> None:
    """The main loop: take requests, admit, step; block only when nothing can progress."""
    block = True
    while True:
        try:
            msg = inbox.get(block=block)
            while True:
                if msg is None:
                    return
                engine.handle(msg)
                msg = inbox.get_nowait()
        except queue.Empty:
            pass
        engine.admit()  # also after a step: finished sequences free rows and adapter slots
        block = not engine.can_progress()
        if not block:
            engine.step()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m trainer.serve")
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--max-adapters", type=int, default=8)
    ap.add_argument("--max-batch", type=int, default=32)
    ap.add_argument("--max-seq-len", type=int, default=2048)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args(argv)
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    try:
        device, dtype = pick_device(a.device)
        model = load_model(a.model_dir, device=device, dtype=dtype)
    except (ValueError, OSError) as e:
        emit({"id": None, "type": "error", "message": f"cannot load model: {e}"})
        return 1
    model.eval()
    engine = Engine(model, device, dtype, a.max_batch, a.max_seq_len, a.max_adapters)
    emit({"type": "ready", "device": str(device), "vocab_size": model.args.vocab_size,
          "max_seq_len": a.max_seq_len})
    inbox: queue.Queue = queue.Queue()
    threading.Thread(target=read_stdin, args=(inbox,), daemon=True).start()
    serve(engine, inbox)
    return 0


if __name__ == "__main__":
    sys.exit(main())
