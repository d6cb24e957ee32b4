"""trainer/images.py against mistral-common's ImageEncoder (the oracle): pixel tensors within 1e-6 and
the same [IMG] grid, on every image kind a dataset may hold; corrupt data is a ValueError."""
from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from trainer import images

try:
    import cv2  # noqa: F401  (mistral-common's ImageEncoder needs it; trainer/requirements.txt installs it)
    HAVE_CV2 = True
except ImportError:
    HAVE_CV2 = False
needs_cv2 = pytest.mark.skipif(not HAVE_CV2, reason="opencv-python-headless (trainer/requirements.txt) is not installed: "
                               "mistral-common cannot preprocess images without it; run scripts/setup.sh")

PIXTRAL = (16, 1024, 1)      # tekken_240911.json: patch 16, max 1024, no merge
SMALL_31 = (14, 1540, 2)     # Mistral Small 3.1: patch 14, max 1540, spatial merge 2


def encode(mode: str, w: int, h: int, fmt: str, seed: int = 0) -> bytes:
    """Random pixels (with a random alpha where the mode keeps one) saved as `fmt`."""
    rng = np.random.default_rng(seed)
    im = Image.fromarray(rng.integers(0, 256, (h, w, 4), dtype=np.uint8), "RGBA")
    if mode == "P":
        im = im.convert("RGB").quantize(16)
        im.info["transparency"] = 3  # palette entry 3 is transparent (tRNS)
    elif mode != "RGBA":
        im = im.convert(mode)
    buf = io.BytesIO()
    im.save(buf, fmt, **({"transparency": 3} if mode == "P" else {}))
    return buf.getvalue()


CASES = [
    ("png-rgb", "RGB", 40, 70, "PNG"),
    ("jpeg", "RGB", 100, 40, "JPEG"),
    ("webp", "RGB", 57, 91, "WEBP"),
    ("webp-alpha", "RGBA", 30, 22, "WEBP"),
    ("png-rgba", "RGBA", 33, 17, "PNG"),
    ("png-palette-trns", "P", 20, 30, "PNG"),
    ("gif-palette", "P", 25, 19, "GIF"),
    ("png-gray", "L", 50, 50, "PNG"),
    ("png-gray-alpha", "LA", 13, 29, "PNG"),
    ("tiny-1x1", "RGB", 1, 1, "PNG"),
    ("huge-3000x200", "RGB", 3000, 200, "PNG"),
    ("thin-3000x49", "RGB", 3000, 49, "PNG"),   # round vs floor: MC 2 rows, HF 1
    ("large-downscaled", "RGB", 1100, 1500, "JPEG"),
]


def oracle(data: bytes, patch: int, max_size: int, merge: int):
    from mistral_common.protocol.instruct.chunk import ImageURLChunk
    from mistral_common.tokens.tokenizers.image import ImageConfig, ImageEncoder, SpecialImageIDs
    enc = ImageEncoder(ImageConfig(patch, max_size, merge), SpecialImageIDs(10, 12, 13))
    return enc(ImageURLChunk(image_url="data:image/png;base64," + base64.b64encode(data).decode()))


def grid_tokens(rows: int, cols: int) -> list[int]:
    toks = ([10] * cols + [12]) * rows
    toks[-1] = 13
    return toks


@needs_cv2
@pytest.mark.parametrize("config", [PIXTRAL, SMALL_31], ids=["pixtral", "small-3.1"])
@pytest.mark.parametrize("name,mode,w,h,fmt", CASES, ids=[c[0] for c in CASES])
def test_preprocess_equals_mistral_common(name, mode, w, h, fmt, config):
    data = encode(mode, w, h, fmt)
    ref = oracle(data, *config)
    mine = images.preprocess(data, *config).numpy()
    assert mine.dtype == np.float32 and mine.shape == ref.image.shape
    assert float(np.abs(mine - ref.image).max()) <= 1e-6
    rows, cols = images.token_grid(w, h, *config)
    assert grid_tokens(rows, cols) == ref.tokens
    assert images.grid_of(mine.shape[1:], config[0], config[2]) == (rows, cols)


@needs_cv2
def test_numpy_cubic_kernel_stays_close_to_opencv():
    # The fallback used where OpenCV is missing: identical grids, float-rounding-level pixel differences.
    rng = np.random.default_rng(1)
    for (h, w, H, W) in [(70, 40, 80, 48), (1500, 1100, 1024, 752), (1, 1, 16, 16), (200, 3000, 80, 1024)]:
        a = rng.integers(0, 256, (h, w, 3)).astype(np.float32)
        ref = cv2.resize(a, (W, H), interpolation=cv2.INTER_CUBIC)
        mine = images._cubic_resize(a, H, W)
        assert mine.shape == ref.shape
        assert float(np.abs(mine - ref).max()) / 255 / float(images.STD.min()) <= 1e-3


def test_alpha_is_composited_over_white():
    # Reference values from mistral-common (shared/reference/vision.md §4): white -> (1.9303, 2.0749, 2.1459),
    # RGBA(255, 0, 0, alpha 128) -> (1.9303, 0.1539, 0.3257).
    buf = io.BytesIO()
    Image.new("RGBA", (16, 16), (255, 0, 0, 128)).save(buf, "PNG")
    px = images.preprocess(buf.getvalue(), *PIXTRAL)
    assert px.shape == (3, 16, 16)
    assert np.allclose(px[:, 5, 5].numpy(), [1.9303, 0.1539, 0.3257], atol=1e-4)
    buf = io.BytesIO()
    Image.new("RGBA", (16, 16), (0, 0, 0, 0)).save(buf, "PNG")
    assert np.allclose(images.preprocess(buf.getvalue(), *PIXTRAL)[:, 0, 0].numpy(), [1.9303, 2.0749, 2.1459], atol=1e-4)


def test_resize_u8_is_the_rounded_float_resize():
    data = encode("RGB", 37, 53, "PNG")
    u8 = images.resize_u8(data, *PIXTRAL)
    f = images.resize_float(data, *PIXTRAL)
    assert u8.dtype == np.uint8 and u8.shape == f.shape == (64, 48, 3)
    assert np.array_equal(u8, np.clip(np.rint(f), 0, 255).astype(np.uint8))
    # Cached uint8 pixels stay within half a grey level of the exact tensor wherever bicubic does not
    # overshoot [0, 255] (random noise overshoots a lot; the clipped part is the only other change).
    inside = ((f >= 0) & (f <= 255)).all(axis=2)
    diff = (images.normalize(u8) - images.preprocess(data, *PIXTRAL)).abs().amax(dim=0).numpy()
    assert inside.mean() > 0.5
    assert float(diff[inside].max()) <= 0.5 / 255 / float(images.STD.min()) + 1e-6


@pytest.mark.parametrize("w,h,expected", [
    (40, 70, (80, 48)), (100, 40, (48, 112)), (1024, 1024, (1024, 1024)), (4000, 3000, (768, 1024)),
    (3000, 49, (32, 1024)), (3000, 2, (16, 1024)), (1, 1, (16, 16)),
])
def test_resized_size_follows_mistral_common_rounding(w, h, expected):
    assert images.resized_size(w, h, 16, 1024) == expected


def test_small_31_grid_uses_merged_cells():
    # shared/reference/vision.md §4: 40x70 on Small 3.1 (14/1540/m=2) -> 2x3 grid, resized 56x84.
    assert images.resized_size(40, 70, 14, 1540, 2) == (84, 56)
    assert images.token_grid(40, 70, 14, 1540, 2) == (3, 2)


@pytest.mark.parametrize("data,needle", [
    (b"", "empty"),
    (b"not an image at all", "not an image format"),
    (encode("RGB", 64, 64, "PNG")[:200], "corrupt or truncated"),
    (encode("RGB", 64, 64, "JPEG")[:300], "corrupt or truncated"),
    (encode("RGB", 64, 64, "WEBP")[:60], "corrupt or truncated|not an image format"),
])
def test_corrupt_or_truncated_data_is_a_value_error(data, needle):
    with pytest.raises(ValueError, match=needle):
        images.preprocess(data, *PIXTRAL)


def test_decompression_bomb_is_a_value_error():
    # A PNG header claiming 30000x30000 (900 Mpx, above PIL's bomb limit) with almost no data.
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    with pytest.raises(ValueError, match="too large"):
        images.decode_rgb(png)
