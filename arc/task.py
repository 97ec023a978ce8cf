"""Task and pair types over numpy grids.

A grid is a 2-D `uint8` numpy array with values 0..9 and 1..30 rows and columns. Parsing and
validation of raw JSON live in `arc.load`; these types assume valid grids.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MAX_SIDE = 30
N_COLORS = 10


def as_grid(rows) -> np.ndarray:
    """A list of rows (already validated) as a read-only uint8 grid."""
    g = np.array(rows, dtype=np.uint8)
    g.setflags(write=False)
    return g


def grid_to_list(grid: np.ndarray) -> list[list[int]]:
    return np.asarray(grid).astype(int).tolist()


@dataclass(frozen=True)
class Pair:
    input: np.ndarray
    output: np.ndarray | None = None  # None for a test input whose answer is hidden


@dataclass(frozen=True)
class Task:
    id: str
    train: tuple[Pair, ...]
    test: tuple[Pair, ...]

    @property
    def has_solutions(self) -> bool:
        return all(p.output is not None for p in self.test)

    def to_json(self, *, with_solutions: bool = True) -> dict:
        """The Kaggle challenge shape; test outputs inline when known and asked for."""

        def pair(p: Pair, keep_output: bool) -> dict:
            d = {"input": grid_to_list(p.input)}
            if keep_output and p.output is not None:
                d["output"] = grid_to_list(p.output)
            return d

        return {
            "train": [pair(p, True) for p in self.train],
            "test": [pair(p, with_solutions) for p in self.test],
        }


@dataclass
class TaskSet:
    """Tasks loaded from one source, by id, in source order; `skipped` maps id -> why."""

    name: str
    tasks: dict[str, Task]
    skipped: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.tasks)

    def __iter__(self):
        return iter(self.tasks.values())

    @property
    def n_pairs(self) -> int:
        return sum(len(t.train) for t in self.tasks.values())

    @property
    def n_test(self) -> int:
        return sum(len(t.test) for t in self.tasks.values())
