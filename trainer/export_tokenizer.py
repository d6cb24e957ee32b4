"""A base model's Mistral tokenizer file (SentencePiece `tokenizer.model[.vN]` or Tekken
`tekken.json`) as each export consumer wants it: the vocabulary, scores, token types and merges
llama.cpp reads from GGUF, chat templates (Jinja for GGUF and Hugging Face, Go for Ollama) that
render the turns as the tokenizer version does, and Hugging Face tokenizer files.

Read with `sentencepiece` and plain JSON (mistral-common is the reference, not a dependency here).
"""
from __future__ import annotations

import base64
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import gguf


@dataclass(frozen=True)
class TokenizerInfo:
    path: Path
    kind: str  # "spm" | "tekken"
    version: str  # "v1", "v3", "v7", "v11", ...


def find_tokenizer(model_dir: str | Path) -> TokenizerInfo:
    """The model's tokenizer: tekken.json, else the highest tokenizer.model.vN, else tokenizer.model (v1)."""
    d = Path(model_dir)
    tekken = sorted(d.glob("tekken*.json"))
    if tekken:
        version = json.loads(tekken[0].read_text())["config"].get("version", "v3")
        return TokenizerInfo(tekken[0], "tekken", version)
    versioned = sorted(d.glob("tokenizer.model.v*"), key=lambda p: int(re.sub(r"\D", "", p.suffix) or 0))
    if versioned:
        return TokenizerInfo(versioned[-1], "spm", re.sub(r"m\d+$", "", versioned[-1].suffix.lstrip(".")))
    if (d / "tokenizer.model").is_file():
        return TokenizerInfo(d / "tokenizer.model", "spm", "v1")
    raise ValueError(f"no tokenizer in {d}: expected tekken.json or tokenizer.model[.vN]")


@dataclass
class GgufVocab:
    model: str  # tokenizer.ggml.model
    pre: str
    tokens: list[bytes]
    scores: list[float]
    types: list[int]
    merges: list[str] | None
    bos: int
    eos: int
    unk: int


def gguf_vocab(info: TokenizerInfo, vocab_size: int) -> GgufVocab:
    """llama.cpp's view of the tokenizer, padded with UNUSED tokens up to the model's vocab_size."""
    v = _spm_vocab(info) if info.kind == "spm" else _tekken_vocab(info)
    if len(v.tokens) > vocab_size:
        raise ValueError(f"the tokenizer has {len(v.tokens)} tokens, the model's vocab_size is {vocab_size}")
    for i in range(len(v.tokens), vocab_size):
        v.tokens.append(f"[PAD{i}]".encode())
        v.scores.append(-1000.0)
        v.types.append(gguf.TokenType.UNUSED)
    return v


def _spm_vocab(info: TokenizerInfo) -> GgufVocab:
    """Pieces, scores and types straight from the model proto: SentencePiece's piece types
    (NORMAL 1, UNKNOWN 2, CONTROL 3, USER_DEFINED 4, UNUSED 5, BYTE 6) are GGUF's token types, and
    USER_DEFINED ([REFERENCE_DOC_n] in v3) must stay so for llama.cpp to keep them whole in text."""
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(info.path.read_bytes())
    p = spm.SentencePieceProcessor(model_file=str(info.path))
    tokens = [piece.piece.encode() for piece in proto.pieces]
    scores = [piece.score for piece in proto.pieces]
    types = [int(piece.type) for piece in proto.pieces]
    return GgufVocab("llama", "default", tokens, scores, types, None, p.bos_id(), p.eos_id(), p.unk_id())


def _byte_encoder() -> dict[int, str]:
    """GPT-2's printable stand-ins for bytes (the `bytes_to_unicode` table)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def _tekken_vocab(info: TokenizerInfo) -> GgufVocab:
    raw = json.loads(info.path.read_text())
    cfg = raw["config"]
    specials = raw.get("special_tokens") or []
    n_special = cfg.get("default_num_special_tokens") or len(specials)
    n_vocab = cfg["default_vocab_size"] - n_special
    ranks = [base64.b64decode(t["token_bytes"]) for t in raw["vocab"][:n_vocab]]
    enc = _byte_encoder()
    special_str = {t["rank"]: t["token_str"] for t in specials}
    tokens = [special_str.get(i, f"<SPECIAL_{i}>").encode() for i in range(n_special)]
    tokens += ["".join(enc[b] for b in r).encode() for r in ranks]
    types = [gguf.TokenType.CONTROL] * n_special + [gguf.TokenType.NORMAL] * len(ranks)
    by_str = {t: i for i, t in special_str.items()}
    return GgufVocab("gpt2", "tekken", tokens, [0.0] * len(tokens), types, _tekken_merges(ranks, enc),
                     by_str.get("<s>", 1), by_str.get("</s>", 2), by_str.get("<unk>", 0))


def _tekken_merges(ranks: list[bytes], enc: dict[int, str]) -> list[str]:
    """BPE merges rebuilt from tiktoken ranks (as gguf-py's `extract_vocab_merges_from_model`)."""
    rank_of = {b: i for i, b in enumerate(ranks)}
    merges: list[tuple[int, int, int, bytes, bytes]] = []
    for i in range(256, len(ranks)):
        tok = ranks[i]
        local = [(rank_of[tok[:j]], rank_of[tok[j:]], i, tok[:j], tok[j:]) for j in range(1, len(tok))
                 if tok[:j] in rank_of and tok[j:] in rank_of]
        merges.extend(sorted(local))
    merges.sort(key=lambda m: m[2])
    to_str = lambda b: "".join(enc[x] for x in b)  # noqa: E731
    return [f"{to_str(left)} {to_str(right)}" for _, _, _, left, right in merges]


def _spaced(info: TokenizerInfo) -> bool:
    """v1 SentencePiece writes [INST] as text with spaces around it."""
    return info.kind == "spm" and info.version == "v1"


def chat_template(info: TokenizerInfo, bos: bool) -> str:
    """A Jinja chat template rendering turns as mistral-common does for this tokenizer version
    (system prompt: its own [SYSTEM_PROMPT] turn from v7, else before the last user message).
    SentencePiece's space prefix after control tokens is added by the tokenizer, not the template.
    `bos`: start with `{{ bos_token }}` (Hugging Face), or not (llama.cpp adds BOS itself)."""
    sp = " " if _spaced(info) else ""
    sys_turn = int(re.sub(r"\D", "", info.version) or 1) >= 7
    head = "{{ bos_token }}" if bos else ""
    sys_block = ("{%- if system %}[SYSTEM_PROMPT]{{ system }}[/SYSTEM_PROMPT]{%- endif %}" if sys_turn else "")
    user = ("[INST]" + sp + "{{ m['content'] }}" + sp + "[/INST]") if sys_turn else (
        "[INST]" + sp + "{%- if system and loop.index0 == last_user %}{{ system }}\n\n{% endif %}{{ m['content'] }}" + sp + "[/INST]")
    return (
        "{%- set system = (messages | selectattr('role', 'equalto', 'system') | map(attribute='content') | list | join('\n\n')) %}"
        "{%- set ns = namespace(last=-1) %}{%- for m in messages %}{%- if m['role'] == 'user' %}{%- set ns.last = loop.index0 %}{%- endif %}{%- endfor %}"
        "{%- set last_user = ns.last %}" + head + sys_block +
        "{%- for m in messages %}{%- if m['role'] == 'user' %}" + user +
        "{%- elif m['role'] == 'assistant' %}" + sp + "{{ m['content'] }}</s>{%- endif %}{%- endfor %}"
    )


def ollama_template(info: TokenizerInfo) -> str:
    """The Go template of an Ollama Modelfile for this tokenizer version (multi-turn via .Messages)."""
    sp = " " if _spaced(info) else ""
    sys_turn = int(re.sub(r"\D", "", info.version) or 1) >= 7
    if sys_turn:
        return ("{{- if .System }}[SYSTEM_PROMPT]{{ .System }}[/SYSTEM_PROMPT]{{ end }}"
                "{{- range .Messages }}{{- if eq .Role \"user\" }}[INST]" + sp + "{{ .Content }}" + sp + "[/INST]"
                "{{- else if eq .Role \"assistant\" }}" + sp + "{{ .Content }}</s>{{- end }}{{- end }}")
    return ("{{- range $i, $_ := .Messages }}{{- $last := eq (len (slice $.Messages $i)) 1 }}"
            "{{- if eq .Role \"user\" }}[INST]" + sp + "{{ if and $.System $last }}{{ $.System }}\n\n{{ end }}{{ .Content }}" + sp + "[/INST]"
            "{{- else if eq .Role \"assistant\" }}" + sp + "{{ .Content }}</s>{{- end }}{{- end }}")


def write_hf_tokenizer(info: TokenizerInfo, out: Path) -> list[str]:
    """Tokenizer files of a Hugging Face model folder: the Mistral file itself (mistral-common, vLLM's
    `--tokenizer-mode mistral`), and for SentencePiece `tokenizer.model` + `tokenizer_config.json`
    with the chat template; returns the names written."""
    shutil.copyfile(info.path, out / info.path.name)
    names = [info.path.name]
    special = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
    config = {**special, "add_bos_token": True, "add_eos_token": False, "chat_template": chat_template(info, bos=True),
              "model_max_length": 1 << 20, "clean_up_tokenization_spaces": False}
    if info.kind == "spm":
        shutil.copyfile(info.path, out / "tokenizer.model")
        config.update(tokenizer_class="LlamaTokenizer", legacy=False)
        names.append("tokenizer.model")
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    (out / "special_tokens_map.json").write_text(json.dumps(special, indent=2))
    return names + ["tokenizer_config.json", "special_tokens_map.json"]
