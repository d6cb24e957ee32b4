"""Atelier's trainer: the numeric work only (model, LoRA, packed-batch training, eval, checkpoints,
generation). Depends on PyTorch, safetensors and numpy at run time, nothing else."""
