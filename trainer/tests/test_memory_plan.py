"""The memory estimator (src/jobs/memory-plan.ts) against measured CPU peaks of the trainer's own step.

Each case is a random Mistral-shaped model (dims, layers, vocab, GQA ratio, seq_len, batch, LoRA rank
vary), trained two steps with and without activation checkpointing in one subprocess
(measure_peak.py: peak resident set above the case's starting point, glibc forced to mmap
allocations of 64 KiB and up so freed tensors leave RSS). The TypeScript estimate, without its fixed
process allowance, must be within 15% of the measured peak. What this checks: the CPU (fp32) path
of the formula, weights + adapter/optimizer + activations + loss/backward buffers. What it cannot:
the bf16 CUDA figures (same tensor counts, different bytes; no GPU here).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from trainer.loss import CHUNK

ROOT = Path(__file__).resolve().parents[2]
TOLERANCE = 0.15


def shape(dim, layers, hidden, heads, kv, head_dim, vocab):
    return {"dim": dim, "nLayers": layers, "hiddenDim": hidden, "nHeads": heads, "nKvHeads": kv, "headDim": head_dim,
            "vocabSize": vocab}


# (model, seq_len, batch, rank, checkpointed blocks); sized for tens to hundreds of MiB in seconds
CASES = [
    (shape(128, 4, 512, 4, 1, 32, 4096), 1024, 2, 8, 0),
    (shape(128, 4, 512, 4, 1, 32, 4096), 1024, 2, 8, 4),
    (shape(192, 3, 768, 6, 2, 32, 16384), 1024, 1, 32, 0),
    (shape(192, 3, 768, 6, 2, 32, 16384), 1024, 1, 32, 3),
    (shape(256, 2, 640, 4, 4, 64, 32768), 512, 2, 16, 0),
    (shape(96, 6, 384, 3, 1, 32, 2048), 2048, 1, 4, 2),
]


def as_case(c) -> dict:
    model, seq_len, batch, rank, ckpt = c
    return {"model": model, "job": {"seqLen": seq_len, "batchSize": batch, "loraRank": rank}, "checkpointLayers": ckpt,
            "device": {"kind": "cpu", "count": 1, "strategy": "ddp"}}


def ts_estimates(cases: list[dict]) -> dict:
    npx = shutil.which("npx")
    if npx is None:
        pytest.skip("npx (Node.js) is not on PATH; the estimator is TypeScript")
    out = subprocess.run([npx, "tsx", "scripts/memory-plan.ts", "--estimate"], input=json.dumps(cases), cwd=ROOT,
                         capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout)


def measured_peaks(cases: list[dict]) -> list[dict]:
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("measuring needs Linux /proc (VmHWM and clear_refs)")
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, str(Path(__file__).with_name("measure_peak.py")), json.dumps(cases)],
                         env=env, capture_output=True, text=True, timeout=600, check=True)
    return json.loads(out.stdout)


def test_the_estimate_is_within_15_percent_of_measured_cpu_peaks():
    cases = [as_case(c) for c in CASES]
    ts = ts_estimates(cases)
    assert ts["lossChunk"] == CHUNK, "src/jobs/memory-plan.ts lossChunk must equal trainer/loss.py CHUNK"
    measured = measured_peaks(cases)
    rows = []
    for case, est, got in zip(cases, ts["estimates"], measured):
        predicted = est["total"] - est["runtime"]  # the process's own baseline is not part of the measured delta
        error = predicted / got["peak_bytes"] - 1
        rows.append((case["model"]["dim"], case["model"]["nLayers"], case["model"]["vocabSize"], case["job"]["seqLen"],
                     case["job"]["batchSize"], case["job"]["loraRank"], case["checkpointLayers"],
                     round(predicted / 2**20, 1), round(got["peak_bytes"] / 2**20, 1), f"{error:+.1%}"))
    print("\ndim layers vocab seq_len batch rank ckpt | estimate MiB | measured MiB | error")
    for r in rows:
        print(*r)
    bad = [r for r in rows if abs(float(r[-1].rstrip("%")) / 100) > TOLERANCE]
    assert not bad, f"estimates off by more than {TOLERANCE:.0%}: {bad}"
    # the planner's reason to checkpoint must hold in practice: the same job measured lower with it on
    assert measured[1]["peak_bytes"] < 0.6 * measured[0]["peak_bytes"]
