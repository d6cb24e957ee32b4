"""Optional TensorBoard event files of a run (config `tensorboard_dir`, set by the worker when
ATELIER_JOB_TENSORBOARD is on): train/* scalars every optimizer step, valid/* and classifier/*
at each evaluation. tensorboard is imported only when asked for (it takes seconds to load)."""
from __future__ import annotations

import math
from typing import Any


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class MetricsLog:
    """A SummaryWriter in `log_dir`, or nothing at all when `log_dir` is None."""

    def __init__(self, log_dir: str | None):
        self._writer = None
        if log_dir:
            from torch.utils.tensorboard import SummaryWriter
            self._writer = SummaryWriter(log_dir=log_dir)

    def _scalars(self, prefix: str, step: int, values: dict[str, Any]) -> None:
        if self._writer is None:
            return
        for name, value in values.items():
            if _finite(value):
                self._writer.add_scalar(f"{prefix}/{name}", float(value), step)

    def step(self, step: int, **scalars: Any) -> None:
        """One optimizer step: loss, learning_rate, grad_norm, tokens_per_second, trained_tokens."""
        self._scalars("train", step, scalars)

    def evaluation(self, step: int, metrics: dict[str, Any]) -> None:
        """An evaluation: valid loss and token accuracy, and per-target classifier metrics."""
        self._scalars("valid", step, {"loss": metrics.get("valid_loss"), "mean_token_accuracy": metrics.get("valid_mean_token_accuracy")})
        for target, values in (metrics.get("classifier") or {}).items():
            self._scalars(f"classifier/{target}", step, values)
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
