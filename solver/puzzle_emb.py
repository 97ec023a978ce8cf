"""Puzzle embeddings: one learned vector per (task, augmentation), held in a large table that is
updated sparsely (only the rows of a batch) by sign-SGD, outside the dense optimizer and DDP.

Where the table lives (`train.puzzle_table`, docs/puzzle-table.md):
- "device": a module buffer that moves to the device with the model; every rank holds all of it.
- "host": a `HostTable` in host memory, one copy per node that the node's ranks map shared; a step
  moves only its batch's rows to the device and one rank per node writes the update. The module
  holds the host tensor as a plain attribute, so it is neither moved, broadcast by DDP nor saved
  in the state dict (checkpoints store it apart: solver/table_store.py).
A model built from such a checkpoint for inference reads rows through a `StoredRows` (same
attribute), which opens only the rows asked for.

Training gathers rows outside the compiled forward: `leaf(ids)` returns them as a fresh leaf with
requires_grad and remembers it; the model takes the rows in place of the ids; after backward
`pop_grads()` hands out (ids, grads) for `update` (sign-SGD). `forward(ids)` gives plain rows.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.solver.optim import sign_sgd_rows, sign_sgd_update

PLACEMENTS = ("device", "host")


class PuzzleEmbedding(nn.Module):
    """A (num_puzzles, hidden) table, zero-initialised; row 0 is the blank puzzle.

    `on_device=False` builds it without a table: `attach` gives it one kept off the device."""

    table: torch.Tensor

    def __init__(self, num_puzzles: int, hidden: int, on_device: bool = True):
        super().__init__()
        if num_puzzles < 1:
            raise ValueError(f"num_puzzles must be >= 1, got {num_puzzles}")
        self.hidden, self.host = hidden, None
        if on_device:
            self.register_buffer("table", torch.zeros(num_puzzles, hidden))
        else:
            self.table = None  # a plain attribute: `attach` sets it
            self._rows = num_puzzles
        self._pending: list[tuple[torch.Tensor, torch.Tensor]] = []

    @property
    def on_device(self) -> bool:
        return "table" in self._buffers

    @property
    def num_puzzles(self) -> int:
        return self.table.shape[0] if self.table is not None else self._rows

    def attach(self, rows) -> None:
        """Hold `rows` (a `HostTable`, or a tensor-like row reader such as `StoredRows`) off the device."""
        if self.on_device:
            raise ValueError("this table is a device buffer; build the model with puzzle_table='host' to attach one")
        self.host = rows if isinstance(rows, HostTable) else None
        self.table = rows.tensor if isinstance(rows, HostTable) else rows

    def reset_parameters(self) -> None:
        """Zero every row (the reference's init: a puzzle starts as 'no information')."""
        if self.on_device:
            with torch.no_grad():
                self.table.zero_()
        self._pending.clear()

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Rows for `ids` (B,) -> (B, hidden) on ids' device (never trainable: see `leaf`)."""
        if self.on_device:
            return self.table[ids]
        if self.host is not None:
            return self.host.gather(ids)
        return self.table[ids.cpu()].to(ids.device)

    def leaf(self, ids: torch.Tensor) -> torch.Tensor:
        """Rows for `ids` as a fresh trainable leaf whose gradient `pop_grads` collects. Call it outside a
        compiled region (marking a tensor trainable there breaks the graph)."""
        rows = self(ids).detach()  # a gather already copies: the leaf owns its memory
        rows.requires_grad_(True)
        self._pending.append((ids, rows))
        return rows

    def pop_grads(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(ids (N,), grads (N, hidden)) of every batch gathered since the last pop; clears them.

        Rows whose gradient never arrived (not part of the loss) contribute zeros.
        """
        pending, self._pending = self._pending, []
        if not pending:
            device = self.table.device if self.on_device else torch.device("cpu")
            return torch.zeros(0, dtype=torch.long, device=device), torch.zeros(0, self.hidden, device=device)
        ids = torch.cat([i.long() for i, _ in pending])
        grads = torch.cat([r.grad if r.grad is not None else torch.zeros_like(r) for _, r in pending])
        return ids, grads

    def discard_grads(self) -> None:
        """Forget gathered rows (e.g. after a step skipped for a non-finite loss)."""
        self._pending.clear()

    @torch.no_grad()
    def update(self, ids: torch.Tensor, grads: torch.Tensor, lr: float, weight_decay: float) -> None:
        """Sign-SGD on the rows `ids` (the same ids and grads on every rank: they are gathered)."""
        if self.host is not None:
            self.host.update(ids, grads, lr, weight_decay)
        else:
            sign_sgd_update(self.table, ids, grads, lr, weight_decay)

    @torch.no_grad()
    def extend(self, n_new_rows: int, init: Literal["mean", "zeros"] = "mean") -> range:
        """Append rows for new puzzles (test-time adaptation); returns their ids.

        "mean" starts them at the mean of the trained rows 1.. (random init hurts; TRM.md),
        falling back to zeros when there are no trained rows.
        """
        if n_new_rows < 0:
            raise ValueError(f"n_new_rows must be >= 0, got {n_new_rows}")
        if not self.on_device:
            raise ValueError("only a device table extends; rebuild the host table at its new size")
        start = self.num_puzzles
        new = torch.zeros(n_new_rows, self.table.shape[1], dtype=self.table.dtype, device=self.table.device)
        if init == "mean" and start > 1:
            new += self.table[1:].mean(dim=0)
        elif init not in ("mean", "zeros"):
            raise ValueError(f"init must be 'mean' or 'zeros', got {init!r}")
        self.table = torch.cat([self.table, new])
        return range(start, start + n_new_rows)

    def replace(self, table: torch.Tensor) -> None:
        """Hold `table` as the device buffer from now on (whatever held the rows before)."""
        self.host = None
        self._buffers.pop("table", None)
        self.__dict__.pop("table", None)
        self.register_buffer("table", table)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing, unexpected, errors):
        # a checkpoint may hold a differently sized table (extended, or another build): take its shape
        # so the caller's own check (with a proper message) decides whether that is acceptable
        key = prefix + "table"
        if self.on_device and key in state_dict and state_dict[key].shape != self.table.shape:
            self.table = torch.empty_like(state_dict[key], device=self.table.device, dtype=self.table.dtype)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing, unexpected, errors)


class HostTable:
    """The puzzle table in host memory, one copy per node: a file in `directory` (tmpfs by default)
    that every rank of the node maps shared. Local rank 0 creates it (zero pages), the others map
    it, then the name is unlinked: the memory lives until the last rank exits, so a crash leaves
    nothing behind. Local rank 0 (the writer) applies every update; the node's ranks meet at a
    barrier before anyone reads again. The writer also keeps what a checkpoint needs: the rows
    changed since the last one, and the float64 sum of the rows it counts (their mean starts new
    puzzles in adaptation without reading the table)."""

    def __init__(self, rows: int, hidden: int, runtime, directory: str | Path = ""):
        from arc_pipeline.solver.device import node_group

        self.rows, self.hidden, self.runtime = rows, hidden, runtime
        self.group, self.local_rank, self.local_world = node_group(runtime)
        self.writer = self.local_rank == 0
        nbytes = rows * hidden * 4
        path = None
        if self.writer:
            folder = table_folder(directory, nbytes)
            path = folder / f"arc-pipeline-puzzle-table-{os.getpid()}-{uuid.uuid4().hex[:8]}.f32"
            with open(path, "wb") as f:
                f.truncate(nbytes)  # zero pages, allocated on first write
        path = Path(self._broadcast(str(path) if path else None))
        self.tensor = torch.from_file(str(path), shared=True, size=rows * hidden, dtype=torch.float32).view(rows, hidden)
        self.barrier()
        if self.writer:
            path.unlink()
        self.changed = np.zeros(rows if self.writer else 0, dtype=bool)  # rows updated since the last checkpoint
        self.counted: np.ndarray | None = None  # rows whose sum is kept (writer), bool per row
        self.counted_rule = ""
        self.row_sum = np.zeros(hidden, dtype=np.float64)
        self.chain: dict | None = None  # the stored table this one continues (solver/table_store.py)
        self._staging: torch.Tensor | None = None
        self._copied = None  # an event after the last copy out of the staging buffer

    # ---- the node's ranks ---------------------------------------------------------------------
    def barrier(self) -> None:
        if self.group is not None:
            import torch.distributed as dist

            dist.barrier(group=self.group)

    def _broadcast(self, value):
        if self.group is None:
            return value
        import torch.distributed as dist

        box = [value]
        dist.broadcast_object_list(box, src=dist.get_global_rank(self.group, 0), group=self.group)
        return box[0]

    def fill(self, make, row_sum: np.ndarray | None = None) -> None:
        """The writer runs `make(tensor)` to set every row (a checkpoint's table) and takes `row_sum` as
        the counted rows' sum (recounted from the rows when None); the others wait."""
        if self.writer:
            make(self.tensor)
            self.changed[:] = False
            if row_sum is not None:
                self.row_sum = np.asarray(row_sum, dtype=np.float64).copy()
            else:
                self.recount()
        self.barrier()

    # ---- a step ------------------------------------------------------------------------------
    def gather(self, ids: torch.Tensor) -> torch.Tensor:
        """Rows `ids` on ids' device: gathered on the host into pinned memory, copied without blocking."""
        device = ids.device
        host_ids = ids.to("cpu", torch.long)
        if device.type == "cpu":
            return self.tensor[host_ids]
        buf = self._stage(len(host_ids), device)
        torch.index_select(self.tensor, 0, host_ids, out=buf)
        rows = buf.to(device, non_blocking=True)
        self._copied.record()
        return rows

    def _stage(self, n: int, device: torch.device) -> torch.Tensor:
        """A pinned buffer of n rows, reused once its previous copy to the device has finished."""
        if self._staging is None or self._staging.shape[0] < n:
            self._staging, self._copied = torch.empty(n, self.hidden).pin_memory(), torch.Event(device=device)
        else:
            self._copied.synchronize()
        return self._staging[:n]

    @torch.no_grad()
    def update(self, ids: torch.Tensor, grads: torch.Tensor, lr: float, weight_decay: float) -> None:
        """The writer applies sign-SGD to the rows `ids` (gathered from every rank); all meet after."""
        if self.writer and ids.numel():
            host_ids, host_grads = ids.to("cpu", torch.long), grads.to("cpu")
            old = self.tensor[host_ids]
            new = sign_sgd_rows(old, host_ids, host_grads, lr, weight_decay)
            self.tensor[host_ids] = new
            flat = host_ids.numpy()
            self.changed[flat] = True
            if self.counted is not None:
                uniq, first = np.unique(flat, return_index=True)
                pick = first[self.counted[uniq]]
                self.row_sum += (new[pick].double() - old[pick].double()).sum(0).numpy()
        self.barrier()

    # ---- what checkpoints need ------------------------------------------------------------------
    def count_rows(self, ids: np.ndarray | None, rule: str) -> None:
        """Keep the sum of the rows `ids` (None: rows 1..), named by `rule` for its readers, as the
        writer. Call it before `fill`; the sum starts at 0 (a fresh table is all zeros)."""
        if not self.writer:
            return
        mask = np.zeros(self.rows, dtype=bool)
        if ids is None:
            mask[1:] = True
        else:
            ids = np.asarray(ids, dtype=np.int64)
            mask[ids[(ids > 0) & (ids < self.rows)]] = True
        self.counted, self.counted_rule = mask, rule

    def recount(self) -> None:
        """The counted rows' sum from the table itself (after a fill), in blocks."""
        if self.counted is None:
            return
        total = np.zeros(self.hidden, dtype=np.float64)
        block = max(1, 2**26 // max(self.hidden, 1))
        for lo in range(0, self.rows, block):
            mask = torch.from_numpy(self.counted[lo : lo + block])
            total += self.tensor[lo : lo + block][mask].double().sum(0).numpy()
        self.row_sum = total

    def take_changed(self) -> np.ndarray:
        """Sorted ids of the rows updated since the last call (the writer's; what a delta stores)."""
        ids = np.flatnonzero(self.changed)
        self.changed[ids] = False
        return ids

    def counted_record(self) -> dict:
        """What the kept sum covers, for a checkpoint's record."""
        return {"rule": self.counted_rule, "rows": int(self.counted.sum()) if self.counted is not None else 0}


def table_folder(directory: str | Path, nbytes: int) -> Path:
    """Where a host table's file goes: `directory`, or /dev/shm (memory) when it has room, else the
    system temporary folder (a disk file the page cache holds)."""
    import shutil
    import tempfile

    if directory:
        folder = Path(directory)
        if not folder.is_dir():
            raise ArcError(f"train.puzzle_table_dir = {str(directory)!r} is not a folder; create it or leave it empty "
                           "(/dev/shm when it has room)")
        return folder
    shm = Path("/dev/shm")
    if shm.is_dir() and shutil.disk_usage(shm).free >= nbytes:
        return shm
    tmp = Path(tempfile.gettempdir())
    if shutil.disk_usage(tmp).free < nbytes:
        raise ArcError(f"the puzzle table needs {nbytes / 2**30:.1f} GiB of host memory and neither /dev/shm nor "
                       f"{tmp} has that much free; set train.puzzle_table_dir to a folder that has")
    return tmp
