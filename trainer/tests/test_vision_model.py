"""The Pixtral-architecture model against transformers' LlavaForConditionalGeneration (Pixtral vision
config) and Mistral3ForConditionalGeneration on random small configs, fp32: logits within 1e-4 with
one image and with several images of different sizes in one sequence; loading from the Hugging Face
layout (save_pretrained) and from Mistral's native one; LoRA equal to PEFT's on the same model."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from trainer.adapter_io import read_adapter, write_adapter_files
from trainer.lora import adapter_state
from trainer.model import document_mask
from trainer.vision_model import MultimodalTransformer
from trainer.weights import load_model

from .test_model_parity import random_adapter

transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")
TOL = 1e-4
IMG, IMG_BREAK, IMG_END = 10, 12, 13
VOCAB = 512


def _text_config():
    return transformers.MistralConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                                      num_key_value_heads=2, head_dim=16, vocab_size=VOCAB, rms_norm_eps=1e-5,
                                      rope_theta=10000.0, max_position_embeddings=2048, tie_word_embeddings=False)


def _vision_config(patch: int):
    return transformers.PixtralVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                                            head_dim=8, image_size=128, patch_size=patch, hidden_act="silu", rope_theta=10000.0)


def _randomise(model: torch.nn.Module, seed: int) -> None:
    """Weights of unit-scale activations (transformers' init, std 0.02, makes every logit ~0 and
    hides errors)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.copy_((1.0 if "norm" in name else 0.0) + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / p[0].numel() ** 0.5)


def hf_pixtral(d: Path, seed: int = 1) -> Path:
    cfg = transformers.LlavaConfig(vision_config=_vision_config(8), text_config=_text_config(), image_token_index=IMG,
                                   vision_feature_layer=-1, vision_feature_select_strategy="full",
                                   projector_hidden_act="gelu", multimodal_projector_bias=True, tie_word_embeddings=False)
    model = transformers.LlavaForConditionalGeneration(cfg)
    _randomise(model, seed)
    model.save_pretrained(str(d), safe_serialization=True)
    return d


def hf_mistral3(d: Path, seed: int = 2) -> Path:
    cfg = transformers.Mistral3Config(vision_config=_vision_config(4), text_config=_text_config(), image_token_index=IMG,
                                      spatial_merge_size=2, vision_feature_layer=-1, projector_hidden_act="gelu",
                                      multimodal_projector_bias=False, tie_word_embeddings=False)
    model = transformers.Mistral3ForConditionalGeneration(cfg)
    _randomise(model, seed)
    model.save_pretrained(str(d), safe_serialization=True)
    return d


def hf_load(d: Path):
    cls = {"llava": transformers.LlavaForConditionalGeneration, "mistral3": transformers.Mistral3ForConditionalGeneration}
    kind = json.loads((d / "config.json").read_text())["model_type"]
    return cls[kind].from_pretrained(str(d), dtype=torch.float32, attn_implementation="eager").eval()


def image_tokens(rows: int, cols: int) -> list[int]:
    """mistral-common's layout: rows of [IMG] each ended by [IMG_BREAK], the last by [IMG_END]."""
    out = ([IMG] * cols + [IMG_BREAK]) * rows
    out[-1] = IMG_END
    return out


def sequence(sizes: list[tuple[int, int]], step: int, seed: int = 0) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Tokens (1, T) with one image block per (H, W) between text runs, and the images [3, H, W];
    `step` = pixels per [IMG] token (patch size x merge)."""
    g = torch.Generator().manual_seed(seed)
    ids = [1, 3]
    images = []
    for h, w in sizes:
        ids += torch.randint(20, VOCAB, (3,), generator=g).tolist() + image_tokens(h // step, w // step)
        images.append(torch.randn(3, h, w, generator=g))
    ids += torch.randint(20, VOCAB, (5,), generator=g).tolist() + [4]
    return torch.tensor([ids]), images


def hf_logits(model, tokens: torch.Tensor, images: list[torch.Tensor]) -> torch.Tensor:
    """transformers' forward: images zero-padded to one batch, cropped back by `image_sizes`."""
    H, W = max(i.shape[1] for i in images), max(i.shape[2] for i in images)
    pixels = torch.zeros(len(images), 3, H, W)
    for k, img in enumerate(images):
        pixels[k, :, : img.shape[1], : img.shape[2]] = img
    sizes = torch.tensor([list(i.shape[1:]) for i in images])
    with torch.no_grad():
        return model(input_ids=tokens, pixel_values=pixels, image_sizes=sizes).logits


def our_logits(model, tokens: torch.Tensor, images: list[torch.Tensor]) -> torch.Tensor:
    positions = torch.arange(tokens.shape[1])[None]
    with torch.no_grad():
        return model(tokens, positions, document_mask(torch.zeros_like(tokens), positions, None), images=images)


@pytest.fixture(scope="module")
def pixtral_dir(tmp_path_factory) -> Path:
    return hf_pixtral(tmp_path_factory.mktemp("hf-pixtral"))


@pytest.fixture(scope="module")
def mistral3_dir(tmp_path_factory) -> Path:
    return hf_mistral3(tmp_path_factory.mktemp("hf-mistral3"))


CASES = {"one": [(48, 32)], "several": [(32, 64), (16, 16), (64, 40)]}


@pytest.mark.parametrize("case", sorted(CASES))
def test_pixtral_logits_match_llava(pixtral_dir, case):
    tokens, images = sequence(CASES[case], step=8)
    ours = load_model(pixtral_dir)
    assert isinstance(ours, MultimodalTransformer) and ours.patch_merger is None
    theirs = hf_logits(hf_load(pixtral_dir), tokens, images)
    assert theirs.abs().max() > 1.0  # logits of unit scale: a wrong model cannot hide below TOL
    assert (our_logits(ours, tokens, images) - theirs).abs().max().item() <= TOL


@pytest.mark.parametrize("case", sorted(CASES))
def test_mistral3_logits_match(mistral3_dir, case):
    tokens, images = sequence(CASES[case], step=8)  # patch 4 x merge 2
    ours = load_model(mistral3_dir)
    assert ours.patch_merger is not None and ours.pre_mm_projector_norm is not None
    theirs = hf_logits(hf_load(mistral3_dir), tokens, images)
    assert (our_logits(ours, tokens, images) - theirs).abs().max().item() <= TOL


def test_pixels_matter_and_images_are_independent(pixtral_dir):
    """Block-diagonal attention: changing image 2 changes nothing before its block, and features of
    image 1 are the same alone or packed with others."""
    model = load_model(pixtral_dir)
    tokens, images = sequence(CASES["several"], step=8)
    first_block_end = tokens[0].tolist().index(IMG_END)
    base = our_logits(model, tokens, images)
    changed = our_logits(model, tokens, [images[0], torch.randn_like(images[1]), images[2]])
    assert (base - changed).abs().max() > 1e-2
    assert (base[:, : first_block_end + 1] - changed[:, : first_block_end + 1]).abs().max() == 0
    alone = model.image_features(images[:1])
    packed = model.image_features(images)[: alone.shape[0]]
    assert (alone - packed).abs().max() <= 1e-5


def test_native_layout_loads_same_logits(pixtral_dir, mistral3_dir, tmp_path):
    """Mistral's layout: params.json with a vision_encoder section + consolidated.safetensors (our
    state_dict keys are its names; q/k rows in interleaved order)."""
    for src, step in ((pixtral_dir, 8), (mistral3_dir, 8)):
        model = load_model(src)
        a, v = model.args, model.vision_args
        d = tmp_path / src.name
        d.mkdir()
        params = {"dim": a.dim, "n_layers": a.n_layers, "head_dim": a.head_dim, "hidden_dim": a.hidden_dim,
                  "n_heads": a.n_heads, "n_kv_heads": a.n_kv_heads, "vocab_size": a.vocab_size, "norm_eps": a.norm_eps,
                  "rope_theta": a.rope_theta,
                  "vision_encoder": {"hidden_size": v.hidden_size, "num_channels": 3, "image_size": v.image_size,
                                     "patch_size": v.patch_size, "intermediate_size": v.intermediate_size,
                                     "num_hidden_layers": v.num_hidden_layers, "num_attention_heads": v.num_attention_heads,
                                     "rope_theta": v.rope_theta, "image_token_id": IMG, "image_break_token_id": IMG_BREAK,
                                     "image_end_token_id": IMG_END, "adapter_bias": v.adapter_bias,
                                     "spatial_merge_size": v.spatial_merge_size,
                                     "add_pre_mm_projector_layer_norm": v.add_pre_mm_projector_layer_norm,
                                     "mm_projector_id": v.mm_projector_id}}
        (d / "params.json").write_text(json.dumps(params))
        save_file({k: t.contiguous() for k, t in model.state_dict().items()}, str(d / "consolidated.safetensors"))
        native = load_model(d)
        tokens, images = sequence(CASES["several"], step=step, seed=3)
        theirs = hf_logits(hf_load(src), tokens, images)
        assert (our_logits(native, tokens, images) - theirs).abs().max().item() <= TOL


def test_image_token_count_mismatch_is_a_clear_error(pixtral_dir):
    model = load_model(pixtral_dir)
    tokens, images = sequence([(16, 16)], step=8)
    extra = torch.cat([tokens[:, :3], torch.tensor([[IMG]]), tokens[:, 3:]], 1)
    with pytest.raises(ValueError, match="do not match"):
        our_logits(model, extra, images)
    with pytest.raises(ValueError, match="no images"):
        our_logits(model, tokens, [])
    with pytest.raises(ValueError, match="multiples of the patch size"):
        our_logits(model, tokens, [torch.randn(3, 15, 16)])


@pytest.mark.parametrize("kind", ["pixtral", "mistral3"])
def test_lora_on_decoder_matches_peft(pixtral_dir, mistral3_dir, kind, tmp_path):
    src = pixtral_dir if kind == "pixtral" else mistral3_dir
    model = load_model(src)
    cfg = random_adapter(model, rank=4, scaling=2.0)
    assert not any(n.startswith(("vision_", "patch_merger", "pre_mm")) for n in adapter_state(model))  # decoder only
    adapter_dir = tmp_path / "adapter"
    adapter_dir.mkdir()
    write_adapter_files(adapter_dir, adapter_state(model), model.args, cfg, str(src))
    tokens, images = sequence(CASES["several"], step=8, seed=5)
    ours = our_logits(model, tokens, images)
    base = hf_load(src)
    plain = hf_logits(base, tokens, images)
    theirs = hf_logits(peft.PeftModel.from_pretrained(base, str(adapter_dir)).eval(), tokens, images)
    assert (ours - plain).abs().max().item() > 1e-2  # the adapter matters
    assert (ours - theirs).abs().max().item() <= TOL
    back, scaling = read_adapter(adapter_dir, model.args)  # the PEFT file reads back to the same adapter
    assert scaling == cfg.scaling
    assert all(torch.equal(back[k], v) for k, v in adapter_state(model).items())


@pytest.mark.parametrize("change, message", [({"vision_config": {"hidden_act": "gelu"}}, "silu"),
                                             ({"vision_feature_layer": -2}, "vision_feature_layer"),
                                             ({"vision_feature_select_strategy": "default"}, "full")])
def test_hf_configs_that_would_change_the_model_are_refused(pixtral_dir, tmp_path, change, message):
    config = json.loads((pixtral_dir / "config.json").read_text())
    for key, value in change.items():
        config[key] = {**config[key], **value} if isinstance(value, dict) else value
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "model.safetensors").symlink_to(pixtral_dir / "model.safetensors")
    with pytest.raises(ValueError, match=message):
        load_model(tmp_path)
