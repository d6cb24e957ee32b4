"""Reads safetensors files one tensor at a time with plain reads, so the host holds one tensor.

`safetensors.safe_open` maps the whole file: every page a tensor touches stays resident (and in the
process's RSS) until the file is closed, so loading a 5 GB shard that way peaks at 5 GB of mapped
pages plus the copies. Here each tensor is read (`readinto`) into its own buffer, handed to the
caller and dropped; the page cache holds the file, not the process.

Format (huggingface/safetensors): u64 little-endian header length, a JSON header
`{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}`, then the data.
"""
from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

import torch

DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16, "F64": torch.float64,
          "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool}
MAX_HEADER_BYTES = 100 * 1024 * 1024  # the format's own limit (safetensors refuses larger headers)


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int  # absolute file offsets of the data
    end: int


def read_header(path: str | Path) -> list[TensorEntry]:
    """The tensors of a safetensors file in data order; ValueError when the header is not one."""
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) != 8:
            raise ValueError(f"{path} is not a safetensors file (shorter than 8 bytes)")
        (n,) = struct.unpack("<Q", raw)
        if n > MAX_HEADER_BYTES:
            raise ValueError(f"{path} is not a safetensors file (header length {n})")
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"{path}: unreadable safetensors header ({e})") from e
    header.pop("__metadata__", None)
    entries = [TensorEntry(k, v["dtype"], tuple(v["shape"]), 8 + n + v["data_offsets"][0], 8 + n + v["data_offsets"][1])
               for k, v in header.items()]
    return sorted(entries, key=lambda e: e.begin)


class TensorReader:
    """`with TensorReader(path) as r: t = r.read(entry)`: one freshly allocated CPU tensor per call
    (bytes as stored: safetensors is little-endian, as are the machines PyTorch ships for)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._f = open(path, "rb")

    def __enter__(self) -> "TensorReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self._f.close()

    def read(self, e: TensorEntry) -> torch.Tensor:
        if e.dtype not in DTYPES:
            raise ValueError(f"{self.path}: tensor {e.name} has dtype {e.dtype}, which Atelier does not load "
                             f"(supported: {', '.join(DTYPES)}); use a bf16/fp16/fp32 checkpoint, not a quantized one")
        dtype = DTYPES[e.dtype]
        out = torch.empty(e.shape, dtype=dtype)
        if e.end - e.begin != out.numel() * out.element_size():
            raise ValueError(f"{self.path}: tensor {e.name} holds {e.end - e.begin} bytes, its shape {list(e.shape)} needs "
                             f"{out.numel() * out.element_size()}")
        if out.numel():
            self._f.seek(e.begin)
            view = memoryview(out.view(-1).view(torch.uint8).numpy())
            if self._f.readinto(view) != len(view):
                raise ValueError(f"{self.path} is truncated (tensor {e.name})")
        return out
