"""The build in chunks of tasks, on every core, with memory bounded by a chunk (see `augment.build`).

Two passes over the tasks, each a list of jobs that workers run in any order:
1. `plan_chunk`: per task, the fit check, its augmentation records (the costly part) and the
   counts that place it (grids, cells, pairs); saved in the work folder, one file per chunk.
2. `fill_chunk`: with every task's place known (prefix sums of those counts), each chunk writes
   its slice of the memory-mapped output arrays and its part of the puzzle table.

Everything a chunk writes depends on its tasks and their places only; the random translation
offsets come from the split's one generator advanced to the chunk's first draw (PCG64 advance),
so the arrays are the bytes one sequential pass writes, whatever the chunking and worker count.
A chunk's file is written under a temporary name and renamed, so a killed build resumes with the
chunks it finished.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from arc_pipeline.arc.task import Task
from arc_pipeline.augment.sample import sample_aug_rows
from arc_pipeline.augment.transform import check_aug_rows

OFFSET_STREAM = 0x7E  # the translation generator of split i is default_rng([seed, OFFSET_STREAM, i])


@dataclass(frozen=True)
class Chunk:
    """Tasks lo..hi-1 of one role: read from a task store (pickled as its path) or carried along."""

    index: int
    role: str  # "train" | "target"
    lo: int
    hi: int
    store: object = None  # a TaskStore, or None when `tasks` carries them
    tasks: tuple[Task, ...] = ()

    def load(self) -> list[Task]:
        return list(self.tasks) if self.store is None else self.store.tasks(self.lo, self.hi)


def save_npz(path: Path, **arrays) -> None:
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)


def blob_chunk(chunk: Chunk) -> bytes:
    """The fingerprint bytes of a chunk's tasks (for a resumed build whose plan is already saved)."""
    from arc_pipeline.augment.build import task_blob

    return b"".join(task_blob(chunk.role, t.id, t) for t in chunk.load())


def plan_chunk(chunk: Chunk, cfg, given: dict, out: Path) -> bytes:
    """Pass 1 for one chunk: saves its records and counts to `out`; returns its fingerprint bytes."""
    from arc_pipeline.augment.build import _fits, demos_key, task_blob

    tasks = chunk.load()
    recs, n_augs, demos, blobs = [], [], [], []
    counts = np.zeros((len(tasks), 6), dtype=np.int64)  # train, test, known tests, grids, cells, augs
    for k, task in enumerate(tasks):
        _fits(task, cfg.canvas, chunk.role)
        if task.id in given:  # e.g. exactly those an imported checkpoint trained
            r = check_aug_rows(given[task.id])
        else:
            r = sample_aug_rows(task, cfg.augmentations, cfg.seed, permute_zero=cfg.permute_zero)
        recs.append(r)
        demos.append(demos_key(task))
        blobs.append(task_blob(chunk.role, task.id, task))
        grids = [g for p in (*task.train, *task.test) for g in (p.input, p.output) if g is not None]
        counts[k] = (len(task.train), len(task.test), sum(p.output is not None for p in task.test),
                     len(grids), sum(g.size for g in grids), len(r))
    save_npz(out, recs=np.concatenate(recs) if recs else np.zeros((0, 11), np.uint8), counts=counts,
             demos=np.asarray(demos, dtype="S16").reshape(-1))
    return b"".join(blobs)


@dataclass(frozen=True)
class Place:
    """Where a chunk's tasks go: per task its first puzzle id, grid and cell, whether it validates,
    its first row in each split, its first kept puzzle (example_count > 0) in its demo split."""

    puzzle: np.ndarray
    grid: np.ndarray
    cell: np.ndarray
    val: np.ndarray
    rows: dict  # split -> (k,) first example row of each task in that split
    kept: np.ndarray
    totals: dict  # split -> examples in the whole split


def rows_for(puzzles: np.ndarray, pairs: list[tuple[int, int, int, int]]) -> np.ndarray:
    # Every pair for every puzzle, puzzle-major: (puzzle, grid_in, grid_out, pair, test_index).
    if len(puzzles) == 0 or not pairs:
        return np.zeros((0, 5), dtype=np.int32)
    p = np.asarray(pairs, dtype=np.int32)
    out = np.empty((len(puzzles), len(p), 5), dtype=np.int32)
    out[:, :, 0] = np.asarray(puzzles, dtype=np.int32)[:, None]
    out[:, :, 1:] = p[None, :, :]
    return out.reshape(-1, 5)


def _generator(seed: int, split_index: int, skip: int) -> np.random.Generator:
    # default_rng([seed, OFFSET_STREAM, i]) after `skip` doubles (one 64-bit draw each)
    bits = np.random.PCG64(np.random.SeedSequence([seed, OFFSET_STREAM, split_index]))
    bits.advance(skip)
    return np.random.Generator(bits)


def fill_chunk(chunk: Chunk, cfg, plan_file: Path, place: Place, out: Path, table_file: Path, done: Path) -> None:
    """Pass 2 for one chunk: its slices of the arrays in `out` and its puzzle-table part."""
    from arc_pipeline.augment.build import SPLITS, extents

    tasks = chunk.load()
    plan = np.load(plan_file)
    recs, counts, demos = plan["recs"], plan["counts"], plan["demos"]
    demo_split = "train" if cfg.protocol == "joint" else "adapt"
    cells, shapes, examples = [], [], {s: [] for s in SPLITS}
    info = {k: [] for k in ("split", "start", "count")}  # per task: its demo split, first row there, pairs
    kept_starts, kept_counts = [], []  # this chunk's puzzles with examples, in their split
    for k, task in enumerate(tasks):
        n = int(counts[k, 5])
        ids = np.arange(place.puzzle[k], place.puzzle[k] + n)
        g = int(place.grid[k])

        def add(grid) -> int:
            nonlocal g
            if grid is None:
                return -1
            cells.append(np.ascontiguousarray(grid, dtype=np.uint8).ravel())
            shapes.append(grid.shape)
            g += 1
            return g - 1

        demo_rows = [(add(p.input), add(p.output), i, -1) for i, p in enumerate(task.train)]
        j0 = len(task.train)
        tests = [(add(p.input), add(p.output), j0 + j, j) for j, p in enumerate(task.test)]
        if chunk.role == "train":
            split = "train"
            if place.val[k]:
                examples["val"].append(rows_for(ids[: cfg.val_augs], tests))
            else:  # known test pairs of training tasks are demonstrations like any other
                demo_rows += [(gi, go, pair, -1) for gi, go, pair, _ in tests if go >= 0]
        else:
            split = demo_split
            examples["test"].append(rows_for(ids, tests))
        examples[split].append(rows_for(ids, demo_rows))
        start = int(place.rows[split][k])
        d = len(demo_rows)
        info["split"].append(SPLITS.index(split))
        info["start"].append(start)
        info["count"].append(d)
        if d:
            kept_starts.append(start + np.arange(n, dtype=np.int64) * d)
            kept_counts.append(np.full(n, d, dtype=np.int64))
    g0, p0 = int(place.grid[0]), int(place.puzzle[0])
    shape_arr = np.asarray(shapes, dtype=np.int64).reshape(-1, 2)
    if cells:
        mm = np.load(out / "grids.npy", mmap_mode="r+")
        flat = np.concatenate(cells)
        mm[place.cell[0]: place.cell[0] + len(flat)] = flat
        mm.flush()
        index = np.empty((len(shapes), 3), dtype=np.int64)
        index[:, 0] = place.cell[0] + np.r_[0, np.cumsum(shape_arr[:, 0] * shape_arr[:, 1])[:-1]]
        index[:, 1:] = shape_arr
        mm = np.load(out / "grid_index.npy", mmap_mode="r+")
        mm[g0: g0 + len(index)] = index
        mm.flush()
    if len(recs):
        mm = np.load(out / "augs.npy", mmap_mode="r+")
        mm[p0: p0 + len(recs)] = recs
        mm.flush()
    for i, s in enumerate(SPLITS):
        if not examples[s] or not sum(len(e) for e in examples[s]):
            continue
        rows = np.concatenate(examples[s])
        first = int(place.rows[s][0])  # rows of a chunk are contiguous in every split
        mm = np.load(out / f"examples_{s}.npy", mmap_mode="r+")
        mm[first: first + len(rows)] = rows
        mm.flush()
        if cfg.translate and s in ("train", "adapt") and cfg.translation == "reference":
            local = rows.astype(np.int64)
            local[:, 0] -= p0
            local[:, 1] -= g0
            local[:, 2] = np.where(local[:, 2] >= 0, local[:, 2] - g0, -1)
            room = cfg.canvas - extents(local, shape_arr, recs) + 1
            offs = np.floor(_generator(cfg.seed, i, 2 * first).random((len(rows), 2)) * room).astype(np.uint8)
            if s == (demo_split if chunk.role == "target" else "train") and kept_starts:
                starts, cnts = np.concatenate(kept_starts), np.concatenate(kept_counts)
                skip = 2 * place.totals[s] + int(place.kept[0])
                home = starts + np.floor(_generator(cfg.seed, i, skip).random(len(starts)) * cnts).astype(np.int64)
                offs[home - first] = 0
            mm = np.load(out / f"offsets_{s}.npy", mmap_mode="r+")
            mm[first: first + len(offs)] = offs
            mm.flush()
    save_npz(table_file, ids=np.asarray([t.id for t in tasks], dtype=str), demos=demos,
             **{k: np.asarray(v, dtype=np.int64) for k, v in info.items()}, augs=counts[:, 5])
    done.write_text("")


def table_frame(p0: int, role: str, recs: np.ndarray, table) -> "pl.DataFrame":
    """The puzzle-table rows of puzzle ids p0.. (columns as `augment.build` documents) from a chunk's
    per-task table (`fill_chunk`'s file: ids, demos, split, start, count, augs)."""
    import polars as pl

    from arc_pipeline.augment.build import SPLITS

    n = np.asarray(table["augs"], dtype=np.int64)
    task = np.repeat(np.arange(len(n)), n)
    aug_index = np.arange(len(task), dtype=np.int64) - np.repeat(np.r_[0, np.cumsum(n)[:-1]], n) if len(task) else task
    splits = pl.Series([SPLITS[int(i)] for i in table["split"]], dtype=pl.String)
    return pl.DataFrame(
        {
            "puzzle_id": np.arange(p0, p0 + len(task), dtype=np.int32),
            "task_id": pl.Series(list(table["ids"]), dtype=pl.String).gather(task),
            "role": pl.Series([role] * len(task), dtype=pl.String),
            "aug_index": aug_index.astype(np.int32),
            "dihedral": recs[:, 0],
            "colors": recs[:, 1:],
            "split": splits.gather(task),
            "example_start": (np.asarray(table["start"], dtype=np.int64)[task] + aug_index * np.asarray(table["count"], dtype=np.int64)[task]),
            "example_count": np.asarray(table["count"], dtype=np.int64)[task].astype(np.int32),
            "demos": pl.Series([d.decode() for d in table["demos"]], dtype=pl.String).gather(task),
        }
    )


def plan_or_blob(chunk: Chunk, *plan_args) -> bytes:
    """Pass 1 for a chunk (`plan_chunk`), or only its fingerprint bytes when its plan is saved."""
    return plan_chunk(chunk, *plan_args) if plan_args else blob_chunk(chunk)
