"""Reference encoder: dataset lines in (stdin, one JSON sample per line), mistral-common 1.12's
tokens and loss mask out (stdout, one `{"tokens": [...], "mask": [...]}` or `{"error": "..."}` per line).

Usage: python encode_reference.py --tokenizer FILE [--mode train|serve]

train: mistral-finetune's way (reference §1.4): BOS, then each message through the instruct
tokenizer's own `encode_user_message` / `encode_tool_message` / `encode_assistant_message` /
`encode_system_message`, no normaliser (no merging). ≤v3 lifts the system messages into one system
prompt ("\n\n"-joined, prepended to the last user turn); v7+ keeps them in place. mask = 1 on the
tokens of assistant messages whose weight is absent or 1 (content or [TOOL_CALLS] ... and </s>).
serve: `encode_chat_completion` of the chat-completion request (normaliser included); mask all 0.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _stubs  # noqa: E402,F401

from mistral_common.protocol.instruct.messages import (  # noqa: E402
    FinetuningAssistantMessage,
    SystemMessage,
    ToolMessage,
    UserMessage,
)
from mistral_common.protocol.instruct.request import ChatCompletionRequest  # noqa: E402
from mistral_common.protocol.instruct.tool_calls import Tool  # noqa: E402
from mistral_common.tokens.tokenizers.mistral import MistralTokenizer  # noqa: E402


def build_message(m):
    role = m["role"]
    if role == "user":
        return UserMessage(content=m.get("content") or "")
    if role == "system":
        return SystemMessage(content=m.get("content") or "")
    if role == "tool":
        return ToolMessage(content=m.get("content") or "", tool_call_id=m.get("tool_call_id"), name=m.get("name"))
    if role == "assistant":
        return FinetuningAssistantMessage(
            content=m.get("content"), tool_calls=m.get("tool_calls"), weight=m.get("weight")
        )
    raise ValueError(f"unknown role {role}")


def encode_train(mt, sample):
    it = mt.instruct_tokenizer
    v = int(mt.instruct_tokenizer.tokenizer.version.value[1:])
    msgs = [build_message(m) for m in sample["messages"]]
    tools = [Tool(**t) for t in (sample.get("tools") or [])] or None
    system_prompt = None
    if v <= 3:
        parts = [m.content for m in msgs if isinstance(m, SystemMessage) and m.content]
        system_prompt = "\n\n".join(parts) if parts else None
        msgs = [m for m in msgs if not isinstance(m, SystemMessage)]
    users = [i for i, m in enumerate(msgs) if isinstance(m, UserMessage)]
    first, last = (users[0], users[-1]) if users else (-1, -1)
    tokens = [it.tokenizer.bos_id]
    mask = [0]
    for i, m in enumerate(msgs):
        bit = 0
        if isinstance(m, UserMessage):
            # force_img_first as encode_instruct passes it ([text, image] puts the image first).
            t, _, _ = it.encode_user_message(
                m, tools, i == last, i == first, system_prompt=system_prompt, force_img_first=True
            )
        elif isinstance(m, ToolMessage):
            t, _, _ = it.encode_tool_message(m, i < last)
        elif isinstance(m, SystemMessage):
            t, _ = it.encode_system_message(m)
        else:
            t = it.encode_assistant_message(m, i < last)
            bit = 1 if m.weight is None or m.weight == 1 else 0
        tokens.extend(t)
        mask.extend([bit] * len(t))
    return tokens, mask


def encode_serve(mt, sample):
    # A chat-completion request has no per-message weight: serving ignores it.
    messages = [{k: v for k, v in m.items() if k != "weight"} for m in sample["messages"]]
    req = ChatCompletionRequest(messages=messages, tools=sample.get("tools"))
    tokens = mt.encode_chat_completion(req).tokens
    return tokens, [0] * len(tokens)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--mode", choices=["train", "serve"], default="train")
    args = ap.parse_args()
    mt = MistralTokenizer.from_file(args.tokenizer)
    encode = encode_train if args.mode == "train" else encode_serve
    out = sys.stdout
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            tokens, mask = encode(mt, json.loads(line))
            out.write(json.dumps({"tokens": tokens, "mask": mask}) + "\n")
        except Exception as e:  # report every failure on its own line, keeping line alignment
            out.write(json.dumps({"error": f"{type(e).__name__}: {e}"}) + "\n")
    out.flush()


if __name__ == "__main__":
    main()
