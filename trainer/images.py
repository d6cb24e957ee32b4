"""Image preprocessing for vision models: the one path shared by training (data.py), the model tests
and serving (serve.py), equal to mistral-common's ImageEncoder (tokens/tokenizers/image.py):

1. decode with PIL; RGB images are kept, any other mode goes to RGBA and is composited over white
   (mistral-common `_convert_to_rgb`; palette transparency comes through the RGBA conversion);
2. grid: if the longer side exceeds `max_image_size`, both sides are scaled by it with Python's
   round (half to even), at least 1; then cols = ceil(W' / (p*m)), rows = ceil(H' / (p*m));
3. the *original* image is stretched in one step to (rows*p*m, cols*p*m) with OpenCV's INTER_CUBIC on
   float32 (no clipping). OpenCV (opencv-python-headless, in trainer/requirements.txt) is used when
   installed: then `preprocess` equals mistral-common within 1e-6 (trainer/tests/test_images.py).
   Without it, `_cubic_resize` is the same kernel in numpy: horizontal pass bit-identical, vertical
   pass summed in another order, so values differ by float rounding (measured ≤ 3e-4 after
   normalisation, asserted ≤ 1e-3), and token grids are identical;
4. normalise: /255, minus the CLIP mean, over the CLIP std, CHW float32.

`resize_u8` rounds step 3 to uint8 (clipping bicubic overshoot to [0, 255]): the form data.py caches
beside a shard, a quarter of float32's bytes. Where the bicubic stays inside [0, 255] its normalised
values differ from `preprocess`'s by at most 0.5/255/std ≈ 0.0076; at sharp edges the overshoot is cut.
"""
from __future__ import annotations

import io
import warnings
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch
    from PIL import Image

# mistral-common DATASET_MEAN / DATASET_STD (RGB), the CLIP statistics.
MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)

# OpenCV's bicubic constant (imgproc/src/resize.cpp interpolateCubic).
_CUBIC_A = np.float32(-0.75)


def resized_size(width: int, height: int, patch_size: int, max_image_size: int,
                 spatial_merge_size: int = 1) -> tuple[int, int]:
    """(height, width) in pixels an image is stretched to: whole cells of patch_size*spatial_merge_size
    covering the image after it is scaled down to fit max_image_size (mistral-common's rule)."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size {width}x{height}: width and height must be positive")
    w: float = width
    h: float = height
    ratio = max(h / max_image_size, w / max_image_size)
    if ratio > 1:
        w, h = max(round(w / ratio), 1), max(round(h / ratio), 1)
    cell = patch_size * spatial_merge_size
    return ((int(h) - 1) // cell + 1) * cell, ((int(w) - 1) // cell + 1) * cell


def token_grid(width: int, height: int, patch_size: int, max_image_size: int,
               spatial_merge_size: int = 1) -> tuple[int, int]:
    """(rows, cols) of the image's [IMG] grid: rows end in [IMG_BREAK], the last in [IMG_END]."""
    h, w = resized_size(width, height, patch_size, max_image_size, spatial_merge_size)
    cell = patch_size * spatial_merge_size
    return h // cell, w // cell


def decode_rgb(data: bytes) -> "Image.Image":
    """Decodes image bytes to an RGB PIL image (alpha composited over white, as mistral-common does).

    Raises ValueError naming the problem for empty, unrecognised, truncated or oversized data."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise ValueError("image data is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            image.load()  # decode now: a truncated file fails here, not later in a batch
    except UnidentifiedImageError as e:
        raise ValueError(f"image data ({len(data)} bytes) is not an image format PIL can read "
                         f"(expected PNG, JPEG, WebP or GIF)") from e
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ValueError(f"image is too large to decode safely: {e}") from e
    except (OSError, SyntaxError, EOFError) as e:  # PIL's errors for damaged data
        raise ValueError(f"image data ({len(data)} bytes) is corrupt or truncated: {e}") from e
    return _convert_to_rgb(image)


def _convert_to_rgb(image: "Image.Image") -> "Image.Image":
    # mistral-common tokens/tokenizers/image.py _convert_to_rgb, step for step.
    from PIL import Image

    if image.mode == "RGB":
        return image
    if image.mode != "RGBA":
        image = image.convert("RGBA")
    white = Image.new("RGBA", image.size, "WHITE")
    white.paste(image, (0, 0), image)
    return white.convert("RGB")


def _cubic_weights(dst: int, src: int) -> tuple[np.ndarray, np.ndarray]:
    """Source indices (dst, 4) and weights (dst, 4) of OpenCV's INTER_CUBIC along one axis:
    centre-aligned sampling, float32 coefficients, border pixels replicated."""
    scale = 1.0 / (dst / src)  # OpenCV: scale_x = 1 / inv_scale_x, inv_scale_x = dsize / ssize (double)
    f = ((np.arange(dst, dtype=np.float64) + 0.5) * scale - 0.5).astype(np.float32)
    s = np.floor(f).astype(np.int64)
    x = f - s.astype(np.float32)
    a, one = _CUBIC_A, np.float32(1)
    x1, y = x + one, one - x
    c0 = ((a * x1 - 5 * a) * x1 + 8 * a) * x1 - 4 * a
    c1 = ((a + 2) * x - (a + 3)) * x * x + one
    c2 = ((a + 2) * y - (a + 3)) * y * y + one
    c3 = one - c0 - c1 - c2
    idx = np.clip(s[:, None] + np.arange(-1, 3)[None, :], 0, src - 1)
    return idx, np.stack([c0, c1, c2, c3], axis=1).astype(np.float32)


def _cubic_resize(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """OpenCV cv2.resize(img, (width, height), interpolation=INTER_CUBIC) for float32 (H, W, C):
    a horizontal pass summed left to right, then a vertical pass summed as OpenCV's SIMD loop does
    (s0*b0 + (s1*b1 + (s2*b2 + s3*b3)))."""
    src_h, src_w = img.shape[:2]
    if (src_h, src_w) == (height, width):
        return img.copy()  # OpenCV copies when the size does not change
    xi, xw = _cubic_weights(width, src_w)
    yi, yw = _cubic_weights(height, src_h)
    rows = np.unique(yi)  # only the source rows the vertical pass reads
    src = img[rows]
    tmp = src[:, xi[:, 0]] * xw[None, :, 0:1]
    for k in range(1, 4):
        tmp = tmp + src[:, xi[:, k]] * xw[None, :, k:k + 1]  # (rows, W, C)
    pos = np.searchsorted(rows, yi)  # yi's rows inside tmp
    t = [tmp[pos[:, k]] * yw[:, k, None, None] for k in range(4)]
    return t[0] + (t[1] + (t[2] + t[3]))


def cubic_resize(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """float32 (H, W, 3) -> (height, width, 3) with OpenCV's INTER_CUBIC (OpenCV itself when installed)."""
    try:
        import cv2
    except ImportError:
        return _cubic_resize(img, height, width)
    return cv2.resize(img, (width, height), interpolation=cv2.INTER_CUBIC)


def resize_float(data: bytes, patch_size: int, max_image_size: int, spatial_merge_size: int = 1) -> np.ndarray:
    """Decoded and resized image, float32 (H, W, 3) in [0, 255] give or take cubic overshoot."""
    image = decode_rgb(data)
    h, w = resized_size(image.width, image.height, patch_size, max_image_size, spatial_merge_size)
    return cubic_resize(np.asarray(image, dtype=np.float32), h, w)


def resize_u8(data: bytes, patch_size: int, max_image_size: int, spatial_merge_size: int = 1) -> np.ndarray:
    """Decoded and resized image rounded to uint8 (H, W, 3): the cached form of an image."""
    f = resize_float(data, patch_size, max_image_size, spatial_merge_size)
    return np.clip(np.rint(f), 0, 255).astype(np.uint8)


def normalize(pixels: np.ndarray) -> "torch.Tensor":
    """(H, W, 3) uint8 or float32 pixels in [0, 255] -> normalised float32 tensor (3, H, W)."""
    import torch

    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"expected (H, W, 3) pixels, got shape {pixels.shape}")
    x = np.divide(pixels, np.float32(255.0), dtype=np.float32)
    x -= MEAN
    x /= STD
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))


def preprocess(data: bytes, patch_size: int, max_image_size: int, spatial_merge_size: int = 1) -> "torch.Tensor":
    """Image bytes -> the float32 (3, H, W) tensor mistral-common's ImageEncoder gives (within 1e-6).

    Raises ValueError for corrupt or unsupported data."""
    return normalize(resize_float(data, patch_size, max_image_size, spatial_merge_size))


def grid_of(pixels_hw: tuple[int, int], patch_size: int, spatial_merge_size: int = 1) -> tuple[int, int]:
    """(rows, cols) of the [IMG] grid of an already resized (H, W) image."""
    cell = patch_size * spatial_merge_size
    h, w = pixels_hw
    if h % cell or w % cell:
        raise ValueError(f"resized image {w}x{h} is not a multiple of the {cell}-pixel cell")
    return h // cell, w // cell


__all__ = ["MEAN", "STD", "resized_size", "token_grid", "decode_rgb", "resize_float", "resize_u8",
           "normalize", "preprocess", "grid_of"]
