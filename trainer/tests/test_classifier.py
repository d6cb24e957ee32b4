"""The classifier recipe through its real entry point (`python -m trainer.train_classifier`) on
tiny-mistral: a learnable keyword rule (single_class) plus a multi-label target reach high validation
accuracy; resume after SIGKILL continues at the checkpoint; the serving engine's `classify` op scores
with the trained heads; config errors name the fix."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from trainer.classify import classify_request
from trainer.data import write_shard
from trainer.serve import Engine
from trainer.tiny_model import write_tiny_model
from trainer.train_classifier import class_weights, f1_macro, LabelledShard, parse_classifier_config, Target
from trainer.weights import load_model

from .chat_data import BOS, REPO, TOKENIZER

TOPICS = ["apple", "river", "stone"]
COLOURS = ["red", "blue"]
FILLER = ["the", "a", "walk", "slow", "quiet", "morning", "over", "near", "light", "old", "small", "house", "path", "day"]
TARGETS = [{"name": "topic", "labels": TOPICS, "multi": False, "weight": 1.0},
           {"name": "colours", "labels": COLOURS, "multi": True, "weight": 1.0}]


def synthetic(n: int, seed: int) -> list[tuple[str, str, list[str]]]:
    """(text, topic, colours): the topic keyword and any colour words hidden among filler words."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        topic = TOPICS[int(rng.integers(len(TOPICS)))]
        colours = [c for c in COLOURS if rng.random() < 0.5]
        words = list(rng.choice(FILLER, int(rng.integers(3, 7)))) + [topic] + colours
        rng.shuffle(words)
        out.append((" ".join(words), topic, colours))
    return out


def write_classifier_shard(d: Path, rows: list[tuple[str, str, list[str]]]) -> Path:
    """The worker's classifier shard: text = BOS + text tokens, mask all ones, labels.json."""
    import sentencepiece as spm  # test-only: the trainer itself never tokenizes
    sp = spm.SentencePieceProcessor(model_file=str(TOKENIZER))
    samples = []
    for text, _, _ in rows:
        tokens = [BOS] + sp.encode(text)
        samples.append((tokens, [1] * len(tokens)))
    write_shard(d, samples)
    labels = [[[TOPICS.index(t)], [COLOURS.index(c) for c in cs]] for _, t, cs in rows]
    targets = [{"name": t["name"], "labels": t["labels"], "multi": t["multi"]} for t in TARGETS]
    (d / "labels.json").write_text(json.dumps({"targets": targets, "rows": labels}))
    return d


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("classifier")
    model = write_tiny_model(root / "tiny-mistral")
    return {"model": model, "train": write_classifier_shard(root / "train", synthetic(320, 1)),
            "valid": write_classifier_shard(root / "valid", synthetic(96, 2)), "root": root}


def config(data: dict, out: Path, **over) -> dict:
    cfg = {"model_dir": str(data["model"]), "out_dir": str(out), "train": [{"shard": str(data["train"]), "weight": 1.0}],
           "valid": [str(data["valid"])], "seq_len": 64, "batch_size": 2, "grad_accum": 1, "training_steps": 90,
           "epochs": None, "learning_rate": 3e-3, "weight_decay": 0.0, "warmup_fraction": 0.05, "max_grad_norm": 1.0,
           "lora": {"rank": 8, "scaling": 2.0, "dropout": 0.0}, "seed": 3, "device": "cpu",
           "checkpoint_every": 20, "resume": True, "task": "classifier", "classifier": {"targets": TARGETS}}
    cfg.update(over)
    return cfg


def start(cfg: dict, path: Path) -> subprocess.Popen:
    path.write_text(json.dumps(cfg))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "trainer.train_classifier", "--config", str(path)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def events_of(proc: subprocess.Popen) -> list[dict]:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    return [json.loads(line) for line in out.splitlines()]


@pytest.fixture(scope="module")
def trained(data) -> dict:
    out = data["root"] / "run"
    events = events_of(start(config(data, out), data["root"] / "run.json"))
    return {"events": events, "out": out}


def test_keyword_and_multi_label_rules_reach_high_validation_accuracy(trained):
    events = trained["events"]
    assert [e["type"] for e in events][0] == "started" and events[-1]["type"] == "done"
    ckpts = [e for e in events if e["type"] == "checkpoint"]
    assert [c["step"] for c in ckpts] == [20, 40, 60, 80, 90]
    last = ckpts[-1]["metrics"]
    print("final checkpoint metrics:", json.dumps(last))
    assert set(last) == {"train_loss", "valid_loss", "valid_mean_token_accuracy", "classifier"}
    assert last["classifier"]["topic"]["accuracy"] >= 0.9, last
    assert last["classifier"]["colours"]["accuracy"] >= 0.9, last
    assert last["classifier"]["topic"]["macro_f1"] >= 0.85, last
    assert last["valid_loss"] < ckpts[0]["metrics"]["valid_loss"]
    assert abs(last["valid_mean_token_accuracy"] - np.mean([m["accuracy"] for m in last["classifier"].values()])) < 1e-9
    adapter = Path(events[-1]["adapter_dir"])
    assert {"lora.safetensors", "adapter_model.safetensors", "heads.safetensors", "classifier.json"} <= {p.name for p in adapter.iterdir()}
    meta = json.loads((adapter / "classifier.json").read_text())
    assert [(t["name"], t["multi"]) for t in meta["targets"]] == [("topic", False), ("colours", True)]


def test_serving_engine_classify_op_scores_with_the_trained_heads(data, trained):
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=str(TOKENIZER))
    model = load_model(data["model"])
    model.eval()
    engine = Engine(model, torch.device("cpu"), torch.float32, max_batch=2, max_seq_len=128, max_adapters=2)
    texts = ["the quiet river near a red house", "stone path on an old day", "apple in the morning light blue red"]
    msg = {"id": "c1", "op": "classify", "adapter": str(Path(trained["events"][-1]["adapter_dir"])),
           "inputs": [[BOS] + sp.encode(t) for t in texts]}
    reply = classify_request(msg, engine.model, engine.bank, set(), engine.max_seq_len)
    assert reply["id"] == "c1" and reply["type"] == "scores" and len(reply["scores"]) == 3
    topics = [max(s["topic"], key=s["topic"].get) for s in reply["scores"]]
    assert topics == ["river", "stone", "apple"]
    for s in reply["scores"]:
        assert abs(sum(s["topic"].values()) - 1) < 1e-5  # softmax over a single_class target
    colours = [{c for c, p in s["colours"].items() if p > 0.5} for s in reply["scores"]]
    assert colours == [{"red"}, set(), {"red", "blue"}]
    # one input at a time gives the same scores as the padded batch
    alone = classify_request({**msg, "inputs": msg["inputs"][1:2]}, engine.model, engine.bank, set(), engine.max_seq_len)
    assert alone["scores"][0]["topic"] == pytest.approx(reply["scores"][1]["topic"], abs=1e-5)


def test_classify_op_of_a_non_classifier_adapter_is_a_request_error(data, tmp_path, capsys):
    model = load_model(data["model"])
    engine = Engine(model, torch.device("cpu"), torch.float32, max_batch=1, max_seq_len=64, max_adapters=1)
    engine.handle({"id": "x", "op": "classify", "adapter": str(tmp_path), "inputs": [[1, 5, 6]]})
    reply = json.loads(capsys.readouterr().out.strip())
    assert reply["id"] == "x" and reply["type"] == "error" and "is not a classifier" in reply["message"]


def test_killed_run_resumes_from_its_checkpoint_with_the_same_losses(data, trained):
    out = data["root"] / "killed"
    cfg = config(data, out, training_steps=30, checkpoint_every=10)
    full = {e["step"]: e["loss"] for e in events_of(start(config(data, data["root"] / "full", training_steps=30, checkpoint_every=10),
                                                         data["root"] / "full.json")) if e["type"] == "progress"}
    proc = start(cfg, data["root"] / "killed.json")
    for line in proc.stdout:
        e = json.loads(line)
        if e["type"] == "checkpoint" and e["step"] == 10:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait()
    proc.stdout.close(), proc.stderr.close()
    resumed = events_of(start(cfg, data["root"] / "killed.json"))
    assert resumed[0]["resumed_from_step"] >= 10
    got = {e["step"]: e["loss"] for e in resumed if e["type"] == "progress"}
    assert got and all(got[s] == pytest.approx(full[s], rel=1e-4, abs=1e-6) for s in got)


def test_config_errors_name_the_fix(data, tmp_path):
    with pytest.raises(ValueError, match="task"):
        parse_classifier_config(config(data, tmp_path, task="completion"))
    with pytest.raises(ValueError, match="at least two labels"):
        parse_classifier_config(config(data, tmp_path, classifier={"targets": [{"name": "x", "labels": ["a"], "multi": False}]}))
    events = events_of_failure(start(config(data, tmp_path / "o", classifier={"targets": [{"name": "other", "labels": ["a", "b"], "multi": False}]}),
                                     tmp_path / "bad.json"))
    assert events[-1]["type"] == "error" and "do not match" in events[-1]["message"]


def events_of_failure(proc: subprocess.Popen) -> list[dict]:
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2
    return [json.loads(line) for line in out.splitlines()]


def test_class_weights_balance_rare_classes_and_macro_f1_matches_hand_counts(tmp_path):
    rows = [("a apple", "apple", [])] * 6 + [("a river", "river", ["red"])] * 2
    shard = LabelledShard(write_classifier_shard(tmp_path / "s", rows), [Target(**{**t}) for t in TARGETS])
    topic, colours = class_weights([shard], [Target(**t) for t in TARGETS])
    assert topic.tolist() == pytest.approx([8 / (3 * 6), 8 / (3 * 2), 1.0])  # unseen "stone" keeps weight 1
    assert colours.tolist() == pytest.approx([6 / 2, 1.0])  # pos_weight = negatives / positives; unseen -> 1
    pred = np.array([[1, 0], [1, 0], [0, 1]], dtype=bool)
    gold = np.array([[1, 0], [0, 1], [0, 1]], dtype=bool)
    assert f1_macro(pred, gold) == pytest.approx((2 / 3 + 2 / 3) / 2)
