"""Puzzle embeddings: one learned vector per (task, augmentation), held in a large table that is
updated sparsely (only the rows of a batch) by sign-SGD, outside the dense optimizer and DDP.

The table is a buffer, not a Parameter, so the dense optimizer and DDP never see it. Training
gathers rows outside the compiled forward: `leaf(ids)` returns them as a fresh leaf with
requires_grad and remembers it; the model takes the rows in place of the ids; after backward
`pop_grads()` hands out (ids, grads) for `update` (sign-SGD). `forward(ids)` gives plain rows.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from arc_pipeline.solver.optim import sign_sgd_update


class PuzzleEmbedding(nn.Module):
    """A (num_puzzles, hidden) table, zero-initialised; row 0 is the blank puzzle."""

    table: torch.Tensor

    def __init__(self, num_puzzles: int, hidden: int):
        super().__init__()
        if num_puzzles < 1:
            raise ValueError(f"num_puzzles must be >= 1, got {num_puzzles}")
        self.register_buffer("table", torch.zeros(num_puzzles, hidden))
        self._pending: list[tuple[torch.Tensor, torch.Tensor]] = []

    @property
    def num_puzzles(self) -> int:
        return self.table.shape[0]

    def reset_parameters(self) -> None:
        """Zero every row (the reference's init: a puzzle starts as 'no information')."""
        with torch.no_grad():
            self.table.zero_()
        self._pending.clear()

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Rows for `ids` (B,) -> (B, hidden), never trainable (see `leaf`)."""
        return self.table[ids]

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
            return (
                torch.zeros(0, dtype=torch.long, device=self.table.device),
                torch.zeros(0, self.table.shape[1], dtype=self.table.dtype, device=self.table.device),
            )
        ids = torch.cat([i.long() for i, _ in pending])
        grads = torch.cat([r.grad if r.grad is not None else torch.zeros_like(r) for _, r in pending])
        return ids, grads

    def discard_grads(self) -> None:
        """Forget gathered rows (e.g. after a step skipped for a non-finite loss)."""
        self._pending.clear()

    @torch.no_grad()
    def update(self, ids: torch.Tensor, grads: torch.Tensor, lr: float, weight_decay: float) -> None:
        """Sign-SGD on the rows `ids` (the same ids and grads on every rank: they are gathered)."""
        sign_sgd_update(self.table, ids, grads, lr, weight_decay)

    @torch.no_grad()
    def extend(self, n_new_rows: int, init: Literal["mean", "zeros"] = "mean") -> range:
        """Append rows for new puzzles (test-time adaptation); returns their ids.

        "mean" starts them at the mean of the trained rows 1.. (random init hurts; TRM.md),
        falling back to zeros when there are no trained rows.
        """
        if n_new_rows < 0:
            raise ValueError(f"n_new_rows must be >= 0, got {n_new_rows}")
        start = self.num_puzzles
        new = torch.zeros(n_new_rows, self.table.shape[1], dtype=self.table.dtype, device=self.table.device)
        if init == "mean" and start > 1:
            new += self.table[1:].mean(dim=0)
        elif init not in ("mean", "zeros"):
            raise ValueError(f"init must be 'mean' or 'zeros', got {init!r}")
        self.table = torch.cat([self.table, new])
        return range(start, start + n_new_rows)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing, unexpected, errors):
        # a checkpoint may hold a differently sized table (extended, or another build): take its shape
        # so the caller's own check (with a proper message) decides whether that is acceptable
        key = prefix + "table"
        if key in state_dict and state_dict[key].shape != self.table.shape:
            self.table = torch.empty_like(state_dict[key], device=self.table.device, dtype=self.table.dtype)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing, unexpected, errors)
