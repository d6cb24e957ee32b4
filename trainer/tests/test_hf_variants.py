"""Hugging Face checkpoints as users have them, against transformers' own classes: each
architecture variant (GQA ratios, head_dim != hidden/heads as in Mistral Nemo, sliding window, tied
embeddings, RoPE scaling linear / llama3 / yarn) is a random small LlamaForCausalLM or
MistralForCausalLM written by `save_pretrained` (one of them in many small shards, one inside a
hub-cache layout with symlinked blobs), loaded by `trainer.weights.load_model`, and must give the
same fp32 logits. Tolerance: max |difference| <= 1e-4 (logits are O(1); observed ~1e-6)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from trainer.model import document_mask
from trainer.weights import load_model, read_model_args

transformers = pytest.importorskip("transformers")
TOL = 1e-4
SEQ = 40  # longer than the small windows and original contexts below, so every variant matters

BASE = {"hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "vocab_size": 300, "max_position_embeddings": 256, "rms_norm_eps": 1e-5}
VARIANTS = {
    "mistral-gqa-window": ("mistral", {"sliding_window": 12}),
    "mistral-nemo-head-dim": ("mistral", {"head_dim": 32, "num_key_value_heads": 1, "rope_theta": 1e6}),
    "mistral-mha": ("mistral", {"num_key_value_heads": 4}),
    "llama-tied": ("llama", {"tie_word_embeddings": True}),
    "llama3-rope": ("llama", {"rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                               "high_freq_factor": 4.0, "original_max_position_embeddings": 32},
                              "rope_theta": 500000.0}),
    "llama-linear-rope": ("llama", {"rope_scaling": {"rope_type": "linear", "factor": 4.0}}),
    "llama-yarn-rope": ("llama", {"rope_scaling": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32}}),
}


def hf_config(kind: str, extra: dict):
    cls = transformers.MistralConfig if kind == "mistral" else transformers.LlamaConfig
    cfg = dict(BASE, **extra)
    if kind == "mistral":
        cfg.setdefault("sliding_window", None)
    return cls(**cfg)


def save_random(kind: str, extra: dict, out: Path, **save_kwargs):
    torch.manual_seed(0)
    cls = transformers.MistralForCausalLM if kind == "mistral" else transformers.LlamaForCausalLM
    model = cls(hf_config(kind, extra)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.2)  # well away from the init's near-identity norms
    model.save_pretrained(str(out), **save_kwargs)
    return model


def our_logits(model, tokens: torch.Tensor) -> torch.Tensor:
    positions = torch.arange(tokens.shape[1])[None].expand_as(tokens)
    with torch.no_grad():
        return model(tokens, positions, document_mask(torch.zeros_like(tokens), positions, model.args.sliding_window))


def their_logits(model, tokens: torch.Tensor) -> torch.Tensor:
    model.config._attn_implementation = "eager"
    with torch.no_grad():
        return model(tokens).logits


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_variant_logits_match_transformers(name, tmp_path):
    kind, extra = VARIANTS[name]
    theirs = save_random(kind, extra, tmp_path / name)
    ours = load_model(tmp_path / name)
    tokens = torch.randint(0, BASE["vocab_size"], (2, SEQ))
    diff = (our_logits(ours, tokens) - their_logits(theirs, tokens)).abs().max().item()
    assert diff <= TOL, f"{name}: max |logit difference| {diff}"


def test_variants_change_the_logits(tmp_path):
    """Each knob matters at these sizes, so the matches above are not vacuous."""
    tokens = torch.randint(0, BASE["vocab_size"], (1, SEQ))
    plain = our_logits(load_model(_saved(tmp_path, "llama", {})), tokens)
    for name in ("llama3-rope", "llama-linear-rope", "llama-yarn-rope"):
        kind, extra = VARIANTS[name]
        scaled = our_logits(load_model(_saved(tmp_path, kind, extra, name)), tokens)
        assert (scaled - plain).abs().max().item() > 1e-3, name
    args = read_model_args(_saved(tmp_path, "mistral", VARIANTS["mistral-nemo-head-dim"][1], "nemo"))
    assert (args.head_dim, args.n_heads, args.n_kv_heads) == (32, 4, 1)


def _saved(root: Path, kind: str, extra: dict, name: str = "plain") -> Path:
    save_random(kind, extra, root / name)
    return root / name


def test_many_shards_with_index_load_and_match(tmp_path):
    theirs = save_random("mistral", {"sliding_window": 12}, tmp_path / "sharded", max_shard_size="40KB")
    shards = sorted(p.name for p in (tmp_path / "sharded").glob("model-*.safetensors"))
    assert len(shards) >= 4 and (tmp_path / "sharded" / "model.safetensors.index.json").is_file()
    tokens = torch.randint(0, BASE["vocab_size"], (2, SEQ))
    diff = (our_logits(load_model(tmp_path / "sharded"), tokens) - their_logits(theirs, tokens)).abs().max().item()
    assert diff <= TOL


def write_hub_cache(saved: Path, cache: Path, repo_id: str, revision: str = "0123abcd" * 5) -> Path:
    """`saved` laid out as huggingface_hub caches it: blobs/<hash>, snapshots/<rev>/<file> -> ../../blobs/<hash>, refs/main."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / revision
    (repo / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    for i, f in enumerate(sorted(saved.iterdir())):
        blob = repo / "blobs" / f"blob{i:04d}"
        f.rename(blob)
        os.symlink(os.path.relpath(blob, snapshot), snapshot / f.name)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    return snapshot


def test_hub_cache_snapshot_with_symlinked_blobs_loads(tmp_path):
    theirs = save_random("llama", VARIANTS["llama3-rope"][1], tmp_path / "saved", max_shard_size="60KB")
    snapshot = write_hub_cache(tmp_path / "saved", tmp_path / "hub", "org/tiny-llama")
    assert all(p.is_symlink() for p in snapshot.iterdir())
    tokens = torch.randint(0, BASE["vocab_size"], (1, SEQ))
    assert (our_logits(load_model(snapshot), tokens) - their_logits(theirs, tokens)).abs().max().item() <= TOL


def test_bf16_target_dtype_is_what_loads(tmp_path):
    save_random("mistral", {}, tmp_path / "m")
    model = load_model(tmp_path / "m", dtype=torch.bfloat16)
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    assert not any(p.is_meta or p.requires_grad for p in model.parameters())


def _edit_config(d: Path, **changes) -> None:
    cfg = json.loads((d / "config.json").read_text())
    cfg.update(changes)
    (d / "config.json").write_text(json.dumps(cfg))


def test_old_and_new_rope_config_spellings_agree(tmp_path):
    save_random("llama", VARIANTS["llama-linear-rope"][1], tmp_path / "m")
    new_style = read_model_args(tmp_path / "m")
    _edit_config(tmp_path / "m", rope_parameters=None, rope_theta=new_style.rope_theta, rope_scaling={"type": "linear", "factor": 4.0})
    assert read_model_args(tmp_path / "m") == new_style
    assert new_style.rope_scaling is not None and new_style.rope_scaling.factor == 4.0


def test_unknown_architecture_and_rope_type_are_clear_errors(tmp_path):
    save_random("llama", {}, tmp_path / "m")
    _edit_config(tmp_path / "m", architectures=["GPT2LMHeadModel"], model_type="gpt2")
    with pytest.raises(ValueError, match=r"unsupported architecture \['GPT2LMHeadModel'\].*supported: MistralForCausalLM, LlamaForCausalLM"):
        load_model(tmp_path / "m")
    _edit_config(tmp_path / "m", architectures=["LlamaForCausalLM"], model_type="llama",
                 rope_parameters={"rope_type": "dynamic", "factor": 2.0, "rope_theta": 10000.0})
    with pytest.raises(ValueError, match=r"unsupported rope type 'dynamic'.*supported: default, linear, llama3, yarn"):
        load_model(tmp_path / "m")


def test_missing_shard_and_wrong_shapes_are_clear_errors(tmp_path):
    save_random("mistral", {}, tmp_path / "m", max_shard_size="60KB")
    _edit_config(tmp_path / "m", intermediate_size=80)
    with pytest.raises(ValueError, match=r"has shape \[96, 64\], its config says \[80, 64\]"):
        load_model(tmp_path / "m")
    _edit_config(tmp_path / "m", intermediate_size=96)
    sorted((tmp_path / "m").glob("model-*.safetensors"))[-1].unlink()
    with pytest.raises(ValueError, match=r"missing \(incomplete download\?\)"):
        load_model(tmp_path / "m")
