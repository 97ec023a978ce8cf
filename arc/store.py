"""Tasks packed into a few numpy files, read memory-mapped: what `ingest` writes beside train.json
so a build of a hundred thousand tasks never parses JSON or holds every task at once.

A store is a folder:
    grids.npy       (C,) uint8       every grid's cells, row-major, one grid after another
    grid_index.npy  (G, 3) int64     start in grids.npy, rows, columns
    pairs.npy       (Q, 2) int64     input grid, output grid (-1: a hidden test output)
    tasks.npy       (N, 3) int64     first pair, train pairs, test pairs (train pairs come first)
    ids.json        [N task ids]

`StoreWriter` appends tasks with memory bounded by the index (cells go straight to disk) and
renames the finished folder into place; `TaskStore` is a read-only `Mapping[str, Task]` over it
whose grids are views of the memory map (it pickles as its path, so worker processes reopen it).
"""

from __future__ import annotations

import json
import os
import shutil
from array import array
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Iterator

import numpy as np

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.arc.task import Pair, Task

FILES = ("grids.npy", "grid_index.npy", "pairs.npy", "tasks.npy", "ids.json")


class GrowingNpy:
    """An .npy file written row by row: a header for 0 rows first, the true row count at `close`.

    numpy pads a header so its length does not depend on the first axis's digits (the format's
    room for growth), so the final header fits exactly where the first one was."""

    def __init__(self, path: Path, dtype, tail: tuple[int, ...] = ()):
        self.path, self.dtype, self.tail, self.rows = Path(path), np.dtype(dtype), tuple(tail), 0
        self.f = open(self.path, "wb")
        self._header()
        self.data_start = self.f.tell()

    def _header(self) -> None:
        self.f.seek(0)
        np.lib.format.write_array_header_1_0(
            self.f, {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False,
                     "shape": (self.rows, *self.tail)})

    def append(self, a: np.ndarray) -> None:
        a = np.ascontiguousarray(a, dtype=self.dtype)
        self.f.write(a.tobytes())
        self.rows += len(a) if a.ndim else 1

    def close(self) -> None:
        end = self.f.tell()
        self._header()
        if self.f.tell() != self.data_start:
            raise RuntimeError(f"{self.path}: the .npy header changed length; numpy's header padding is not as expected")
        self.f.seek(end)
        self.f.close()


def load_npy(path: Path) -> np.ndarray:
    """An .npy file memory-mapped (read-only), or read whole when it holds no elements (an empty map fails)."""
    a = np.load(path, mmap_mode="r")
    return a if a.size else np.load(path)


class StoreWriter:
    """Writes a store into `<folder>.tmp` and renames it to `folder` at `close()`."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.tmp = self.folder.with_name(self.folder.name + ".tmp")
        if self.tmp.exists():
            shutil.rmtree(self.tmp)
        self.tmp.mkdir(parents=True)
        self.cells = GrowingNpy(self.tmp / "grids.npy", np.uint8)
        self.ncells = 0
        self.grid_index = array("q")
        self.pairs = array("q")
        self.tasks = array("q")
        self.ids: list[str] = []

    def _grid(self, g: np.ndarray | None) -> int:
        if g is None:
            return -1
        self.cells.append(np.ascontiguousarray(g, dtype=np.uint8).ravel())
        self.grid_index.extend((self.ncells, g.shape[0], g.shape[1]))
        self.ncells += g.size
        return len(self.grid_index) // 3 - 1

    def add(self, task_id: str, task: Task) -> None:
        first = len(self.pairs) // 2
        for p in (*task.train, *task.test):
            self.pairs.extend((self._grid(p.input), self._grid(p.output)))
        self.tasks.extend((first, len(task.train), len(task.test)))
        self.ids.append(task_id)

    def add_from(self, store: "TaskStore", i: int, task_id: str | None = None) -> None:
        """Task `i` of another store, copied as arrays (no Task objects are made)."""
        first, n_train, n_test = (int(v) for v in store.task_rows[i])
        base = len(self.pairs) // 2
        for gi, go in np.asarray(store.pair_rows[first:first + n_train + n_test]).tolist():
            self.pairs.extend((self._grid(store._grid(gi)), self._grid(store._grid(go))))
        self.tasks.extend((base, n_train, n_test))
        self.ids.append(store.ids[i] if task_id is None else task_id)

    def __len__(self) -> int:
        return len(self.ids)

    def close(self) -> Path:
        self.cells.close()
        for name, buf, width in (("grid_index.npy", self.grid_index, 3), ("pairs.npy", self.pairs, 2),
                                 ("tasks.npy", self.tasks, 3)):
            np.save(self.tmp / name, np.frombuffer(buf, dtype=np.int64).reshape(-1, width), allow_pickle=False)
        (self.tmp / "ids.json").write_text(json.dumps(self.ids))
        if self.folder.exists():
            shutil.rmtree(self.folder)
        os.replace(self.tmp, self.folder)
        return self.folder


class TaskStore(Mapping):
    """A store folder as a read-only `Mapping[str, Task]` in stored order (arrays memory-mapped)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        missing = [f for f in FILES if not (self.folder / f).is_file()]
        if missing:
            raise ArcError(f"{self.folder} is not a complete task store (missing {', '.join(missing)}); "
                           "run `arc-pipeline ingest` again")
        try:
            self.cells, self.grid_rows, self.pair_rows, self.task_rows = (
                load_npy(self.folder / f) for f in ("grids.npy", "grid_index.npy", "pairs.npy", "tasks.npy"))
        except (OSError, ValueError) as e:
            raise ArcError(f"{self.folder}: a task store file cannot be read ({e}); run `arc-pipeline ingest` again") from e
        self._ids: list[str] | None = None

    def __reduce__(self):
        return (TaskStore, (str(self.folder),))

    @property
    def ids(self) -> list[str]:
        if self._ids is None:
            self._ids = json.loads((self.folder / "ids.json").read_text())
            if len(self._ids) != len(self.task_rows):
                raise ArcError(f"{self.folder}: ids.json lists {len(self._ids)} tasks, tasks.npy {len(self.task_rows)}; "
                               "run `arc-pipeline ingest` again")
        return self._ids

    def __len__(self) -> int:
        return len(self.task_rows)

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids)

    @cached_property
    def _where(self) -> dict[str, int]:
        return {tid: i for i, tid in enumerate(self.ids)}

    def __getitem__(self, task_id: str) -> Task:
        return self.task(self._where[task_id])

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._where

    def _grid(self, g: int) -> np.ndarray | None:
        if g < 0:
            return None
        s, h, w = (int(v) for v in self.grid_rows[g])
        return self.cells[s:s + h * w].reshape(h, w)

    def task(self, i: int) -> Task:
        """Task number `i` (stored order)."""
        first, n_train, n_test = (int(v) for v in self.task_rows[i])
        pairs = [Pair(self._grid(int(gi)), self._grid(int(go)))
                 for gi, go in np.asarray(self.pair_rows[first:first + n_train + n_test])]
        return Task(self.ids[i], tuple(pairs[:n_train]), tuple(pairs[n_train:]))

    def tasks(self, lo: int, hi: int) -> list[Task]:
        return [self.task(i) for i in range(lo, min(hi, len(self)))]

    def signature(self) -> list:
        """(file, size, mtime) of every file: the store's identity for a resumed build."""
        return [(f, (self.folder / f).stat().st_size, (self.folder / f).stat().st_mtime_ns) for f in FILES]
