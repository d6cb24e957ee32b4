"""The CPU attention path (per-document causal spans) computes exactly what the dense block-diagonal
mask does, loss and gradients, and falls back to the dense mask where spans cannot express it."""
from __future__ import annotations

import torch

from trainer.model import SDPA, DocSpans, Transformer, document_mask, document_spans, sdpa_packed_mask
from trainer.speed import SpeedOptions, apply_speed, resolve_speed
from trainer.tests.test_speed import loss_and_grads, packed_batch, small_model


def test_spans_tile_packed_rows_with_padding():
    batch = packed_batch([[10, 17, 3], [40], [7, 7]], seq_len=48)
    spans = document_spans(batch.doc_ids, batch.positions, None)
    assert spans is not None and spans.rows == 3
    assert spans.spans == ((0, 0, 10), (0, 10, 27), (0, 27, 30), (0, 30, 48), (1, 0, 40), (1, 40, 48),
                           (2, 0, 7), (2, 7, 14), (2, 14, 48))


def test_spans_fall_back_to_the_dense_mask_where_they_do_not_apply():
    batch = packed_batch([[10, 17], [30]], seq_len=32)
    assert document_spans(batch.doc_ids, batch.positions, 12) is None  # a document longer than the window
    assert isinstance(document_spans(batch.doc_ids, batch.positions, 30), DocSpans)
    split = batch.doc_ids.clone()
    split[0, 27:] = 0  # document 0 again after document 1: one id in two runs
    assert document_spans(split, batch.positions, None) is None
    gap = batch.positions.clone()
    gap[1, 5:] += 1  # positions that skip one
    assert document_spans(batch.doc_ids, gap, None) is None
    dense = sdpa_packed_mask(split, batch.positions, None)
    assert isinstance(dense, torch.Tensor) and torch.equal(dense, document_mask(split, batch.positions, None))


def test_span_attention_gives_the_dense_mask_loss_and_gradients():
    model = small_model()
    batch = packed_batch([[10, 17, 3], [40], [7, 7, 20]], seq_len=48)
    model.make_mask = document_mask
    ref_loss, ref_grads = loss_and_grads(model, batch)
    apply_speed(model, resolve_speed(SpeedOptions(), torch.device("cpu"), 2))
    assert model.make_mask is SDPA.make_mask
    assert isinstance(model.packed_mask(batch.doc_ids, batch.positions), DocSpans)
    loss, grads = loss_and_grads(model, batch)
    assert abs(loss.item() - ref_loss.item()) < 1e-5
    assert max((a - b).abs().max().item() for a, b in zip(grads, ref_grads)) < 1e-6
    assert max(g.abs().max().item() for g in grads) > 1e-4


def test_compiled_sdpa_keeps_the_dense_mask():
    model: Transformer = small_model()
    apply_speed(model, resolve_speed(SpeedOptions(attention="sdpa", compile=False), torch.device("cpu"), 2))
    assert model.make_mask is SDPA.make_mask
    model.compile_blocks = lambda **_: None  # only the mask choice is under test here, not compilation
    apply_speed(model, resolve_speed(SpeedOptions(attention="sdpa", compile=True), torch.device("cpu"), 2))
    assert model.make_mask is document_mask
