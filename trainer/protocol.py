"""Line-delimited JSON events on stdout (docs/contracts.md, "Trainer process"). stdout carries
these lines and nothing else; logs go to stderr."""
from __future__ import annotations

import json
import math
import sys
import traceback
from typing import Any, Callable, TextIO

import torch


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


def run_reporting_errors(work: Callable[[], None]) -> int:
    """Run a trainer and return its exit code, reporting a failure as an `error` event: ValueError
    (bad config) -> kind "config", exit 2; CUDA out of memory -> kind "oom", exit 1; anything else
    -> kind "internal", exit 1, with the traceback on stderr."""
    try:
        work()
        return 0
    except ValueError as e:
        emit("error", message=str(e), kind="config")
        return 2
    except torch.cuda.OutOfMemoryError as e:
        emit("error", message=f"out of memory ({e}); lower batch_size or seq_len, or use grad_accum", kind="oom")
        return 1
    except Exception as e:  # report anything else to the worker instead of dying silently
        traceback.print_exc(file=sys.stderr)
        emit("error", message=f"{type(e).__name__}: {e}", kind="internal")
        return 1
