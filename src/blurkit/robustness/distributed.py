"""Evaluation past one process: ``torchrun`` + ``torch.distributed``.

``torchrun --nproc_per_node=N -m blurkit evaluate ...`` (or a multi-node
launch) starts N copies of the command with ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` set. Each process takes
every N-th image (:func:`blurkit.data.shard_indices` with ``(rank, world)``); results are gathered on rank 0,
which alone writes files. The backend is ``gloo`` on CPU and ``nccl`` when each
process has a CUDA device. Because every image's corruption is drawn from its
own seed, sharding does not change what any image sees, so N processes give
the same cells as one.

Nothing is written by hand here beyond glue: process groups and collectives
are PyTorch's own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = [
    "DistContext",
    "init_distributed",
    "gather_to_rank0",
    "broadcast_from_rank0",
]


@dataclass(frozen=True)
class DistContext:
    """Where this process sits: ``rank`` of ``world`` processes, its ``device``."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1 and dist.is_available() and dist.is_initialized()

    def barrier(self) -> None:
        if self.active:
            dist.barrier()


def init_distributed(
    device: str | torch.device | None = None, backend: str | None = None
) -> DistContext:
    """Join the process group described by torchrun's environment variables.

    Without ``WORLD_SIZE`` > 1 in the environment this returns a single-process
    context and touches nothing. Under torchrun it initialises the default
    process group once (``gloo`` on CPU, ``nccl`` on CUDA unless ``backend`` is
    given) and, on CUDA, gives each process the GPU of its ``LOCAL_RANK``.

    Example:
        >>> init_distributed("cpu").world  # not launched by torchrun
        1
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = torch.device(device) if device is not None else torch.device("cpu")
    if world > 1:
        if dev.type == "cuda":
            dev = torch.device("cuda", local)
            torch.cuda.set_device(dev)
        if not dist.is_initialized():
            backend = backend or ("nccl" if dev.type == "cuda" else "gloo")
            dist.init_process_group(backend=backend)
        rank, world = dist.get_rank(), dist.get_world_size()
    return DistContext(rank=rank, world=world, local_rank=local, device=dev)


def gather_to_rank0(ctx: DistContext, obj):
    """Gather a picklable object from every rank; rank 0 gets the list (rank order),
    the others get ``None``. Single process: ``[obj]``."""
    if not ctx.active:
        return [obj]
    out = [None] * ctx.world if ctx.is_main else None
    dist.gather_object(obj, out, dst=0)
    return out


def broadcast_from_rank0(ctx: DistContext, obj):
    """Rank 0's ``obj`` on every rank (a no-op in a single process)."""
    if not ctx.active:
        return obj
    box = [obj if ctx.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]
