"""The exporters' parts on a small random model (fast; the end-to-end proofs with transformers,
PEFT and llama.cpp are in test/e2e/export.test.ts): the streaming safetensors writer, merging from
a Hugging Face layout base, shape checks of imported adapters, GGUF names and types, and the
Tekken vocabulary written into a GGUF and read back."""
from __future__ import annotations

import base64
import json
from pathlib import Path

import gguf
import pytest
import torch
from safetensors.torch import load_file, save_file

from trainer.export_gguf import gguf_name, tensor_type, write_model_gguf
from trainer.export_merged import write_merged_hf, write_merged_mistral
from trainer.export_source import ExportSource, check_adapter_shapes
from trainer.export_tokenizer import TokenizerInfo, find_tokenizer, gguf_vocab
from trainer.model import ModelArgs
from trainer.safetensors_stream import SafetensorsWriter
from trainer.weights import to_hf_state

ARGS = ModelArgs(dim=64, n_layers=2, head_dim=16, hidden_dim=128, n_heads=4, n_kv_heads=2, vocab_size=300)
PARAMS = {"dim": 64, "n_layers": 2, "head_dim": 16, "hidden_dim": 128, "n_heads": 4, "n_kv_heads": 2, "vocab_size": 300,
          "norm_eps": 1e-5, "rope_theta": 10000.0}


def _weights() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    w = {"tok_embeddings.weight": torch.randn(300, 64, generator=g), "norm.weight": torch.ones(64),
         "output.weight": torch.randn(300, 64, generator=g)}
    for i in range(2):
        p = f"layers.{i}."
        for n, shape in (("attention.wq", (64, 64)), ("attention.wk", (32, 64)), ("attention.wv", (32, 64)),
                         ("attention.wo", (64, 64)), ("feed_forward.w1", (128, 64)), ("feed_forward.w3", (128, 64)),
                         ("feed_forward.w2", (64, 128))):
            w[p + n + ".weight"] = torch.randn(*shape, generator=g)
        w[p + "attention_norm.weight"] = torch.ones(64)
        w[p + "ffn_norm.weight"] = torch.ones(64)
    return w


def _adapter(w: dict[str, torch.Tensor], rank: int = 4) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    out = {}
    for k, t in w.items():
        if k.startswith("layers.") and t.dim() == 2:
            stem = k.removesuffix(".weight")
            out[f"{stem}.lora_A.weight"] = torch.randn(rank, t.shape[1], generator=g)
            out[f"{stem}.lora_B.weight"] = torch.randn(t.shape[0], rank, generator=g)
    return out


@pytest.fixture()
def hf_base(tmp_path: Path) -> Path:
    d = tmp_path / "hf"
    d.mkdir()
    save_file(to_hf_state(_weights(), ARGS), str(d / "model.safetensors"), metadata={"format": "pt"})
    config = {"hidden_size": 64, "num_hidden_layers": 2, "head_dim": 16, "intermediate_size": 128, "num_attention_heads": 4,
              "num_key_value_heads": 2, "vocab_size": 300, "rms_norm_eps": 1e-5, "rope_theta": 10000.0}
    (d / "config.json").write_text(json.dumps(config))
    return d


def test_streaming_writer_matches_safetensors(tmp_path: Path) -> None:
    tensors = {"a": torch.randn(3, 5), "b": torch.randn(7).to(torch.bfloat16), "c": torch.randn(2, 2).half()}
    w = SafetensorsWriter(tmp_path / "x.safetensors", [(k, tuple(v.shape), v.dtype) for k, v in tensors.items()])
    for k, v in tensors.items():
        w.write(k, v)
    w.close()
    back = load_file(str(tmp_path / "x.safetensors"))
    assert all(torch.equal(back[k], v) for k, v in tensors.items())
    bad = SafetensorsWriter(tmp_path / "y.safetensors", [("a", (3, 5), torch.float32)])
    with pytest.raises(ValueError, match="bytes"):
        bad.write("a", torch.randn(2, 5))


def test_merge_from_hf_base_round_trips_both_layouts(tmp_path: Path, hf_base: Path) -> None:
    lora = _adapter(_weights())
    d = tmp_path / "adapter"
    d.mkdir()
    save_file(lora, str(d / "lora.safetensors"))
    (d / "params.json").write_text(json.dumps({"lora": {"rank": 4, "scaling": 2.0}}))
    src = ExportSource(hf_base, d)
    (hf_base / "tokenizer.model").write_bytes(b"")  # the tokenizer is only copied
    mistral = tmp_path / "mistral"
    mistral.mkdir()
    write_merged_mistral(src, mistral, torch.float32)
    merged = load_file(str(mistral / "consolidated.safetensors"))
    w = _weights()
    wq = "layers.1.attention.wq"
    assert torch.allclose(merged[wq + ".weight"], w[wq + ".weight"] + 2.0 * lora[wq + ".lora_B.weight"] @ lora[wq + ".lora_A.weight"], atol=1e-5)
    assert torch.equal(merged["norm.weight"], w["norm.weight"])
    hf = tmp_path / "merged-hf"
    hf.mkdir()
    names = write_merged_hf(ExportSource(mistral), hf, torch.float32, shard_bytes=60_000)
    assert "model.safetensors.index.json" in names
    index = json.loads((hf / "model.safetensors.index.json").read_text())
    back = {}
    for f in set(index["weight_map"].values()):
        back.update(load_file(str(hf / f)))
    assert torch.allclose(back["model.layers.1.self_attn.q_proj.weight"], to_hf_state({wq + ".weight": merged[wq + ".weight"]}, ARGS)["model.layers.1.self_attn.q_proj.weight"])
    config = json.loads((hf / "config.json").read_text())
    assert config["sliding_window"] is None and config["rms_norm_eps"] == 1e-5 and config["head_dim"] == 16


def test_adapter_shapes_are_checked_against_the_base() -> None:
    lora = _adapter(_weights())
    check_adapter_shapes(lora, ARGS)
    wrong = dict(lora, **{"layers.0.attention.wk.lora_B.weight": torch.zeros(64, 4)})
    with pytest.raises(ValueError, match=r"layers.0.attention.wk.lora_B.weight has shape \(64, 4\), the base expects \(32, 4\)"):
        check_adapter_shapes(wrong, ARGS)
    with pytest.raises(ValueError, match="names layer 5"):
        check_adapter_shapes({"layers.5.attention.wq.lora_A.weight": torch.zeros(4, 64), "layers.5.attention.wq.lora_B.weight": torch.zeros(64, 4)}, ARGS)


def test_gguf_names_and_types() -> None:
    assert gguf_name("layers.3.attention.wq.weight") == "blk.3.attn_q.weight"
    assert gguf_name("layers.0.feed_forward.w2.lora_B.weight") == "blk.0.ffn_down.weight.lora_b"
    assert gguf_name("tok_embeddings.weight") == "token_embd.weight"
    assert tensor_type((64,), "q8_0") == gguf.GGMLQuantizationType.F32
    assert tensor_type((64, 64), "q8_0") == gguf.GGMLQuantizationType.Q8_0
    assert tensor_type((64, 20), "q8_0") == gguf.GGMLQuantizationType.F16


def _synthetic_tekken(d: Path) -> Path:
    """A 300-token Tekken file: 256 bytes, 34 merges of the Nemo file's ranks, 10 specials."""
    import mistral_common
    src = json.loads((Path(mistral_common.__file__).parent / "data" / "tekken_240718.json").read_text())
    specials = ["<unk>", "<s>", "</s>", "[INST]", "[/INST]", "[AVAILABLE_TOOLS]", "[/AVAILABLE_TOOLS]", "[TOOL_RESULTS]", "[/TOOL_RESULTS]", "[TOOL_CALLS]"]
    cfg = {**src["config"], "version": "v7", "default_vocab_size": 300, "default_num_special_tokens": 10}
    f = d / "tekken.json"
    f.write_text(json.dumps({"config": cfg, "vocab": src["vocab"][:290],
                             "special_tokens": [{"rank": i, "token_str": s, "is_control": True} for i, s in enumerate(specials)]}))
    return f


def test_tekken_vocab_in_gguf(tmp_path: Path) -> None:
    _synthetic_tekken(tmp_path)
    info = find_tokenizer(tmp_path)
    assert (info.kind, info.version) == ("tekken", "v7")
    v = gguf_vocab(info, 300)
    assert (v.model, v.pre, v.bos, v.eos) == ("gpt2", "tekken", 1, 2)
    assert v.tokens[3] == b"[INST]" and v.types[3] == gguf.TokenType.CONTROL and v.types[10] == gguf.TokenType.NORMAL
    assert v.merges and all(len(m.split(" ")) == 2 for m in v.merges)
    first_merge = base64.b64decode(json.loads((tmp_path / "tekken.json").read_text())["vocab"][256]["token_bytes"])
    assert len(first_merge) == 2  # rank 256 is the first two-byte merge
    base = tmp_path / "model"
    base.mkdir()
    save_file(_weights(), str(base / "consolidated.safetensors"))
    (base / "params.json").write_text(json.dumps(PARAMS))
    (base / "tekken.json").write_bytes((tmp_path / "tekken.json").read_bytes())
    write_model_gguf(ExportSource(base), tmp_path / "m.gguf", "q8_0", find_tokenizer(base), "m")
    r = gguf.GGUFReader(tmp_path / "m.gguf")
    assert r.fields["tokenizer.ggml.pre"].contents() == "tekken"
    assert len(r.fields["tokenizer.ggml.tokens"].contents()) == 300
    assert "[SYSTEM_PROMPT]" in r.fields["tokenizer.chat_template"].contents()
    types = {t.name: t.tensor_type for t in r.tensors}
    assert types["blk.0.attn_q.weight"] == gguf.GGMLQuantizationType.Q8_0 and types["output_norm.weight"] == gguf.GGMLQuantizationType.F32


def test_spm_tokenizer_info() -> None:
    repo = Path(__file__).resolve().parents[2]
    info = find_tokenizer(repo / "models" / "tiny-mistral")
    assert info == TokenizerInfo(repo / "models" / "tiny-mistral" / "tokenizer.model.v3", "spm", "v3")
    v = gguf_vocab(info, 32768)
    assert v.tokens[3] == b"[INST]" and v.types[3] == gguf.TokenType.CONTROL
    assert v.types[v.tokens.index(b"<0x0A>")] == gguf.TokenType.BYTE
