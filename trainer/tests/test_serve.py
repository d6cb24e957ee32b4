"""The serving engine through its real entry point (`python -m trainer.serve`), against greedy decoding
recomputed from scratch (no cache) with the same weights, with and without adapters."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from trainer.lora import LoRAConfig, apply_lora, load_adapter_state
from trainer.model import ModelArgs, Transformer, document_mask
from trainer.weights import load_model

ARGS = ModelArgs(dim=32, n_layers=2, head_dim=8, hidden_dim=64, n_heads=4, n_kv_heads=2, vocab_size=50)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("model")
    torch.manual_seed(0)
    model = Transformer(ARGS)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.3)
    params = {"dim": ARGS.dim, "n_layers": ARGS.n_layers, "head_dim": ARGS.head_dim, "hidden_dim": ARGS.hidden_dim,
              "n_heads": ARGS.n_heads, "n_kv_heads": ARGS.n_kv_heads, "vocab_size": ARGS.vocab_size, "norm_eps": 1e-5}
    (d / "params.json").write_text(json.dumps(params))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(d / "consolidated.safetensors"))
    return d


def make_adapter(root: Path, name: str, seed: int) -> Path:
    d = root / name
    d.mkdir()
    torch.manual_seed(seed)
    model = Transformer(ARGS)
    apply_lora(model, LoRAConfig(rank=4, scaling=2.0))
    state = {}
    for k, v in model.state_dict().items():
        if ".lora_" in k:
            state[k] = torch.randn_like(v) * 0.5
    save_file(state, str(d / "lora.safetensors"))
    (d / "adapter_config.json").write_text(json.dumps({"r": 4, "lora_alpha": 8, "peft_type": "LORA"}))
    return d


def greedy_reference(model_dir: Path, adapter: Path | None, prompt: list[int], steps: int) -> list[int]:
    model = load_model(model_dir)
    if adapter is not None:
        from safetensors.torch import load_file
        apply_lora(model, LoRAConfig(rank=4, scaling=2.0))
        load_adapter_state(model, load_file(str(adapter / "lora.safetensors")))
    tokens = list(prompt)
    out = []
    with torch.no_grad():
        for _ in range(steps):
            t = torch.tensor([tokens])
            pos = torch.arange(len(tokens))[None]
            mask = document_mask(torch.zeros_like(t), pos, None)
            nxt = int(model(t, pos, mask)[0, -1].argmax())
            out.append(nxt)
            tokens.append(nxt)
    return out


class Engine:
    def __init__(self, model_dir: Path, *extra: str):
        self.p = subprocess.Popen([sys.executable, "-m", "trainer.serve", "--model-dir", str(model_dir),
                                   "--max-seq-len", "64", "--device", "cpu", "--threads", "1", *extra],
                                  cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.read()["type"] == "ready"

    def send(self, obj: dict) -> None:
        self.p.stdin.write(json.dumps(obj) + "\n")
        self.p.stdin.flush()

    def read(self) -> dict:
        return json.loads(self.p.stdout.readline())

    def collect(self, ids: set[str]) -> dict[str, dict]:
        """Tokens and final message per request id, until every request is done or failed."""
        out = {i: {"tokens": [], "end": None} for i in ids}
        open_ids = set(ids)
        while open_ids:
            m = self.read()
            r = out[m["id"]]
            if m["type"] == "token":
                r["tokens"].append(m["token"])
            else:
                r["end"] = m
                open_ids.discard(m["id"])
        return out

    def close(self) -> None:
        self.p.stdin.close()
        assert self.p.wait(timeout=30) == 0


def gen(rid: str, prompt: list[int], adapter: Path | None = None, **kw) -> dict:
    return {"id": rid, "op": "generate", "adapter": str(adapter) if adapter else None, "prompt": prompt,
            "max_tokens": kw.pop("max_tokens", 8), "temperature": 0.0, "top_p": 1.0, "seed": None,
            "stop": kw.pop("stop", []), "n": 1, **kw}


def test_batched_requests_over_two_adapters_match_greedy_reference(model_dir, tmp_path):
    a1, a2 = make_adapter(tmp_path, "a1", 1), make_adapter(tmp_path, "a2", 2)
    prompts = {"base": ([1, 5, 9, 3], None), "one": ([1, 7, 7, 2, 11, 4], a1), "two": ([1, 30], a2)}
    eng = Engine(model_dir)
    for rid, (prompt, adapter) in prompts.items():
        eng.send(gen(rid, prompt, adapter))
    got = eng.collect(set(prompts))
    eng.close()
    for rid, (prompt, adapter) in prompts.items():
        assert got[rid]["tokens"] == greedy_reference(model_dir, adapter, prompt, 8), rid
        assert got[rid]["end"]["finish_reason"] == "length"
        assert got[rid]["end"]["prompt_tokens"] == len(prompt)
        assert got[rid]["end"]["completion_tokens"] == 8


def test_stop_token_ends_with_stop_and_is_not_emitted(model_dir):
    ref = greedy_reference(model_dir, None, [1, 5, 9, 3], 4)
    eng = Engine(model_dir)
    eng.send(gen("r", [1, 5, 9, 3], stop=[ref[2]]))
    got = eng.collect({"r"})["r"]
    eng.close()
    assert got["tokens"] == ref[: ref.index(ref[2])]
    assert got["end"]["finish_reason"] == "stop"


def test_constrained_sequence_samples_only_allowed_tokens_step_by_step(model_dir):
    eng = Engine(model_dir)
    eng.send(gen("c", [1, 5], constrained=True, max_tokens=3))
    eng.send({"id": "c", "op": "mask", "index": 0, "allow": [17]})
    assert eng.read() == {"id": "c", "type": "token", "index": 0, "token": 17}
    eng.send({"id": "c", "op": "mask", "index": 0, "allow": [23, 24]})
    assert eng.read()["token"] in (23, 24)
    eng.send({"id": "c", "op": "mask", "index": 0, "free": True})
    got = eng.collect({"c"})["c"]
    eng.close()
    assert len(got["tokens"]) == 1 and got["end"]["finish_reason"] == "length"


def test_seeded_sampling_repeats_and_n_gives_indexed_choices(model_dir):
    eng = Engine(model_dir)
    for rid in ("s1", "s2"):
        eng.send({**gen(rid, [1, 2, 3]), "temperature": 1.0, "top_p": 0.9, "seed": 7, "n": 2})
    events: dict[tuple[str, int], list[int]] = {}
    done = 0
    while done < 4:
        m = eng.read()
        if m["type"] == "token":
            events.setdefault((m["id"], m["index"]), []).append(m["token"])
        else:
            done += 1
    eng.close()
    assert events[("s1", 0)] == events[("s2", 0)]
    assert events[("s1", 1)] == events[("s2", 1)]


def test_bad_requests_get_errors_and_the_engine_keeps_serving(model_dir, tmp_path):
    eng = Engine(model_dir, "--max-adapters", "1")
    eng.send(gen("big", [1] * 80))
    assert "at most" in eng.read()["message"]
    eng.send(gen("oov", [1, 999]))
    assert "vocabulary" in eng.read()["message"]
    eng.send(gen("noad", [1, 2], adapter=tmp_path / "missing"))
    assert eng.read()["type"] == "error"
    a1, a2 = make_adapter(tmp_path, "a1", 1), make_adapter(tmp_path, "a2", 2)
    eng.send(gen("x1", [1, 2], a1))
    eng.send(gen("x2", [1, 2], a2))  # waits for x1's adapter to leave the one-slot bank
    got = eng.collect({"x1", "x2"})
    eng.close()
    assert got["x2"]["tokens"] == greedy_reference(model_dir, a2, [1, 2], 8)


def test_a_step_with_every_token_masked_fails_that_request_and_a_concurrent_one_completes(model_dir):
    ref = greedy_reference(model_dir, None, [1, 5, 9, 3], 8)
    eng = Engine(model_dir)
    eng.send(gen("other", [1, 5, 9, 3]))
    eng.send({**gen("dead", [1, 5], constrained=True), "temperature": 1.0, "seed": 3, "n": 2})
    eng.send({"id": "dead", "op": "mask", "index": 0, "allow": []})  # an empty language: no token left
    eng.send({"id": "dead", "op": "mask", "index": 1, "deny": list(range(ARGS.vocab_size))})
    eng.send({**gen("ban", [1, 2]), "banned": list(range(ARGS.vocab_size))})  # unconstrained but every token banned
    eng.send({"id": "oov", "op": "mask", "index": 0, "allow": [10**6]})  # no such request: ignored
    got = eng.collect({"other", "dead", "ban"})
    eng.send(gen("after", [1, 5, 9, 3]))
    later = eng.collect({"after"})["after"]
    eng.close()  # exits 0: the process survived
    assert got["dead"]["end"]["type"] == "error" and "no token" in got["dead"]["end"]["message"]
    assert got["dead"]["tokens"] == []
    assert got["ban"]["end"]["type"] == "error"
    assert got["other"]["tokens"] == ref and got["other"]["end"]["finish_reason"] == "length"
    assert later["tokens"] == ref


def test_a_mask_with_ids_outside_the_vocabulary_fails_its_request_only(model_dir):
    eng = Engine(model_dir)
    eng.send(gen("c", [1, 5], constrained=True, max_tokens=2))
    eng.send({"id": "c", "op": "mask", "index": 0, "allow": [10**6]})
    end = eng.read()
    eng.send(gen("ok", [1, 5], max_tokens=2))
    ok = eng.collect({"ok"})["ok"]
    eng.close()
    assert end["type"] == "error" and "vocabulary" in end["message"]
    assert ok["end"]["finish_reason"] == "length"
