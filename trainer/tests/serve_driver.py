"""Drives trainer.serve's Engine in process (the engine production runs behind `python -m
trainer.serve`) for the generation tests: requests in, the protocol lines it emits back as events."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import torch

from trainer import serve
from trainer.weights import load_model


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

    def op(self) -> dict:
        return {"id": self.id, "op": "generate", "adapter": self.adapter, "prompt": list(self.prompt),
                "max_tokens": self.max_tokens, "temperature": self.temperature, "top_p": self.top_p,
                "seed": self.seed, "stop": list(self.stop), "n": self.n}


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


def open_engine(model_dir: str | Path, max_batch: int = 16, max_seq_len: int = 512, max_adapters: int = 4) -> serve.Engine:
    """serve.Engine on CPU in fp32 over the model in `model_dir`, as `python -m trainer.serve` builds it."""
    model = load_model(model_dir)
    model.eval()
    return serve.Engine(model, torch.device("cpu"), torch.float32, max_batch, max_seq_len, max_adapters)


def submit(engine: serve.Engine, requests: list[GenerateRequest]) -> list[dict]:
    """Hands the requests to the engine and admits them (prefill); returns the lines emitted so far."""
    lines: list[dict] = []
    with mock.patch.object(serve, "emit", lines.append):
        for r in requests:
            engine.handle(r.op())
        engine.admit()
    return lines


def run(engine: serve.Engine) -> list[dict]:
    """Steps the engine (serve's main loop without stdin) until nothing can progress; the lines emitted."""
    lines: list[dict] = []
    with mock.patch.object(serve, "emit", lines.append):
        engine.admit()
        while engine.can_progress():
            engine.step()
            engine.admit()
    return lines


def events(lines: list[dict]) -> list[TokenEvent | DoneEvent]:
    """Protocol lines as events; an error line fails the test with its message."""
    out: list[TokenEvent | DoneEvent] = []
    for m in lines:
        if m["type"] == "error":
            raise AssertionError(f"engine error for {m['id']}: {m['message']}")
        if m["type"] == "token":
            out.append(TokenEvent(m["id"], m["index"], m["token"]))
        elif m["type"] == "done":
            out.append(DoneEvent(m["id"], m["index"], m["finish_reason"], m["prompt_tokens"], m["completion_tokens"]))
    return out


def generate(engine: serve.Engine, requests: list[GenerateRequest]) -> list[TokenEvent | DoneEvent]:
    """Every event of `requests`, run to completion."""
    return events(submit(engine, requests) + run(engine))
