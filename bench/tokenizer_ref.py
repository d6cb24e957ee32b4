"""mistral-common side of bench/tokenizer.ts: encodes the same raw-text and chat files and prints
one JSON object of timings.

Usage: python bench/tokenizer_ref.py --tokenizer FILE --text TEXT.txt --chat CHAT.jsonl
raw: `tokenizer.encode(line, bos=False, eos=False)` per text line; chat: the oracle's train-mode
encoding (per-message instruct encoders with the loss mask, src/tokenizer/oracle/encode_reference.py).
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "tokenizer", "oracle"))
from encode_reference import encode_train  # noqa: E402
from mistral_common.tokens.tokenizers.mistral import MistralTokenizer  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--text", required=True)
    ap.add_argument("--chat", required=True)
    args = ap.parse_args()
    t0 = time.perf_counter()
    mt = MistralTokenizer.from_file(args.tokenizer)
    load_s = time.perf_counter() - t0
    tok = mt.instruct_tokenizer.tokenizer
    with open(args.text, encoding="utf-8", newline="") as f:
        lines = f.read().split("\n")
    t0, c0 = time.perf_counter(), time.process_time()
    n = sum(len(tok.encode(line, bos=False, eos=False)) for line in lines)
    raw_s, raw_cpu = time.perf_counter() - t0, time.process_time() - c0
    with open(args.chat, encoding="utf-8", newline="") as f:
        samples = [line for line in f if line.strip()]
    t0, c0 = time.perf_counter(), time.process_time()
    m = 0
    for line in samples:
        tokens, _ = encode_train(mt, json.loads(line))
        m += len(tokens)
    chat_s, chat_cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({"load_s": load_s, "raw": {"tokens": n, "seconds": raw_s, "cpu_seconds": raw_cpu},
                      "chat": {"tokens": m, "seconds": chat_s, "cpu_seconds": chat_cpu}}))


if __name__ == "__main__":
    main()
