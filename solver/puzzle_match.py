"""Puzzle rows across dataset builds: which row of one build's puzzle map is the same puzzle in another's
(task, augmentation, demonstrations), and a puzzle table carried over by that match."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.solver import ckpt_folder

# the columns that say which puzzle a row is: the task, its augmentation record, and what the
# task's demonstrations are (a task id alone does not identify a task across datasets)
MATCH_KEYS = ("task_id", "dihedral", "colors", "demos")


def _key_frame(frame: pl.DataFrame, keys: tuple[str, ...]) -> pl.DataFrame:
    """The key columns of a puzzle frame as strings (records and lists joined), so two frames join."""
    cols = []
    for k in keys:
        col = frame[k]
        if isinstance(col.dtype, pl.Array):
            col = col.arr.to_list()
        if isinstance(col.dtype, pl.List):
            col = col.list.eval(pl.element().cast(pl.String)).list.join(",")
        cols.append(col.cast(pl.String).alias(k))
    return pl.DataFrame(cols)


def match_keys(mine: pl.DataFrame, theirs: pl.DataFrame) -> tuple[str, ...]:
    """The MATCH_KEYS both frames have (older maps lack `demos`; then task and record decide), else
    every column they share but puzzle_id (puzzle domains' own maps)."""
    keys = tuple(k for k in MATCH_KEYS if k in mine.columns and k in theirs.columns)
    if keys and keys != ("demos",):
        return keys
    return tuple(sorted((set(mine.columns) & set(theirs.columns)) - {"puzzle_id"}))


def match_rows(mine: pl.DataFrame, theirs: pl.DataFrame, keys: tuple[str, ...] | None = None) -> np.ndarray:
    """The one puzzle-row matcher: for every row of `mine`, the puzzle_id in `theirs` of the same
    puzzle (same `match_keys`: task, augmentation, demonstrations), or -1. The last of duplicates wins."""
    keys = match_keys(mine, theirs) if keys is None else tuple(keys)
    missing = [k for k in keys if k not in mine.columns or k not in theirs.columns]
    if not keys or missing:
        raise ArcError(f"cannot match puzzle rows: key columns {missing or 'none'} are not in both puzzle maps "
                       f"(theirs: {theirs.columns}, ours: {mine.columns})")
    if mine.height == 0:
        return np.zeros(0, dtype=np.int64)
    ours = _key_frame(mine, keys).with_row_index("_at")
    other = _key_frame(theirs, keys).with_columns(theirs["puzzle_id"].cast(pl.Int64).alias("_row"))
    joined = ours.join(other.unique(list(keys), keep="last", maintain_order=True), on=list(keys), how="left")
    out = np.full(mine.height, -1, dtype=np.int64)
    found = joined.filter(pl.col("_row").is_not_null())
    out[found["_at"].to_numpy()] = found["_row"].to_numpy()
    return out


def remap_table(
    old_table: torch.Tensor,
    old_map: pl.DataFrame,
    new_map: pl.DataFrame,
    num_rows: int,
    keys: tuple[str, ...] | None = None,
    out: torch.Tensor | None = None,
) -> tuple[torch.Tensor, int]:
    """A table of `num_rows` rows: rows `match_rows` finds in the old map copied, the rest at the
    mean of the old trained rows (1..); row 0 (blank) carried over. Returns (table, rows matched);
    written into `out` when given (a host table)."""
    mean = old_table[1:].mean(0) if old_table.shape[0] > 1 else torch.zeros_like(old_table[0])
    table = mean.expand(num_rows, -1).clone() if out is None else out.copy_(mean.expand(num_rows, -1))
    table[0] = old_table[0]
    old_ids = match_rows(new_map, old_map, keys)
    new_ids = new_map["puzzle_id"].cast(pl.Int64).to_numpy()
    ok = (old_ids >= 0) & (old_ids < old_table.shape[0]) & (new_ids < num_rows)
    table[torch.as_tensor(new_ids[ok])] = old_table[torch.as_tensor(old_ids[ok])]
    return table, int(ok.sum())


def puzzle_map_frame(puzzle_map: Any) -> pl.DataFrame | None:
    """The caller's puzzle-id mapping as a polars frame (a frame or a dict of columns)."""
    if puzzle_map is None:
        return None
    frame = puzzle_map if isinstance(puzzle_map, pl.DataFrame) else pl.DataFrame(dict(puzzle_map))
    if "puzzle_id" not in frame.columns:
        raise ValueError(f"puzzle map needs a 'puzzle_id' column; it has {frame.columns}")
    return frame


def read_puzzle_map(path: str | Path) -> pl.DataFrame | None:
    f = ckpt_folder.resolve(path) / "puzzle_map.parquet"
    return pl.read_parquet(f) if f.is_file() else None
