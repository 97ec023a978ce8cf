"""Content fingerprints: equal for equal content whatever the task ids or the order of pairs."""

from __future__ import annotations

import hashlib
from typing import Iterable

import numpy as np

from arc_pipeline.arc.task import Pair, Task

_NO_OUTPUT = "-"  # stands for a hidden test output, so (input, None) never equals (input, grid)


def _digest(*parts: str | bytes) -> str:
    h = hashlib.blake2b(digest_size=16)
    for p in parts:
        h.update(p.encode() if isinstance(p, str) else p)
        h.update(b"\x00")  # separator, so ("ab", "c") and ("a", "bc") differ
    return h.hexdigest()


def grid_key(grid: np.ndarray) -> str:
    """Hex digest of a grid's shape and cells (the shape matters: 1x4 and 2x2 differ)."""
    g = np.ascontiguousarray(grid, dtype=np.uint8)
    return _digest(f"{g.shape[0]}x{g.shape[1]}", g.tobytes())


def pair_key(pair: Pair) -> str:
    """Hex digest of a pair's input and output (a hidden output counts as its own value)."""
    out = _NO_OUTPUT if pair.output is None else grid_key(pair.output)
    return _digest(grid_key(pair.input), out)


def _pair_set(pairs: Iterable[Pair]) -> list[str]:
    return sorted({pair_key(p) for p in pairs})


def task_fingerprint(task: Task) -> str:
    """Digest of the train pairs and the test pairs, each compared as a set; the id is ignored."""
    return _digest("train", *_pair_set(task.train), "test", *_pair_set(task.test))


def tasks_fingerprint(tasks: Iterable[Task]) -> str:
    """Digest of a collection of tasks with their ids (order ignored): a stage's input identity."""
    return _digest(*sorted(f"{t.id}:{task_fingerprint(t)}" for t in tasks))
