"""Work on every core: a process pool, and results handed back in job order (so what a caller
writes from them is the same whatever the worker count).

`worker_pool(n)` forks where the platform allows (workers that run numba and numpy only start in
milliseconds); `worker_pool(n, spawn=True)` starts fresh interpreters, for workers that use polars,
whose thread pool does not survive a fork of a parent that has used it."""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator


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
def worker_pool(workers: int, *, spawn: bool = False) -> Iterator[Executor | None]:
    """A process pool of `workers` (None for one: everything runs in this process)."""
    if workers <= 1:
        yield None
        return
    method = "fork" if not spawn and "fork" in multiprocessing.get_all_start_methods() else "spawn"
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method))
    try:
        yield pool
    finally:
        procs = list((pool._processes or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:  # jobs that ran ahead are not needed: stop them rather than wait
            p.terminate()
        for p in procs:
            p.join()


def ordered(fn: Callable, jobs: Iterable[tuple], pool: Executor | None) -> Iterator:
    """`fn(*job)` for every job, yielded in job order; with a pool, up to 2 jobs per worker run ahead
    (so memory holds a few results, never all of them)."""
    if pool is None:
        for job in jobs:
            yield fn(*job)
        return
    ahead = 2 * pool._max_workers
    pending: deque = deque()
    it = iter(jobs)
    try:
        for job in it:
            pending.append(pool.submit(fn, *job))
            if len(pending) >= ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for fut in pending:
            fut.cancel()
