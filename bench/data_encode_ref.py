"""mistral-common side of bench/data-encode.ts: its text encoder alone over every message text of a
corpus file (same extraction), in a fresh process. Prints one JSON object.
Usage: .venv/bin/python bench/data_encode_ref.py TOKENIZER FILE
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "tokenizer", "oracle"))
import _stubs  # noqa: E402,F401
from mistral_common.tokens.tokenizers.mistral import MistralTokenizer  # noqa: E402


def message_texts(path):
    texts = []
    with open(path, "rb") as f:
        for raw in f:
            try:
                s = json.loads(raw)
            except ValueError:
                continue
            msgs = s.get("messages") if isinstance(s, dict) else None
            for m in msgs if isinstance(msgs, list) else []:
                c = m.get("content") if isinstance(m, dict) else None
                if isinstance(c, str) and c:
                    texts.append(c)
    return texts


def main():
    texts = message_texts(sys.argv[2])
    tok = MistralTokenizer.from_file(sys.argv[1]).instruct_tokenizer.tokenizer
    t0, c0 = time.perf_counter(), time.process_time()
    n = sum(len(tok.encode(t, bos=False, eos=False)) for t in texts)
    print(json.dumps({"texts": len(texts), "tokens": n, "seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0}))


if __name__ == "__main__":
    main()
