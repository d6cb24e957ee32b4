"""The images of a generation request (docs/contracts.md, "Serving engine"): `images` holds the raw
bytes of each image as base64, in the order of the prompt's [IMG] blocks, and `image_settings` the
tokenizer's image settings the TypeScript side built those blocks with. Each image is decoded and
resized here once per request, with trainer/images.py (the one preprocessing path, shared with
training), to the grid its block holds; the tensors go to the model's forward at prefill.
"""
from __future__ import annotations

import base64
import binascii
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

import torch
from safetensors.torch import load_file


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


VISION_FILE = "vision.safetensors"  # trainer/vision_train.py writes it beside an adapter's LoRA weights


class VisionOverrides:
    """Vision weights trained with an adapter (`train_projector` / `train_vision_encoder` write them
    as vision.safetensors, native parameter names) replace the base's for the prefill of that
    adapter's sequences only: the encoder and projector run nowhere else (decoding steps never see
    image positions, and a prefill is one sequence), so adapters with and without them share one
    engine and its batches. Read on first use and kept while the adapter is in the bank."""

    def __init__(self, model: torch.nn.Module):
        self.model = model
        self.states: dict[str, dict[str, torch.Tensor] | None] = {}

    def state(self, adapter: str, loaded: Iterable[str]) -> dict[str, torch.Tensor] | None:
        keep = set(loaded)
        for path in [p for p in self.states if p not in keep]:
            del self.states[path]  # evicted from the adapter bank
        if adapter not in self.states:
            f = Path(adapter) / VISION_FILE
            self.states[adapter] = load_file(str(f)) if f.is_file() else None
        return self.states[adapter]

    @contextmanager
    def applied(self, adapter: str | None, loaded: Iterable[str]) -> Iterator[None]:
        """The model with `adapter`'s vision weights (none: as it is); ValueError when they do not fit it."""
        state = self.state(adapter, loaded) if adapter else None
        if not state:
            yield
            return
        params = dict(self.model.named_parameters())
        wrong = sorted(k for k, v in state.items() if k not in params or params[k].shape != v.shape)
        if wrong:
            raise ValueError(f"the adapter's {VISION_FILE} does not fit this base model (e.g. {wrong[:3]})")
        saved = {k: params[k].detach().clone() for k in state}
        with torch.no_grad():
            for k, v in state.items():
                params[k].copy_(v.to(device=params[k].device, dtype=params[k].dtype))
        try:
            yield
        finally:
            with torch.no_grad():
                for k, v in saved.items():
                    params[k].copy_(v)
