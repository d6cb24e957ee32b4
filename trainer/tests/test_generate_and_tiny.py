"""KV-cache generation (trainer.serve's engine, what production runs) against full recomputation,
sampling controls, and tiny-mistral's files."""
from __future__ import annotations

import json

import torch

from trainer.model import document_mask
from trainer.tiny_model import TINY_PARAMS, sha256_file, write_tiny_model

from .chat_data import REPO
from .serve_driver import DoneEvent, GenerateRequest, TokenEvent, generate, open_engine


def greedy_without_cache(model, prompt: list[int], steps: int) -> list[int]:
    ids = list(prompt)
    for _ in range(steps):
        t = torch.tensor([ids])
        pos = torch.arange(len(ids))[None]
        ids.append(int(model(t, pos, document_mask(torch.zeros_like(t), pos, None))[0, -1].argmax()))
    return ids[len(prompt):]


def tokens_by_row(events) -> dict[tuple[str, int], list[int]]:
    out: dict[tuple[str, int], list[int]] = {}
    for e in events:
        if isinstance(e, TokenEvent):
            out.setdefault((e.id, e.index), []).append(e.token)
    return out


def test_batched_kv_cache_greedy_equals_full_recomputation(small_model):
    engine = open_engine(small_model)
    prompts = {"short": [1, 9, 8], "long": [1, 20, 30, 40, 50, 60, 70, 80]}
    events = generate(engine, [GenerateRequest(k, p, max_tokens=6) for k, p in prompts.items()])
    got = tokens_by_row(events)
    for k, p in prompts.items():
        assert got[(k, 0)] == greedy_without_cache(engine.model, p, 6)
    done = [e for e in events if isinstance(e, DoneEvent)]
    assert {(d.id, d.finish_reason, d.prompt_tokens, d.completion_tokens) for d in done} == \
        {("short", "length", 3, 6), ("long", "length", 8, 6)}


def test_stop_token_ends_a_row_without_being_emitted(small_model):
    engine = open_engine(small_model)
    first_two = greedy_without_cache(engine.model, [1, 5, 6], 2)
    events = generate(engine, [GenerateRequest("r", [1, 5, 6], max_tokens=10, stop=(first_two[1],))])
    assert [e.token for e in events if isinstance(e, TokenEvent)] == first_two[:1]
    # the stop token is neither emitted nor counted in completion_tokens (what the API reports as usage)
    assert events[-1] == DoneEvent("r", 0, "stop", 3, 1)


def test_seeded_sampling_is_reproducible_and_n_rows_differ(small_model):
    engine = open_engine(small_model)
    req = GenerateRequest("s", [1, 5, 6], max_tokens=12, temperature=1.5, top_p=0.95, seed=11, n=2)
    a, b = tokens_by_row(generate(engine, [req])), tokens_by_row(generate(engine, [req]))
    assert a == b and a[("s", 0)] != a[("s", 1)]


def test_tiny_model_is_byte_identical_and_matches_the_committed_params(tmp_path):
    first = write_tiny_model(tmp_path / "a")
    second = write_tiny_model(tmp_path / "b")
    before = (first / "consolidated.safetensors").stat().st_mtime_ns
    write_tiny_model(first)  # idempotent: identical bytes are not rewritten
    assert (first / "consolidated.safetensors").stat().st_mtime_ns == before
    assert sha256_file(first / "consolidated.safetensors") == sha256_file(second / "consolidated.safetensors")
    assert json.loads((REPO / "models" / "tiny-mistral" / "params.json").read_text()) == TINY_PARAMS
    assert not list(first.glob(".*.tmp"))
