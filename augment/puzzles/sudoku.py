"""Sudoku domain: shapes, CSV files, tokens, validity-preserving augmentation, an ExampleSource.

Tokens: PAD 0, blank 1, digit d -> d + 1 (vocabulary size + 2: 11 for 9x9, 8 for 6x6). A grid is a
flat row-major array of `size * size` digits, 0 for a blank. All puzzles share puzzle id 1.

Augmentations are the symmetries of the Sudoku rules for the box shape: a digit permutation,
band permutation and row-in-band permutation, stack permutation and column-in-stack permutation,
and a transpose only when boxes are square (4x4, 9x9). For 6x6 (2x3 boxes) a transpose or a
90-degree rotation turns 2x3 boxes into 3x2 boxes and breaks the rules; a 180-degree rotation is a
band+row and stack+column reversal, so it is included.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import permutations, product
from pathlib import Path

import numpy as np

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.augment.puzzles.csvfile import PuzzleSet, read_rows, write_rows
from arc_pipeline.augment.puzzles.tokens import SHARED_PUZZLE_ID, SharedIdSource, apply_tokens

BOXES: dict[int, tuple[int, int]] = {4: (2, 2), 6: (2, 3), 9: (3, 3)}  # size -> (box rows, box cols)
BLANK_TOKEN = 1
PUZZLE_ID = SHARED_PUZZLE_ID  # the one shared puzzle id; the embedding table has 2 rows (0 = blank)


@dataclass(frozen=True)
class Shape:
    size: int
    box_rows: int
    box_cols: int

    @property
    def cells(self) -> int:
        return self.size * self.size

    @property
    def vocab_size(self) -> int:
        return self.size + 2

    @property
    def can_transpose(self) -> bool:
        return self.box_rows == self.box_cols


def shape_of(size: int) -> Shape:
    if size not in BOXES:
        raise ArcError(f"Sudoku size {size} is not supported; use one of {sorted(BOXES)}")
    return Shape(size, *BOXES[size])


def _block_perms(n_blocks: int, block: int) -> np.ndarray:
    """Every permutation of `n_blocks * block` lines that keeps blocks together (block order x line order)."""
    rows = []
    for order in permutations(range(n_blocks)):
        for inner in product(permutations(range(block)), repeat=n_blocks):
            rows.append([order[k] * block + inner[k][i] for k in range(n_blocks) for i in range(block)])
    return np.array(rows, dtype=np.int32)


@lru_cache(maxsize=None)
def line_perms(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(row perms, column perms): all band/row-in-band and stack/column-in-stack permutations."""
    s = shape_of(size)
    return _block_perms(s.size // s.box_rows, s.box_rows), _block_perms(s.size // s.box_cols, s.box_cols)


@dataclass(frozen=True)
class SudokuAug:
    """out[i, j] = digits[in[rows[i], cols[j]] - 1] (blank stays blank), then transposed if `transpose`."""

    digits: tuple[int, ...]  # new digit for old digit d at index d - 1
    rows: tuple[int, ...]
    cols: tuple[int, ...]
    transpose: bool = False

    @staticmethod
    def identity(size: int) -> SudokuAug:
        r = tuple(range(size))
        return SudokuAug(tuple(range(1, size + 1)), r, r, False)

    def inverse(self) -> SudokuAug:
        inv_digits = [0] * len(self.digits)
        for old, new in enumerate(self.digits):
            inv_digits[new - 1] = old + 1
        inv_rows, inv_cols = np.argsort(self.rows), np.argsort(self.cols)
        if self.transpose:  # (P_r X P_c)^T undone by un-transposing first: rows and columns swap roles
            return SudokuAug(tuple(inv_digits), tuple(int(i) for i in inv_cols), tuple(int(i) for i in inv_rows), True)
        return SudokuAug(tuple(inv_digits), tuple(int(i) for i in inv_rows), tuple(int(i) for i in inv_cols), False)


def aug_arrays(augs: list[SudokuAug], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate records; return (positions (B, cells) int32 source index per output cell, token map (B, size+2))."""
    s = shape_of(size)
    row_ok = {tuple(r) for r in line_perms(size)[0].tolist()}
    col_ok = {tuple(c) for c in line_perms(size)[1].tolist()}
    pos = np.empty((len(augs), s.cells), np.int32)
    tmap = np.empty((len(augs), s.vocab_size), np.uint8)
    for b, a in enumerate(augs):
        if sorted(a.digits) != list(range(1, size + 1)):
            raise ValueError(f"digits {a.digits} is not a permutation of 1..{size}")
        if tuple(a.rows) not in row_ok or tuple(a.cols) not in col_ok:
            raise ValueError(f"rows {a.rows} / cols {a.cols} do not keep bands and stacks of a {size}x{size} Sudoku")
        if a.transpose and not s.can_transpose:
            raise ValueError(f"transpose is not a symmetry of {size}x{size} Sudoku (boxes {s.box_rows}x{s.box_cols})")
        src = np.asarray(a.rows)[:, None] * size + np.asarray(a.cols)[None, :]
        pos[b] = (src.T if a.transpose else src).ravel()
        tmap[b, :2] = (0, BLANK_TOKEN)
        tmap[b, 2:] = np.asarray(a.digits) + 1
    return pos, tmap


def apply(grids: np.ndarray, augs: list[SudokuAug], size: int) -> np.ndarray:
    """Augment digit grids (B, cells) with 0 for blanks; returns new grids of the same shape."""
    pos, tmap = aug_arrays(augs, size)
    return apply_tokens(np.asarray(grids, np.uint8) + 1, pos, tmap) - 1


def sample_arrays(n: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`n` uniformly random symmetries as (positions, token maps), vectorised for training batches."""
    s = shape_of(size)
    rperms, cperms = line_perms(size)
    rows = rperms[rng.integers(0, len(rperms), n)]
    cols = cperms[rng.integers(0, len(cperms), n)]
    src = rows[:, :, None] * size + cols[:, None, :]  # (n, size, size)
    if s.can_transpose:
        flip = rng.random(n) < 0.5
        src[flip] = src[flip].transpose(0, 2, 1)
    digits = rng.permuted(np.tile(np.arange(2, size + 2, dtype=np.uint8), (n, 1)), axis=1)
    tmap = np.concatenate([np.tile(np.array([0, BLANK_TOKEN], np.uint8), (n, 1)), digits], axis=1)
    return src.reshape(n, s.cells).astype(np.int32), tmap


def sample_augs(n: int, size: int, rng: np.random.Generator) -> list[SudokuAug]:
    """`n` random symmetry records (same distribution as training augmentation)."""
    s = shape_of(size)
    rperms, cperms = line_perms(size)
    out = []
    for _ in range(n):
        digits = tuple(int(d) + 1 for d in rng.permutation(size))
        rows = tuple(int(r) for r in rperms[rng.integers(len(rperms))])
        cols = tuple(int(c) for c in cperms[rng.integers(len(cperms))])
        out.append(SudokuAug(digits, rows, cols, bool(s.can_transpose and rng.random() < 0.5)))
    return out


def solved(grids: np.ndarray, size: int) -> np.ndarray:
    """(N,) bool: each row of `grids` (N, cells) holds every digit once in each row, column and box."""
    s = shape_of(size)
    g = np.asarray(grids).reshape(-1, size, size)
    boxes = g.reshape(-1, size // s.box_rows, s.box_rows, size // s.box_cols, s.box_cols).transpose(0, 1, 3, 2, 4)
    want = np.arange(1, size + 1)
    ok = np.ones(len(g), bool)
    for lines in (g, g.transpose(0, 2, 1), boxes.reshape(-1, size, size)):
        ok &= (np.sort(lines, axis=2) == want).all(axis=(1, 2))
    return ok


def is_valid_solution(grid: np.ndarray, size: int) -> bool:
    """Every row, column and box holds each digit 1..size once."""
    s = shape_of(size)
    g = np.asarray(grid).reshape(size, size)
    want = set(range(1, size + 1))
    boxes = g.reshape(size // s.box_rows, s.box_rows, size // s.box_cols, s.box_cols).transpose(0, 2, 1, 3)
    lines = list(g) + list(g.T) + [b.ravel() for b in boxes.reshape(-1, s.box_rows, s.box_cols)]
    return all(set(int(v) for v in line) == want and len(line) == size for line in lines)


SudokuSet = PuzzleSet  # puzzles from a CSV file: digit grids (N, cells) uint8, 0 = blank.


def _digits(col: list[str], size: int, path: Path, name: str) -> np.ndarray:
    cells = size * size
    bad = next((i for i, s in enumerate(col) if len(s) != cells), None)
    if bad is not None:
        raise ArcError(f"{path}: row {bad + 2}: {name} has {len(col[bad])} characters, expected {cells}; one puzzle per row")
    raw = np.frombuffer("".join(col).encode("ascii", errors="replace"), np.uint8).reshape(len(col), cells)
    raw = np.where(raw == ord("."), ord("0"), raw).astype(np.int16) - ord("0")
    if ((raw < 0) | (raw > size)).any():
        row = int(np.argwhere((raw < 0) | (raw > size))[0, 0])
        raise ArcError(f"{path}: row {row + 2}: {name} {col[row]!r} has characters other than '.', '0'-'{size}'")
    return raw.astype(np.uint8)


def load_csv(path: str | Path) -> SudokuSet:
    """Read `source,question,answer,rating` (Sudoku-Extreme layout, '.' or '0' for blanks)."""
    rows = read_rows(path, "Sudoku")
    path, q = rows.path, rows.questions
    size = int(round(len(q[0]) ** 0.5))
    if size not in BOXES:
        raise ArcError(f"{path}: row 2: question has {len(q[0])} characters; supported sizes are {sorted(BOXES)} (squared)")
    questions, answers = _digits(q, size, path, "question"), _digits(rows.answers, size, path, "answer")
    clash = (questions != 0) & (questions != answers)
    if (answers == 0).any() or clash.any():
        row = int(np.argwhere((answers == 0).any(1) | clash.any(1))[0, 0])
        raise ArcError(f"{path}: row {row + 2}: answer has blanks or disagrees with a given; fix or drop that row")
    bad = np.flatnonzero(~solved(answers, size))
    if len(bad):
        raise ArcError(f"{path}: row {bad[0] + 2}: answer {rows.answers[bad[0]]!r} is not a solution (a digit repeats "
                       f"in a row, column or box); fix or drop that row")
    return SudokuSet(size, questions, answers, rows.ratings, rows.sources)


def format_grid(grid: np.ndarray) -> str:
    return "".join("." if v == 0 else str(int(v)) for v in np.asarray(grid).ravel())


def save_csv(path: str | Path, sset: SudokuSet) -> None:
    """Write atomically in the `source,question,answer,rating` layout."""
    write_rows(path, zip(sset.sources, map(format_grid, sset.questions), map(format_grid, sset.answers), sset.ratings))


class SudokuSource(SharedIdSource):
    """ExampleSource over puzzles; with `augment`, each `batch` draws one random symmetry per example from `seed`."""

    def __init__(self, sset: SudokuSet, *, augment: bool = False):
        self.size = sset.size
        self.shape = shape_of(sset.size)
        super().__init__(sset.questions + 1, sset.answers + 1, self.shape.vocab_size, self._symmetry if augment else None)

    def _symmetry(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        pos, tmap = sample_arrays(len(x), self.size, rng)
        return apply_tokens(x, pos, tmap), apply_tokens(y, pos, tmap)


def open_csv(path: str | Path, *, augment: bool = False) -> SudokuSource:
    """`SudokuSource(load_csv(path), augment=augment)`."""
    return SudokuSource(load_csv(path), augment=augment)
