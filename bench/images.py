"""Images preprocessed per second by trainer/images.py (decode, RGB, resize to the patch grid, and
the uint8 cache form or the normalised tensor), on generated images of mixed sizes and formats.

Usage: OMP_NUM_THREADS=1 .venv/bin/python bench/images.py [--count 120] [--patch 16] [--max-size 1024]
Prints one JSON object: images, megapixels, seconds, images_per_second for `resize_u8` (what
trainer/data.py caches once per shard) and `preprocess` (what serving runs per request), the
resize kernel used (OpenCV, or the numpy fallback), and the same figures for mistral-common's
ImageEncoder when it can run (it needs OpenCV), on the same images.
"""
from __future__ import annotations

import argparse
import base64
import io
import json
import os
import platform
import sys
import time

import numpy as np
import torch  # noqa: F401  (imported first: loading it changes the machine's thread setup for every method alike)
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from trainer import images  # noqa: E402

# (width, height, format): photos, screenshots, thin banners and icons, as a vision dataset mixes them.
SIZES = [(640, 480, "JPEG"), (1024, 768, "JPEG"), (1920, 1080, "JPEG"), (3000, 200, "PNG"), (512, 512, "PNG"),
         (256, 256, "WEBP"), (64, 64, "PNG"), (800, 1200, "WEBP"), (4000, 3000, "JPEG"), (120, 90, "GIF")]


def generate(n: int, seed: int = 0) -> list[bytes]:
    """Smooth gradients plus noise (compressible like photos, not constant)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        w, h, fmt = SIZES[i % len(SIZES)]
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        base = np.stack([x / w * 255, y / h * 255, (x + y) / (w + h) * 255], axis=2)
        px = np.clip(base + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)
        im = Image.fromarray(px, "RGB")
        if fmt == "GIF":
            im = im.convert("P")
        buf = io.BytesIO()
        im.save(buf, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
        out.append(buf.getvalue())
    return out


def timed(fn, data: list[bytes]) -> dict:
    fn(data[-1])  # warm-up: imports (torch, cv2) and first-call costs stay out of the figure
    t0 = time.perf_counter()
    for d in data:
        fn(d)
    s = time.perf_counter() - t0
    return {"seconds": round(s, 3), "images_per_second": round(len(data) / s, 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=120)
    ap.add_argument("--patch", type=int, default=16)
    ap.add_argument("--max-size", type=int, default=1024)
    a = ap.parse_args()
    data = generate(a.count)
    mp = sum(Image.open(io.BytesIO(d)).size[0] * Image.open(io.BytesIO(d)).size[1] for d in data) / 1e6
    try:
        import cv2  # noqa: F401
        kernel = "opencv"
    except ImportError:
        kernel = "numpy"
    result = {
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}",
        "images": len(data), "megapixels": round(mp, 1), "bytes": sum(len(d) for d in data), "resize_kernel": kernel,
        "resize_u8": timed(lambda d: images.resize_u8(d, a.patch, a.max_size), data),
        "preprocess": timed(lambda d: images.preprocess(d, a.patch, a.max_size), data),
    }
    if kernel == "opencv":
        from mistral_common.protocol.instruct.chunk import ImageURLChunk
        from mistral_common.tokens.tokenizers.image import ImageConfig, ImageEncoder, SpecialImageIDs
        enc = ImageEncoder(ImageConfig(a.patch, a.max_size), SpecialImageIDs(10, 12, 13))
        urls = {d: "data:image/png;base64," + base64.b64encode(d).decode() for d in data}
        result["mistral_common"] = timed(lambda d: enc(ImageURLChunk(image_url=urls[d])), data)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
