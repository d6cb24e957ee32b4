"""mistral-common side of `npm run bench:data` (bench/data.ts): the validate + encode loop a
mistral-finetune style pipeline runs over a dataset file, timed as a whole process.

Per line: json.loads, the messages and tools built as mistral-common objects (pydantic checks
them), MistralRequestValidatorV3 in fine-tuning mode over the request, then the training encoding
with the loss mask (per-message instruct encoders, as src/tokenizer/oracle/encode_reference.py and
mistral-finetune do). Any exception marks the line invalid.

Usage: .venv/bin/python bench/data_ref.py --tokenizer FILE --data FILE.jsonl [--max-bytes N]
Prints one JSON object: lines, valid, tokens, trained, bytes, seconds, cpu_seconds, peak_rss_mb
(the peak RSS of this whole process, from getrusage).
"""
import argparse
import json
import os
import resource
import sys
import time

ORACLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "tokenizer", "oracle")
sys.path.insert(0, ORACLE)
import _stubs  # noqa: E402,F401  (lets mistral-common import without pydantic-extra-types)
from mistral_common.protocol.instruct.messages import (  # noqa: E402
    FinetuningAssistantMessage,
    SystemMessage,
    ToolMessage,
    UserMessage,
)
from mistral_common.protocol.instruct.request import ChatCompletionRequest  # noqa: E402
from mistral_common.protocol.instruct.tool_calls import Tool  # noqa: E402
from mistral_common.protocol.instruct.validator import MistralRequestValidatorV3, ValidationMode  # noqa: E402
from mistral_common.tokens.tokenizers.mistral import MistralTokenizer  # noqa: E402


MESSAGE_TYPES = {"user": UserMessage, "system": SystemMessage, "tool": ToolMessage, "assistant": FinetuningAssistantMessage}


def build_message(m):
    """The message as mistral-common reads it: a missing content stays missing (and fails)."""
    return MESSAGE_TYPES[m["role"]].model_validate(m)


def encode_train(it, v, msgs, tools):
    """Tokens and trained-token count of a validated sample (encode_reference.encode_train's loop)."""
    system_prompt = None
    if v <= 3:
        parts = [m.content for m in msgs if isinstance(m, SystemMessage) and m.content]
        system_prompt = "\n\n".join(parts) if parts else None
        msgs = [m for m in msgs if not isinstance(m, SystemMessage)]
    users = [i for i, m in enumerate(msgs) if isinstance(m, UserMessage)]
    first, last = (users[0], users[-1]) if users else (-1, -1)
    n, trained = 1, 0
    for i, m in enumerate(msgs):
        if isinstance(m, UserMessage):
            t, _, _ = it.encode_user_message(m, tools, i == last, i == first, system_prompt=system_prompt, force_img_first=True)
        elif isinstance(m, ToolMessage):
            t, _, _ = it.encode_tool_message(m, i < last)
        elif isinstance(m, SystemMessage):
            t, _ = it.encode_system_message(m)
        else:
            t = it.encode_assistant_message(m, i < last)
            if m.weight is None or m.weight == 1:
                trained += len(t)
        n += len(t)
    return n, trained


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--max-bytes", type=int, default=0)
    args = ap.parse_args()
    t0, c0 = time.perf_counter(), time.process_time()
    mt = MistralTokenizer.from_file(args.tokenizer)
    it = mt.instruct_tokenizer
    v = int(it.tokenizer.version.value[1:])
    validator = MistralRequestValidatorV3(ValidationMode.finetuning)
    lines = valid = tokens = trained = nbytes = 0
    with open(args.data, "rb") as f:
        for raw in f:
            if args.max_bytes and nbytes >= args.max_bytes:
                break
            lines += 1
            nbytes += len(raw)
            try:
                d = json.loads(raw)
                msgs = [build_message(m) for m in d["messages"]]
                tools = [Tool(**t) for t in (d.get("tools") or [])] or None
                validator.validate_request(ChatCompletionRequest(messages=msgs, tools=tools))
                n, t = encode_train(it, v, msgs, tools)
            except Exception:  # the reference raises many exception types; all mean "invalid line"
                continue
            valid += 1
            tokens += n
            trained += t
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"lines": lines, "valid": valid, "tokens": tokens, "trained": trained, "bytes": nbytes,
                      "seconds": seconds, "cpu_seconds": cpu, "peak_rss_mb": rss_mb}))


if __name__ == "__main__":
    main()
