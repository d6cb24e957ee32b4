"""Resumable checkpoints: `<out_dir>/checkpoints/step_NNNNNN/` holds the adapter (both layouts, see
adapter_io.py), `state.pt` (optimizer state and RNG states) and `trainer_state.json` (step, data
cursor, counters, the config fingerprint). Each is written into `tmp.step_NNNNNN` and renamed, so
a directory named `step_*` is always complete. Only the newest checkpoint keeps `state.pt` (the
optimizer state is twice the adapter's size); older ones keep their adapter for serving.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from .adapter_io import write_adapter_files
from .lora import LoRAConfig, adapter_state
from .model import ModelArgs


@dataclass
class Resumed:
    step: int
    trainer_state: dict[str, Any]
    optimizer: dict[str, Any]
    rng: dict[str, Any]
    adapter_dir: Path


def checkpoint_dir(out_dir: str | Path, step: int) -> Path:
    return Path(out_dir) / "checkpoints" / f"step_{step:06d}"


def save_checkpoint(out_dir: str | Path, step: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    trainer_state: dict[str, Any], args: ModelArgs, lora: LoRAConfig, base: str,
                    write_extra: Callable[[Path], None] | None = None) -> Path:
    """Write checkpoint `step` atomically; returns its directory. `write_extra(tmp_dir)` adds a
    recipe's own files (the classifier's heads) before the rename."""
    final = checkpoint_dir(out_dir, step)
    tmp = final.with_name(f"tmp.{final.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    write_adapter_files(tmp, adapter_state(model), args, lora, base)
    if write_extra is not None:
        write_extra(tmp)
    torch.save({"optimizer": optimizer.state_dict(), "rng": rng_state()}, tmp / "state.pt")
    (tmp / "trainer_state.json").write_text(json.dumps({"step": step, **trainer_state}))
    for f in tmp.iterdir():  # durable before the rename makes the checkpoint visible
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    for older in final.parent.glob("step_*"):
        if older != final and (older / "state.pt").exists():
            (older / "state.pt").unlink()
    return final


def latest_checkpoint(out_dir: str | Path) -> Resumed | None:
    """The newest complete checkpoint with resumable state, or None."""
    root = Path(out_dir) / "checkpoints"
    candidates = sorted(p for p in root.glob("step_*") if (p / "state.pt").is_file() and (p / "trainer_state.json").is_file())
    if not candidates:
        return None
    d = candidates[-1]
    trainer_state = json.loads((d / "trainer_state.json").read_text())
    state = torch.load(d / "state.pt", map_location="cpu", weights_only=True)
    return Resumed(step=int(trainer_state["step"]), trainer_state=trainer_state, optimizer=state["optimizer"],
                   rng=state["rng"], adapter_dir=d)


def rng_state() -> dict[str, Any]:
    """The RNG states a checkpoint keeps (CPU, and every CUDA device when there is one)."""
    rng = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return rng


def restore_rng(rng: dict[str, Any]) -> None:
    """Put the RNGs back where the checkpoint left them (dropout masks continue identically)."""
    torch.set_rng_state(rng["torch"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
