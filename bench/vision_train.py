"""Trained tokens per second with images vs text only, on tiny-pixtral, through the real trainer
(`python -m trainer.train`): two shards with the same samples token for token, except that in one
each sample's image block ([IMG] rows, [IMG_BREAK], [IMG_END]) comes with a real PNG whose encoder
features replace the [IMG] embeddings, and in the other the same positions are ordinary text ids.
The difference is what the vision encoder and projector cost per trained token.

    OMP_NUM_THREADS=2 .venv/bin/python bench/vision_train.py [--steps 30] [--side 128] [--seq-len 512]
        [--out bench/results/vision-train.json]

Reports the median `tokens_per_s` of the trainer's progress events (the first 3 steps left out:
warm-up), for LoRA only and with the projector and encoder trained too (tiny-pixtral's default).
"""
from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from trainer.data import write_shard  # noqa: E402
from trainer.images import token_grid  # noqa: E402
from trainer.tiny_pixtral import write_tiny_pixtral  # noqa: E402

IMG, IMG_BREAK, IMG_END = 10, 12, 13  # Pixtral's tekken ids (tiny-pixtral's params.json says the same)
BOS, INST, INST_END, EOS = 1, 3, 4, 2


def png(side: int, rng: np.random.Generator) -> bytes:
    """A random filled shape on grey: real PNG bytes, decoded and resized by trainer/images.py."""
    im = Image.new("RGB", (side, side), (200, 200, 200))
    x, y = rng.integers(0, side // 2, size=2)
    ImageDraw.Draw(im).ellipse([int(x), int(y), int(x) + side // 3, int(y) + side // 3], fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
    out = io.BytesIO()
    im.save(out, format="PNG")
    return out.getvalue()


def samples(n: int, side: int, with_images: bool, seed: int = 0) -> list[tuple]:
    """n samples: [BOS][INST] image-or-text block, 24 prompt ids [/INST] 8 answer ids [EOS]; loss on the answer."""
    rng = np.random.default_rng(seed)
    rows, cols = token_grid(side, side, 16, 1024)
    out = []
    for _ in range(n):
        block = ([IMG] * cols + [IMG_BREAK]) * (rows - 1) + [IMG] * cols + [IMG_END]
        if not with_images:
            block = [int(t) for t in rng.integers(1000, 30000, size=len(block))]
        prompt = [int(t) for t in rng.integers(1000, 30000, size=24)]
        answer = [int(t) for t in rng.integers(1000, 30000, size=8)] + [EOS]
        tokens = [BOS, INST] + block + prompt + [INST_END] + answer
        mask = [0] * (len(tokens) - len(answer)) + [1] * len(answer)
        out.append((tokens, mask, [png(side, rng)]) if with_images else (tokens, mask))
    return out


def run_trainer(work: Path, model: Path, shard: Path, steps: int, seq_len: int, vision_parts: bool) -> list[float]:
    """tokens_per_s of each progress event of one `trainer.train` run."""
    out_dir = work / f"out-{shard.name}-{int(vision_parts)}"
    config = {"model_dir": str(model), "out_dir": str(out_dir), "train": [{"shard": str(shard), "weight": 1.0}],
              "seq_len": seq_len, "batch_size": 1, "training_steps": steps, "learning_rate": 1e-3, "seed": 0,
              "device": "cpu", "resume": False, "train_projector": vision_parts, "train_vision_encoder": vision_parts}
    (work / "config.json").write_text(json.dumps(config))
    proc = subprocess.run([sys.executable, "-m", "trainer.train", "--config", str(work / "config.json")], cwd=REPO,
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"trainer failed: {proc.stderr[-2000:]}")
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return [e["tokens_per_s"] for e in events if e.get("type") == "progress"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--side", type=int, default=128, help="image side in pixels (128: an 8x8 [IMG] grid)")
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--out", default="bench/results/vision-train.json")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = write_tiny_pixtral(work / "tiny-pixtral")
        write_shard(work / "images", samples(a.samples, a.side, True))
        write_shard(work / "text", samples(a.samples, a.side, False))
        rows = []
        for vision_parts in (False, True):
            for name in ("text", "images"):
                rates = run_trainer(work, model, work / name, a.steps, a.seq_len, vision_parts)[3:]
                rows.append({"data": name, "trained": "LoRA + projector + encoder" if vision_parts else "LoRA",
                             "median_tokens_per_s": round(statistics.median(rates), 1), "steps_measured": len(rates)})
                print(json.dumps(rows[-1]), flush=True)
    result = {"command": "OMP_NUM_THREADS=%s .venv/bin/python bench/vision_train.py %s" % (os.environ.get("OMP_NUM_THREADS", ""), " ".join(sys.argv[1:])),
              "image_side": a.side, "seq_len": a.seq_len, "load1": os.getloadavg()[0], "rows": rows}
    Path(a.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
