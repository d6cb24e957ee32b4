"""Does tiny-pixtral learn from pixels? A synthetic "what colour is the shape?" task (Pillow images:
6 colours x 3 shapes, random sizes and positions, a few image sizes) trained with the trainer's own
model, LoRA, AdamW and learning-rate schedule, then scored on held-out images it never saw: accuracy of the first answer
token (greedy), against the base model and a "blind" run trained on the same prompts with the
images blanked (chance is 1/6).

    OMP_NUM_THREADS=2 .venv/bin/python bench/vision_colour.py [--steps 150] [--lr 2e-3] [--rank 16]
        [--train-projector] [--train-encoder] [--blind]

Prints one JSON line per run; docs/vision.md ("Model and training recipe") records the results.
Preprocessing: trainer/images.py when present (mistral-common's rule), else the same normalisation
on images generated at patch multiples (no resize needed).
"""
from __future__ import annotations

import argparse
import base64
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from trainer.lora import LoRAConfig, apply_lora  # noqa: E402
from trainer.model import document_mask  # noqa: E402
from trainer.tiny_pixtral import write_tiny_pixtral  # noqa: E402
from trainer.train import ADAM_BETAS, lr_at  # noqa: E402
from trainer.vision_train import unfreeze_vision  # noqa: E402
from trainer.weights import load_model  # noqa: E402

COLOURS = {"red": (220, 30, 30), "green": (30, 170, 40), "blue": (30, 60, 220), "yellow": (235, 215, 30),
           "orange": (245, 140, 20), "black": (20, 20, 20)}
SHAPES = ("circle", "square", "triangle")
SIZES = ((48, 48), (64, 64), (80, 48))  # (W, H), multiples of 16: 9 to 20 patches
MEAN, STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)  # mistral-common's
BOS, INST, END_INST, EOS, IMG, IMG_BREAK, IMG_END = 1, 3, 4, 2, 10, 12, 13


def draw(colour: str, shape: str, rng: np.random.Generator) -> bytes:
    """A PNG: one filled shape of `colour` on a light grey background, random size and place."""
    w, h = SIZES[rng.integers(len(SIZES))]
    img = Image.new("RGB", (w, h), (235, 235, 235))
    side = int(rng.integers(16, min(w, h) - 4))
    x, y = int(rng.integers(0, w - side)), int(rng.integers(0, h - side))
    d, fill = ImageDraw.Draw(img), COLOURS[colour]
    if shape == "circle":
        d.ellipse((x, y, x + side, y + side), fill=fill)
    elif shape == "square":
        d.rectangle((x, y, x + side, y + side), fill=fill)
    else:
        d.polygon([(x + side // 2, y), (x, y + side), (x + side, y + side)], fill=fill)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def pixels(png: bytes, patch: int, max_size: int) -> torch.Tensor:
    """[3, H, W] float32 as training sees it."""
    try:
        from trainer.images import preprocess  # engineer B's module, mistral-common's rule
        return preprocess(png, patch, max_size)
    except ImportError:
        u8 = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float32) / 255.0
        return torch.from_numpy((u8 - np.array(MEAN, np.float32)) / np.array(STD, np.float32)).permute(2, 0, 1).contiguous()


def token_of(vocab: dict[bytes, int], text: str) -> int:
    if text.encode() not in vocab:
        raise SystemExit(f"{text!r} is not one token of tekken_240911")
    return vocab[text.encode()]


def tekken_vocab(path: Path) -> dict[bytes, int]:
    t = json.loads(path.read_text())
    n_special = t["config"]["default_num_special_tokens"]
    size = t["config"]["default_vocab_size"] - n_special
    return {base64.b64decode(v["token_bytes"]): v["rank"] + n_special for v in t["vocab"][:size]}


def make_set(n: int, seed: int, patch: int, max_size: int) -> list[tuple[torch.Tensor, int]]:
    """(pixels, colour index) pairs, colours balanced."""
    rng = np.random.default_rng(seed)
    names = list(COLOURS)
    return [(pixels(draw(names[i % 6], SHAPES[int(rng.integers(3))], rng), patch, max_size), i % 6) for i in range(n)]


def prompt(img: torch.Tensor, patch: int, question: list[int]) -> list[int]:
    rows, cols = img.shape[1] // patch, img.shape[2] // patch
    block = ([IMG] * cols + [IMG_BREAK]) * rows
    block[-1] = IMG_END
    return [BOS, INST] + block + question + [END_INST]  # mistral-common puts the image first


def batch(samples, patch, question, answers, blind: bool):
    """Rows padded to one length (pad positions get their own document id, untrained)."""
    rows = [prompt(img, patch, question) + [answers[c], EOS] for img, c in samples]
    T = max(map(len, rows))
    tokens = torch.zeros(len(rows), T, dtype=torch.long)
    doc = torch.full((len(rows), T), -1)
    target = torch.zeros(len(rows), T, dtype=torch.bool)
    for r, ids in enumerate(rows):
        tokens[r, : len(ids)] = torch.tensor(ids)
        doc[r, : len(ids)] = 0
        target[r, len(ids) - 2:] = True  # the answer and </s> are trained
    images = [torch.zeros_like(img) if blind else img for img, _ in samples]
    return tokens, doc, target, images


def hidden(model, tokens, doc, images):
    """Final-norm hidden states; logits are taken only where needed (the vocabulary is 131072)."""
    positions = torch.arange(tokens.shape[1])[None].expand_as(tokens)
    return model(tokens, positions, document_mask(doc, positions, None), images=images, return_hidden=True)


@torch.no_grad()
def accuracy(model, samples, patch, question, answers, blind=False) -> float:
    model.eval()
    correct = 0
    for i in range(0, len(samples), 16):
        part = samples[i: i + 16]
        tokens, doc, target, images = batch(part, patch, question, answers, blind)
        h = hidden(model, tokens, doc, images)
        for r, (_, c) in enumerate(part):
            at = int(target[r].nonzero()[0]) - 1  # the position whose next token is the answer
            correct += int(model.output(h[r, at]).argmax()) == answers[c]  # greedy over the whole vocabulary
    model.train()
    return correct / len(samples)


def run(args) -> dict:
    torch.manual_seed(args.seed)
    model_dir = Path(args.model_dir or tempfile.mkdtemp())
    write_tiny_pixtral(model_dir)
    vocab = tekken_vocab(model_dir / "tekken.json")
    question = [token_of(vocab, w) for w in ("What", " colour", " is", " the", " shape", "?")]
    answers = [token_of(vocab, c) for c in COLOURS]
    model = load_model(model_dir)
    v = model.vision_args
    train = make_set(args.train_images, 1, v.patch_size, v.image_limit)
    held_out = make_set(args.eval_images, 2, v.patch_size, v.image_limit)
    base_acc = accuracy(model, held_out, v.patch_size, question, answers)
    apply_lora(model, LoRAConfig(rank=args.rank, scaling=2.0))
    unfreeze_vision(model, args.train_projector, args.train_encoder)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, betas=ADAM_BETAS, weight_decay=args.weight_decay)
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    for step in range(1, args.steps + 1):
        for g in opt.param_groups:  # the trainer's schedule: linear warm-up, cosine decay
            g["lr"] = lr_at(step, args.steps, args.lr, args.warmup_fraction)
        pick = [train[int(i)] for i in rng.integers(len(train), size=args.batch)]
        tokens, doc, target, images = batch(pick, v.patch_size, question, answers, args.blind)
        h = hidden(model, tokens, doc, images)
        loss = torch.nn.functional.cross_entropy(model.output(h[:, :-1][target[:, 1:]]), tokens[:, 1:][target[:, 1:]])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if step % 25 == 0:
            print(json.dumps({"step": step, "loss": round(loss.item(), 4)}), file=sys.stderr)
    seconds = time.perf_counter() - t0
    return {"steps": args.steps, "batch": args.batch, "lr": args.lr, "rank": args.rank, "weight_decay": args.weight_decay,
            "warmup_fraction": args.warmup_fraction,
            "train_projector": args.train_projector, "train_encoder": args.train_encoder, "blind": args.blind,
            "train_images": args.train_images, "eval_images": args.eval_images, "base_accuracy": base_acc,
            "held_out_accuracy": accuracy(model, held_out, v.patch_size, question, answers, args.blind),
            "train_seconds": round(seconds, 1), "threads": torch.get_num_threads()}


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--rank", type=int, default=16)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--warmup-fraction", type=float, default=0.05)
    p.add_argument("--train-projector", action="store_true")
    p.add_argument("--train-encoder", action="store_true")
    p.add_argument("--blind", action="store_true", help="blank every image (a text-only control)")
    p.add_argument("--train-images", type=int, default=240)
    p.add_argument("--eval-images", type=int, default=120)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model-dir", default=None, help="where tiny-pixtral is (re)generated; a temp dir by default")
    return p.parse_args(argv)


if __name__ == "__main__":
    print(json.dumps(run(parse())))
