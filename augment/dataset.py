"""Reading a build: `open_split` gives an `ExampleSource` that makes token examples on the fly.

Translation (train and adapt splits, when the build asked for it), as `build.translation` says:
`reference` (default): each example sits at the offset the build drew for it (offsets_<split>.npy;
one pair per puzzle at the top-left). `per_draw`: example i of a batch with seed s sits at an
offset drawn from a hash of (s, i), uniform over the offsets where the transformed input and
output both fit; pair 0 of every puzzle stays at the top-left. Either way an example's tokens
depend on (seed, example index) only, never on what else is in the batch; test inputs sit at the
top-left.

Memory: the per-example and per-puzzle arrays (examples, offsets, augmentation records) and the
grids are memory-mapped, never read whole: a rank holds the pages it touches (file pages, shared by
a node's ranks, dropped by the kernel at will). Opening a split checks what is O(grids) (the grids
and their index) and every array's shape; a batch checks the rows it reads before the kernel runs.
The training sampler's groups come from task_index.npy (one row per task), not puzzles.parquet.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import polars as pl

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.augment.build import (
    ARRAY_FILES, EXAMPLE_COLUMNS, FORMAT, INDEX_FILES, SPLITS, TASK_COLUMNS, extents, task_ids,
)
from arc_pipeline.augment.encode import decode_to_original
from arc_pipeline.augment.kernels import Packed, _encode_examples
from arc_pipeline.augment.records import Aug
from arc_pipeline.augment.source import Batch, UniformGroups
from arc_pipeline.augment.transform import check_aug_rows

PUZZLE_FORMAT = "puzzle-dataset/1"  # augment.puzzles.dataset.FORMAT (not imported: ARC never loads it)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    # splitmix64 finaliser on uint64 arrays (wrapping arithmetic is intended).
    x = x + _GOLDEN
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def read_meta(dataset_dir: str | Path) -> dict:
    """meta.json of a build, checked against the files it lists (sizes), or an ArcError naming the file."""
    d = Path(dataset_dir)
    path = d / "meta.json"
    if not path.is_file():
        raise ArcError(f"{path} is missing: {d} is not a finished dataset build; run `arc-pipeline build` again")
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ArcError(f"{path} is unreadable ({e}); delete {d} and run `arc-pipeline build` again") from e
    if meta.get("format") not in (FORMAT, PUZZLE_FORMAT):
        raise ArcError(f"{path}: dataset format {meta.get('format')!r}, expected {FORMAT!r}; rebuild the dataset")
    for name, size in meta.get("files", {}).items():
        f = d / name
        if not f.is_file():
            raise ArcError(f"{f} is missing from the dataset build; delete {d} and run `arc-pipeline build` again")
        if f.stat().st_size != size:
            raise ArcError(
                f"{f} is truncated or altered ({f.stat().st_size} bytes, meta.json says {size}); "
                f"delete {d} and run `arc-pipeline build` again"
            )
    return meta


def _load(d: Path, name: str, mmap: bool = False) -> np.ndarray:
    try:
        return np.load(d / name, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise ArcError(f"{d / name} cannot be read ({e}); delete {d} and run `arc-pipeline build` again") from e


def read_puzzles(dataset_dir: str | Path) -> pl.DataFrame:
    """puzzles.parquet of a build (one row per puzzle id; row 0, the blank puzzle, is not listed)."""
    path = Path(dataset_dir) / "puzzles.parquet"
    try:
        return pl.read_parquet(path)
    except (OSError, pl.exceptions.PolarsError) as e:
        raise ArcError(f"{path} cannot be read ({e}); run `arc-pipeline build` again") from e


@dataclass
class ArcSource:
    """One split of a build as an `ExampleSource` (see `open_split`)."""

    dataset_dir: Path
    split: str
    meta: dict
    grids: Packed
    augs: np.ndarray  # (num_puzzles, 11) uint8 records by puzzle id, memory-mapped
    rows: np.ndarray  # (E, 5) int32 example rows, columns EXAMPLE_COLUMNS, memory-mapped
    offsets: np.ndarray  # (E, 2) uint8 build-time offsets (translation "reference"), memory-mapped

    @property
    def canvas(self) -> int:
        return int(self.meta["canvas"])

    @property
    def seq_len(self) -> int:
        return self.canvas * self.canvas

    @property
    def vocab_size(self) -> int:
        return int(self.meta["vocab_size"])

    @property
    def num_puzzles(self) -> int:
        return int(self.meta["num_puzzles"])

    @property
    def translate(self) -> bool:
        return bool(self.meta["translate"].get(self.split, False))

    def __len__(self) -> int:
        return len(self.rows)

    def _offsets(self, idx: np.ndarray, rows: np.ndarray, recs: np.ndarray, seed: int) -> np.ndarray:
        offsets = np.zeros((len(idx), 2), dtype=np.int64)
        if not self.translate or len(idx) == 0:
            return offsets
        room = self.canvas - extents(rows, self.grids.shapes, self.augs) + 1  # valid offsets per axis
        if self.meta.get("translation") == "reference":
            offsets = self.offsets[idx].astype(np.int64)
            if (offsets >= room).any():  # the kernel writes there unchecked
                raise self._bad(f"offsets_{self.split}.npy", "an example does not fit the canvas at its offset")
            return offsets
        room = room.astype(np.uint64)
        h = _mix(_mix(np.full(len(idx), seed & 0xFFFFFFFFFFFFFFFF, dtype=np.uint64)) + idx.astype(np.uint64))
        offsets[:, 0] = (h & np.uint64(0xFFFFFFFF)) % room[:, 0]
        offsets[:, 1] = (h >> np.uint64(32)) % room[:, 1]
        offsets[rows[:, 3] == 0] = 0  # pair 0 of every puzzle stays in place
        return offsets

    def batch(self, indices: np.ndarray, seed: int) -> Batch:
        """Examples at `indices` as tokens; translation offsets derive from (seed, index) alone."""
        idx = np.asarray(indices, dtype=np.int64).ravel()
        if len(idx) and (idx.min() < 0 or idx.max() >= len(self.rows)):
            raise IndexError(f"example index out of range 0..{len(self.rows) - 1} in split {self.split!r}")
        rows = np.asarray(self.rows[idx], dtype=np.int64)
        self._check_rows(rows)
        recs = self.augs[rows[:, 0]]
        self._check(lambda: check_aug_rows(recs), "augs.npy")
        offsets = self._offsets(idx, rows, recs, seed)
        n = len(idx)
        inputs = np.zeros((n, self.seq_len), dtype=np.uint8)
        labels = np.zeros((n, self.seq_len), dtype=np.uint8)
        # Grids, records and fits were validated when the split was opened; call the kernel directly.
        _encode_examples(
            self.grids.data, self.grids.starts, self.grids.shapes,
            np.ascontiguousarray(rows[:, 1]), np.ascontiguousarray(rows[:, 2]),
            recs, offsets, self.canvas, inputs, labels,
        )  # fmt: skip
        return Batch(inputs, labels, rows[:, 0].astype(np.int32))

    def _bad(self, name: str, why: str) -> ArcError:
        return _inconsistent(self.dataset_dir, name, why)

    def _check(self, fn, name: str) -> None:
        try:
            fn()
        except ValueError as e:
            raise self._bad(name, str(e)) from e

    def _check_rows(self, rows: np.ndarray) -> None:
        # what the kernel indexes with these rows, checked here (a batch's rows, not the whole split at open)
        if len(rows) == 0:
            return
        name = f"examples_{self.split}.npy"
        if rows[:, 0].min() < 1 or rows[:, 0].max() >= len(self.augs):
            raise self._bad(name, "puzzle id out of range")
        if rows[:, 1].min() < 0 or max(rows[:, 1].max(), rows[:, 2].max()) >= len(self.grids.starts) or rows[:, 2].min() < -1:
            raise self._bad(name, "grid index out of range")

    def aug(self, index: int) -> Aug:
        """The augmentation record of example `index`."""
        return Aug.from_row(self.augs[int(self.rows[index, 0])])

    def aug_rows(self, indices: np.ndarray) -> np.ndarray:
        """(n, 11) records (dihedral, colour map) of the examples at `indices`."""
        return self.augs[np.asarray(self.rows[np.asarray(indices)][:, 0], dtype=np.int64)]

    def to_original(self, tokens: np.ndarray, indices: np.ndarray) -> list[np.ndarray | None]:
        """Predicted token rows for the examples at `indices`, decoded and mapped back to the task's frame."""
        return decode_to_original(tokens, self.aug_rows(indices), self.canvas)

    @cached_property
    def puzzles(self) -> pl.DataFrame:
        return read_puzzles(self.dataset_dir)

    @cached_property
    def tasks(self) -> tuple[np.ndarray, np.ndarray]:
        """(task_index, task_ids) of the build: memory-mapped (builds before them: derived from puzzles.parquet)."""
        return read_task_index(self.dataset_dir, self.meta)

    def groups(self) -> UniformGroups | None:
        """This split's example rows as groups (one per task) of puzzles (one per augmentation),
        for the training sampler (None when the split has no rows): three per-task arrays from the
        task index, never a row per puzzle."""
        index, ids = self.tasks
        col = {c: index[:, i] for i, c in enumerate(TASK_COLUMNS)}
        keep = (col["split"] == SPLITS.index(self.split)) & (col["rows"] > 0) & (col["puzzles"] > 0)
        if not keep.any() or len(self.rows) == 0:
            return None
        take = slice(None) if keep.all() else np.flatnonzero(keep)  # the whole index: views of the mapped file
        first, size, count = col["start"][take], col["rows"][take], col["puzzles"][take]
        covered = int(np.dot(np.asarray(size, dtype=np.int64), np.asarray(count, dtype=np.int64)))
        if covered != len(self.rows):
            raise ArcError(f"{self.dataset_dir / 'task_index.npy'}: its {self.split} ranges cover {covered} of "
                           f"{len(self.rows)} examples; delete {self.dataset_dir} and run `arc-pipeline build` again")
        return UniformGroups(first, size, count, lambda: tuple(i.decode() for i in ids[take].tolist()))

    @cached_property
    def examples(self) -> pl.DataFrame:
        """One row per example: puzzle_id, task_id, test_index (null outside val/test), pair, dihedral, colors."""
        rows = np.ascontiguousarray(self.rows.T)  # column-major: each column contiguous for polars
        recs = self.augs[rows[0]]
        tasks = self.puzzles.sort("puzzle_id")["task_id"]  # puzzle ids run 1..num_puzzles-1
        test_index = pl.Series("test_index", rows[4], dtype=pl.Int32)
        return pl.DataFrame(
            {
                "puzzle_id": rows[0],
                "task_id": tasks.gather(rows[0] - 1),
                "test_index": test_index.set(test_index < 0, None),
                "pair": rows[3],
                "dihedral": recs[:, 0],
                "colors": recs[:, 1:],
            }
        )


def open_split(dataset_dir: str | Path, split: str) -> ArcSource:
    """One split (`train`, `val`, `adapt`, `test`) of a build as an `ExampleSource`."""
    if split not in SPLITS:
        raise ArcError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    d = Path(dataset_dir)
    meta = read_meta(d)
    if meta["format"] == PUZZLE_FORMAT:  # a Sudoku or maze build
        from arc_pipeline.augment.puzzles.dataset import open_split as open_puzzle_split

        return open_puzzle_split(d, split, meta)
    missing = [f for f in ARRAY_FILES if f not in meta.get("files", {})]
    if missing:
        raise ArcError(f"{d / 'meta.json'} does not list {', '.join(missing)}; run `arc-pipeline build` again")
    data = _load(d, "grids.npy", mmap=True)
    index = _load(d, "grid_index.npy")
    augs = _load(d, "augs.npy", mmap=True)
    rows = _load(d, f"examples_{split}.npy", mmap=True)
    offsets = _load(d, f"offsets_{split}.npy", mmap=True)
    _validate(d, split, meta, data, index, augs, rows, offsets)
    grids = Packed(data, np.ascontiguousarray(index[:, 0]), np.ascontiguousarray(index[:, 1:]))
    return ArcSource(d, split, meta, grids, augs, rows, offsets)


def read_task_index(dataset_dir: str | Path, meta: dict) -> tuple[np.ndarray, np.ndarray]:
    """(task_index (T, 6) int64 by TASK_COLUMNS, task_ids (T,) bytes) of an ARC build, memory-mapped; a
    build from before them (meta.json does not list them) has them derived from puzzles.parquet."""
    d = Path(dataset_dir)
    if all(f in meta.get("files", {}) for f in INDEX_FILES):
        index, ids = _load(d, "task_index.npy", mmap=True), _load(d, "task_ids.npy", mmap=True)
        if index.ndim != 2 or index.shape[1] != len(TASK_COLUMNS) or index.dtype != np.int64 or ids.shape != (len(index),):
            raise _inconsistent(d, "task_index.npy", f"shape {index.shape}, ids {ids.shape}")
        return index, ids
    return index_from_puzzles(read_puzzles(d))


def index_from_puzzles(puzzles: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The task index of a puzzle table (one row per puzzle; a task's puzzles consecutive ids)."""
    p = puzzles.sort("puzzle_id")
    key = (p["role"] + "\x00" + p["task_id"]).to_numpy()
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.zeros(0, np.int64)
    if len(np.unique(key)) != len(first):
        raise ArcError("puzzles.parquet: a task's puzzles are not consecutive; rebuild the dataset")
    head = p[first]
    index = np.stack([head["puzzle_id"].to_numpy(), np.diff(np.r_[first, len(key)]),
                      np.array([SPLITS.index(s) for s in head["split"].to_list()], dtype=np.int64),
                      head["example_start"].to_numpy(), head["example_count"].to_numpy(),
                      (head["role"] == "target").to_numpy()], axis=1).astype(np.int64).reshape(-1, len(TASK_COLUMNS))
    return index, task_ids(head["task_id"].to_list())


def _inconsistent(d: Path, name: str, why: str) -> ArcError:
    """The error for file `name` of build `d` that does not agree with the rest of it."""
    return ArcError(f"{d / name} is inconsistent ({why}); delete {d} and run `arc-pipeline build` again")


def _validate(d: Path, split: str, meta: dict, data, index, augs, rows, offsets) -> None:
    # The grids (O(pairs)) are checked whole; the per-example and per-puzzle arrays by shape here and
    # row by row as batches read them (ArcSource.batch), so opening a split reads none of them.
    def bad(name: str, why: str) -> ArcError:
        return _inconsistent(d, name, why)

    canvas = int(meta["canvas"])
    if data.dtype != np.uint8 or data.ndim != 1 or (len(data) and data.max() > 9):
        raise bad("grids.npy", "expected uint8 colours 0..9")
    if index.ndim != 2 or index.shape[1] != 3 or (len(index) and (index[:, 0] + index[:, 1] * index[:, 2]).max() > len(data)):
        raise bad("grid_index.npy", "grid ranges outside grids.npy")
    if len(index) and (index[:, 1:].max() > canvas or index[:, 1:].min() < 1):
        raise bad("grid_index.npy", f"grid sides must be 1..{canvas}")
    if augs.dtype != np.uint8 or augs.shape != (int(meta["num_puzzles"]), 11):
        raise bad("augs.npy", f"shape {augs.shape}, expected ({meta['num_puzzles']}, 11) uint8")
    name = f"examples_{split}.npy"
    if rows.ndim != 2 or rows.shape[1] != len(EXAMPLE_COLUMNS) or len(rows) != meta["counts"][split]:
        raise bad(name, f"shape {rows.shape}, expected ({meta['counts'][split]}, {len(EXAMPLE_COLUMNS)})")
    if offsets.dtype != np.uint8 or offsets.shape != (len(rows), 2):
        raise bad(f"offsets_{split}.npy", f"shape {offsets.shape}, expected ({len(rows)}, 2) uint8")
