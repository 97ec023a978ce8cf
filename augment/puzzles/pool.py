"""Generation on every core: blocks of draw indices run in worker processes and come back in index
order, so a generator that consumes them in order writes the same file whatever the worker count.

Workers are forked where the platform allows (they run numba kernels and numpy only, and start in
milliseconds instead of the seconds a spawned interpreter needs to import numba again)."""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from typing import Callable, Iterator


def cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def workers_for(workers: int | None, worth_it: bool) -> int:
    """`workers` when given (0 = every core); None = every core when the job is worth a pool, else 1."""
    if workers is None:
        return cores() if worth_it else 1
    return cores() if workers == 0 else max(1, workers)


@contextmanager
def worker_pool(workers: int) -> Iterator[Executor | None]:
    """A process pool of `workers` (None for one: everything runs in this process)."""
    if workers <= 1:
        yield None
        return
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method))
    try:
        yield pool
    finally:
        procs = list((pool._processes or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:  # blocks that ran ahead are not needed: stop them rather than wait
            p.terminate()
        for p in procs:
            p.join()


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
