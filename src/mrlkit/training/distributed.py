"""Several processes (``torchrun``, ``accelerate launch``): one rank writes, every rank trains the same data.

transformers' trainer does the distributed training itself (DDP through accelerate). What ``finetune``
adds around it: the process group is started before anything else, so that the steps that must
happen once (base evaluation, hard-negative mining, printing, saving the model and the report) run
on the main process only, and what the other processes need from them is sent to them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

import torch.distributed as dist

T = TypeVar("T")


def world_size() -> int:
    """Number of processes of this run: ``WORLD_SIZE`` as set by torchrun/accelerate, else 1."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """Whether this process writes files and prints (global rank 0; always true in one process)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return int(os.environ.get("RANK", "0")) == 0


def init_distributed() -> None:
    """Start the process group when launched with several processes (gloo on CPU, nccl on GPUs).

    accelerate's ``PartialState`` picks the backend and device the trainer will use, and the trainer
    later finds the group already started.
    """
    if world_size() > 1 and not (dist.is_available() and dist.is_initialized()):
        from accelerate import PartialState

        PartialState(cpu=cpu_processes())


def cpu_processes() -> bool:
    """Several processes and no GPU: accelerate and the trainer must be told to use DDP on CPUs (gloo)."""
    import torch

    return world_size() > 1 and not torch.cuda.is_available()


def on_main_then_share(fn: Callable[[], T]) -> T:
    """Run ``fn`` on the main process only and give its result to every process.

    In one process this is just ``fn()``. With several, the others wait for the main one and receive
    a pickled copy, so that, e.g., mined training data is the same on every rank (it must be: each
    rank takes its share of the same rows).
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return fn()
    box: list[T | None] = [fn() if dist.get_rank() == 0 else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]  # type: ignore[return-value]


def wait_for_everyone() -> None:
    """A barrier across the processes of a multi-process run; nothing in one process."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()
