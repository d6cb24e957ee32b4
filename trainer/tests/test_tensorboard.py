"""TensorBoard event files written by the real trainer (`tensorboard_dir` in the config), read back
with tensorboard's EventAccumulator: one train/loss point per optimizer step equal to the step's
progress event, valid/* at each evaluation; no tensorboard_dir writes nothing."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from .chat_data import REPO
from .test_train_process import base_config


def run_trainer(cfg: dict, tmp_path) -> list[dict]:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    proc = subprocess.run([sys.executable, "-m", "trainer.train", "--config", str(path)], cwd=REPO, capture_output=True, text=True,
                          timeout=180, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_event_files_hold_every_step_and_each_evaluation(small_model, small_shards, tmp_path):
    train, valid = small_shards
    board = tmp_path / "tb"
    cfg = base_config(small_model, train, valid, tmp_path / "out", training_steps=12, checkpoint_every=4, grad_accum=1,
                      tensorboard_dir=str(board))
    events = run_trainer(cfg, tmp_path)
    acc = EventAccumulator(str(board))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    for tag in ("train/loss", "train/learning_rate", "train/grad_norm", "train/tokens_per_second", "valid/loss", "valid/mean_token_accuracy"):
        assert tag in tags, tags
    progress = {e["step"]: e for e in events if e["type"] == "progress"}
    loss = {s.step: s.value for s in acc.Scalars("train/loss")}
    assert sorted(loss) == list(range(1, 13))
    for step, value in loss.items():
        assert abs(value - progress[step]["loss"]) < 1e-5  # float32 in the event file
    evals = {e["step"]: e["metrics"] for e in events if e["type"] == "checkpoint"}
    valid_loss = {s.step: s.value for s in acc.Scalars("valid/loss")}
    assert sorted(valid_loss) == [4, 8, 12]
    for step, value in valid_loss.items():
        assert abs(value - evals[step]["valid_loss"]) < 1e-5


def test_no_tensorboard_dir_writes_no_event_files(small_model, small_shards, tmp_path):
    train, valid = small_shards
    cfg = base_config(small_model, train, valid, tmp_path / "out", training_steps=2, checkpoint_every=2, grad_accum=1)
    run_trainer(cfg, tmp_path)
    assert not any("tfevents" in p.name for p in tmp_path.rglob("*"))
