"""Shared fixtures: a very small random model in Mistral's layout and shard builders."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from trainer.data import write_shard
from trainer.tiny_model import tiny_weights

SMALL = {"dim": 64, "n_layers": 2, "head_dim": 16, "hidden_dim": 128, "n_heads": 4, "n_kv_heads": 2,
         "norm_eps": 1e-5, "vocab_size": 512, "rope_theta": 10000.0}


def write_model(d: Path, params: dict, seed: int = 0) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "params.json").write_text(json.dumps(params))
    save_file(tiny_weights(params, seed), str(d / "consolidated.safetensors"))
    return d


def random_samples(n: int, seed: int, vocab: int = 512, lo: int = 6, hi: int = 40) -> list[tuple[list[int], list[int]]]:
    """Chat-like samples: a prompt (mask 0) then an answer (mask 1)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        length = int(rng.integers(lo, hi))
        prompt = int(rng.integers(2, length - 1))
        out.append(([1] + rng.integers(5, vocab, length - 1).tolist(), [0] * prompt + [1] * (length - prompt)))
    return out


@pytest.fixture(scope="session")
def small_model(tmp_path_factory) -> Path:
    return write_model(tmp_path_factory.mktemp("small-model"), SMALL)


@pytest.fixture(scope="session")
def small_shards(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("shards")
    write_shard(root / "train", random_samples(24, seed=1))
    write_shard(root / "valid", random_samples(6, seed=2))
    return root / "train", root / "valid"


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
