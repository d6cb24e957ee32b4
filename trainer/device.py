"""The one device picker of the trainers and the serving engine."""
from __future__ import annotations

import torch


def pick_device(name: str) -> tuple[torch.device, torch.dtype]:
    """CUDA in bf16 when asked for (or available under 'auto'), else CPU in fp32."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available: set device to 'cpu' or 'auto'")
    device = torch.device(name)
    return device, (torch.bfloat16 if device.type == "cuda" else torch.float32)
