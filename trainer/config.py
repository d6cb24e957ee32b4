"""The trainer's configuration: the worker's JSON (docs/contracts.md) parsed into a dataclass.
Bad values raise ValueError with a message saying what to change."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .lora import LoRAConfig


@dataclass(frozen=True)
class TrainFile:
    shard: str
    weight: float = 1.0


@dataclass(frozen=True)
class TrainConfig:
    model_dir: str
    out_dir: str
    train: list[TrainFile]
    valid: list[str] = field(default_factory=list)
    seq_len: int = 512
    batch_size: int = 1
    grad_accum: int = 1
    training_steps: int | None = 100
    epochs: float | None = None
    learning_rate: float = 1e-4
    weight_decay: float = 0.1
    warmup_fraction: float = 0.05
    max_grad_norm: float = 1.0
    lora: LoRAConfig = LoRAConfig()
    seed: int = 0
    device: str = "auto"
    checkpoint_every: int | None = None
    resume: bool = True
    task: str = "completion"
    classifier: Any = None
    # speed switches (trainer/speed.py); they change speed and memory, not the math
    attention: str = "auto"
    compile: bool | None = None
    activation_checkpointing: bool | int = False
    # TensorBoard event files of the run (tensorboard_log.py); None writes none
    tensorboard_dir: str | None = None
    # vision bases (vision_train.py): also train the projector / the encoder in full, beside the
    # decoder's LoRA; off by default (the pretrained parts already describe images)
    train_projector: bool = False
    train_vision_encoder: bool = False
    # Several ranks (torchrun; trainer/distributed.py): how gradients are shared, and how long a collective waits.
    parallel: str = "ddp"
    collective_timeout_s: float = 600.0

    @property
    def checkpoint_layers(self) -> int:
        """Blocks to recompute in backward: all for true, none for false, else the first N."""
        ac = self.activation_checkpointing
        return 1 << 30 if ac is True else int(ac)

    @property
    def tokens_per_step(self) -> int:
        return self.seq_len * self.batch_size * self.grad_accum


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _number(raw: dict, name: str, kind: type, default: Any) -> Any:
    value = raw.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not float(value).is_integer()):
        raise ValueError(f"config field {name!r} must be {'an integer' if kind is int else 'a number'}, got {value!r}")
    if not math.isfinite(float(value)):
        raise ValueError(f"config field {name!r} must be finite, got {value!r}")
    return kind(value)


def parse_config(raw: Any) -> TrainConfig:
    """Validate the worker's config object; ValueError names the field and the fix."""
    _check(isinstance(raw, dict), "the config must be a JSON object")
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(raw) - known)
    _check(not unknown, f"unknown config fields {unknown}; known fields: {sorted(known)}")
    for name in ("model_dir", "out_dir"):
        _check(isinstance(raw.get(name), str) and raw[name] != "", f"config field {name!r} must be a non-empty path")
    train_raw = raw.get("train")
    _check(isinstance(train_raw, list) and len(train_raw) > 0,
           "config field 'train' must be a non-empty list of {\"shard\": PATH, \"weight\": NUMBER}")
    train = []
    for i, item in enumerate(train_raw):
        _check(isinstance(item, dict) and isinstance(item.get("shard"), str), f"train[{i}] needs a 'shard' path")
        weight = _number(item, "weight", float, 1.0)
        _check(weight is not None and weight > 0, f"train[{i}].weight must be > 0, got {item.get('weight')!r}")
        train.append(TrainFile(item["shard"], weight))
    valid = raw.get("valid") or []
    _check(isinstance(valid, list) and all(isinstance(v, str) for v in valid), "config field 'valid' must be a list of shard paths")

    ints = {n: _number(raw, n, int, d) for n, d in (("seq_len", 512), ("batch_size", 1), ("grad_accum", 1), ("seed", 0))}
    for n in ("seq_len", "batch_size", "grad_accum"):
        _check(ints[n] is not None and ints[n] >= 1, f"config field {n!r} must be >= 1, got {raw.get(n)!r}")
    steps = _number(raw, "training_steps", int, None)
    epochs = _number(raw, "epochs", float, None)
    _check((steps is None) != (epochs is None), "set exactly one of 'training_steps' and 'epochs' (the other null)")
    _check(steps is None or steps >= 1, f"'training_steps' must be >= 1, got {steps}")
    _check(epochs is None or epochs > 0, f"'epochs' must be > 0, got {epochs}")
    lr = _number(raw, "learning_rate", float, 1e-4)
    _check(lr is not None and 0 < lr < 1, f"'learning_rate' must be in (0, 1), got {lr}")
    wd = _number(raw, "weight_decay", float, 0.1)
    _check(wd is not None and wd >= 0, f"'weight_decay' must be >= 0, got {wd}")
    warm = _number(raw, "warmup_fraction", float, 0.05)
    _check(warm is not None and 0 <= warm < 1, f"'warmup_fraction' must be in [0, 1), got {warm}")
    clip = _number(raw, "max_grad_norm", float, 1.0)
    _check(clip is None or clip > 0, f"'max_grad_norm' must be > 0 (or null for no clipping), got {clip}")
    every = _number(raw, "checkpoint_every", int, None)
    _check(every is None or every >= 1, f"'checkpoint_every' must be >= 1 or null (10% of progress), got {every}")

    lora_raw = raw.get("lora") or {}
    _check(isinstance(lora_raw, dict), "config field 'lora' must be an object {rank, scaling, dropout}")
    _check(not set(lora_raw) - {"rank", "scaling", "dropout"}, f"unknown lora fields {sorted(set(lora_raw) - {'rank', 'scaling', 'dropout'})}")
    lora = LoRAConfig(rank=_number(lora_raw, "rank", int, 16), scaling=_number(lora_raw, "scaling", float, 2.0),
                      dropout=_number(lora_raw, "dropout", float, 0.0))
    _check(lora.rank is not None and lora.rank >= 1, f"lora.rank must be >= 1, got {lora.rank}")
    _check(lora.scaling is not None, "lora.scaling must be a number")
    _check(lora.dropout is not None and 0 <= lora.dropout < 1, f"lora.dropout must be in [0, 1), got {lora.dropout}")

    device = raw.get("device", "auto")
    _check(device in ("auto", "cpu", "cuda") or (isinstance(device, str) and device.startswith("cuda:")),
           f"'device' must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    task = raw.get("task", "completion")
    _check(task == "completion", f"'task' {task!r} is not supported by this trainer: only 'completion' "
           "(classifier fine-tuning needs a classifier head, not available yet)")
    resume = raw.get("resume", True)
    _check(isinstance(resume, bool), "'resume' must be true or false")
    attention = raw.get("attention", "auto")
    _check(attention in ("auto", "sdpa", "flex"), f"'attention' must be 'auto', 'sdpa' or 'flex', got {attention!r}")
    compile_ = raw.get("compile")
    _check(compile_ is None or isinstance(compile_, bool), f"'compile' must be true, false or null (auto: on for CUDA), got {compile_!r}")
    ac = raw.get("activation_checkpointing", False)
    _check(isinstance(ac, bool) or (isinstance(ac, int) and ac >= 0),
           f"'activation_checkpointing' must be true (every layer), false or a number of layers >= 0, got {ac!r}")
    tb = raw.get("tensorboard_dir")
    _check(tb is None or (isinstance(tb, str) and tb != ""), f"'tensorboard_dir' must be a folder path or null, got {tb!r}")
    for name in ("train_projector", "train_vision_encoder"):
        _check(isinstance(raw.get(name, False), bool), f"'{name}' must be true or false, got {raw.get(name)!r}")
    parallel = raw.get("parallel", "ddp")
    _check(parallel in ("ddp", "fsdp"), f"'parallel' must be 'ddp' or 'fsdp', got {parallel!r}")
    timeout = _number(raw, "collective_timeout_s", float, 600.0)
    _check(timeout is not None and timeout > 0, f"'collective_timeout_s' must be > 0 seconds, got {raw.get('collective_timeout_s')!r}")
    return TrainConfig(model_dir=raw["model_dir"], out_dir=raw["out_dir"], train=train, valid=list(valid),
                       seq_len=ints["seq_len"], batch_size=ints["batch_size"], grad_accum=ints["grad_accum"],
                       training_steps=steps, epochs=epochs, learning_rate=lr, weight_decay=wd,
                       warmup_fraction=warm, max_grad_norm=clip, lora=lora, seed=ints["seed"], device=device,
                       checkpoint_every=every, resume=resume, task=task, classifier=raw.get("classifier"),
                       attention=attention, compile=compile_, activation_checkpointing=ac,
                       tensorboard_dir=tb, train_projector=raw.get("train_projector", False),
                       train_vision_encoder=raw.get("train_vision_encoder", False),
                       parallel=parallel, collective_timeout_s=timeout)


def read_config_json(path: str | Path) -> Any:
    """The JSON value of a config file; ValueError when it is missing or not JSON."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ValueError(f"config file {path} does not exist") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"config file {path} is not valid JSON: {e}") from e


def load_config(path: str | Path) -> TrainConfig:
    """Read and parse a config file."""
    return parse_config(read_config_json(path))
