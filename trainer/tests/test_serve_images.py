"""Images in the serving engine's protocol (trainer/serve_images.py and serve.py's prefill).

The protocol checks run on any model. The generation checks need the built-in vision base
(`python -m trainer.tiny_pixtral`, trainer/images.py and the model's `images=` forward): they are
skipped, with that reason, only in a checkout where trainer/tiny_pixtral.py does not exist.
"""
from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from unittest import mock

import pytest
import torch
from safetensors.torch import save_file

from trainer import serve
from trainer.model import ModelArgs, Transformer, document_mask
from trainer.serve_images import decode_base64, parse_image_settings, request_images
from trainer.weights import load_model

ROOT = Path(__file__).resolve().parents[2]
PIXTRAL_GENERATOR = ROOT / "trainer" / "tiny_pixtral.py"
needs_tiny_pixtral = pytest.mark.skipif(
    not PIXTRAL_GENERATOR.exists(), reason="trainer/tiny_pixtral.py (the tiny-pixtral generator) is not in this checkout")

SETTINGS = {"patch_size": 16, "max_image_size": 1024, "spatial_merge_size": 1}
IMG, IMG_BREAK, IMG_END, BOS, INST, END_INST = 10, 12, 13, 1, 3, 4  # tekken_240911 special ids


def png(colour: tuple[int, int, int], size: tuple[int, int] = (32, 32)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def grid(width: int, height: int, cell: int = 16) -> list[int]:
    cols, rows = -(-width // cell), -(-height // cell)
    out: list[int] = []
    for r in range(rows):
        out += [IMG] * cols + [IMG_END if r == rows - 1 else IMG_BREAK]
    return out


def run(engine: serve.Engine, ops: list[dict], steps: int = 200) -> list[dict]:
    """Feeds the ops, then admits and steps until nothing can progress; the emitted lines."""
    lines: list[dict] = []
    with mock.patch.object(serve, "emit", lines.append):
        for op in ops:
            engine.handle(op)
        for _ in range(steps):
            engine.admit()
            if not engine.can_progress():
                break
            engine.step()
    return lines


def gen(rid: str, prompt: list[int], **kw) -> dict:
    return {"id": rid, "op": "generate", "adapter": None, "prompt": prompt, "max_tokens": kw.pop("max_tokens", 6),
            "temperature": 0.0, "top_p": 1.0, "seed": None, "stop": [], "n": kw.pop("n", 1), **kw}


# ---- protocol (any model) ----

def test_image_settings_give_the_grid_cell_and_max_size():
    assert parse_image_settings({"image_settings": SETTINGS}) == (16, 1024)
    assert parse_image_settings({"image_settings": {**SETTINGS, "patch_size": 14, "spatial_merge_size": 2}}) == (28, 1024)
    with pytest.raises(ValueError, match="image_settings"):
        parse_image_settings({})
    with pytest.raises(ValueError, match="integer"):
        parse_image_settings({"image_settings": {"patch_size": "x", "max_image_size": 1024}})


def test_bad_base64_is_named_by_its_index():
    assert decode_base64([b64(b"abc")]) == [b"abc"]
    with pytest.raises(ValueError, match=r"images\[1\] is not valid base64"):
        decode_base64([b64(b"ok"), "not base64!"])
    with pytest.raises(ValueError, match="list of base64 strings"):
        decode_base64("abc")


def test_a_request_without_images_has_none():
    assert request_images({"prompt": [1]}) is None
    assert request_images({"prompt": [1], "images": []}) is None


@pytest.fixture(scope="module")
def text_model_dir(tmp_path_factory) -> Path:
    args = ModelArgs(dim=32, n_layers=1, head_dim=8, hidden_dim=64, n_heads=4, n_kv_heads=2, vocab_size=50)
    d = tmp_path_factory.mktemp("text-model")
    torch.manual_seed(0)
    model = Transformer(args)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.3)
    params = {"dim": 32, "n_layers": 1, "head_dim": 8, "hidden_dim": 64, "n_heads": 4, "n_kv_heads": 2, "vocab_size": 50, "norm_eps": 1e-5}
    (d / "params.json").write_text(json.dumps(params))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(d / "consolidated.safetensors"))
    return d


def test_images_on_a_text_model_fail_that_request_and_the_engine_keeps_serving(text_model_dir):
    model = load_model(text_model_dir)
    model.eval()
    engine = serve.Engine(model, torch.device("cpu"), torch.float32, 4, 64, 2)
    bad = gen("img", [BOS, INST, *grid(16, 16), 5, END_INST], images=[b64(png((255, 0, 0), (16, 16)))], image_settings=SETTINGS)
    lines = run(engine, [bad, gen("text", [BOS, 5, 6])])
    errors = [m for m in lines if m["type"] == "error"]
    assert [m["id"] for m in errors] == ["img"]
    assert "image" in errors[0]["message"]
    done = [m for m in lines if m["type"] == "done"]
    assert [(m["id"], m["completion_tokens"]) for m in done] == [("text", 6)]
    assert not engine.active and not engine.waiting and len(engine.free_rows) == 4


# ---- generation with images (tiny-pixtral) ----

@pytest.fixture(scope="module")
def pixtral_dir(tmp_path_factory) -> Path:
    from trainer import tiny_pixtral  # noqa: F401  (present: the marker checked the file)
    import subprocess
    import sys

    d = ROOT / "models" / "tiny-pixtral"
    if not (d / "consolidated.safetensors").exists():
        d = tmp_path_factory.mktemp("tiny-pixtral")
        subprocess.run([sys.executable, "-m", "trainer.tiny_pixtral", "--out", str(d)], cwd=ROOT, check=True)
    return d


def greedy_with_images(model, prompt: list[int], images: list[torch.Tensor], steps: int) -> list[int]:
    """Greedy tokens by full forward passes (no cache) with the images at their [IMG] positions."""
    tokens, out = list(prompt), []
    with torch.no_grad():
        for _ in range(steps):
            t = torch.tensor([tokens])
            pos = torch.arange(len(tokens))[None]
            mask = document_mask(torch.zeros_like(t), pos, None)
            nxt = int(model(t, pos, mask, images=images)[0, -1].argmax())
            out.append(nxt)
            tokens.append(nxt)
    return out


@needs_tiny_pixtral
def test_engine_with_images_matches_full_forward_and_pixels_change_the_answer(pixtral_dir):
    from trainer.images import preprocess

    model = load_model(pixtral_dir)
    model.eval()
    engine = serve.Engine(model, torch.device("cpu"), torch.float32, 8, 256, 2)
    red, blue = png((255, 0, 0), (48, 32)), png((0, 0, 255), (32, 48))
    prompt_red = [BOS, INST, *grid(48, 32), 1117, END_INST]
    prompt_two = [BOS, INST, *grid(48, 32), *grid(32, 48), 1117, END_INST]
    ops = [
        gen("red", prompt_red, images=[b64(red)], image_settings=SETTINGS),
        gen("text", [BOS, INST, 1117, END_INST]),
        gen("two", prompt_two, images=[b64(red), b64(blue)], image_settings=SETTINGS, n=2),
    ]
    lines = run(engine, ops)
    assert not [m for m in lines if m["type"] == "error"], lines
    tokens: dict[tuple[str, int], list[int]] = {}
    for m in lines:
        if m["type"] == "token":
            tokens.setdefault((m["id"], m["index"]), []).append(m["token"])
    tensors = {"red": preprocess(red, 16, 1024), "blue": preprocess(blue, 16, 1024)}
    assert tokens[("red", 0)] == greedy_with_images(model, prompt_red, [tensors["red"]], 6)
    two = greedy_with_images(model, prompt_two, [tensors["red"], tensors["blue"]], 6)
    assert tokens[("two", 0)] == two and tokens[("two", 1)] == two
    # Pixels matter: the same prompt with another image gives other next-token logits.
    with torch.no_grad():
        t = torch.tensor([prompt_red])
        pos = torch.arange(len(prompt_red))[None]
        mask = document_mask(torch.zeros_like(t), pos, None)
        blue_wide = preprocess(png((0, 0, 255), (48, 32)), 16, 1024)
        a = model(t, pos, mask, images=[tensors["red"]])[0, -1]
        b = model(t, pos, mask, images=[blue_wide])[0, -1]
    assert (a - b).abs().max() > 1e-4


@needs_tiny_pixtral
def test_an_image_whose_grid_differs_from_the_prompt_fails_only_its_request(pixtral_dir):
    model = load_model(pixtral_dir)
    model.eval()
    engine = serve.Engine(model, torch.device("cpu"), torch.float32, 4, 256, 2)
    wrong = gen("wrong", [BOS, INST, *grid(16, 16), 1117, END_INST], images=[b64(png((9, 9, 9), (64, 64)))], image_settings=SETTINGS)
    lines = run(engine, [wrong, gen("ok", [BOS, INST, 1117, END_INST])])
    assert [m["id"] for m in lines if m["type"] == "error"] == ["wrong"]
    assert [m["id"] for m in lines if m["type"] == "done"] == ["ok"]
    assert len(engine.free_rows) == 4


def test_an_adapters_vision_weights_apply_inside_its_prefill_only(text_model_dir, tmp_path):
    from trainer.serve_images import VISION_FILE, VisionOverrides

    model = load_model(text_model_dir)
    adapter = tmp_path / "with-vision"
    adapter.mkdir()
    before = model.norm.weight.detach().clone()
    save_file({"norm.weight": torch.full_like(before, 3.0)}, str(adapter / VISION_FILE))
    plain = tmp_path / "plain"
    plain.mkdir()
    overrides = VisionOverrides(model)
    with overrides.applied(str(adapter), [str(adapter)]):
        assert torch.equal(model.norm.weight, torch.full_like(before, 3.0))
    assert torch.equal(model.norm.weight, before)
    with overrides.applied(str(plain), [str(plain)]):
        assert torch.equal(model.norm.weight, before)
    assert str(adapter) not in overrides.states  # left the bank: forgotten
    bad = tmp_path / "other-base"
    bad.mkdir()
    save_file({"vision_encoder.nope": torch.zeros(2)}, str(bad / VISION_FILE))
    with pytest.raises(ValueError, match="does not fit this base model"):
        with overrides.applied(str(bad), [str(bad)]):
            pass
    assert torch.equal(model.norm.weight, before)
