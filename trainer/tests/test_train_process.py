"""The real entry point (`python -m trainer.train`) as the worker runs it: events, kill -9 +
resume, SIGTERM, config errors, and learning a small chat dataset on tiny-mistral."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from trainer.data import write_shard
from trainer.tiny_model import write_tiny_model

from .chat_data import EOS, REPO, encode_pairs, pairs
from .serve_driver import GenerateRequest, generate, open_engine


def base_config(model: Path, train: Path, valid: Path, out: Path, **over) -> dict:
    cfg = {"model_dir": str(model), "out_dir": str(out), "train": [{"shard": str(train), "weight": 1.0}],
           "valid": [str(valid)], "seq_len": 64, "batch_size": 2, "grad_accum": 2, "training_steps": 16,
           "epochs": None, "learning_rate": 3e-3, "weight_decay": 0.1, "warmup_fraction": 0.1, "max_grad_norm": 1.0,
           "lora": {"rank": 4, "scaling": 2.0, "dropout": 0.1}, "seed": 5, "device": "cpu",
           "checkpoint_every": 4, "resume": True, "task": "completion", "classifier": None}
    cfg.update(over)
    return cfg


def start(cfg: dict, path: Path) -> subprocess.Popen:
    path.write_text(json.dumps(cfg))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # same thread count in every run: identical reductions
    return subprocess.Popen([sys.executable, "-m", "trainer.train", "--config", str(path)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def events_of(proc: subprocess.Popen) -> list[dict]:
    out, err = proc.communicate(timeout=120)
    events = [json.loads(line) for line in out.splitlines()]  # every stdout line is one JSON event
    assert proc.returncode == 0, err[-2000:]
    return events


def test_killed_run_resumes_at_the_same_step_and_ends_at_the_same_loss(small_model, small_shards, tmp_path):
    train, valid = small_shards
    full = events_of(start(base_config(small_model, train, valid, tmp_path / "full"), tmp_path / "a.json"))
    proc = start(base_config(small_model, train, valid, tmp_path / "killed"), tmp_path / "b.json")
    for line in proc.stdout:  # wait for the second checkpoint event, then kill -9 mid-run
        if json.loads(line)["type"] == "checkpoint" and json.loads(line)["step"] == 8:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait()
    proc.stdout.close(), proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    resumed = events_of(start(base_config(small_model, train, valid, tmp_path / "killed"), tmp_path / "b.json"))
    assert resumed[0]["type"] == "started" and resumed[0]["resumed_from_step"] >= 8
    first = resumed[0]["resumed_from_step"] + 1
    want = {e["step"]: e["loss"] for e in full if e["type"] == "progress" and e["step"] >= first}
    got = {e["step"]: e["loss"] for e in resumed if e["type"] == "progress"}
    assert got == pytest.approx(want, rel=1e-6, abs=1e-7) and max(got) == 16
    final = [e for e in resumed if e["type"] == "checkpoint"][-1]["metrics"]
    assert final == pytest.approx([e for e in full if e["type"] == "checkpoint"][-1]["metrics"], rel=1e-6)
    done = resumed[-1]
    assert done["type"] == "done" and (Path(done["adapter_dir"]) / "adapter_model.safetensors").is_file()
    assert (Path(done["adapter_dir"]) / "lora.safetensors").is_file()
    assert not list((tmp_path / "killed" / "checkpoints").glob("tmp.*"))


def test_sigterm_checkpoints_and_stops_then_resume_finishes(small_model, small_shards, tmp_path):
    train, valid = small_shards
    cfg = base_config(small_model, train, valid, tmp_path / "out", training_steps=400, checkpoint_every=None)
    proc = start(cfg, tmp_path / "c.json")
    events = []
    for line in proc.stdout:
        events.append(json.loads(line))
        if events[-1]["type"] == "progress" and events[-1]["step"] == 2:
            proc.send_signal(signal.SIGTERM)
    proc.wait()
    proc.stderr.close()
    assert proc.returncode == 0
    assert [e["type"] for e in events[-2:]] == ["checkpoint", "stopped"]
    stopped_at = events[-1]["step"]
    assert events[-2]["step"] == stopped_at and stopped_at < 400
    assert events[-2]["metrics"]["valid_loss"] > 0
    again = start({**cfg, "training_steps": 400}, tmp_path / "c.json")
    first = json.loads(again.stdout.readline())
    again.send_signal(signal.SIGTERM)
    again.communicate(timeout=60)
    assert first["type"] == "started" and first["resumed_from_step"] == stopped_at


@pytest.mark.parametrize("change, words", [({"learning_rate": -1}, "learning_rate"),
                                           ({"training_steps": None}, "exactly one of"),
                                           ({"bogus": 1}, "unknown config fields"),
                                           ({"model_dir": "/nonexistent"}, "not a model directory")])
def test_bad_config_reports_an_actionable_error_event(small_model, small_shards, tmp_path, change, words):
    train, valid = small_shards
    proc = start({**base_config(small_model, train, valid, tmp_path / "o"), **change}, tmp_path / "bad.json")
    out, _ = proc.communicate(timeout=60)
    event = json.loads(out.splitlines()[-1])
    assert proc.returncode == 2 and event["type"] == "error" and event["kind"] == "config"
    assert words in event["message"]


def test_tiny_mistral_learns_a_chat_dataset_and_generation_reproduces_answers(tmp_path):
    model = write_tiny_model(REPO / "models" / "tiny-mistral")
    samples = encode_pairs(pairs())
    write_shard(tmp_path / "train", samples)
    write_shard(tmp_path / "valid", samples[:6])
    cfg = base_config(model, tmp_path / "train", tmp_path / "valid", tmp_path / "out", seq_len=256, batch_size=1,
                      grad_accum=1, training_steps=100, learning_rate=3e-3, weight_decay=0.0, warmup_fraction=0.05,
                      lora={"rank": 16, "scaling": 2.0, "dropout": 0.0}, seed=0, checkpoint_every=None)
    cfg_path = tmp_path / "cfg.json"
    cfg_path.write_text(json.dumps(cfg))
    proc = subprocess.run([sys.executable, "-m", "trainer.train", "--config", str(cfg_path)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    ckpts = [e["metrics"] for e in events if e["type"] == "checkpoint"]
    assert len(ckpts) == 10
    assert ckpts[-1]["train_loss"] < 0.2 * ckpts[0]["train_loss"] and ckpts[-1]["valid_loss"] < 0.2
    assert ckpts[-1]["valid_mean_token_accuracy"] > 0.95
    adapter = events[-1]["adapter_dir"]
    engine = open_engine(model)
    wanted = {}
    requests = []
    for i, (tokens, mask) in enumerate(samples[:8]):
        prompt_len = mask.index(1)
        wanted[str(i)] = tokens[prompt_len:-1]
        requests.append(GenerateRequest(str(i), tokens[:prompt_len], max_tokens=24, stop=(EOS,), adapter=adapter))
    requests.append(GenerateRequest("base", samples[0][0][: samples[0][1].index(1)], max_tokens=5, stop=(EOS,)))
    got: dict[str, list[int]] = {}
    finish = {}
    for e in generate(engine, requests):
        if hasattr(e, "token"):
            got.setdefault(e.id, []).append(e.token)
        else:
            finish[e.id] = e.finish_reason
    assert sum(got[k] == wanted[k] for k in wanted) >= 7  # the trained answers, from the prompts alone
    assert all(finish[k] == "stop" for k in wanted if got[k] == wanted[k])
    assert got["base"] != wanted["0"][:5] and finish["base"] == "length"  # the base model did not know
