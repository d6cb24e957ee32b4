"""Token shards (written by the worker, format in docs/contracts.md) -> packed training windows.

Packing (docs/trainer.md has the full statement):
- Each sample of n tokens becomes n-1 positions: input tokens[:-1], target tokens[1:], and the
  target's own mask bit (mask[1:]) decides whether the position is trained. Targets never cross
  from one sample into the next.
- Samples are placed whole, in shuffled order, into windows of `seq_len` positions; each keeps its
  own document id (attention never crosses documents) and positions restarting at 0. When the next
  sample does not fit, the window is closed (padded: doc id -1, mask 0) and the sample opens the next
  window from the same file.
- A sample longer than `seq_len` is truncated to its first `seq_len` positions (so every trained
  token keeps all of its preceding context) and dropped if no trained target remains. Samples with
  no trained target at all are skipped. Unlike mistral-finetune we never train a tail fragment cut
  from its context.
- Training files are mixed per window: window w comes from file f with probability weight_f (a
  draw seeded by (seed, w)); each file is reshuffled every time it is exhausted (permutation seeded
  by (seed, file, epoch)). The whole state is the small JSON `cursor`, so a run resumes exactly.

Images (shards with meta "images" > 0, docs/contracts.md): each sample's images are the bytes of its
[IMG] blocks in order. A sample whose blocks do not all fit in seq_len is cut before the first block
that does not fit whole (a model cannot read part of an image), then dropped if no trained target
remains. Every image is decoded and resized once per shard into a uint8 cache beside it
(`ImageCache`); a batch carries `images`, normalised (3, H, W) tensors in the order their [IMG]
blocks appear in the batch (row 0 first, positions ascending).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported where batches are built, so counting tokens (count_tokens.py) stays light
    import torch

SHARD_FORMAT = "atelier-shard-v1"


class Shard:
    """A token shard directory, memory-mapped."""

    def __init__(self, path: str | Path):
        d = Path(path)
        meta_path = d / "meta.json"
        if not meta_path.is_file():
            raise ValueError(f"{d} is not a complete token shard (no meta.json; the worker writes it last)")
        self.meta = json.loads(meta_path.read_text())
        if self.meta.get("format") != SHARD_FORMAT:
            raise ValueError(f"{d}: shard format {self.meta.get('format')!r}, expected {SHARD_FORMAT!r}")
        self.path = d
        self.samples = int(self.meta["samples"])
        self.tokens = np.memmap(d / "tokens.u32", dtype="<u4", mode="r") if self.meta["tokens"] else np.zeros(0, "<u4")
        self.mask = np.memmap(d / "mask.u8", dtype="u1", mode="r") if self.meta["tokens"] else np.zeros(0, "u1")
        self.offsets = np.memmap(d / "offsets.u64", dtype="<u8", mode="r")
        n_tokens = int(self.meta["tokens"])
        if len(self.offsets) != self.samples + 1 or int(self.offsets[-1]) != n_tokens or len(self.tokens) != n_tokens \
                or len(self.mask) != n_tokens:
            raise ValueError(f"{d}: offsets/tokens do not match meta.json (a partial or corrupt shard; re-tokenize)")
        self.n_images = int(self.meta.get("images") or 0)
        self.cache: ImageCache | None = None
        if self.n_images:
            self._open_images(d)

    def _open_images(self, d: Path) -> None:
        ids = self.meta.get("image_token_ids")
        if not isinstance(ids, dict) or not {"img", "break", "end"} <= ids.keys():
            raise ValueError(f"{d}: meta.json has images but no image_token_ids (written by an older worker; re-tokenize)")
        self.image_ids = (int(ids["img"]), int(ids["break"]), int(ids["end"]))
        self.image_bytes = np.memmap(d / "images.bin", dtype="u1", mode="r") if (d / "images.bin").stat().st_size \
            else np.zeros(0, "u1")
        self.image_offsets = np.memmap(d / "images.u64", dtype="<u8", mode="r")
        self.sample_images = np.memmap(d / "sample_images.u64", dtype="<u8", mode="r")
        if len(self.image_offsets) != self.n_images + 1 or int(self.image_offsets[-1]) != len(self.image_bytes) \
                or len(self.sample_images) != self.samples + 1 or int(self.sample_images[-1]) != self.n_images:
            raise ValueError(f"{d}: images.u64/sample_images.u64 do not match meta.json (a partial or corrupt shard; re-tokenize)")

    def sample(self, i: int, limit: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(inputs, targets, target mask) of sample i, at most `limit` positions from its start (cut
        before an image that does not fit whole)."""
        return self.sample_with_images(i, limit)[:3]

    def sample_with_images(self, i: int, limit: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, range]:
        """`sample` plus the shard indices of the images whose [IMG] blocks are in the inputs, in order."""
        start, end = int(self.offsets[i]), int(self.offsets[i + 1])
        keep = min(end - start, limit + 1)  # tokens kept: inputs are the first keep - 1
        images = range(0)
        if self.n_images:
            first, last = int(self.sample_images[i]), int(self.sample_images[i + 1])
            if last > first:
                keep, n = self._cut_at_images(i, start, end, keep, last - first)
                images = range(first, first + n)
        end = start + keep
        return self.tokens[start:end - 1], self.tokens[start + 1:end], self.mask[start + 1:end], images

    def _cut_at_images(self, i: int, start: int, end: int, keep: int, n_images: int) -> tuple[int, int]:
        """(tokens kept, images kept): the inputs end before the first [IMG] block that is not whole in them."""
        starts, ends = image_blocks(self.tokens[start:end], *self.image_ids)
        if len(ends) != n_images:
            raise ValueError(f"{self.path}: sample {i} has {len(ends)} [IMG] blocks but {n_images} images in "
                             "sample_images.u64 (a corrupt shard; re-tokenize)")
        cut = int(np.argmin(ends < keep - 1)) if not (ends < keep - 1).all() else n_images
        if cut < n_images:
            keep = min(keep, int(starts[cut]) + 1)
        return keep, cut

    def image_data(self, k: int) -> bytes:
        """The raw bytes of image k (PNG, JPEG, ...), as the dataset held them."""
        return bytes(self.image_bytes[int(self.image_offsets[k]):int(self.image_offsets[k + 1])])

    def attach_images(self, config: "ImageConfig") -> None:
        """Opens (building it first when missing) the pixel cache of this shard's images for `config`."""
        if self.n_images:
            self.cache = ImageCache.open_or_build(self, config)


def image_blocks(tokens: np.ndarray, img: int, brk: int, end: int) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends): first and last ([IMG_END]) token index of each [IMG] block, in order. A block is a
    run of [IMG]/[IMG_BREAK] tokens closed by [IMG_END]; two images may touch."""
    t = np.asarray(tokens)
    is_img = np.isin(t, (img, brk, end))
    prev_open = np.concatenate([[False], is_img[:-1] & (t[:-1] != end)])
    return np.flatnonzero(is_img & ~prev_open), np.flatnonzero(t == end)


@dataclass(frozen=True)
class ImageConfig:
    """How a model's vision encoder wants its pixels (trainer/images.py resizing rule)."""
    patch_size: int
    max_image_size: int
    spatial_merge_size: int = 1

    @staticmethod
    def from_params(params: dict) -> "ImageConfig | None":
        """From a Mistral params.json (`vision_encoder` section); None for a text-only model."""
        v = params.get("vision_encoder")
        if not v:
            return None
        return ImageConfig(int(v["patch_size"]), int(v.get("max_image_size") or v["image_size"]),
                           int(v.get("spatial_merge_size", 1)))

    @property
    def key(self) -> str:
        return f"pixels-p{self.patch_size}-s{self.max_image_size}-m{self.spatial_merge_size}"


class ImageCache:
    """Every image of a shard decoded and resized once, as uint8 HWC pixels back to back in
    `<key>.u8`, with `<key>.idx.u64` holding (byte offset, height, width) per image. Built one image at
    a time (memory holds one image), written under temporary names and renamed, the index last: its
    presence marks a complete cache, and concurrent builders of the same shard write identical files."""

    def __init__(self, pixels: np.ndarray, index: np.ndarray):
        self.pixels, self.index = pixels, index

    @staticmethod
    def open_or_build(shard: Shard, config: ImageConfig) -> "ImageCache":
        idx_path = shard.path / f"{config.key}.idx.u64"
        if not idx_path.is_file():
            ImageCache.build(shard, config)
        index = np.fromfile(idx_path, dtype="<u8").reshape(-1, 3)
        pixels = np.memmap(shard.path / f"{config.key}.u8", dtype="u1", mode="r")
        end = int(index[-1, 0] + index[-1, 1] * index[-1, 2] * 3) if len(index) else 0
        if len(index) != shard.n_images or len(pixels) != end:
            raise ValueError(f"{shard.path}: the image cache {config.key} does not match the shard; delete its files")
        return ImageCache(pixels, index)

    @staticmethod
    def build(shard: Shard, config: ImageConfig) -> None:
        from .images import resize_u8

        tag = f".tmp-{os.getpid()}"
        px_path, idx_path = shard.path / f"{config.key}.u8", shard.path / f"{config.key}.idx.u64"
        index = np.zeros((shard.n_images, 3), dtype="<u8")
        offset = 0
        try:
            with open(str(px_path) + tag, "wb") as f:
                for k in range(shard.n_images):
                    try:
                        u8 = resize_u8(shard.image_data(k), config.patch_size, config.max_image_size, config.spatial_merge_size)
                    except ValueError as e:
                        raise ValueError(f"{shard.path}: image {k} cannot be read: {e}") from e
                    f.write(u8.tobytes())
                    index[k] = (offset, u8.shape[0], u8.shape[1])
                    offset += u8.size
            index.tofile(str(idx_path) + tag)
            os.replace(str(px_path) + tag, px_path)
            os.replace(str(idx_path) + tag, idx_path)
        finally:
            for p in (str(px_path) + tag, str(idx_path) + tag):
                if os.path.exists(p):
                    os.remove(p)

    def pixels_u8(self, k: int) -> np.ndarray:
        """Image k as uint8 (H, W, 3)."""
        off, h, w = (int(v) for v in self.index[k])
        return np.asarray(self.pixels[off:off + h * w * 3]).reshape(h, w, 3)


def write_shard(path: str | Path, samples: list[tuple], image_ids: tuple[int, int, int] = (10, 12, 13)) -> None:
    """Write (tokens, mask) or (tokens, mask, [image bytes...]) samples as a shard (the worker's format;
    used by tests and benchmarks). `image_ids`: [IMG], [IMG_BREAK], [IMG_END] (Pixtral's by default)."""
    d = Path(path)
    d.mkdir(parents=True, exist_ok=True)
    tokens = np.array([t for s in samples for t in s[0]], dtype="<u4")
    mask = np.array([m for s in samples for m in s[1]], dtype="u1")
    offsets = np.cumsum([0] + [len(s[0]) for s in samples]).astype("<u8")
    tokens.tofile(d / "tokens.u32")
    mask.tofile(d / "mask.u8")
    offsets.tofile(d / "offsets.u64")
    meta = {"format": SHARD_FORMAT, "samples": len(samples), "tokens": int(len(tokens)),
            "trained_tokens": int(mask.sum()), "tokenizer_sha256": "", "source_sha256": ""}
    images = [img for s in samples for img in (s[2] if len(s) > 2 else [])]
    if images:
        (d / "images.bin").write_bytes(b"".join(images))
        np.cumsum([0] + [len(b) for b in images]).astype("<u8").tofile(d / "images.u64")
        np.cumsum([0] + [len(s[2]) if len(s) > 2 else 0 for s in samples]).astype("<u8").tofile(d / "sample_images.u64")
        meta["images"] = len(images)
        meta["image_token_ids"] = dict(zip(("img", "break", "end"), image_ids))
    (d / "meta.json").write_text(json.dumps(meta))


@dataclass
class Window:
    """One packed row of `seq_len` positions."""
    tokens: np.ndarray     # (T,) input ids
    targets: np.ndarray    # (T,) next-token ids
    mask: np.ndarray       # (T,) 1 = trained target
    positions: np.ndarray  # (T,) position within its document
    doc_ids: np.ndarray    # (T,) document index within the window, -1 for padding
    images: list[tuple[Shard, int]] = field(default_factory=list)  # (shard, image index) in [IMG] block order


@dataclass
class Batch:
    tokens: torch.Tensor     # (B, T)
    targets: torch.Tensor    # (B, T)
    mask: torch.Tensor       # (B, T) bool
    positions: torch.Tensor  # (B, T)
    doc_ids: torch.Tensor    # (B, T)
    images: list[torch.Tensor] = field(default_factory=list)  # (3, H, W) each, in [IMG] block order (row-major)

    def to(self, device: torch.device | str) -> "Batch":
        return Batch(*(t.to(device) for t in (self.tokens, self.targets, self.mask, self.positions, self.doc_ids)),
                     images=[im.to(device) for im in self.images])


def collate(windows: list[Window]) -> Batch:
    """Stack windows into a (B, T) batch; images are read from their shard's cache and normalised."""
    import torch
    def stack(name: str, dtype: torch.dtype) -> torch.Tensor:
        return torch.from_numpy(np.stack([getattr(w, name) for w in windows]).astype(np.int64)).to(dtype)
    return Batch(stack("tokens", torch.long), stack("targets", torch.long), stack("mask", torch.bool),
                 stack("positions", torch.long), stack("doc_ids", torch.long),
                 images=[_image_tensor(shard, k) for w in windows for shard, k in w.images])


def _image_tensor(shard: Shard, k: int) -> "torch.Tensor":
    from .images import normalize

    if shard.cache is None:
        raise ValueError(f"{shard.path} has images but no image settings were given: the base model has no "
                         "vision encoder (train on a vision model, or remove the images from the dataset)")
    return normalize(shard.cache.pixels_u8(k))


class _WindowBuilder:
    def __init__(self, seq_len: int):
        self.seq_len, self.parts, self.used, self.images = seq_len, [], 0, []

    def fits(self, n: int) -> bool:
        return self.used + n <= self.seq_len

    def add(self, x: np.ndarray, y: np.ndarray, m: np.ndarray, images: list[tuple[Shard, int]] = ()) -> None:
        self.parts.append((x, y, m))
        self.used += len(x)
        self.images.extend(images)

    def build(self) -> Window:
        T, pad = self.seq_len, self.seq_len - self.used
        cat = lambda arrs, fill: np.concatenate([*(np.asarray(a, dtype=np.int64) for a in arrs), np.full(pad, fill, np.int64)])
        positions = np.concatenate([*(np.arange(len(x)) for x, _, _ in self.parts), np.arange(pad)]).astype(np.int64)
        doc_ids = np.concatenate([*(np.full(len(x), i) for i, (x, _, _) in enumerate(self.parts)), np.full(pad, -1)])
        w = Window(cat([p[0] for p in self.parts], 0), cat([p[1] for p in self.parts], 0),
                   cat([p[2] for p in self.parts], 0), positions, doc_ids.astype(np.int64), list(self.images))
        assert len(w.tokens) == T
        return w


class TrainStream:
    """Infinite stream of packed training windows from weighted shards; resumable via `cursor`."""

    def __init__(self, shards: list[Shard], weights: list[float], seq_len: int, seed: int, cursor: dict | None = None,
                 images: ImageConfig | None = None):
        """`images`: the model's pixel settings; needed to batch shards with images (not to count tokens)."""
        if any(s.samples == 0 or int(s.meta["trained_tokens"]) == 0 for s in shards):
            empty = [str(s.path) for s in shards if s.samples == 0 or int(s.meta["trained_tokens"]) == 0]
            raise ValueError(f"training shards without any trained token: {empty} (check the dataset's assistant turns)")
        if images is not None:
            for s in shards:
                s.attach_images(images)
        self.shards, self.seq_len, self.seed = shards, seq_len, seed
        w = np.asarray(weights, dtype=np.float64)
        self.cum_weights = np.cumsum(w / w.sum())
        self.cursor = cursor or {"windows": 0, "files": [{"epoch": 0, "index": 0} for _ in shards]}
        self._orders: dict[tuple[int, int], np.ndarray] = {}

    def _order(self, f: int, epoch: int) -> np.ndarray:
        key = (f, epoch)
        if key not in self._orders:
            self._orders = {key: np.random.default_rng([self.seed, f, epoch]).permutation(self.shards[f].samples)}
        return self._orders[key]

    def _pick_file(self) -> int:
        u = np.random.default_rng([self.seed, 1_000_003, self.cursor["windows"]]).random()
        return int(min(np.searchsorted(self.cum_weights, u, side="right"), len(self.shards) - 1))

    def next_window(self) -> Window:
        f = self._pick_file()
        self.cursor["windows"] += 1
        shard, state, win = self.shards[f], self.cursor["files"][f], _WindowBuilder(self.seq_len)
        skipped = 0
        while True:
            if state["index"] >= shard.samples:
                state["epoch"], state["index"] = state["epoch"] + 1, 0
            i = int(self._order(f, state["epoch"])[state["index"]])
            x, y, m, imgs = shard.sample_with_images(i, self.seq_len)
            if len(x) > 0 and not win.fits(len(x)):
                break  # the sample opens the next window from this file
            state["index"] += 1
            if len(x) == 0 or not m.any():
                skipped += 1
                if skipped > shard.samples:
                    raise ValueError(f"{shard.path}: no sample has a trained token within seq_len={self.seq_len}; "
                                     "raise seq_len or check the dataset")
                continue
            win.add(x, y, m, [(shard, k) for k in imgs])
            skipped = 0  # the guard counts consecutive skips: a full pass of them means nothing is trainable
            if win.used == self.seq_len:
                break
        return win.build()

    def next_batch(self, batch_size: int) -> Batch:
        return collate([self.next_window() for _ in range(batch_size)])


def validation_batches(shards: list[Shard], seq_len: int, batch_size: int, images: ImageConfig | None = None) -> list[Batch]:
    """All validation samples, in file order, packed like training (same truncation rule); the last
    window and batch may be partial. `images` as for TrainStream."""
    windows, win = [], _WindowBuilder(seq_len)
    for shard in shards:
        if images is not None:
            shard.attach_images(images)
        for i in range(shard.samples):
            x, y, m, imgs = shard.sample_with_images(i, seq_len)
            if len(x) == 0 or not m.any():
                continue
            if not win.fits(len(x)):
                windows.append(win.build())
                win = _WindowBuilder(seq_len)
            win.add(x, y, m, [(shard, k) for k in imgs])
    if win.used:
        windows.append(win.build())
    return [collate(windows[s:s + batch_size]) for s in range(0, len(windows), batch_size)]
