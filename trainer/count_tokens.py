"""Exact trained-token count of a job before it runs: `python -m trainer.count_tokens` reads
{"train": [{"shard", "weight"}], "seq_len", "batch_size", "training_steps", "seed"} on stdin and
writes {"trained_tokens": N, "windows": W} on stdout.

Packing is deterministic (data.py), so replaying the training stream for the job's steps gives the
very windows the trainer will see; N sums their trained targets, as train.py counts `trained_tokens`
(grad_accum 1: one batch of `batch_size` windows per step). Only numpy is needed, not torch.
"""
from __future__ import annotations

import json
import sys

from .data import Shard, TrainStream


def count(cfg: dict) -> dict:
    shards = [Shard(f["shard"]) for f in cfg["train"]]
    stream = TrainStream(shards, [float(f["weight"]) for f in cfg["train"]], int(cfg["seq_len"]), int(cfg["seed"]))
    windows = int(cfg["training_steps"]) * int(cfg["batch_size"])
    trained = sum(int(stream.next_window().mask.sum()) for _ in range(windows))
    return {"trained_tokens": trained, "windows": windows}


def main() -> int:
    try:
        print(json.dumps(count(json.load(sys.stdin))), flush=True)
        return 0
    except (ValueError, KeyError, OSError) as e:
        print(json.dumps({"error": str(e)}), flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
