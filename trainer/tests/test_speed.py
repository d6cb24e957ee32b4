"""The speed switches keep the math: FlexAttention equals SDPA on packed rows, compiled blocks and
activation checkpointing give the same loss and gradients, and the settings resolve per device."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from trainer.config import parse_config
from trainer.data import collate
from trainer.data import _WindowBuilder
from trainer.lora import LoRAConfig, apply_lora, lora_modules
from trainer.model import FLEX, SDPA, ModelArgs, Transformer, flex_available
from trainer.speed import SpeedOptions, apply_speed, optimizer_kwargs, resolve_speed
from trainer.tiny_model import tiny_weights
from trainer.train import batch_loss_sum, config_fingerprint

REPO = Path(__file__).resolve().parents[2]
SHAPE = {"dim": 64, "n_layers": 2, "head_dim": 16, "hidden_dim": 128, "n_heads": 4, "n_kv_heads": 2,
         "norm_eps": 1e-5, "vocab_size": 256, "rope_theta": 10000.0}


def small_model(window: int | None = None) -> Transformer:
    """A random model with a random (non-zero) adapter, fp32, in training mode."""
    args = ModelArgs(**SHAPE, sliding_window=window)
    model = Transformer(args)
    model.load_state_dict(tiny_weights(SHAPE, seed=3), strict=True)
    apply_lora(model, LoRAConfig(rank=4))
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for m in lora_modules(model).values():
            m.lora_B.weight.copy_(torch.randn(m.lora_B.weight.shape, generator=g) * 0.05)
    return model.train()


def packed_batch(lengths: list[list[int]], seq_len: int):
    """Rows of documents with the given lengths (padding after them), every real position trained."""
    g = torch.Generator().manual_seed(7)
    windows = []
    for row in lengths:
        w = _WindowBuilder(seq_len)
        for n in row:
            x = torch.randint(5, SHAPE["vocab_size"], (n + 1,), generator=g).numpy()
            w.add(x[:-1], x[1:], [1] * n)
        windows.append(w.build())
    return collate(windows)


def loss_and_grads(model: Transformer, batch) -> tuple[torch.Tensor, list[torch.Tensor]]:
    loss = batch_loss_sum(model, batch) / batch.mask.sum()
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, params)
    return loss.detach(), grads


@pytest.mark.skipif(not flex_available(), reason="FlexAttention needs torch >= 2.5")
@pytest.mark.parametrize("window", [None, 5])
@pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile")
def test_flex_attention_equals_sdpa_on_packed_rows_with_padding(window):
    # FlexAttention has no backward on CPU (torch 2.13), so CPU checks the forward; the gradient is the
    # same function's, and the GPU benchmark shows its loss and gradient norms per step.
    model = small_model(window).eval()
    batch = packed_batch([[10, 17, 3], [40], [7, 7]], seq_len=48)  # three documents, one full row, padding
    with torch.no_grad():
        model.use_attention(SDPA)
        ref = model(batch.tokens, batch.positions, model.packed_mask(batch.doc_ids, batch.positions))
        model.use_attention(FLEX)
        out = model(batch.tokens, batch.positions, model.packed_mask(batch.doc_ids, batch.positions))
    real = batch.doc_ids >= 0
    err = (out[real] - ref[real]).abs().max().item()
    assert err < 1e-4, err
    assert ref[real].abs().max().item() > 1.0  # logits of a real size, so the bound means something


def test_compiled_blocks_give_the_same_loss_and_gradients():
    # aot_eager traces the blocks exactly as inductor would (graph capture, autograd graph) without C++
    # code generation, which takes minutes on two cores; the inductor variant is the opt-in test below.
    model = small_model()
    batch = packed_batch([[10, 20], [31]], seq_len=32)
    ref_loss, ref_grads = loss_and_grads(model, batch)
    model.compile_blocks(backend="aot_eager")
    loss, grads = loss_and_grads(model, batch)
    assert abs(loss.item() - ref_loss.item()) < 1e-6
    assert max((a - b).abs().max().item() for a, b in zip(grads, ref_grads)) < 1e-6
    assert max(g.abs().max().item() for g in grads) > 1e-4


@pytest.mark.skipif(os.environ.get("ATELIER_SLOW_TESTS") != "1",
                    reason="inductor compile on CPU takes ~1 minute on 2 cores; set ATELIER_SLOW_TESTS=1 to run it")
def test_inductor_compiled_blocks_match_eager():
    model = small_model()
    batch = packed_batch([[10, 20], [31]], seq_len=32)
    ref_loss, ref_grads = loss_and_grads(model, batch)
    model.compile_blocks()
    loss, grads = loss_and_grads(model, batch)
    assert abs(loss.item() - ref_loss.item()) < 1e-5
    assert max((a - b).abs().max().item() for a, b in zip(grads, ref_grads)) < 1e-5


def test_activation_checkpointing_gives_the_same_gradients():
    model = small_model()
    batch = packed_batch([[12, 9], [30]], seq_len=32)
    ref_loss, ref_grads = loss_and_grads(model, batch)
    for layers in (1, 2):
        model.checkpoint_layers = layers
        loss, grads = loss_and_grads(model, batch)
        assert loss.item() == pytest.approx(ref_loss.item(), abs=1e-7)
        assert max((a - b).abs().max().item() for a, b in zip(grads, ref_grads)) < 1e-7


def test_speed_settings_resolve_per_device_and_reject_what_cannot_run():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert resolve_speed(SpeedOptions(), cpu, 32) == resolve_speed(SpeedOptions("sdpa", False, 0), cpu, 32)
    auto_cuda = resolve_speed(SpeedOptions(), cuda, 32)  # resolving needs no GPU: it only reads the device type
    assert auto_cuda.compile is True and auto_cuda.attention == ("flex" if flex_available() else "sdpa")
    assert resolve_speed(SpeedOptions(checkpoint_layers=1 << 30), cuda, 32).checkpoint_layers == 32
    with pytest.raises(ValueError, match="CUDA only"):
        resolve_speed(SpeedOptions(attention="flex"), cpu, 2)
    with pytest.raises(ValueError, match="attention must be"):
        resolve_speed(SpeedOptions(attention="flash"), cpu, 2)
    assert optimizer_kwargs(cuda) == {"fused": True} and optimizer_kwargs(cpu) == {}
    model = small_model()
    apply_speed(model, resolve_speed(SpeedOptions(checkpoint_layers=1), cpu, 2))
    assert model.make_mask is SDPA.make_mask and model.checkpoint_layers == 1


def test_config_speed_fields_parse_validate_and_do_not_change_the_fingerprint():
    base = {"model_dir": "m", "out_dir": "o", "train": [{"shard": "s"}], "training_steps": 10}
    plain = parse_config(base)
    assert (plain.attention, plain.compile, plain.activation_checkpointing, plain.checkpoint_layers) == ("auto", None, False, 0)
    fast = parse_config({**base, "attention": "flex", "compile": True, "activation_checkpointing": 8})
    assert (fast.attention, fast.compile, fast.checkpoint_layers) == ("flex", True, 8)
    assert parse_config({**base, "activation_checkpointing": True}).checkpoint_layers >= 1 << 20
    assert config_fingerprint(fast) == config_fingerprint(plain)  # a resumed run may switch them
    for bad, field in (({"attention": "flash"}, "attention"), ({"compile": "yes"}, "compile"),
                       ({"activation_checkpointing": -1}, "activation_checkpointing")):
        with pytest.raises(ValueError, match=field):
            parse_config({**base, **bad})


def test_gpu_benchmark_smoke_runs_both_sides_end_to_end(tmp_path):
    out = tmp_path / "gpu-train.json"
    p = subprocess.run([sys.executable, str(REPO / "bench" / "gpu_train.py"), "--smoke", "--device", "cpu",
                        "--sides", "peak,atelier,hf", "--out", str(out)],
                       capture_output=True, text=True, timeout=300, cwd=REPO)
    assert p.returncode == 0, p.stderr[-3000:]
    r = json.loads(out.read_text())
    for key in ("device", "atelier_tokens_per_s", "hf_peft_tokens_per_s", "atelier_peak_gib", "hf_peak_gib", "mfu",
                "settings"):
        assert r[key] is not None, key
    assert r["smoke"] is True and "not a performance figure" in r["note"]
    assert r["settings"]["n_layers"] == 2 and r["settings"]["lora_rank"] == 16
    for side in ("atelier", "hf_peft"):
        losses, norms = r[side]["losses"], r[side]["grad_norms"]
        assert len(losses) == len(norms) == r["settings"]["warmup"] + r["settings"]["steps"]
        assert all(torch.isfinite(torch.tensor(losses))) and all(n > 0 for n in norms), side
    # same weights and batch: before any update both sides compute the same loss
    assert r["atelier"]["losses"][0] == pytest.approx(r["hf_peft"]["losses"][0], rel=1e-4)
    assert r["atelier"]["attention"] == "sdpa" and r["atelier"]["compile"] is False
