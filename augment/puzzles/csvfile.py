"""The published puzzle CSV layout, `source,question,answer,rating` (Sudoku-Extreme and Maze-Hard
ship in it): one reader with the shared checks and errors, one writer."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from arc_pipeline.arc.errors import ArcError

COLUMNS = "source,question,answer,rating"


@dataclass(frozen=True)
class PuzzleSet:
    """Square puzzles of one size, flat row-major (N, size*size) uint8 grids in the domain's encoding
    (Sudoku: digits, 0 = blank; mazes: ids 1..5), with a rating per row (Sudoku: mean solver guesses;
    mazes: S-G distance)."""

    size: int
    questions: np.ndarray
    answers: np.ndarray
    ratings: np.ndarray  # float32
    sources: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.questions)


def generated_split(size: int, questions: np.ndarray, answers: np.ndarray, ratings, count: int,
                    name: str) -> tuple[PuzzleSet, PuzzleSet]:
    """A generator's rows as (train, test): the first `count` rows sourced `{name}-train`, the rest `{name}-test`."""
    r = np.asarray(ratings, np.float32)

    def part(sl: slice, split: str) -> PuzzleSet:
        return PuzzleSet(size, questions[sl], answers[sl], r[sl], (f"{name}-{split}",) * len(questions[sl]))

    return part(slice(0, count), "train"), part(slice(count, len(questions)), "test")


@dataclass(frozen=True)
class Rows:
    """The raw columns of a puzzle CSV; row numbers in errors are file lines (header = line 1)."""

    path: Path
    questions: list[str]
    answers: list[str]
    ratings: np.ndarray  # float32, 0 where blank or absent
    sources: tuple[str, ...]


def read_rows(path: str | Path, what: str) -> Rows:
    """Read a puzzle CSV; `what` ("Sudoku", "maze") names the domain in errors."""
    import polars as pl

    path = Path(path)
    try:
        df = pl.read_csv(path, infer_schema=False)
    except (OSError, pl.exceptions.PolarsError) as e:
        raise ArcError(f"{path}: cannot read {what} CSV ({e}); expected columns {COLUMNS}") from e
    missing = {"question", "answer"} - set(df.columns)
    if missing or len(df) == 0:
        raise ArcError(f"{path}: needs a header with question,answer (optionally source,rating) and at least one row; "
                       f"missing {sorted(missing)}")
    ratings = np.zeros(len(df), np.float32)
    if "rating" in df.columns:
        try:
            ratings = np.array([float(r) if r not in (None, "") else 0.0 for r in df["rating"].to_list()], np.float32)
        except ValueError as e:
            raise ArcError(f"{path}: rating column must be numeric ({e})") from e
    sources = tuple(s or "" for s in df["source"].to_list()) if "source" in df.columns else ("",) * len(df)
    return Rows(path, [s or "" for s in df["question"].to_list()], [s or "" for s in df["answer"].to_list()], ratings, sources)


def puzzle_csv(rows) -> str:
    """The CSV text from (source, question, answer, rating) rows; every field holding spaces, commas,
    quotes, line breaks or '#' is quoted (inner quotes doubled), so the reader gets each back as written."""

    def field(text: str) -> str:
        text = str(text)
        return '"' + text.replace('"', '""') + '"' if any(c in text for c in ' ,#"\n\r') else text

    lines = [COLUMNS]
    lines += [f"{field(src)},{field(q)},{field(a)},{float(r):g}" for src, q, a, r in rows]
    return "\n".join(lines) + "\n"


def write_rows(path: str | Path, rows) -> None:
    """Write (source, question, answer, rating) rows atomically."""
    from arc_pipeline.arc.io import write_text

    write_text(path, puzzle_csv(rows))
