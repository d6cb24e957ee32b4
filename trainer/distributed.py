"""Several processes per job, launched by torchrun (`python -m torch.distributed.run --standalone
--nproc-per-node N -m trainer.train --config FILE`); docs/trainer.md, "Several GPUs".

What changes with N ranks, and only here (train.py calls these hooks; with one process they do nothing):
- Every rank builds the step's whole global batch (batch_size × grad_accum packed windows, the
  same stream and cursor as one process: packing is cheap next to the forward pass) and trains on
  its own contiguous slice, in micro-batches of at most batch_size windows. The loss is normalised
  by the step's trained tokens over all ranks, so the step computes the same gradient whatever the
  world size, and a checkpoint taken at any world size resumes at any other.
- Gradients are summed by DistributedDataParallel (DDP, its all-reduce once per step: the other
  micro-batches run under no_sync). `parallel: "fsdp"` instead shards the frozen base with FSDP2
  (fully_shard), for a base that does not fit one device.
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

if TYPE_CHECKING:
    from .model import Transformer

PARALLEL_MODES = ("ddp", "fsdp")


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
        if lo == hi:
            raise ValueError(f"a step of batch_size × grad_accum = {len(windows)} windows cannot be split over {self.world} "
                             "ranks: raise batch_size or lower ATELIER_TRAIN_PROCESSES")
        mine = windows[lo:hi]
        return [collate(mine[i:i + batch_size]) for i in range(0, len(mine), batch_size)], n_trained, seen

    def slice_bounds(self, n: int) -> tuple[int, int]:
        """[lo, hi) of this rank's share of n items: contiguous, disjoint, covering all n."""
        return self.rank * n // self.world, (self.rank + 1) * n // self.world

    def shard(self, items: list) -> list:
        """This rank's share of a list (validation batches)."""
        lo, hi = self.slice_bounds(len(items))
        return items[lo:hi]

    # -- model ------------------------------------------------------------------------------------

    def wrap(self, model: "Transformer", device: torch.device) -> torch.nn.Module:
        """The module the training forward runs through: the model itself for one process, else
        DDP (all-reduce of the adapter's gradients) or FSDP2 (sharded frozen base)."""
        if self.world == 1:
            return model
        if self.parallel == "fsdp":
            return _fully_shard(model)
        frozen = [n for n, p in model.named_parameters() if not p.requires_grad] + [n for n, _ in model.named_buffers()]
        # Every rank loaded the same base from disk: only the adapter is broadcast from rank 0.
        DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(model, frozen)
        ids = [device.index] if device.type == "cuda" else None
        return _ModelDDP(model, device_ids=ids, broadcast_buffers=False)

    def backward(self, loss: torch.Tensor, model: torch.nn.Module, last: bool) -> None:
        """loss.backward() for one micro-batch; gradients are all-reduced on the step's last one.
        DDP averages over ranks and every rank's loss is already divided by the global token
        count, so the loss is scaled by the world size to make the average a sum."""
        if self.world == 1:
            return loss.backward()
        sync = contextlib.nullcontext() if last or not isinstance(model, DistributedDataParallel) else model.no_sync()
        with sync:
            (loss * self.world if isinstance(model, DistributedDataParallel) else loss).backward()

    # -- collectives ------------------------------------------------------------------------------

    def agree(self, loss: float, stop: bool) -> tuple[float, bool]:
        """(the step's loss over all ranks, whether any rank was asked to stop): one all-reduce."""
        if self.world == 1:
            return loss, stop
        t = torch.tensor([loss, 1.0 if stop else 0.0], dtype=torch.float64, device=self._collective_device())
        dist.all_reduce(t)
        return float(t[0]), bool(t[1] > 0)

    def sum(self, *values: float) -> tuple[float, ...]:
        """Element-wise sum of numbers over ranks (evaluation's loss, correct and count)."""
        if self.world == 1:
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


def _fully_shard(model: "Transformer") -> torch.nn.Module:
    """FSDP2: each transformer block, then the root, sharded over the ranks (frozen base included)."""
    from torch.distributed.fsdp import fully_shard
    for layer in model.layers:
        fully_shard(layer)
    fully_shard(model)
    return model


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
