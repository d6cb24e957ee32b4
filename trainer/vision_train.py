"""Training the vision parts beside the decoder's LoRA: `train_projector` / `train_vision_encoder`
(config.py) unfreeze the projector (`pre_mm_projector_norm`, `patch_merger`,
`vision_language_adapter`) and/or the encoder in full. Their trained weights travel with the adapter:
`vision.safetensors` (native names, fp32) in every checkpoint and in the final adapter directory,
loaded back on resume (and by whoever serves the adapter: the base's own vision weights are then
replaced by these).

Default: both frozen, LoRA on the decoder only, as Mistral's fine-tuning API, LLaMA-Factory and
Unsloth's notebooks do: the pretrained encoder and projector already describe images, and a frozen
encoder needs no activations kept for backward.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file, save_file

from .vision_model import ENCODER_PARTS, PROJECTOR_PARTS, MultimodalTransformer

VISION_FILE = "vision.safetensors"


def trained_parts(projector: bool, encoder: bool) -> tuple[str, ...]:
    return (PROJECTOR_PARTS if projector else ()) + (ENCODER_PARTS if encoder else ())


def unfreeze_vision(model: torch.nn.Module, projector: bool, encoder: bool) -> int:
    """Make the chosen parts trainable, in fp32 (AdamW's state dtype; the base may be bf16);
    returns their parameter count. ValueError when the model has no vision parts to train."""
    parts = trained_parts(projector, encoder)
    if not parts:
        return 0
    if not isinstance(model, MultimodalTransformer):
        raise ValueError("train_projector / train_vision_encoder need a vision base model (params.json with a "
                         "vision_encoder section, or a Llava / Mistral3 config.json); this base is text-only")
    count = 0
    for name in parts:
        module = getattr(model, name)
        if module is None:
            continue  # e.g. Pixtral 12B has no patch merger
        module.float()
        for p in module.parameters():
            p.requires_grad_(True)
            count += p.numel()
    return count


def trained_vision_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The trainable vision parameters by native name (fp32, CPU); empty when none are trained."""
    parts = ENCODER_PARTS + PROJECTOR_PARTS
    return {name: p.detach().float().cpu().contiguous() for name, p in model.named_parameters()
            if p.requires_grad and name.split(".", 1)[0] in parts}


def vision_writer(model: torch.nn.Module) -> Callable[[Path], None] | None:
    """A `write_extra` hook for checkpoint/adapter directories: writes vision.safetensors when
    vision parameters are trained, else None (nothing to add)."""
    if not trained_vision_state(model):
        return None
    return lambda d: save_file(trained_vision_state(model), str(Path(d) / VISION_FILE))


def copy_vision_from(src: Path) -> Callable[[Path], None] | None:
    """A `write_extra` hook copying `src`'s vision.safetensors (the final adapter from the last checkpoint)."""
    if not (Path(src) / VISION_FILE).is_file():
        return None
    return lambda d: save_file(load_file(str(Path(src) / VISION_FILE)), str(Path(d) / VISION_FILE))


def load_vision_state(model: torch.nn.Module, d: str | Path) -> bool:
    """Copy `d`'s vision.safetensors into the model's vision parameters; False when `d` has none.
    ValueError when its tensors are not the model's (another base, or other parts trained)."""
    path = Path(d) / VISION_FILE
    if not path.is_file():
        return False
    state = load_file(str(path))
    params = dict(model.named_parameters())
    unknown = sorted(k for k in state if k not in params or params[k].shape != state[k].shape)
    if unknown:
        raise ValueError(f"{path} does not fit this model (tensors {unknown[:3]}): was it trained on another base?")
    with torch.no_grad():
        for key, value in state.items():
            params[key].copy_(value)
    return True
