"""Packing shards with images (trainer/data.py, docs/contracts.md): batches carry the images of their
[IMG] blocks in order, a sample is cut before an image that does not fit, and pixels are cached once."""
from __future__ import annotations

import io
import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from trainer import images
from trainer.data import ImageConfig, Shard, TrainStream, image_blocks, validation_batches, write_shard

CFG = ImageConfig(patch_size=16, max_image_size=1024)
IMG, BRK, END = 10, 12, 13


def png(w: int, h: int, colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), colour).save(buf, "PNG")
    return buf.getvalue()


def block(data: bytes) -> list[int]:
    """The [IMG] block the tokenizer writes for an image (rows of [IMG] ended by [IMG_BREAK] / [IMG_END])."""
    with Image.open(io.BytesIO(data)) as im:
        rows, cols = images.token_grid(im.width, im.height, CFG.patch_size, CFG.max_image_size)
    toks = ([IMG] * cols + [BRK]) * rows
    toks[-1] = END
    return toks


def sample(imgs: list[bytes], answer: int, prompt: int = 3) -> tuple[list[int], list[int], list[bytes]]:
    """<s> [INST] blocks... prompt text [/INST] answer... </s>: mask 1 on the answer and </s>."""
    toks = [1, 3] + [t for b in imgs for t in block(b)] + [100 + k for k in range(prompt)] + [4]
    n_prompt = len(toks)
    toks += [200 + k for k in range(answer)] + [2]
    return toks, [0] * n_prompt + [1] * (answer + 1), imgs


RED, GREEN, BLUE = png(40, 70, (255, 0, 0)), png(100, 40, (0, 255, 0)), png(17, 33, (0, 0, 255))


def expected(data: bytes) -> torch.Tensor:
    return images.normalize(images.resize_u8(data, CFG.patch_size, CFG.max_image_size))


def test_image_blocks_finds_touching_blocks():
    toks = np.array([1, 3] + block(GREEN) + block(BLUE) + [5, 4])
    starts, ends = image_blocks(toks, IMG, BRK, END)
    assert list(starts) == [2, 2 + len(block(GREEN))]
    assert list(ends) == [1 + len(block(GREEN)), 1 + len(block(GREEN)) + len(block(BLUE))]


def test_batches_carry_images_in_block_order(tmp_path):
    samples = [sample([RED], 5), sample([], 4), sample([GREEN, BLUE], 6), sample([BLUE], 3)]
    write_shard(tmp_path / "s", samples)
    batches = validation_batches([Shard(tmp_path / "s")], seq_len=64, batch_size=2, images=CFG)
    flat = [b for b in batches]
    # Each window's images, in order, are the images whose [IMG_END] appear in its rows, row-major.
    want = [RED, GREEN, BLUE, BLUE]
    got = [im for b in flat for im in b.images]
    assert sum(int((b.tokens == END).sum()) for b in flat) == len(got) == 4
    for g, w in zip(got, want):
        assert torch.equal(g, expected(w))
    # Row-major within a batch: the first batch's images belong to its rows in order.
    first = flat[0]
    per_row = [int((first.tokens[r] == END).sum()) for r in range(first.tokens.shape[0])]
    assert sum(per_row) == len(first.images)


def test_train_stream_images_follow_window_order(tmp_path):
    samples = [sample([RED], 5), sample([GREEN], 5), sample([BLUE], 5), sample([], 5)]
    write_shard(tmp_path / "s", samples)
    stream = TrainStream([Shard(tmp_path / "s")], [1.0], seq_len=48, seed=3, images=CFG)
    by_size = {tuple(expected(b).shape): b for b in (RED, GREEN, BLUE)}
    for _ in range(4):
        batch = stream.next_batch(2)
        ends = [(r, int(p)) for r in range(batch.tokens.shape[0]) for p in torch.nonzero(batch.tokens[r] == END)]
        assert len(ends) == len(batch.images)
        for (r, p), im in zip(ends, batch.images):
            # The block ending at (r, p) has rows x cols of the image placed there.
            doc = batch.doc_ids[r]
            row_tokens = batch.tokens[r][(doc == doc[p]) & (torch.arange(len(doc)) <= p)]
            starts, stops = image_blocks(row_tokens.numpy(), IMG, BRK, END)
            n = int(stops[-1] - starts[-1] + 1)
            rows, cols = im.shape[1] // 16, im.shape[2] // 16
            assert n == rows * (cols + 1)
            assert torch.equal(im, expected(by_size[tuple(im.shape)]))


def test_sample_is_cut_before_the_first_image_that_does_not_fit(tmp_path):
    # Trained text first, then two images in a later user turn: seq_len ends inside the second block.
    first = [1, 3, 100, 4, 200, 201, 202, 2]
    mask = [0, 0, 0, 0, 1, 1, 1, 1]
    later = [3] + block(GREEN) + block(BLUE) + [101, 4, 203, 2]
    toks = first + later
    write_shard(tmp_path / "s", [(toks, mask + [0] * (len(later) - 2) + [1, 1], [GREEN, BLUE])])
    shard = Shard(tmp_path / "s")
    green_end = len(first) + 1 + len(block(GREEN))  # index just past GREEN's [IMG_END]
    seq_len = green_end + 3  # room for GREEN whole and 3 tokens of BLUE
    x, y, m, imgs = shard.sample_with_images(0, seq_len)
    assert list(imgs) == [0]
    assert len(x) == green_end and x[-1] == END  # inputs stop right after GREEN's block
    assert y[-1] == IMG  # BLUE's first token is only a (masked) target
    assert int(m.sum()) == 4
    batch = validation_batches([shard], seq_len, 1, images=CFG)[0]
    assert len(batch.images) == 1 and torch.equal(batch.images[0], expected(GREEN))


def test_sample_with_nothing_trained_before_the_cut_is_dropped(tmp_path):
    big = png(1024, 1024, (9, 9, 9))  # 64x64 grid: 4160 tokens
    write_shard(tmp_path / "s", [sample([big], 5), sample([RED], 5)])
    shard = Shard(tmp_path / "s")
    x, y, m, imgs = shard.sample_with_images(0, 128)
    assert list(imgs) == [] and len(x) == 2 and not m.any()
    batches = validation_batches([shard], 128, 4, images=CFG)
    assert [im.shape for b in batches for im in b.images] == [expected(RED).shape]
    stream = TrainStream([shard], [1.0], seq_len=128, seed=0, images=CFG)
    for _ in range(3):
        w = stream.next_window()  # only the RED sample is ever packed (several copies per window)
        assert len(w.images) == int((w.tokens == END).sum()) >= 1
        assert {k for _, k in w.images} == {1}


def test_pixel_cache_is_built_once_and_reused(tmp_path, monkeypatch):
    write_shard(tmp_path / "s", [sample([RED, GREEN], 4), sample([BLUE], 4)])
    shard = Shard(tmp_path / "s")
    shard.attach_images(CFG)
    files = sorted(p.name for p in (tmp_path / "s").iterdir())
    assert f"{CFG.key}.u8" in files and f"{CFG.key}.idx.u64" in files
    assert not any(".tmp-" in f for f in files)
    assert os.path.getsize(tmp_path / "s" / f"{CFG.key}.u8") == sum(expected(b).numel() for b in (RED, GREEN, BLUE))

    green = expected(GREEN)

    def fail(*a, **k):
        raise AssertionError("the cache was rebuilt")
    monkeypatch.setattr(images, "resize_u8", fail)
    again = Shard(tmp_path / "s")
    again.attach_images(CFG)
    assert torch.equal(images.normalize(again.cache.pixels_u8(1)), green)
    # Another model's pixel settings get their own cache.
    monkeypatch.undo()
    other = ImageConfig(patch_size=14, max_image_size=1540, spatial_merge_size=2)
    again.attach_images(other)
    assert again.cache.pixels_u8(0).shape == (84, 56, 3)


def test_a_corrupt_image_fails_the_cache_naming_it_and_leaves_no_files(tmp_path):
    write_shard(tmp_path / "s", [sample([RED], 4), sample([GREEN[:100]], 4)])
    shard = Shard(tmp_path / "s")
    with pytest.raises(ValueError, match="image 1 cannot be read"):
        shard.attach_images(CFG)
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == \
        ["images.bin", "images.u64", "mask.u8", "meta.json", "offsets.u64", "sample_images.u64", "tokens.u32"]


def test_images_without_image_settings_count_tokens_but_refuse_batches(tmp_path):
    write_shard(tmp_path / "s", [sample([RED], 4)])
    stream = TrainStream([Shard(tmp_path / "s")], [1.0], seq_len=64, seed=0)
    assert int(stream.next_window().mask.sum()) == 10  # the sample fits twice; count_tokens.py's path needs no pixels
    with pytest.raises(ValueError, match="no vision encoder"):
        stream.next_batch(1)


def test_image_config_from_params():
    assert ImageConfig.from_params({"dim": 8}) is None
    v = {"patch_size": 14, "image_size": 1540, "spatial_merge_size": 2}
    assert ImageConfig.from_params({"vision_encoder": v}) == ImageConfig(14, 1540, 2)
    assert ImageConfig.from_params({"vision_encoder": {**v, "max_image_size": 1024}}).max_image_size == 1024


def test_shard_meta_without_image_ids_is_refused(tmp_path):
    write_shard(tmp_path / "s", [sample([RED], 4)])
    meta = json.loads((tmp_path / "s" / "meta.json").read_text())
    del meta["image_token_ids"]
    (tmp_path / "s" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="image_token_ids"):
        Shard(tmp_path / "s")
