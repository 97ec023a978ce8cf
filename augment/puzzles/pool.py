"""Generation on every core: blocks of draw indices run in worker processes and come back in index
order, so a generator that consumes them in order writes the same file whatever the worker count.

Workers are forked where the platform allows (they run numba kernels and numpy only, and start in
milliseconds instead of the seconds a spawned interpreter needs to import numba again)."""

from __future__ import annotations

from collections import deque
from concurrent.futures import Executor
from typing import Callable, Iterator

from arc_pipeline.arc.pool import cores, worker_pool, workers_for  # noqa: F401 (the generators import them from here)


def in_order(fn: Callable[..., list], args: tuple, *, block: int, pool: Executor | None) -> Iterator[tuple[int, object]]:
    """(index, item) for index 0, 1, 2, ... where `fn(*args, lo, hi)` returns the items of lo..hi-1.

    With a pool, up to 2 blocks per worker run ahead; closing the iterator cancels those not started."""
    if pool is None:
        lo = 0
        while True:
            for k, item in enumerate(fn(*args, lo, lo + block)):
                yield lo + k, item
            lo += block
    ahead = 2 * pool._max_workers
    pending: deque = deque()
    nxt = 0
    try:
        while True:
            while len(pending) < ahead:
                pending.append((nxt, pool.submit(fn, *args, nxt, nxt + block)))
                nxt += block
            lo, fut = pending.popleft()
            for k, item in enumerate(fut.result()):
                yield lo + k, item
    finally:
        for _, fut in pending:
            fut.cancel()


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
