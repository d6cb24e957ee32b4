"""Our decoder and adapters against Hugging Face transformers / PEFT on the same weights.
Tolerance: max |logit difference| <= 1e-4 in fp32 (logits are O(1); observed 3.8e-6)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from trainer.adapter_io import write_adapter_files
from trainer.lora import LoRAConfig, adapter_state, apply_lora, lora_modules
from trainer.model import document_mask
from trainer.weights import load_model, to_hf_state

from .serve_driver import GenerateRequest, events, open_engine, run, submit

transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")
TOL = 1e-4


def write_hf_copy(native_dir: Path, out: Path, window: int | None = None) -> Path:
    """The native model converted to HF layout, in two shards with an index (as big models ship)."""
    model = load_model(native_dir)
    a = model.args
    hf = to_hf_state(model.state_dict(), a)
    keys = sorted(hf)
    out.mkdir(parents=True, exist_ok=True)
    weight_map = {}
    for i, part in enumerate((keys[: len(keys) // 2], keys[len(keys) // 2:])):
        name = f"model-{i + 1:05d}-of-00002.safetensors"
        save_file({k: hf[k].contiguous() for k in part}, str(out / name))
        weight_map.update({k: name for k in part})
    (out / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    config = {"architectures": ["MistralForCausalLM"], "model_type": "mistral", "hidden_size": a.dim,
              "intermediate_size": a.hidden_dim, "num_hidden_layers": a.n_layers, "num_attention_heads": a.n_heads,
              "num_key_value_heads": a.n_kv_heads, "head_dim": a.head_dim, "vocab_size": a.vocab_size,
              "rms_norm_eps": a.norm_eps, "rope_theta": a.rope_theta, "sliding_window": window,
              "max_position_embeddings": 4096, "tie_word_embeddings": False, "hidden_act": "silu", "torch_dtype": "float32"}
    (out / "config.json").write_text(json.dumps(config))
    return out


def our_logits(model, tokens: torch.Tensor) -> torch.Tensor:
    positions = torch.arange(tokens.shape[1])[None].expand_as(tokens)
    mask = document_mask(torch.zeros_like(tokens), positions, model.args.sliding_window)
    return model(tokens, positions, mask)


def hf_model(d: Path):
    return transformers.MistralForCausalLM.from_pretrained(str(d), torch_dtype=torch.float32, attn_implementation="eager").eval()


def test_logits_match_hf_mistral_and_hf_layout_loads(small_model, tmp_path):
    hf_dir = write_hf_copy(small_model, tmp_path / "hf")
    tokens = torch.randint(0, 512, (2, 37))
    ours = our_logits(load_model(small_model), tokens)
    with torch.no_grad():
        theirs = hf_model(hf_dir)(tokens).logits
    assert (ours - theirs).abs().max().item() <= TOL
    ours_from_hf = our_logits(load_model(hf_dir), tokens)
    assert (ours_from_hf - ours).abs().max().item() <= 1e-6


def test_sliding_window_matches_hf(small_model, tmp_path):
    hf_dir = write_hf_copy(small_model, tmp_path / "hf", window=8)
    ours_model = load_model(hf_dir)
    assert ours_model.args.sliding_window == 8
    tokens = torch.randint(0, 512, (1, 30))
    with torch.no_grad():
        theirs = hf_model(hf_dir)(tokens).logits
    assert (our_logits(ours_model, tokens) - theirs).abs().max().item() <= TOL
    full = our_logits(load_model(small_model), tokens)  # the window changes late positions
    assert (full[:, 20:] - theirs[:, 20:]).abs().max().item() > 1e-3


def random_adapter(model, rank=4, scaling=2.0) -> LoRAConfig:
    cfg = LoRAConfig(rank=rank, scaling=scaling)
    apply_lora(model, cfg)
    with torch.no_grad():
        for m in lora_modules(model).values():
            m.lora_B.weight.normal_(0, 0.05)  # B starts at zero; make the adapter do something
    return cfg


def test_saved_peft_adapter_matches_peft_logits(small_model, tmp_path):
    hf_dir = write_hf_copy(small_model, tmp_path / "hf")
    model = load_model(small_model)
    cfg = random_adapter(model)
    adapter_dir = tmp_path / "adapter"
    adapter_dir.mkdir()
    write_adapter_files(adapter_dir, adapter_state(model), model.args, cfg, str(hf_dir))
    tokens = torch.randint(0, 512, (2, 25))
    ours = our_logits(model, tokens)
    with torch.no_grad():
        base = hf_model(hf_dir)
        plain = base(tokens).logits
        theirs = peft.PeftModel.from_pretrained(base, str(adapter_dir)).eval()(tokens).logits
    assert (ours - plain).abs().max().item() > 1e-2  # the adapter matters
    assert (ours - theirs).abs().max().item() <= TOL


def test_engine_adapter_bank_matches_trained_adapter(small_model, tmp_path):
    model = load_model(small_model)
    cfg = random_adapter(model, rank=4, scaling=1.5)
    adapter_dir = tmp_path / "adapter"
    adapter_dir.mkdir()
    write_adapter_files(adapter_dir, adapter_state(model), model.args, cfg, str(small_model))
    prompt = [1, 7, 9, 42, 100]
    tokens = torch.tensor([prompt])
    want_adapter = our_logits(model, tokens)[0, -1].argmax().item()
    # trainer.serve's engine (what production runs): the adapter bank reads the written files
    engine = open_engine(small_model)
    lines = submit(engine, [GenerateRequest("a", prompt, max_tokens=1, adapter=str(adapter_dir)),
                            GenerateRequest("b", prompt, max_tokens=1)])
    prefilled = {s.req_id: s.logits for s in engine.active}  # next-token logits after the prompt
    assert (prefilled["a"] - our_logits(model, tokens)[0, -1]).abs().max().item() <= 1e-5
    first = {e.id: e.token for e in events(lines + run(engine)) if hasattr(e, "token")}
    assert first["a"] == want_adapter
    assert first["b"] == our_logits(load_model(small_model), tokens)[0, -1].argmax().item()
