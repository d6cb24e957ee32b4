"""Training a vision model: LoRA on the decoder by default, `train_projector` / `train_vision_encoder`
unfreezing those parts, their weights saved with checkpoints and adapters and loaded on resume;
tiny-pixtral's files."""
from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from trainer.adapter_io import read_adapter
from trainer.checkpoint import save_checkpoint
from trainer.config import parse_config
from trainer.data import write_shard
from trainer.lora import LoRAConfig, apply_lora, load_adapter_state
from trainer.model import document_mask
from trainer.tiny_model import sha256_file, tiny_weights
from trainer.tiny_pixtral import tiny_pixtral_params, vision_weights, write_tiny_pixtral
from trainer.vision_model import MultimodalTransformer
from trainer.vision_train import VISION_FILE, load_vision_state, trained_vision_state, unfreeze_vision, vision_writer
from trainer.weights import load_model

from .chat_data import REPO
from .conftest import SMALL, random_samples
from .test_train_process import base_config, events_of, start
from .test_vision_model import image_tokens, our_logits

VISION = {"hidden_size": 32, "num_channels": 3, "image_size": 64, "patch_size": 8, "intermediate_size": 64,
          "num_hidden_layers": 2, "num_attention_heads": 4, "image_token_id": 10, "image_break_token_id": 12,
          "image_end_token_id": 13}


@pytest.fixture(scope="module")
def small_pixtral(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("small-pixtral")
    (d / "params.json").write_text(json.dumps({**SMALL, "vision_encoder": VISION}))
    save_file({**tiny_weights(SMALL, 0), **vision_weights(VISION, SMALL["dim"], seed=1)}, str(d / "consolidated.safetensors"))
    return d


def _sample() -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
    """[BOS] image (2 x 3 patches) text: tokens (1, T), the image, the target mask (text after the image)."""
    ids = [1, 3] + image_tokens(2, 3) + [4, 77, 78, 79, 2]
    targets_from = len(ids) - 4
    mask = torch.zeros(1, len(ids) - 1, dtype=torch.bool)
    mask[0, targets_from - 1:] = True
    return torch.tensor([ids]), [torch.randn(3, 16, 24, generator=torch.Generator().manual_seed(0))], mask


def _steps(model, n: int) -> None:
    tokens, images, mask = _sample()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(n):
        positions = torch.arange(tokens.shape[1])[None]
        logits = model(tokens, positions, document_mask(torch.zeros_like(tokens), positions, None), images=images)
        loss = torch.nn.functional.cross_entropy(logits[:, :-1][mask], tokens[:, 1:][mask])
        loss.backward()
        opt.step()
        opt.zero_grad()


def test_lora_only_by_default_then_projector_and_encoder_on_request(small_pixtral):
    model = load_model(small_pixtral)
    apply_lora(model, LoRAConfig(rank=4))
    assert unfreeze_vision(model, projector=False, encoder=False) == 0 and trained_vision_state(model) == {}
    assert vision_writer(model) is None
    n = unfreeze_vision(model, projector=True, encoder=False)
    state = trained_vision_state(model)
    assert n == sum(t.numel() for t in state.values()) and all(k.startswith("vision_language_adapter.") for k in state)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    _steps(model, 3)
    after = model.state_dict()
    assert not torch.equal(before["vision_language_adapter.w_in.weight"], after["vision_language_adapter.w_in.weight"])
    assert torch.equal(before["vision_encoder.patch_conv.weight"], after["vision_encoder.patch_conv.weight"])
    unfreeze_vision(model, projector=False, encoder=True)
    assert "vision_encoder.patch_conv.weight" in trained_vision_state(model)
    _steps(model, 2)
    assert not torch.equal(before["vision_encoder.patch_conv.weight"], model.state_dict()["vision_encoder.patch_conv.weight"])


def test_text_only_base_refuses_vision_training(small_model):
    with pytest.raises(ValueError, match="vision base model"):
        unfreeze_vision(load_model(small_model), projector=True, encoder=False)
    with pytest.raises(ValueError, match="no vision encoder"):
        our_logits(load_model(small_model), torch.tensor([[1, 10, 13]]), [torch.zeros(3, 8, 8)])


def test_checkpoint_keeps_the_trained_projector(small_pixtral, tmp_path):
    model = load_model(small_pixtral)
    apply_lora(model, LoRAConfig(rank=4))
    unfreeze_vision(model, projector=True, encoder=False)
    _steps(model, 3)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad])
    ckpt = save_checkpoint(tmp_path, 3, model, opt, {}, model.args, LoRAConfig(rank=4), str(small_pixtral),
                           write_extra=vision_writer(model))
    assert (ckpt / VISION_FILE).is_file()
    fresh = load_model(small_pixtral)
    tokens, images, _ = _sample()
    assert (our_logits(fresh, tokens, images) - our_logits(load_model(small_pixtral), tokens, images)).abs().max() == 0
    apply_lora(fresh, LoRAConfig(rank=4))
    load_adapter_state(fresh, read_adapter(ckpt, fresh.args)[0])
    assert load_vision_state(fresh, ckpt)
    assert (our_logits(fresh, tokens, images) - our_logits(model, tokens, images)).abs().max() <= 1e-6


def test_train_process_saves_vision_weights_with_the_adapter(small_pixtral, tmp_path):
    """`python -m trainer.train` on a vision base with train_projector: text-only shards (no
    images) still train, and the adapter directory carries vision.safetensors."""
    write_shard(tmp_path / "train", random_samples(12, seed=1))
    write_shard(tmp_path / "valid", random_samples(4, seed=2))
    cfg = base_config(small_pixtral, tmp_path / "train", tmp_path / "valid", tmp_path / "out", training_steps=4,
                      train_projector=True)
    assert parse_config(cfg).train_projector and not parse_config(cfg).train_vision_encoder
    events = events_of(start(cfg, tmp_path / "c.json"))
    assert events[-1]["type"] == "done"
    assert (tmp_path / "out" / "adapter" / VISION_FILE).is_file()
    with pytest.raises(ValueError, match="train_projector"):
        parse_config({**cfg, "train_projector": "yes"})


def test_tiny_pixtral_is_byte_identical_and_reads_its_tokenizer_settings(tmp_path):
    first = write_tiny_pixtral(tmp_path / "a")
    second = write_tiny_pixtral(tmp_path / "b")
    for name in ("params.json", "consolidated.safetensors", "tekken.json"):
        assert sha256_file(first / name) == sha256_file(second / name)
    tekken = json.loads((first / "tekken.json").read_text())
    params = json.loads((first / "params.json").read_text())
    assert params == tiny_pixtral_params(tekken)
    assert params["vision_encoder"]["patch_size"] == tekken["image"]["image_patch_size"] == 16
    assert params["vocab_size"] == tekken["config"]["default_vocab_size"]
    model = load_model(first)
    assert isinstance(model, MultimodalTransformer)
    # a 48 x 80 (W x H) image: 3 columns x 5 rows of 16-pixel patches
    tokens = torch.tensor([[1, 3] + image_tokens(5, 3) + [1049, 4]])
    img = torch.randn(3, 80, 48)
    a, b = our_logits(model, tokens, [img]), our_logits(model, tokens, [img.flip(1)])
    assert (a[0, -1] - b[0, -1]).abs().max() > 1e-3  # the pixels reach the answer position


@pytest.mark.skipif(os.environ.get("ATELIER_SLOW_TESTS") != "1",
                    reason="trains tiny-pixtral twice, ~2 x 2-4 minutes on one CPU core; set ATELIER_SLOW_TESTS=1 to run it")
def test_tiny_pixtral_learns_the_colour_of_held_out_shapes(tmp_path):
    """docs/vision.md's recipe on bench/vision_colour.py's task: >= 90% on held-out images; the same
    run with the images blanked stays near chance (1/6)."""
    spec = importlib.util.spec_from_file_location("vision_colour", REPO / "bench" / "vision_colour.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    recipe = ["--steps", "150", "--lr", "2e-3", "--rank", "16", "--train-projector", "--train-encoder", "--model-dir", str(tmp_path)]
    seeing = bench.run(bench.parse(recipe))
    assert seeing["base_accuracy"] < 0.3 and seeing["held_out_accuracy"] >= 0.9, seeing
    blind = bench.run(bench.parse(recipe + ["--blind"]))
    assert blind["held_out_accuracy"] < 0.4, blind
