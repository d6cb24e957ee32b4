"""Cross-entropy over trained target positions without materialising full-vocabulary logits.

The output projection is frozen (LoRA never adapts it), so the only gradient needed is the one
w.r.t. the hidden states. `_ChunkedCE` computes it chunk by chunk during the forward pass
(softmax - one_hot) @ W and keeps only that (N, dim) tensor, so peak memory is one chunk of logits
(`CHUNK` x vocab) instead of every position's logits held for backward.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

CHUNK = 1024  # positions per logits chunk: 1024 x 32768 fp32 = 128 MiB at most


class _ChunkedCE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        acc = torch.promote_types(hidden.dtype, torch.float32)  # fp32 for bf16, fp64 for gradcheck
        total = hidden.new_zeros((), dtype=acc)
        grad = torch.empty_like(hidden) if ctx.needs_input_grad[0] else None
        buf = None  # one logits buffer reused by every chunk (fresh 100+ MiB tensors page-fault on CPU)
        for s in range(0, hidden.shape[0], CHUNK):
            h, y = hidden[s:s + CHUNK], targets[s:s + CHUNK]
            if h.dtype == acc and weight.dtype == acc:
                buf = torch.mm(h, weight.t(), out=buf[:len(h)] if buf is not None else None)
                logits = buf
            else:
                logits = (h @ weight.t()).to(acc)  # (n, V)
            # log-sum-exp by hand, in place: one exp pass serves both the loss and the softmax
            peak = logits.amax(dim=-1, keepdim=True)
            target_logit = logits.gather(1, y[:, None])
            probs = logits.sub_(peak).exp_()
            norm = probs.sum(dim=-1, keepdim=True)
            total += (peak + norm.log() - target_logit).sum()
            if grad is not None:
                probs.div_(norm)  # softmax
                probs[torch.arange(len(y), device=y.device), y] -= 1.0
                grad[s:s + CHUNK] = (probs.to(weight.dtype) @ weight).to(hidden.dtype)
        ctx.save_for_backward(grad if grad is not None else hidden.new_empty(0))
        return total

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        (grad,) = ctx.saved_tensors
        return grad * grad_out.to(grad.dtype), None, None


def chunked_ce_sum(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Sum of cross-entropy of `hidden` (N, dim) @ `weight`.T (V, dim, frozen) against `targets` (N,)."""
    assert not weight.requires_grad, "the output projection is frozen; chunked CE does not train it"
    return _ChunkedCE.apply(hidden, weight, targets)


@torch.no_grad()
def chunked_eval(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> tuple[float, int]:
    """(sum of cross-entropy, number of correct argmax predictions) over (N, dim) hidden states."""
    loss, correct = 0.0, 0
    for s in range(0, hidden.shape[0], CHUNK):
        logits = (hidden[s:s + CHUNK] @ weight.t()).float()
        y = targets[s:s + CHUNK]
        loss += F.cross_entropy(logits, y, reduction="sum").item()
        correct += int((logits.argmax(-1) == y).sum().item())
    return loss, correct
