"""GGUF files for llama.cpp, Ollama and LM Studio, written with llama.cpp's own `gguf` package:

- the model (base with the adapter merged) under the `llama` architecture, tensors in llama.cpp's
  names (`blk.N.attn_q.weight`, ...); Mistral's native q/k rows already use llama.cpp's RoPE pair
  order, so nothing is permuted. The tokenizer and a chat template are embedded.
- the adapter alone as a GGUF LoRA (`general.type adapter`; llama.cpp `--lora`, Ollama `ADAPTER`),
  alpha = scaling · r because llama.cpp scales by alpha / r.

Written streaming: every tensor's info is declared first, then each tensor is read, converted and
written before the next one is read, so memory stays about one tensor.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import gguf
import numpy as np
import torch

from .export_merged import max_positions
from .export_source import ExportSource
from .export_tokenizer import TokenizerInfo, chat_template, gguf_vocab, ollama_template

Q = gguf.GGMLQuantizationType
QUANTS = {"f32": Q.F32, "f16": Q.F16, "bf16": Q.BF16, "q8_0": Q.Q8_0, "q4_0": Q.Q4_0, "q4_1": Q.Q4_1, "q5_0": Q.Q5_0, "q5_1": Q.Q5_1}
_FILE_TYPES = {"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16, "bf16": gguf.LlamaFileType.MOSTLY_BF16,
               "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0, "q4_0": gguf.LlamaFileType.MOSTLY_Q4_0, "q4_1": gguf.LlamaFileType.MOSTLY_Q4_1,
               "q5_0": gguf.LlamaFileType.MOSTLY_Q5_0, "q5_1": gguf.LlamaFileType.MOSTLY_Q5_1}
_BLOCK = {"attention.wq": "attn_q", "attention.wk": "attn_k", "attention.wv": "attn_v", "attention.wo": "attn_output",
          "feed_forward.w1": "ffn_gate", "feed_forward.w2": "ffn_down", "feed_forward.w3": "ffn_up",
          "attention_norm": "attn_norm", "ffn_norm": "ffn_norm"}
_TOP = {"tok_embeddings.weight": "token_embd.weight", "norm.weight": "output_norm.weight", "output.weight": "output.weight"}


def gguf_name(native: str) -> str:
    """llama.cpp's tensor name for a native one (`layers.3.attention.wq.weight` -> `blk.3.attn_q.weight`)."""
    if native in _TOP:
        return _TOP[native]
    _, layer, rest = native.split(".", 2)
    module, suffix = rest.rsplit(".", 1) if not rest.endswith((".lora_A.weight", ".lora_B.weight")) else rest.split(".lora_")
    if suffix.startswith(("A.", "B.")):
        return f"blk.{layer}.{_BLOCK[module]}.weight.lora_{suffix[0].lower()}"
    return f"blk.{layer}.{_BLOCK[module]}.{suffix}"


def tensor_type(shape: tuple[int, ...], quant: str) -> Q:
    """Norms and other 1-D tensors stay F32; rows not a multiple of the block size fall back to F16."""
    qtype = QUANTS[quant]
    if len(shape) < 2:
        return Q.F32
    block = gguf.GGML_QUANT_SIZES[qtype][0]
    return qtype if shape[-1] % block == 0 else Q.F16


def _encode(t: torch.Tensor, qtype: Q) -> np.ndarray:
    """The tensor's bytes as `qtype` (F16 cast directly, without an fp32 copy)."""
    if qtype == Q.F16:
        return t.to(torch.float16).contiguous().numpy()
    if qtype == Q.F32:
        return t.float().contiguous().numpy()
    return gguf.quants.quantize(t.float().numpy(), qtype)


def _nbytes(shape: tuple[int, ...], qtype: Q) -> int:
    return int(np.prod(gguf.quants.quant_shape_to_byte_shape(shape, qtype))) if qtype not in (Q.F32, Q.F16) else \
        int(np.prod(shape)) * (4 if qtype == Q.F32 else 2)


def _declare(w: gguf.GGUFWriter, name: str, shape: tuple[int, ...], qtype: Q) -> None:
    np_dtype = {Q.F32: np.float32, Q.F16: np.float16}.get(qtype, np.float32)
    w.add_tensor_info(name, shape, np.dtype(np_dtype), _nbytes(shape, qtype), raw_dtype=None if qtype in (Q.F32, Q.F16) else qtype)


def _stream(w: gguf.GGUFWriter, plan: list[tuple[str, tuple[int, ...], Q]], tensors: Iterator[torch.Tensor]) -> None:
    for name, shape, qtype in plan:
        _declare(w, name, shape, qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    for (_, _, qtype), t in zip(plan, tensors, strict=True):
        w.write_tensor_data(_encode(t, qtype))
    w.close()


def _add_tokenizer(w: gguf.GGUFWriter, info: TokenizerInfo, vocab_size: int) -> None:
    v = gguf_vocab(info, vocab_size)
    w.add_tokenizer_model(v.model)
    w.add_tokenizer_pre(v.pre)
    w.add_token_list(v.tokens)
    w.add_token_scores(v.scores)
    w.add_token_types(v.types)
    if v.merges is not None:
        w.add_token_merges(v.merges)
    w.add_bos_token_id(v.bos)
    w.add_eos_token_id(v.eos)
    w.add_unk_token_id(v.unk)
    w.add_pad_token_id(v.eos)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    if v.model == "llama":
        w.add_add_space_prefix(True)
    w.add_chat_template(chat_template(info, bos=False))


def write_model_gguf(src: ExportSource, path: Path, quant: str, info: TokenizerInfo, name: str) -> None:
    """The whole model (adapter merged) as one GGUF file of type `quant`."""
    a = src.args
    w = gguf.GGUFWriter(path, "llama")
    w.add_type(gguf.GGUFType.MODEL)
    w.add_name(name)
    w.add_file_type(_FILE_TYPES[quant])
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    w.add_context_length(max_positions(src.dir))
    w.add_embedding_length(a.dim)
    w.add_block_count(a.n_layers)
    w.add_feed_forward_length(a.hidden_dim)
    w.add_head_count(a.n_heads)
    w.add_head_count_kv(a.n_kv_heads)
    w.add_key_length(a.head_dim)
    w.add_value_length(a.head_dim)
    w.add_rope_dimension_count(a.head_dim)
    w.add_rope_freq_base(a.rope_theta)
    w.add_layer_norm_rms_eps(a.norm_eps)
    w.add_vocab_size(a.vocab_size)
    _add_tokenizer(w, info, a.vocab_size)
    plan = [(gguf_name(s.native), s.shape, tensor_type(s.shape, quant)) for s in src.specs]
    _stream(w, plan, (t for _, t in src.tensors()))


def write_lora_gguf(src: ExportSource, path: Path, dtype: str, name: str) -> None:
    """The adapter alone as a GGUF LoRA (f32, f16 or bf16)."""
    if not src.lora:
        raise ValueError("a GGUF LoRA needs an adapter (a fine-tuned model)")
    rank = next(t.shape[0] for k, t in src.lora.items() if ".lora_A." in k)
    w = gguf.GGUFWriter(path, "llama")
    w.add_type(gguf.GGUFType.ADAPTER)
    w.add_name(name)
    w.add_string(gguf.Keys.Adapter.TYPE, "lora")
    w.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(src.scaling * rank))
    keys = sorted(src.lora, key=_lora_order)
    plan = [(gguf_name(k), tuple(src.lora[k].shape), Q.F32 if dtype == "f32" else tensor_type(tuple(src.lora[k].shape), dtype))
            for k in keys]
    _stream(w, plan, (src.lora[k] for k in keys))


def _lora_order(key: str) -> tuple[int, str]:
    return int(key.split(".")[1]), key


def modelfile(gguf_file: str, info: TokenizerInfo, adapter: str | None = None) -> str:
    """An Ollama Modelfile: FROM the GGUF (and ADAPTER), the chat TEMPLATE, stop tokens."""
    lines = [f"FROM ./{gguf_file}"]
    if adapter:
        lines.append(f"ADAPTER ./{adapter}")
    lines.append(f'TEMPLATE """{ollama_template(info)}"""')
    lines += ['PARAMETER stop "[INST]"', 'PARAMETER stop "</s>"']
    return "\n".join(lines) + "\n"


