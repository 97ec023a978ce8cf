"""Generation on every core: blocks of draw indices run in worker processes and come back in index
order, so a generator that consumes them in order writes the same file whatever the worker count.

Workers are forked where the platform allows (they run numba kernels and numpy only, and start in
milliseconds instead of the seconds a spawned interpreter needs to import numba again)."""

from __future__ import annotations

import itertools
from concurrent.futures import Executor
from typing import Callable, Iterator

from arc_pipeline.arc.pool import ordered


def in_order(fn: Callable[..., list], args: tuple, *, block: int, pool: Executor | None) -> Iterator[tuple[int, object]]:
    """(index, item) for index 0, 1, 2, ... where `fn(*args, lo, hi)` returns the items of lo..hi-1.

    The blocks run through `arc.pool.ordered`: with a pool, up to 2 per worker run ahead; closing the
    iterator cancels those not started."""
    blocks = ((*args, lo, lo + block) for lo in itertools.count(0, block))
    for n, items in enumerate(ordered(fn, blocks, pool)):
        for k, item in enumerate(items):
            yield n * block + k, item


class Distinct:
    """Keeps a generator's rows distinct: `new(key)` is True the first time a key (a layout, a
    puzzle's symmetry class) is seen, and counts the repeats; each new row is reported to `on_progress`."""

    def __init__(self, on_progress: Callable[[int], None] | None = None):
        self.seen: set[bytes] = set()
        self.duplicates = 0
        self.on_progress = on_progress

    def new(self, key: bytes) -> bool:
        if key in self.seen:
            self.duplicates += 1
            return False
        self.seen.add(key)
        if self.on_progress:
            self.on_progress(1)
        return True
