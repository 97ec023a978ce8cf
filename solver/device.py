"""Device, dtype and distributed setup in one place: the only module that names "cuda".

A run reads torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK). With WORLD_SIZE > 1 it joins
the process group (nccl on GPUs, gloo on CPU); everything else sees only a `Runtime`.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
from dataclasses import dataclass
from typing import ContextManager

import numpy as np
import torch
import torch.distributed as dist

from arc_pipeline.arc.errors import ArcError

# float16 is for inference only (predict.dtype): train.dtype's check does not offer it (no loss scaling)
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
log = logging.getLogger(__name__)


def device_name() -> str:
    """The model name of this machine's first GPU (e.g. "NVIDIA H100 80GB HBM3"), or "CPU" without one."""
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"


@dataclass(frozen=True)
class Runtime:
    """Where this process computes, in which precision, and its place among the ranks."""

    device: torch.device
    dtype: torch.dtype  # activation dtype under autocast; master weights stay float32
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    notes: tuple[str, ...] = ()  # choices made for the user (e.g. float32 where bf16 is missing)

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

    def gather_to_main(self, t: torch.Tensor) -> list[torch.Tensor] | None:
        """Every rank's equal-shaped `t` on rank 0 (rank order), None elsewhere. A host tensor travels
        over gloo and stays in host memory: nothing lands on a GPU or on the other ranks."""
        if not self.distributed:
            return [t]
        parts = [torch.empty_like(t) for _ in range(self.world_size)] if self.is_main else None
        dist.gather(t.contiguous(), parts, dst=0)
        return parts

    def all_gather_object(self, obj) -> list:
        """Every rank's `obj` (pickled: small things only), in rank order, on every rank."""
        if not self.distributed:
            return [obj]
        out: list = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def broadcast_object(self, obj, src: int = 0):
        """`obj` as rank `src` has it, on every rank (pickled: small things only)."""
        if not self.distributed:
            return obj
        box = [obj if self.rank == src else None]
        dist.broadcast_object_list(box, src=src)
        return box[0]

    def all_reduce_sum(self, t: torch.Tensor) -> torch.Tensor:
        if self.distributed:
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t

    # ---- host <-> device without stalling the queue --------------------------------------------
    def upload(self, array: np.ndarray) -> torch.Tensor:
        """A host array on this device, in its own dtype (convert on the device: `.long()` of uint8
        moves 8x fewer bytes than converting first). On a GPU it is staged in pinned memory and
        copied non_blocking, so the host goes on queueing work; torch's pinned-memory cache keeps
        the staging buffer until the copy has run."""
        t = torch.from_numpy(np.ascontiguousarray(array))
        if not self.is_gpu:
            return t
        return t.pin_memory().to(self.device, non_blocking=True)

    def read_later(self, t: torch.Tensor) -> "HostRead":
        """Start copying `t` to the host; `HostRead.numpy()` waits for that copy alone (the work queued
        after it keeps running). The one host read a training step makes goes through here."""
        return HostRead(t, self.is_gpu)

    def synchronize(self) -> None:
        """Wait for queued device work (for honest timings)."""
        if self.is_gpu:
            torch.cuda.synchronize(self.device)

    # ---- memory (GPU only; the CPU reports 0 and callers fall back to the whole batch) ----------
    def reset_peak_memory(self) -> None:
        if self.is_gpu:
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)

    def peak_memory(self) -> int:
        """Bytes of the largest allocation footprint since the last reset (0 on the CPU)."""
        if not self.is_gpu:
            return 0
        torch.cuda.synchronize(self.device)
        return int(torch.cuda.max_memory_allocated(self.device))

    def memory_capacity(self) -> int:
        """Total bytes of this rank's GPU (0 on the CPU)."""
        return int(torch.cuda.get_device_properties(self.device).total_memory) if self.is_gpu else 0

    def memory_available(self) -> int:
        """Bytes this rank may plan for: the GPU's free memory plus what torch's allocator already holds
        for this process (its tensors and its cache); not what other processes use (0 on the CPU)."""
        if not self.is_gpu:
            return 0
        free, _ = torch.cuda.mem_get_info(self.device)
        return int(free + torch.cuda.memory_reserved(self.device))

    def free_cached_memory(self) -> None:
        if self.is_gpu:
            torch.cuda.empty_cache()

    def device_name(self) -> str:
        return gpu_name(self.device) if self.is_gpu else "cpu"


class HostRead:
    """A device tensor on its way to the host (`Runtime.read_later`)."""

    def __init__(self, t: torch.Tensor, on_gpu: bool):
        if on_gpu:
            self._host = torch.empty(t.shape, dtype=t.dtype, pin_memory=True)
            self._host.copy_(t, non_blocking=True)
            self._event = torch.cuda.Event()
            self._event.record()
        else:
            self._host, self._event = t, None
        self._array: np.ndarray | None = None

    def numpy(self) -> np.ndarray:
        if self._array is None:
            if self._event is not None:
                self._event.synchronize()
            self._array = self._host.numpy()
        return self._array


def release_cached_memory() -> None:
    """Hand torch's cached GPU blocks back (after an out-of-memory error, before a smaller retry)."""
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def gpu_available() -> bool:
    return torch.cuda.is_available()


def gpu_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device)


def resolve_device(device: str = "auto", local_rank: int = 0) -> torch.device:
    """'auto' -> this rank's GPU when there is one, else the CPU. A numbered GPU ("cuda:0") is refused
    when torchrun started several processes on this node: every one of them would compute on it."""
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    if device.startswith("cuda:") and local_world > 1:
        raise ArcError(_same_gpu(device, local_world))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        device = f"cuda:{local_rank}"
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ArcError(f"device {device!r} asked for but no CUDA device is visible; use --set train.device=cpu")
    return dev


def describe_device(device: str = "auto", processes: int = 1) -> str:
    """What `device` resolves to, in words (the GPU's name, or "cpu"), for reports."""
    dev = resolve_device(device)
    name = gpu_name(dev) if dev.type == "cuda" else "cpu"
    return name + (f" x {processes} processes" if processes > 1 else "")


def _same_gpu(device: str, processes: int) -> str:
    return (f"train.device = {device} with {processes} processes per node would put every process on GPU "
            f"{device.partition(':')[2]}; use train.device = cuda (or auto): each process takes the GPU of its local "
            "rank (CUDA_VISIBLE_DEVICES chooses which GPUs are seen)")


def processes_fit(device: str, processes: int, gpus: int | None = None) -> str:
    """Why `processes` ranks on this node cannot each have their own device of `device`'s kind ("" when
    they can): one GPU per process, never more processes than visible GPUs. `gpus`: the visible count."""
    gpus = torch.cuda.device_count() if gpus is None else gpus
    if device == "cpu" or (device == "auto" and gpus == 0):
        return ""
    if device.startswith("cuda:") and processes > 1:
        return _same_gpu(device, processes)
    if gpus == 0:
        return f"train.device = {device} but no CUDA device is visible; use train.device = cpu"
    if processes > gpus:
        return (f"run.devices = {processes} processes on this node but {gpus} GPU(s) are visible; use --devices {gpus} "
                "(or fewer), or CUDA_VISIBLE_DEVICES to show more")
    return ""


def bf16_supported(device: torch.device) -> bool:
    """Native bf16 on this device: always on the CPU; on a GPU compute capability 8.0+ (A100, L4,
    H100...), not the emulation torch offers on older cards (T4, V100, P100), which is slower than fp32."""
    if device.type != "cuda":
        return True
    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # torch before the including_emulation flag
        return bool(torch.cuda.is_bf16_supported())


def choose_dtype(dtype: str, device: torch.device) -> tuple[torch.dtype, str]:
    """(activation dtype, a note when a choice was made for the user, else "").

    'auto' -> bfloat16 on a GPU with native bf16, float32 on other GPUs (fp16 would need loss
    scaling and risks overflow in the unnormalised residual stream; float32 is always right, only
    slower) and on the CPU (CPU bf16 autocast is slower than fp32 here). Asking for bfloat16 on a
    GPU without it is a user error. float16 (predict.dtype only: inference needs no loss scaling) is
    taken as asked, on GPUs without bf16 the fast choice."""
    if dtype != "auto" and dtype not in _DTYPES:
        raise ArcError(f"unknown dtype {dtype!r}; valid: auto, {', '.join(_DTYPES)}")
    if device.type != "cuda" or dtype == "float16":  # float16: prediction's choice, taken as asked
        return (torch.float32 if dtype == "auto" else _DTYPES[dtype]), ""
    if bf16_supported(device):
        return (torch.bfloat16 if dtype == "auto" else _DTYPES[dtype]), ""
    name = gpu_name(device)
    if dtype == "bfloat16":
        raise ArcError(f"train.dtype = bfloat16 but {name} has no native bf16 (compute capability < 8.0); "
                       "use --set train.dtype=auto (float32 there) or float32")
    note = f"{name} has no native bf16: computing in float32 (about 2x the activation memory of bf16, and slower)"
    return torch.float32, note if dtype == "auto" else ""


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """The activation dtype `choose_dtype` picks (without its note)."""
    return choose_dtype(dtype, device)[0]


def setup_runtime(device: str = "auto", dtype: str = "auto") -> Runtime:
    """Build the Runtime for this process, joining torchrun's process group when WORLD_SIZE > 1."""
    rank = int(os.environ.get("RANK", "0"))
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    dev = resolve_device(device, local_rank)
    if dev.type == "cpu":
        keep_freed_memory()
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
        torch.backends.cuda.matmul.allow_tf32 = True  # fp32 matmuls left outside autocast
    join_process_group()
    chosen, note = choose_dtype(dtype, dev)
    if note and rank == 0:
        log.warning(note)
    return Runtime(device=dev, dtype=chosen, rank=rank, world_size=world_size, local_rank=local_rank,
                   notes=(note,) if note else ())


def join_process_group() -> None:
    """Join torchrun's process group (WORLD_SIZE > 1), once. Where CUDA is visible the backend is
    "cpu:gloo,cuda:nccl": GPU tensors go over NCCL, CPU tensors and object collectives (the run
    directory handshake, which comes before a stage knows its device) over gloo; elsewhere gloo."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or dist.is_initialized():
        return
    rank = int(os.environ.get("RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", str(rank))))
        dist.init_process_group(backend="cpu:gloo,cuda:nccl", rank=rank, world_size=world)
    else:
        dist.init_process_group(backend="gloo", rank=rank, world_size=world)


# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4


def keep_freed_memory() -> bool:
    """Make glibc's malloc keep freed memory for reuse instead of returning it to the OS.

    By default every large tensor is a fresh mmap (or heap top that free trims away), so each
    training step touches its activations' pages for the first time again: a page fault per 4 KiB
    (16,384 for one 64 MiB tensor), slow in a virtual machine. After this, memory freed by one step
    serves the next; the process keeps its peak footprint (docs/benchmarks.md: Training speed on CPU).
    Returns whether it applied: not on other C libraries, or with ARC_CPU_MALLOC=system.
    """
    if os.environ.get("ARC_CPU_MALLOC", "").lower() == "system":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (macOS, musl under another name, Windows)
        return False
    # trim only above 2 GiB of free heap top; never mmap (brk falls back to mmap by itself if it must)
    return bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1) == 1 and mallopt(_M_MMAP_MAX, 0) == 1)


_NODE_GROUPS: dict[int, object] = {}


def node_group(runtime: Runtime) -> tuple[object | None, int, int]:
    """(group, local rank, ranks on this node): this node's ranks as a gloo group, for barriers and
    broadcasts among the processes that share the node's host memory (the host puzzle table);
    (None, 0, 1) in one process. Every rank must call it the first time (it creates the groups).
    torchrun numbers a node's ranks contiguously and gives their count in LOCAL_WORLD_SIZE."""
    if not runtime.distributed:
        return None, 0, 1
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(runtime.world_size)))
    if local_world < 1 or runtime.world_size % local_world:
        raise ArcError(f"LOCAL_WORLD_SIZE {local_world} does not divide the world size {runtime.world_size}; "
                       "launch every node with the same number of processes (torchrun --nproc-per-node)")
    if local_world not in _NODE_GROUPS:
        _NODE_GROUPS[local_world] = dist.new_subgroups(group_size=local_world, backend="gloo")[0]
    return _NODE_GROUPS[local_world], runtime.rank % local_world, local_world


def teardown() -> None:
    """Leave the process group (if this process joined one)."""
    _NODE_GROUPS.clear()
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def set_threads(n: int | None) -> None:
    """CPU intra-op threads (None leaves torch's default)."""
    if n:
        torch.set_num_threads(n)
