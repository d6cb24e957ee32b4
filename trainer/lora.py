"""LoRA adapters: a frozen linear projection plus `scaling * B(A(dropout(x)))`.

Key names follow Mistral's `lora.safetensors` (`layers.N.attention.wq.lora_A.weight`, A is [r, in],
B is [out, r]); `peft_io.py` converts them to Hugging Face PEFT's layout.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

# Every linear projection of a Mistral block, as Mistral's trainer adapts them (reference §1.6).
TARGET_MODULES = ("wq", "wk", "wv", "wo", "w1", "w2", "w3")


@dataclass(frozen=True)
class LoRAConfig:
    rank: int = 16
    scaling: float = 2.0  # a constant multiplier, Mistral's convention (PEFT's lora_alpha = scaling * rank)
    dropout: float = 0.0


class LoRALinear(nn.Module):
    """A bias-free linear layer whose `weight` is frozen, with an optional trainable adapter and an
    optional bank of serving adapters selected per batch row."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.empty(out_features, in_features), requires_grad=False)
        self.lora_A: nn.Linear | None = None
        self.lora_B: nn.Linear | None = None
        self.scaling = 0.0
        self.dropout: nn.Module = nn.Identity()
        # Serving bank: A (N, r, in), B (N, out, r) with each adapter's scaling folded into B;
        # row 0 is the zero adapter (the base model).
        self.bank_A: torch.Tensor | None = None
        self.bank_B: torch.Tensor | None = None

    def add_adapter(self, cfg: LoRAConfig, device: torch.device | str | None = None) -> None:
        """Attach a fresh trainable adapter: A Kaiming-uniform(a=sqrt(5)), B zeros (Mistral/PEFT init), fp32."""
        self.lora_A = nn.Linear(self.in_features, cfg.rank, bias=False, device=device, dtype=torch.float32)
        self.lora_B = nn.Linear(cfg.rank, self.out_features, bias=False, device=device, dtype=torch.float32)
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)
        self.scaling = cfg.scaling
        self.dropout = nn.Dropout(cfg.dropout) if cfg.dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor, adapter_ids: torch.Tensor | None = None) -> torch.Tensor:
        y = F.linear(x, self.weight)
        if self.lora_A is not None and self.lora_B is not None:
            # Adapter weights stay fp32 (optimizer master copy); compute in the activations' dtype.
            a = self.lora_A.weight.to(x.dtype)
            b = self.lora_B.weight.to(x.dtype)
            # y + scaling * (x A^T) B^T as one addmm: no separate scale and add passes over the
            # (tokens, out) activations, forward or backward
            xa = F.linear(self.dropout(x), a).reshape(-1, a.shape[0])
            y = torch.addmm(y.reshape(-1, y.shape[-1]), xa, b.t(), alpha=self.scaling).view(y.shape)
        if adapter_ids is not None and self.bank_A is not None and self.bank_B is not None:
            a = self.bank_A[adapter_ids]  # (B, r, in)
            b = self.bank_B[adapter_ids]  # (B, out, r)
            y = y + torch.bmm(torch.bmm(x, a.transpose(1, 2)), b.transpose(1, 2))  # (B, T, out)
        return y


def lora_modules(model: nn.Module) -> dict[str, LoRALinear]:
    """The adaptable projections of `model`, by module name (e.g. `layers.0.attention.wq`)."""
    return {name: m for name, m in model.named_modules() if isinstance(m, LoRALinear)}


def apply_lora(model: nn.Module, cfg: LoRAConfig, device: torch.device | str | None = None) -> int:
    """Freeze every base parameter and add a trainable adapter to each projection; returns the
    number of trainable parameters."""
    if cfg.rank < 1:
        raise ValueError(f"lora.rank must be >= 1, got {cfg.rank}")
    for p in model.parameters():
        p.requires_grad_(False)
    for m in lora_modules(model).values():
        m.add_adapter(cfg, device)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def adapter_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The trainable adapter in Mistral's `lora.safetensors` key layout (fp32, contiguous)."""
    out: dict[str, torch.Tensor] = {}
    for name, m in lora_modules(model).items():
        if m.lora_A is not None and m.lora_B is not None:
            out[f"{name}.lora_A.weight"] = m.lora_A.weight.detach().float().contiguous().cpu()
            out[f"{name}.lora_B.weight"] = m.lora_B.weight.detach().float().contiguous().cpu()
    return out


def load_adapter_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Copy a Mistral-layout adapter state (from `adapter_state`) into the model's adapters."""
    modules = lora_modules(model)
    expected = {f"{n}.lora_{ab}.weight" for n, m in modules.items() if m.lora_A is not None for ab in "AB"}
    if set(state) != expected:
        missing, extra = sorted(expected - set(state))[:3], sorted(set(state) - expected)[:3]
        raise ValueError(f"adapter does not match the model (missing {missing}, unexpected {extra}); "
                         "was it trained on another base model or LoRA rank?")
    with torch.no_grad():
        for key, value in state.items():
            name, ab = key.rsplit(".lora_", 1)
            target = modules[name].lora_A if ab.startswith("A") else modules[name].lora_B
            assert target is not None
            if target.weight.shape != value.shape:
                raise ValueError(f"adapter tensor {key} has shape {tuple(value.shape)}, "
                                 f"the model expects {tuple(target.weight.shape)}: check lora.rank")
            target.weight.copy_(value)


def set_adapter_bank(model: nn.Module, adapters: list[tuple[dict[str, torch.Tensor], float]],
                     dtype: torch.dtype, device: torch.device | str) -> None:
    """Install serving adapters (Mistral-layout states with their scalings); adapter k is selected
    by `adapter_ids == k + 1`, id 0 is the base model. Ranks may differ: they are zero-padded."""
    for name, m in lora_modules(model).items():
        if not adapters:
            m.bank_A = m.bank_B = None
            continue
        ranks = [s[f"{name}.lora_A.weight"].shape[0] for s, _ in adapters]
        r = max(ranks)
        bank_a = torch.zeros(len(adapters) + 1, r, m.in_features, dtype=dtype, device=device)
        bank_b = torch.zeros(len(adapters) + 1, m.out_features, r, dtype=dtype, device=device)
        for k, (state, scaling) in enumerate(adapters):
            a, b = state[f"{name}.lora_A.weight"], state[f"{name}.lora_B.weight"]
            bank_a[k + 1, : a.shape[0]] = a.to(device=device, dtype=dtype)
            bank_b[k + 1, :, : b.shape[1]] = (b.float() * scaling).to(device=device, dtype=dtype)
        m.bank_A, m.bank_B = bank_a, bank_b
