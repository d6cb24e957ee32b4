"""Line-delimited JSON events on stdout (docs/contracts.md, "Trainer process"). stdout carries
these lines and nothing else; logs go to stderr."""
from __future__ import annotations

import json
import math
import sys
from typing import Any, TextIO


def _clean(value: Any) -> Any:
    # JSON has no NaN/Infinity: a diverged loss is reported as null rather than breaking the parser.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def emit(event_type: str, stream: TextIO | None = None, **fields: Any) -> None:
    """Write one event line and flush it (the worker reads events as they happen)."""
    out = stream or sys.stdout
    out.write(json.dumps({"type": event_type, **_clean(fields)}, separators=(",", ":")) + "\n")
    out.flush()


def log(message: str) -> None:
    """A human-readable log line, on stderr."""
    print(message, file=sys.stderr, flush=True)
