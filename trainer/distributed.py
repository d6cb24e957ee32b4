"""Several processes per job, launched by torchrun (`python -m torch.distributed.run --standalone
--nproc-per-node N -m trainer.train --config FILE`); docs/trainer.md, "Several GPUs".

What changes with N ranks, and only here (train.py calls these hooks; with one process they do nothing):
- Every rank builds the step's whole global batch (batch_size × grad_accum packed windows, the
  same stream and cursor as one process: packing is cheap next to the forward pass) and trains on
  its own contiguous slice, in micro-batches of at most batch_size windows. The loss is normalised
  by the step's trained tokens over all ranks, so the step computes the same gradient whatever the
  world size, and a checkpoint taken at any world size resumes at any other.
- `parallel: "ddp"` (default): every rank holds the whole base; the adapter's gradients are summed
  by DistributedDataParallel (its all-reduce once per step: the other micro-batches run under
  no_sync). `parallel: "fsdp"`: FSDP2 (fully_shard, per transformer block) shards the frozen base
  over the ranks and all-gathers one block at a time, for a base that does not fit one device; the
  adapter and the output head stay whole on every rank (ignored by FSDP: the loss reads the head
  outside the forward) and the adapter's gradients are summed by one all-reduce per step. Every
  FSDP forward is a collective, so every rank runs the same number of them: the step's windows must
  split evenly, and each rank evaluates every validation batch.
- Rank 0 is the one writer: events on stdout, checkpoints, TensorBoard, the final adapter. Other
  ranks' stdout goes to /dev/null (their stderr stays, for tracebacks).
- SIGTERM (torchrun forwards it to every rank) stops all ranks at the same step: the stop flag
  rides on the per-step loss all-reduce. Every collective has `collective_timeout_s`, so a rank
  that dies makes the others fail within it instead of hanging; a rank also dies with torchrun
  (PR_SET_PDEATHSIG), so no rank outlives a killed job.
"""
from __future__ import annotations

import contextlib
import ctypes
import datetime
import hashlib
import os
import signal
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from .data import Batch, TrainStream, collate
from .protocol import log

if TYPE_CHECKING:
    from .model import Transformer

@dataclass(frozen=True)
class Ranks:
    """This process's place in the job: rank, world size, and how gradients are shared."""
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    parallel: str = "ddp"

    @property
    def writer(self) -> bool:
        """The one process that writes events, checkpoints and result files."""
        return self.rank == 0

    @property
    def mode(self) -> str:
        """What the `started` event reports: 'none' for one process, else the parallel mode."""
        return "none" if self.world == 1 else self.parallel

    # -- data -------------------------------------------------------------------------------------

    def step_batches(self, stream: TrainStream, batch_size: int, grad_accum: int) -> tuple[list[Batch], int, int]:
        """(this rank's micro-batches, trained targets of the whole step, seen tokens of the whole
        step). The step's batch_size × grad_accum windows are cut into `world` contiguous slices;
        the slice is trained in micro-batches of at most batch_size windows."""
        windows = [stream.next_window() for _ in range(batch_size * grad_accum)]
        n_trained = sum(int(w.mask.sum()) for w in windows)
        seen = sum(int((w.doc_ids >= 0).sum()) for w in windows)
        lo, hi = self.slice_bounds(len(windows))
        if lo == hi or (self.mode == "fsdp" and len(windows) % self.world):
            raise ValueError(f"a step of batch_size × grad_accum = {len(windows)} windows cannot be split "
                             f"{'evenly ' if self.mode == 'fsdp' else ''}over {self.world} ranks: change batch_size or "
                             "ATELIER_TRAIN_PROCESSES")
        mine = windows[lo:hi]
        return [collate(mine[i:i + batch_size]) for i in range(0, len(mine), batch_size)], n_trained, seen

    def slice_bounds(self, n: int) -> tuple[int, int]:
        """[lo, hi) of this rank's share of n items: contiguous, disjoint, covering all n."""
        return self.rank * n // self.world, (self.rank + 1) * n // self.world

    def shard(self, items: list) -> list:
        """This rank's share of the validation batches (all of them under FSDP; `sum` then adds nothing)."""
        if self.mode == "fsdp":
            return items
        lo, hi = self.slice_bounds(len(items))
        return items[lo:hi]

    # -- model ------------------------------------------------------------------------------------

    def load_device(self, device: torch.device) -> torch.device:
        """Where the base is loaded: under FSDP the host, since `wrap` moves each block's shard to the
        device (a base larger than one device never lands there whole); else the device itself."""
        return torch.device("cpu") if self.mode == "fsdp" else device

    def wrap(self, model: "Transformer", device: torch.device) -> torch.nn.Module:
        """The module the training forward runs through: the model itself for one process, else
        DDP (all-reduce of the adapter's gradients) or FSDP2 (sharded frozen base)."""
        if self.world == 1:
            return model
        if self.parallel == "fsdp":
            return _fully_shard(model, device, self.world)
        frozen = [n for n, p in model.named_parameters() if not p.requires_grad] + [n for n, _ in model.named_buffers()]
        # Every rank loaded the same base from disk: only the adapter is broadcast from rank 0.
        DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(model, frozen)
        ids = [device.index] if device.type == "cuda" else None
        return _ModelDDP(model, device_ids=ids, broadcast_buffers=False)

    def backward(self, loss: torch.Tensor, model: torch.nn.Module, last: bool) -> None:
        """loss.backward() for one micro-batch; the adapter's gradients are summed over ranks on the
        step's last one. Every rank's loss is already divided by the whole step's token count, so
        the sum is the one-process gradient (DDP averages: its loss is scaled by the world size)."""
        if self.world == 1:
            return loss.backward()
        if self.mode == "fsdp":
            loss.backward()
            return _sum_adapter_grads(model) if last else None
        with contextlib.nullcontext() if last else model.no_sync():
            (loss * self.world).backward()

    # -- collectives ------------------------------------------------------------------------------

    def agree(self, loss: float, stop: bool) -> tuple[float, bool]:
        """(the step's loss over all ranks, whether any rank was asked to stop): one all-reduce."""
        if self.world == 1:
            return loss, stop
        t = torch.tensor([loss, 1.0 if stop else 0.0], dtype=torch.float64, device=self._collective_device())
        dist.all_reduce(t)
        return float(t[0]), bool(t[1] > 0)

    def sum(self, *values: float) -> tuple[float, ...]:
        """Element-wise sum over ranks of what each evaluated of its `shard` (loss, correct, count)."""
        if self.world == 1 or self.mode == "fsdp":
            return values
        t = torch.tensor(values, dtype=torch.float64, device=self._collective_device())
        dist.all_reduce(t)
        return tuple(float(v) for v in t)

    def _collective_device(self) -> torch.device:
        return torch.device("cuda", self.local_rank) if dist.get_backend() == "nccl" else torch.device("cpu")

    def reseed(self, seed: int, step: int) -> None:
        """Ranks other than 0 draw their own dropout masks (a checkpoint keeps rank 0's RNG only)."""
        if self.rank:
            digest = hashlib.sha256(f"{seed}:{self.rank}:{step}".encode()).digest()
            torch.manual_seed(int.from_bytes(digest[:8], "little") & (2**63 - 1))

    def close(self) -> None:
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


SINGLE = Ranks()


class _ModelDDP(DistributedDataParallel):
    """DDP that also answers the model's own attributes (packed_mask, output, args), so the loss
    code reads the same whether it runs on the model or on its wrapper."""

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.module, name)


def _fully_shard(model: "Transformer", device: torch.device, world: int) -> torch.nn.Module:
    """FSDP2 over the frozen base: each transformer block, then the root (embeddings, final norm).
    The adapter and the output head are ignored: whole on every rank, plain tensors."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard
    mesh = init_device_mesh(device.type, (world,))
    whole = {p for p in model.parameters() if p.requires_grad} | set(model.output.parameters())
    model.output.to(device)  # FSDP moves what it shards; the head it ignores is moved here
    for layer in model.layers:
        fully_shard(layer, mesh=mesh, ignored_params=whole)
    fully_shard(model, mesh=mesh, ignored_params=whole)
    from torch.distributed.tensor import DTensor
    sharded = [p for p in model.parameters() if isinstance(p, DTensor)]
    log(f"fsdp: rank {dist.get_rank()} holds {sum(p.to_local().numel() for p in sharded)} of the "
        f"{sum(p.numel() for p in sharded)} sharded base parameters")
    return model


def _sum_adapter_grads(model: torch.nn.Module) -> None:
    """One all-reduce (sum) of every trainable parameter's gradient, flattened into one buffer."""
    grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def _die_with_parent() -> None:
    """Linux: SIGKILL this rank when torchrun (its parent) dies, even by SIGKILL."""
    if sys.platform != "linux":
        return
    parent = os.getppid()
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before prctl took effect
        os.kill(os.getpid(), signal.SIGKILL)


def init_ranks(device: torch.device, parallel: str, timeout_s: float) -> tuple[Ranks, torch.device]:
    """Join torchrun's process group when launched by it (WORLD_SIZE > 1); returns the ranks and
    this rank's device (cuda:LOCAL_RANK on GPUs). One process: SINGLE and `device` unchanged."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return SINGLE, device
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    _die_with_parent()
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise ValueError(f"rank {rank} needs cuda:{local_rank} but only {torch.cuda.device_count()} GPU(s) are "
                             "visible: lower ATELIER_TRAIN_PROCESSES or check CUDA_VISIBLE_DEVICES")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s), device_id=device if backend == "nccl" else None)
    if rank != 0:
        sys.stdout = open(os.devnull, "w")  # one writer of events: rank 0
    return Ranks(rank, world, local_rank, parallel), device


@contextlib.contextmanager
def ranks_of(device: torch.device, parallel: str, timeout_s: float) -> Iterator[tuple[Ranks, torch.device]]:
    """init_ranks, and the process group torn down at the end (also on errors)."""
    ranks, device = init_ranks(device, parallel, timeout_s)
    try:
        yield ranks, device
    finally:
        ranks.close()
