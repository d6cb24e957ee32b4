"""The images of a generation request (docs/contracts.md, "Serving engine"): `images` holds the raw
bytes of each image as base64, in the order of the prompt's [IMG] blocks, and `image_settings` the
tokenizer's image settings the TypeScript side built those blocks with. Each image is decoded and
resized here once per request, with trainer/images.py (the one preprocessing path, shared with
training), to the grid its block holds; the tensors go to the model's forward at prefill.
"""
from __future__ import annotations

import base64
import binascii

import torch


def parse_image_settings(msg: dict) -> tuple[int, int]:
    """(grid cell in pixels, max image size) from `image_settings`; ValueError when absent or bad.

    The cell is patch_size x spatial_merge_size: mistral-common sizes the grid in merged patches,
    so resizing to multiples of the cell gives the [IMG] rows and columns the prompt holds."""
    s = msg.get("image_settings")
    if not isinstance(s, dict):
        raise ValueError("images need image_settings {patch_size, max_image_size, spatial_merge_size}")
    try:
        patch, max_size, merge = int(s["patch_size"]), int(s["max_image_size"]), int(s.get("spatial_merge_size") or 1)
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"image_settings must give integer patch_size and max_image_size: {e}") from e
    if patch <= 0 or max_size <= 0 or merge <= 0:
        raise ValueError("image_settings values must be positive")
    return patch * merge, max_size


def decode_base64(items: object) -> list[bytes]:
    """The raw bytes of each image; ValueError naming the first image that is not base64."""
    if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
        raise ValueError("images must be a list of base64 strings")
    out = []
    for i, text in enumerate(items):
        try:
            out.append(base64.b64decode(text, validate=True))
        except (binascii.Error, ValueError) as e:
            raise ValueError(f"images[{i}] is not valid base64: {e}") from e
    return out


def request_images(msg: dict) -> list[torch.Tensor] | None:
    """The request's images as float32 [3, H, W] tensors (None without images); ValueError for
    bad settings, bad base64 or an image trainer/images.py cannot decode (its message kept)."""
    if not msg.get("images"):
        return None
    raw = decode_base64(msg["images"])
    cell, max_size = parse_image_settings(msg)
    from . import images as imaging  # needs Pillow; text-only engines never import it

    out = []
    for i, data in enumerate(raw):
        try:
            out.append(imaging.preprocess(data, cell, max_size))
        except ValueError as e:
            raise ValueError(f"images[{i}]: {e}") from e
    return out
