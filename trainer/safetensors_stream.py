"""A safetensors file written one tensor at a time: the header (names, dtypes, shapes, offsets) is
known before any data is read, so the writer never holds more than the tensor it is writing
(`safetensors.torch.save_file` needs the whole dict in memory).

Format (huggingface/safetensors): u64 little-endian header length, JSON header
`{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}` padded with spaces to a
multiple of 8, then the tensors' bytes back to back in header order.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

import torch

_NAMES = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16"}


class SafetensorsWriter:
    """`SafetensorsWriter(path, [(name, shape, dtype), ...])`, then `write(name, tensor)` in that order, then `close()`."""

    def __init__(self, path: str | Path, plan: list[tuple[str, tuple[int, ...], torch.dtype]], metadata: dict[str, str] | None = None):
        header: dict[str, object] = {"__metadata__": metadata or {"format": "pt"}}
        offset = 0
        self._order: list[tuple[str, int]] = []
        for name, shape, dtype in plan:
            n = _numel(shape) * torch.tensor([], dtype=dtype).element_size()
            header[name] = {"dtype": _NAMES[dtype], "shape": list(shape), "data_offsets": [offset, offset + n]}
            self._order.append((name, n))
            offset += n
        raw = json.dumps(header, separators=(",", ":")).encode()
        raw += b" " * (-len(raw) % 8)
        self._f = open(path, "wb")
        self._f.write(struct.pack("<Q", len(raw)) + raw)
        self._next = 0

    def write(self, name: str, t: torch.Tensor) -> None:
        expected, n = self._order[self._next]
        if name != expected:
            raise ValueError(f"tensor {name} written out of order (expected {expected})")
        data = t.detach().contiguous().cpu().view(torch.uint8).numpy()
        if data.nbytes != n:
            raise ValueError(f"tensor {name}: {data.nbytes} bytes, the header says {n}")
        self._f.write(memoryview(data).cast("B"))
        self._next += 1

    def close(self) -> None:
        if self._next != len(self._order):
            raise ValueError(f"only {self._next} of {len(self._order)} tensors written")
        self._f.close()


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def nbytes(shape: tuple[int, ...], dtype: torch.dtype) -> int:
    return _numel(shape) * torch.tensor([], dtype=dtype).element_size()
