"""Several ranks per job (trainer/distributed.py) on CPU with gloo, launched as the worker does
(`python -m torch.distributed.run --standalone --nproc-per-node 2 -m trainer.train`): a 2-rank run
equals a 1-rank run with the same global batch (losses, evaluation, final adapter, within 1e-5 in
fp32) with DDP and with FSDP2 sharding the frozen base, one rank writes, and a run stopped at one world size resumes at the other on the same curve."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from trainer.data import write_shard

from .chat_data import REPO
from .conftest import random_samples

STEPS = 6
TOL = 1e-5


def config(model: Path, shards: tuple[Path, Path], out: Path) -> dict:
    # 4 windows per step in one micro-batch for 1 rank, 2 per rank for 2 ranks (so the ranks' sums are
    # not the 1-rank micro-batches: rounding differs, the math must not); dropout 0 so ranks draw no masks.
    train, valid = shards
    return {"model_dir": str(model), "out_dir": str(out), "train": [{"shard": str(train), "weight": 1.0}],
            "valid": [str(valid)], "seq_len": 100, "batch_size": 4, "grad_accum": 1, "training_steps": STEPS,
            "epochs": None, "learning_rate": 3e-3, "weight_decay": 0.1, "warmup_fraction": 0.2, "max_grad_norm": 1.0,
            "lora": {"rank": 4, "scaling": 2.0, "dropout": 0.0}, "seed": 3, "device": "cpu",
            "checkpoint_every": 2, "resume": True, "collective_timeout_s": 60}


def start(cfg: dict, path: Path, ranks: int) -> subprocess.Popen:
    path.write_text(json.dumps(cfg))
    launch = ["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={ranks}"] if ranks > 1 else []
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, *launch, "-m", "trainer.train", "--config", str(path)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, ok: bool = True, logs: list[str] | None = None) -> list[dict]:
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0 or not ok, err[-3000:]
    if logs is not None:
        logs.extend(err.splitlines())
    return [json.loads(line) for line in out.splitlines()]  # every stdout line is one JSON event


def stop_after(proc: subprocess.Popen, step: int) -> list[dict]:
    """SIGTERM the launcher once `step` is reported; the events up to the stop."""
    events = []
    for line in proc.stdout:
        events.append(json.loads(line))
        if events[-1]["type"] == "progress" and events[-1]["step"] == step:
            proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    proc.stderr.close()
    return events


def losses(events: list[dict]) -> dict[int, float]:
    return {e["step"]: e["loss"] for e in events if e["type"] == "progress"}


def adapter(events: list[dict]) -> dict:
    return load_file(str(Path(events[-1]["adapter_dir"]) / "adapter_model.safetensors"))


def assert_same_adapter(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert worst <= TOL, f"adapters differ by {worst}"


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("dist-shards")
    write_shard(root / "train", random_samples(40, seed=11))
    write_shard(root / "valid", random_samples(9, seed=12))
    return root / "train", root / "valid"


@pytest.fixture(scope="module")
def one_rank(small_model, shards, tmp_path_factory) -> list[dict]:
    d = tmp_path_factory.mktemp("one-rank")
    return finish(start(config(small_model, shards, d / "out"), d / "c.json", 1))


@pytest.mark.parametrize("parallel", ["ddp", "fsdp"])
def test_two_ranks_equal_one_rank_with_the_same_global_batch(small_model, shards, one_rank, tmp_path, parallel):
    cfg = {**config(small_model, shards, tmp_path / "out"), "parallel": parallel}
    logs: list[str] = []
    two = finish(start(cfg, tmp_path / "c.json", 2), logs=logs)
    if parallel == "fsdp":  # each rank holds half of the sharded base
        held = [line.split() for line in logs if line.startswith("fsdp: rank")]
        assert len(held) == 2 and all(2 * int(h[4]) == int(h[7]) for h in held), held
    started = [e for e in two if e["type"] == "started"]
    assert len(started) == 1 and started[0]["ranks"] == 2 and started[0]["parallel"] == parallel  # rank 0 alone writes
    assert one_rank[0]["ranks"] == 1 and one_rank[0]["parallel"] == "none"
    assert [e["type"] for e in two] == [e["type"] for e in one_rank]
    assert losses(two) == pytest.approx(losses(one_rank), abs=TOL) and len(losses(two)) == STEPS
    for a, b in zip([e for e in two if e["type"] == "progress"], [e for e in one_rank if e["type"] == "progress"]):
        assert a["trained_tokens"] == b["trained_tokens"]  # the whole global batch, no window lost or doubled
        assert a["grad_norm"] == pytest.approx(b["grad_norm"], abs=TOL)
    ckpt = lambda evs: [e["metrics"] for e in evs if e["type"] == "checkpoint"]
    for a, b in zip(ckpt(two), ckpt(one_rank), strict=True):  # validation split over ranks, sums added up
        assert a == pytest.approx(b, abs=TOL)
    assert_same_adapter(adapter(two), adapter(one_rank))


@pytest.mark.parametrize("first, second", [(2, 1), (1, 2)])
def test_a_run_stopped_at_one_world_size_resumes_at_the_other(small_model, shards, one_rank, tmp_path, first, second):
    cfg = config(small_model, shards, tmp_path / "out")
    head = stop_after(start(cfg, tmp_path / "c.json", first), step=2)
    stopped = [e for e in head if e["type"] == "stopped"]
    assert stopped and stopped[0]["step"] < STEPS, head[-3:]
    tail = finish(start(cfg, tmp_path / "c.json", second))
    assert tail[0]["ranks"] == second and tail[0]["resumed_from_step"] == stopped[0]["step"]
    want = {s: l for s, l in losses(one_rank).items() if s > stopped[0]["step"]}
    assert losses(tail) == pytest.approx(want, abs=TOL) and max(losses(tail)) == STEPS
    assert losses(head) == pytest.approx({s: l for s, l in losses(one_rank).items() if s in losses(head)}, abs=TOL)
    assert_same_adapter(adapter(tail), adapter(one_rank))
