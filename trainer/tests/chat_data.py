"""A small chat dataset encoded like mistral-finetune's v3 instruct layout
(`<s>[INST] question[/INST] answer</s>`, loss on the answer and `</s>`), with the real tokenizer."""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TOKENIZER = REPO / "models" / "tiny-mistral" / "tokenizer.model.v3"
BOS, EOS, INST, END_INST = 1, 2, 3, 4

CITIES = ["Paris", "Rome", "Madrid", "Berlin", "Lisbon", "Vienna", "Athens", "Dublin", "Oslo", "Warsaw",
          "Prague", "Helsinki", "Budapest", "Brussels", "Stockholm", "Copenhagen", "Bern", "Sofia", "Riga", "Tallinn",
          "Vilnius", "Zagreb", "Valletta", "Nicosia", "Bratislava", "Ljubljana", "Bucharest", "Amsterdam", "Reykjavik", "Kyiv"]
COUNTRIES = ["France", "Italy", "Spain", "Germany", "Portugal", "Austria", "Greece", "Ireland", "Norway", "Poland",
             "Czechia", "Finland", "Hungary", "Belgium", "Sweden", "Denmark", "Switzerland", "Bulgaria", "Latvia", "Estonia",
             "Lithuania", "Croatia", "Malta", "Cyprus", "Slovakia", "Slovenia", "Romania", "the Netherlands", "Iceland", "Ukraine"]


def pairs() -> list[tuple[str, str]]:
    return [(f"What is the capital of {c}?", f"The capital of {c} is {city}.") for c, city in zip(COUNTRIES, CITIES)]


def encode_pairs(items: list[tuple[str, str]]) -> list[tuple[list[int], list[int]]]:
    """(tokens, mask) per question/answer pair."""
    import sentencepiece as spm  # test-only dependency: the trainer itself never tokenizes
    sp = spm.SentencePieceProcessor(model_file=str(TOKENIZER))
    out = []
    for q, a in items:
        prompt = [BOS, INST] + sp.encode(q) + [END_INST]
        answer = sp.encode(a) + [EOS]
        out.append((prompt + answer, [0] * len(prompt) + [1] * len(answer)))
    return out
