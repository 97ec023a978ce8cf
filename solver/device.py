"""Device, dtype and distributed setup in one place: the only module that names "cuda".

A run reads torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK). With WORLD_SIZE > 1 it joins
the process group (nccl on GPUs, gloo on CPU); everything else sees only a `Runtime`.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import ContextManager

import torch
import torch.distributed as dist

from arc.errors import ArcError

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class Runtime:
    """Where this process computes, in which precision, and its place among the ranks."""

    device: torch.device
    dtype: torch.dtype  # activation dtype under autocast; master weights stay float32
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_gpu(self) -> bool:
        return self.device.type == "cuda"

    def autocast(self) -> ContextManager:
        """bf16 autocast on a GPU when asked; a no-op in float32."""
        if self.dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def all_gather(self, t: torch.Tensor) -> torch.Tensor:
        """Concatenate an equal-shaped tensor from every rank along dim 0 (rank order)."""
        if not self.distributed:
            return t
        parts = [torch.empty_like(t) for _ in range(self.world_size)]
        dist.all_gather(parts, t.contiguous())
        return torch.cat(parts, dim=0)

    def all_reduce_sum(self, t: torch.Tensor) -> torch.Tensor:
        if self.distributed:
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t

    def synchronize(self) -> None:
        """Wait for queued device work (for honest timings)."""
        if self.is_gpu:
            torch.cuda.synchronize(self.device)


def gpu_available() -> bool:
    return torch.cuda.is_available()


def resolve_device(device: str = "auto", local_rank: int = 0) -> torch.device:
    """'auto' -> this rank's GPU when there is one, else the CPU."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        device = f"cuda:{local_rank}"
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ArcError(f"device {device!r} asked for but no CUDA device is visible; use --set train.device=cpu")
    return dev


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """'auto' -> bfloat16 on a GPU, float32 on the CPU (CPU bf16 autocast is slower than fp32 here)."""
    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if dtype not in _DTYPES:
        raise ArcError(f"unknown dtype {dtype!r}; valid: auto, {', '.join(_DTYPES)}")
    return _DTYPES[dtype]


def setup_runtime(device: str = "auto", dtype: str = "auto") -> Runtime:
    """Build the Runtime for this process, joining torchrun's process group when WORLD_SIZE > 1."""
    rank = int(os.environ.get("RANK", "0"))
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    dev = resolve_device(device, local_rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
        torch.backends.cuda.matmul.allow_tf32 = True  # fp32 matmuls left outside autocast
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        # device_id binds NCCL to this rank's GPU up front; gloo takes no device.
        kwargs = {"device_id": dev} if backend == "nccl" else {}
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size, **kwargs)
    return Runtime(device=dev, dtype=resolve_dtype(dtype, dev), rank=rank, world_size=world_size, local_rank=local_rank)


def teardown() -> None:
    """Leave the process group (if this process joined one)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def set_threads(n: int | None) -> None:
    """CPU intra-op threads (None leaves torch's default)."""
    if n:
        torch.set_num_threads(n)
