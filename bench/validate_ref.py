"""Reference throughput: mistral-common 1.12's fine-tuning validation and v3 tokenization.

Each line is parsed into a ChatCompletionRequest, validated by MistralRequestValidatorV3 in
finetuning mode and encoded with the v3 SentencePiece tokenizer (what mistral-finetune does).
Usage: .venv/bin/python bench/validate_ref.py FILE [MAX_LINES]  -> one JSON line on stdout.
"""
import json
import resource
import sys
import time
import types

# pydantic-extra-types is not installable here; mistral-common imports it only for audio
# transcription requests, so a stand-in type is enough (see reference parity notes).
_stub = types.ModuleType("pydantic_extra_types.language_code")
_stub.LanguageAlpha2 = str
sys.modules.setdefault("pydantic_extra_types", types.ModuleType("pydantic_extra_types"))
sys.modules["pydantic_extra_types.language_code"] = _stub

from mistral_common.protocol.instruct.request import ChatCompletionRequest  # noqa: E402
from mistral_common.protocol.instruct.validator import MistralRequestValidatorV3, ValidationMode  # noqa: E402
from mistral_common.tokens.tokenizers.mistral import MistralTokenizer  # noqa: E402


def main() -> None:
    path = sys.argv[1]
    max_lines = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    tokenizer = MistralTokenizer.v3()
    tokenizer._chat_completion_request_validator = MistralRequestValidatorV3(ValidationMode.finetuning)
    lines = valid = tokens = nbytes = 0
    start, cpu0 = time.perf_counter(), time.process_time()
    with open(path, "rb") as f:
        for raw in f:
            if max_lines and lines >= max_lines:
                break
            lines += 1
            nbytes += len(raw)
            try:
                d = json.loads(raw)
                req = ChatCompletionRequest(messages=d["messages"], tools=d.get("tools"))
                tokens += len(tokenizer.encode_chat_completion(req).tokens)
                valid += 1
            except Exception:  # the reference raises many exception types; all mean "invalid"
                pass
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"lines": lines, "valid": valid, "bytes": nbytes, "tokens": tokens, "seconds": seconds, "cpu_seconds": cpu,
                      "mb_per_s": nbytes / 1e6 / seconds, "lines_per_s": lines / seconds, "peak_rss_mb": rss_mb}))


if __name__ == "__main__":
    main()
