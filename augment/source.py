"""The contract between data (augment) and model (solver): a source of token examples.

Every domain (ARC, Sudoku, mazes) exposes its examples through `ExampleSource`; the trainer and
the predictor read nothing else. Token 0 is PAD in every domain and is ignored by the loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Callable, NamedTuple, Protocol

import numpy as np

PAD = 0  # in every domain; label positions holding PAD are ignored by the loss


class Batch(NamedTuple):
    inputs: np.ndarray  # (B, seq_len) uint8 tokens
    labels: np.ndarray  # (B, seq_len) uint8 tokens; PAD positions carry no loss
    puzzle_ids: np.ndarray  # (B,) int32 rows of the puzzle-embedding table (0 = blank)


@dataclass(frozen=True)
class Groups:
    """Example rows of a source as groups (tasks) of puzzles (augmented copies), each a row range.

    The puzzles of group g are ptr[g]..ptr[g+1]-1; puzzle v holds rows starts[v]..starts[v]+counts[v]-1.
    What the sampler reads is the methods below, which `UniformGroups` answers from per-group arrays."""

    names: tuple[str, ...]
    ptr: np.ndarray  # (G+1,) int64
    starts: np.ndarray  # (V,) int64
    counts: np.ndarray  # (V,) int64

    def __len__(self) -> int:
        return len(self.ptr) - 1

    def puzzles(self) -> np.ndarray:
        """(G,) puzzles of each group."""
        return np.diff(self.ptr)

    def ranges(self, group: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(first row, rows) of puzzle k[i] of group group[i], for every i."""
        v = self.ptr[group] + k
        return self.starts[v], self.counts[v]

    def rows(self) -> int:
        """Example rows over every puzzle of every group."""
        return int(self.counts.sum())

    def puzzle_rows(self) -> np.ndarray | None:
        """(G,) rows of each group's puzzles when every puzzle of a group has as many, else None."""
        first = self.counts[self.ptr[:-1]]
        return first if np.array_equal(self.counts, np.repeat(first, self.puzzles())) else None

    def mean_pairs(self) -> np.ndarray:
        """(G,) mean pairs per puzzle of each group: what one visit streams on average."""
        sums = np.add.reduceat(self.counts.astype(np.float64), self.ptr[:-1]) if len(self.counts) else np.zeros(0)
        return sums / np.diff(self.ptr)


@dataclass(frozen=True)
class UniformGroups:
    """Groups whose puzzles are all one size and lie one after another, as an ARC build's tasks do:
    puzzle k of group g holds rows first[g] + k * size[g] .. + size[g] - 1. Three (G,) arrays (which may
    be memory-mapped), never one entry per puzzle; `names` is read when first asked for."""

    first: np.ndarray  # (G,) first row of the group's first puzzle
    size: np.ndarray  # (G,) rows per puzzle
    count: np.ndarray  # (G,) puzzles
    read_names: Callable[[], tuple[str, ...]]

    @cached_property
    def names(self) -> tuple[str, ...]:
        return self.read_names()

    def __len__(self) -> int:
        return len(self.first)

    def puzzles(self) -> np.ndarray:
        return np.asarray(self.count, dtype=np.int64)

    def ranges(self, group: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        size = np.asarray(self.size[group], dtype=np.int64)
        return np.asarray(self.first[group], dtype=np.int64) + k * size, size

    def rows(self) -> int:
        return int(np.dot(np.asarray(self.size, dtype=np.int64), np.asarray(self.count, dtype=np.int64)))

    def puzzle_rows(self) -> np.ndarray:
        return np.asarray(self.size, dtype=np.int64)

    def mean_pairs(self) -> np.ndarray:
        return np.asarray(self.size, dtype=np.float64)


class ExampleSource(Protocol):
    seq_len: int
    vocab_size: int
    num_puzzles: int  # rows of the puzzle-embedding table, row 0 (blank) included

    def __len__(self) -> int: ...

    def batch(self, indices: np.ndarray, seed: int) -> Batch:
        """Examples at `indices`; any randomness (e.g. translation) derives from `seed` alone."""
        ...

    # optional: `groups() -> Groups | UniformGroups | None`, the rows as tasks of puzzles (augmented copies; the reference's
    # sampling rule visits each task once per epoch); without it every example is its own group


@dataclass
class ArraySource:
    """Materialised examples held in arrays (Sudoku, mazes, tests)."""

    inputs: np.ndarray
    labels: np.ndarray
    puzzle_ids: np.ndarray
    vocab_size: int
    num_puzzles: int

    def __post_init__(self) -> None:
        if self.inputs.shape != self.labels.shape or self.inputs.ndim != 2:
            raise ValueError(f"inputs {self.inputs.shape} and labels {self.labels.shape} must be equal 2-D shapes")
        if self.puzzle_ids.shape != (len(self.inputs),):
            raise ValueError(f"puzzle_ids {self.puzzle_ids.shape} must be ({len(self.inputs)},)")

    @property
    def seq_len(self) -> int:
        return self.inputs.shape[1]

    def __len__(self) -> int:
        return len(self.inputs)

    def batch(self, indices: np.ndarray, seed: int) -> Batch:
        return Batch(self.inputs[indices], self.labels[indices], self.puzzle_ids[indices].astype(np.int32))
