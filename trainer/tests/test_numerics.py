"""Gradient check, chunked loss, packing isolation and the loss-mask target rule."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from trainer import loss as loss_mod
from trainer.data import Shard, TrainStream, collate, validation_batches, write_shard
from trainer.lora import LoRAConfig, apply_lora, lora_modules
from trainer.model import ModelArgs, Transformer, document_mask
from trainer.tiny_model import tiny_weights
from trainer.train import batch_loss_sum, checkpoint_steps, lr_at

TINY = {"dim": 8, "n_layers": 1, "head_dim": 4, "hidden_dim": 16, "n_heads": 2, "n_kv_heads": 1,
        "norm_eps": 1e-5, "vocab_size": 11, "rope_theta": 10000.0}


def tiny_model(dtype=torch.float64) -> Transformer:
    model = Transformer(ModelArgs(**TINY))
    model.load_state_dict(tiny_weights(TINY, seed=3), strict=True)
    model.to(dtype)
    apply_lora(model, LoRAConfig(rank=2, scaling=2.0))
    model.to(dtype)
    with torch.no_grad():
        for m in lora_modules(model).values():
            m.lora_B.weight.normal_(0, 0.3)
    return model


def test_gradcheck_through_packed_batch_and_chunked_loss(monkeypatch, tmp_path):
    monkeypatch.setattr(loss_mod, "CHUNK", 3)  # several chunks even for a handful of positions
    write_shard(tmp_path / "s", [([1, 4, 5, 6, 2], [0, 0, 1, 1, 1]), ([1, 7, 8, 2], [0, 1, 1, 1])])
    batch = TrainStream([Shard(tmp_path / "s")], [1.0], seq_len=8, seed=0).next_batch(1)
    model = tiny_model()
    params = [p for p in model.parameters() if p.requires_grad]
    names = [n for n, p in model.named_parameters() if p.requires_grad]

    def f(*values):
        state = {n: v for n, v in zip(names, values)}
        return torch.func.functional_call(model, state, (batch.tokens, batch.positions,
                                                         document_mask(batch.doc_ids, batch.positions, None)),
                                          {"return_hidden": True})

    def loss(*values):
        hidden = f(*values)
        return loss_mod.chunked_ce_sum(hidden[batch.mask], model.output.weight, batch.targets[batch.mask])

    inputs = tuple(p.detach().clone().requires_grad_(True) for p in params)
    assert torch.autograd.gradcheck(loss, inputs, eps=1e-6, atol=1e-6)


def test_chunked_loss_equals_full_cross_entropy(monkeypatch):
    monkeypatch.setattr(loss_mod, "CHUNK", 5)
    h = torch.randn(13, 8, requires_grad=True)
    w = torch.randn(50, 8)
    y = torch.randint(0, 50, (13,))
    ours = loss_mod.chunked_ce_sum(h, w, y)
    (g_ours,) = torch.autograd.grad(ours, h)
    ref = F.cross_entropy(h @ w.t(), y, reduction="sum")
    (g_ref,) = torch.autograd.grad(ref, h)
    assert torch.allclose(ours, ref, atol=1e-5) and torch.allclose(g_ours, g_ref, atol=1e-5)
    total, correct = loss_mod.chunked_eval(h.detach(), w, y)
    assert abs(total - ref.item()) < 1e-3 and correct == int(((h @ w.t()).argmax(-1) == y).sum())


def test_document_logits_unchanged_when_packed_next_to_another(tmp_path):
    doc_a = ([1, 5, 6, 7, 8, 9, 2], [0, 0, 1, 1, 1, 1, 1])
    doc_b = ([1, 3, 4, 10, 2], [0, 1, 1, 1, 1])
    write_shard(tmp_path / "a", [doc_a])
    write_shard(tmp_path / "ba", [doc_b, doc_a])
    model = tiny_model(torch.float32)
    alone = validation_batches([Shard(tmp_path / "a")], seq_len=16, batch_size=1)[0]
    packed = validation_batches([Shard(tmp_path / "ba")], seq_len=16, batch_size=1)[0]
    assert packed.doc_ids[0, :10].tolist() == [0] * 4 + [1] * 6  # B (4 positions) then A (6 positions)
    assert packed.positions[0, 4:10].tolist() == list(range(6))  # positions restart per document

    def logits(b):
        return model(b.tokens, b.positions, document_mask(b.doc_ids, b.positions, None))[0]
    assert torch.allclose(logits(alone)[:6], logits(packed)[4:10], atol=1e-6)


def test_target_mask_rule_uses_the_next_tokens_mask(tmp_path):
    # x = tokens[:-1], y = tokens[1:], trained where mask[1:] is 1: the first answer token (predicted
    # from [/INST]) and the closing </s> are trained, the prompt never is.
    tokens, mask = [1, 3, 6, 4, 8, 9, 2], [0, 0, 0, 0, 1, 1, 1]
    write_shard(tmp_path / "s", [(tokens, mask)])
    b = validation_batches([Shard(tmp_path / "s")], seq_len=8, batch_size=1)[0]
    assert b.tokens[0, :6].tolist() == tokens[:-1]
    assert b.targets[0, :6].tolist() == tokens[1:]
    assert b.mask[0].tolist() == [False, False, False, True, True, True, False, False]
    model = tiny_model(torch.float32)
    hidden = model(b.tokens, b.positions, document_mask(b.doc_ids, b.positions, None), return_hidden=True)
    logits = model.output(hidden)[0]
    want = F.cross_entropy(logits[3:6], torch.tensor([8, 9, 2]), reduction="sum")
    assert torch.allclose(batch_loss_sum(model, b), want, atol=1e-5)


def test_long_sample_is_truncated_keeping_its_start_and_untrained_fragments_are_dropped(tmp_path):
    long_doc = ([1] + list(range(5, 25)), [0] * 3 + [1] * 18)          # 20 positions > seq_len 8
    late_only = ([1] + list(range(5, 25)), [0] * 15 + [1] * 6)         # trained tokens only past seq_len
    short = ([1, 9, 2], [0, 1, 1])
    write_shard(tmp_path / "s", [late_only, long_doc, short])
    windows = validation_batches([Shard(tmp_path / "s")], seq_len=8, batch_size=4)[0]
    assert windows.tokens.shape == (2, 8)
    assert windows.tokens[0].tolist() == long_doc[0][:8]  # the start, with its context
    assert windows.tokens[1, :2].tolist() == [1, 9]


def test_weighted_mixing_and_reshuffle_are_seeded_and_resumable(tmp_path):
    write_shard(tmp_path / "a", [([1, 100 + i, 2], [0, 1, 1]) for i in range(5)])
    write_shard(tmp_path / "b", [([1, 200 + i, 2], [0, 1, 1]) for i in range(5)])
    shards = [Shard(tmp_path / "a"), Shard(tmp_path / "b")]
    stream = TrainStream(shards, [3.0, 1.0], seq_len=2, seed=7)
    first = [stream.next_window().tokens[1] for _ in range(200)]
    from_a = sum(100 <= t < 200 for t in first) / len(first)
    assert 0.65 < from_a < 0.85  # weight 3:1
    import json
    cursor = json.loads(json.dumps(stream.cursor))
    later = [stream.next_window().tokens[1] for _ in range(20)]
    resumed = TrainStream(shards, [3.0, 1.0], seq_len=2, seed=7, cursor=cursor)
    assert [resumed.next_window().tokens[1] for _ in range(20)] == later
    other_seed = TrainStream(shards, [3.0, 1.0], seq_len=2, seed=8)
    assert [other_seed.next_window().tokens[1] for _ in range(200)] != first


def test_schedule_warms_up_linearly_then_decays_and_checkpoints_every_tenth():
    lrs = [lr_at(s, 100, 1e-3, 0.05) for s in range(1, 101)]
    assert lrs[:5] == [1e-3 * s / 5 for s in range(1, 6)]
    assert all(a >= b for a, b in zip(lrs[5:], lrs[6:])) and 0 < lrs[-1] < 1e-5
    assert checkpoint_steps(100, None) == {10, 20, 30, 40, 50, 60, 70, 80, 90, 100}
    assert checkpoint_steps(35, None) == {11, 21, 32, 35}  # 10% marks at least 10 steps apart
    assert checkpoint_steps(7, None) == {7}
    assert checkpoint_steps(10, 4) == {4, 8, 10}
