"""The built-in `tiny-pixtral` base model: Pixtral architecture (vision encoder + two-layer GELU
projector + Mistral decoder), the real Pixtral tokenizer (`tekken_240911.json` from mistral-common,
vocabulary 131072, image settings included), random weights from a fixed seed, in Mistral's layout.

`python -m trainer.tiny_pixtral --out DIR` writes DIR/params.json, DIR/consolidated.safetensors and
DIR/tekken.json. Like tiny_model.py: byte-identical on every run (fixed seed and order, CPU
generator), written atomically, skipped when an identical file is already there.

The encoder's patch size and the `[IMG]`/`[IMG_BREAK]`/`[IMG_END]` ids are the tokenizer's (patch 16,
max image size 1024, ids 10/12/13), so the token layout the tokenizer emits is the one the encoder
fills. The size (decoder dim 64, encoder width 64, two layers each) trains in seconds on CPU; the
output projection has tiny_model.py's larger scale for the same reason (LoRA can push one answer
token far above the other 131071).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from safetensors.torch import save

from .tiny_model import _write_atomic, tiny_weights

TEKKEN = "tekken_240911.json"
DECODER = {"dim": 64, "n_layers": 2, "head_dim": 16, "hidden_dim": 256, "n_heads": 4, "n_kv_heads": 2,
           "norm_eps": 1e-5, "vocab_size": 131072, "rope_theta": 1000000.0}
SEED = 20240911


def tekken_path() -> Path:
    """mistral-common's Pixtral tokenizer file (shipped inside the package)."""
    import mistral_common
    path = Path(mistral_common.__file__).parent / "data" / TEKKEN
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: install mistral-common (scripts/setup-python.sh does)")
    return path


def tiny_pixtral_params(tekken: dict) -> dict:
    """params.json: the decoder, and a vision_encoder section consistent with the tokenizer's image settings."""
    image = tekken["image"]
    vision = {"hidden_size": 64, "num_channels": 3, "image_size": image["max_image_size"], "patch_size": image["image_patch_size"],
              "intermediate_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4, "rope_theta": 10000.0,
              "image_token_id": 10, "image_break_token_id": 12, "image_end_token_id": 13, "adapter_bias": True,
              "spatial_merge_size": 1, "add_pre_mm_projector_layer_norm": False, "mm_projector_id": "",
              "max_image_size": image["max_image_size"]}
    return {**DECODER, "vision_encoder": vision}


def vision_weights(v: dict, dim: int, seed: int = SEED + 1) -> dict[str, torch.Tensor]:
    """Encoder + projector tensors (native names), unit-scale activations, from one seeded CPU generator."""
    g = torch.Generator().manual_seed(seed)
    def normal(*shape: int) -> torch.Tensor:
        fan_in = 1
        for s in shape[1:]:
            fan_in *= s
        return (torch.randn(*shape, generator=g) * fan_in ** -0.5).contiguous()
    d, ffn, p = v["hidden_size"], v["intermediate_size"], v["patch_size"]
    w = {"vision_encoder.patch_conv.weight": normal(d, v["num_channels"], p, p),
         "vision_encoder.ln_pre.weight": torch.ones(d)}
    for i in range(v["num_hidden_layers"]):
        pre = f"vision_encoder.transformer.layers.{i}."
        for name in ("wq", "wk", "wv", "wo"):
            w[pre + f"attention.{name}.weight"] = normal(d, d)
        w[pre + "feed_forward.w1.weight"] = normal(ffn, d)
        w[pre + "feed_forward.w3.weight"] = normal(ffn, d)
        w[pre + "feed_forward.w2.weight"] = normal(d, ffn)
        w[pre + "attention_norm.weight"] = torch.ones(d)
        w[pre + "ffn_norm.weight"] = torch.ones(d)
    w["vision_language_adapter.w_in.weight"] = normal(dim, d)
    w["vision_language_adapter.w_in.bias"] = torch.zeros(dim)
    w["vision_language_adapter.w_out.weight"] = normal(dim, dim)
    w["vision_language_adapter.w_out.bias"] = torch.zeros(dim)
    return w


def write_tiny_pixtral(out: str | Path) -> Path:
    """Write params.json + consolidated.safetensors + tekken.json into `out` (created if needed)."""
    d = Path(out)
    d.mkdir(parents=True, exist_ok=True)
    tekken_bytes = tekken_path().read_bytes()
    params = tiny_pixtral_params(json.loads(tekken_bytes))
    _write_atomic(d / "tekken.json", tekken_bytes)
    _write_atomic(d / "params.json", (json.dumps(params, indent=2) + "\n").encode())
    weights = {**tiny_weights(DECODER, SEED), **vision_weights(params["vision_encoder"], DECODER["dim"])}
    _write_atomic(d / "consolidated.safetensors", save(weights, metadata={"format": "pt"}))
    return d


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m trainer.tiny_pixtral", description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="directory to write the model into")
    print(write_tiny_pixtral(parser.parse_args().out))


if __name__ == "__main__":
    main()
