"""The puzzle domains behind one interface: how a set is read, generated, tokenised, augmented by
records, scored and binned. The pipeline's stages reach Sudoku and mazes only through `DOMAINS`.

An augmentation record is a small int32 row (`record_width` columns) naming one symmetry, so a
build stores one row per training example instead of its tokens: Sudoku
`[row perm, column perm, transpose, new digit for 1..size]` (indices into `line_perms`); maze
`[dihedral op]` (0..7, see `maze.dihedral_positions`). Record 0 of every puzzle is the identity.
"""

from __future__ import annotations

import shlex
from dataclasses import fields
from pathlib import Path
from types import ModuleType

import numpy as np

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.augment.puzzles import maze, sudoku
from arc_pipeline.augment.puzzles.csvfile import PuzzleSet
from arc_pipeline.augment.puzzles.tokens import apply_tokens

SUDOKU_BINS = [0, 0, 1, 2, 5, 10, 25, 55, 110, float("inf")]  # 25-55: Sudoku-Extreme's hard band (tdoku units)


def bin_rows(values, edges: list[float]) -> list[tuple[str, np.ndarray]]:
    """(label, mask) per bin [edges[k], edges[k+1]); a zero-width bin holds exactly that value."""
    v = np.asarray(values, float)
    out, exact = [], None  # a value already counted by a zero-width bin
    for lo, hi in zip(edges[:-1], edges[1:]):
        if hi <= lo:
            mask, label, exact = v == lo, f"{lo:g}", lo
        else:
            mask = (v >= lo) & (v < hi) & (v != exact)
            opening = "(" if lo == exact else "["
            label = f"{'>' if lo == exact else '>='} {lo:g}" if hi == float("inf") else f"{opening}{lo:g}, {hi:g})"
        out.append((label, mask))
    return out


def length_edges(values, bins: int = 8) -> list[float]:
    """Equal-width integer bins over the range of `values` (maze path lengths)."""
    v = np.asarray(values, float)
    lo, hi = (int(v.min()), int(v.max())) if len(v) else (0, 0)
    step = max(1, (hi + 1 - lo + bins - 1) // bins)
    return [float(lo + k * step) for k in range(bins + 1)]


class Domain:
    """What every domain shares: its CSV through its module's load_csv/save_csv, and tokens that are
    its grid values unless it says otherwise."""

    module: ModuleType

    def load(self, path: str | Path) -> PuzzleSet:
        return self.module.load_csv(path)

    def save(self, path: str | Path, pset: PuzzleSet) -> None:
        self.module.save_csv(path, pset)

    def tokens(self, grids: np.ndarray) -> np.ndarray:
        return np.asarray(grids, np.uint8)

    def grids(self, tokens: np.ndarray) -> np.ndarray:
        return np.asarray(tokens, np.uint8)


class Sudoku(Domain):
    name, module, rating = "sudoku", sudoku, "rating (mean solver guesses)"
    text = staticmethod(sudoku.format_grid)

    def vocab_size(self, size: int) -> int:
        return sudoku.shape_of(size).vocab_size

    def tokens(self, grids: np.ndarray) -> np.ndarray:
        return np.asarray(grids, np.uint8) + 1

    def grids(self, tokens: np.ndarray) -> np.ndarray:
        """Digit grids (0 = blank) from tokens; PAD also reads as blank."""
        t = np.asarray(tokens).astype(np.int16) - 1
        return np.clip(t, 0, None).astype(np.uint8)

    def record_width(self, size: int) -> int:
        return 3 + size

    def max_augmentations(self, size: int) -> int:
        return 10**9  # the symmetry group (x digit permutations) is far larger than any build

    def identity(self, n: int, size: int) -> np.ndarray:
        rperms, cperms = sudoku.line_perms(size)
        ident = np.arange(size)
        ri = int(np.flatnonzero((rperms == ident).all(1))[0])
        ci = int(np.flatnonzero((cperms == ident).all(1))[0])
        return np.tile(np.array([ri, ci, 0, *range(1, size + 1)], np.int32), (n, 1))

    def sample(self, n: int, copies: int, size: int, rng: np.random.Generator) -> np.ndarray:
        """(n * copies, width): `copies` records per puzzle, puzzle-major, the first of each the identity."""
        out = np.repeat(self.identity(n, size), copies, axis=0)
        extra = np.arange(len(out)) % copies != 0
        m = int(extra.sum())
        rperms, cperms = sudoku.line_perms(size)
        out[extra, 0] = rng.integers(0, len(rperms), m)
        out[extra, 1] = rng.integers(0, len(cperms), m)
        out[extra, 2] = (rng.random(m) < 0.5) if sudoku.shape_of(size).can_transpose else 0
        out[extra, 3:] = rng.permuted(np.tile(np.arange(1, size + 1, dtype=np.int32), (m, 1)), axis=1)
        return out

    def check(self, records: np.ndarray, size: int) -> str | None:
        rperms, cperms = sudoku.line_perms(size)
        r = np.asarray(records)
        if r.ndim != 2 or r.shape[1] != self.record_width(size):
            return f"records of shape {r.shape}, expected (N, {self.record_width(size)})"
        if len(r) == 0:
            return None
        if r[:, 0].min() < 0 or r[:, 0].max() >= len(rperms) or r[:, 1].min() < 0 or r[:, 1].max() >= len(cperms):
            return "line permutation index out of range"
        if not np.isin(r[:, 2], (0, 1)).all() or (r[:, 2].any() and not sudoku.shape_of(size).can_transpose):
            return f"transpose flag invalid for {size}x{size}"
        if not (np.sort(r[:, 3:], axis=1) == np.arange(1, size + 1)).all():
            return "digit map is not a permutation"
        return None

    def apply(self, tokens: np.ndarray, records: np.ndarray, size: int) -> np.ndarray:
        rperms, cperms = sudoku.line_perms(size)
        r = np.asarray(records)
        src = rperms[r[:, 0]][:, :, None] * size + cperms[r[:, 1]][:, None, :]
        flip = r[:, 2].astype(bool)
        src[flip] = src[flip].transpose(0, 2, 1)
        tmap = np.concatenate([np.tile(np.array([0, sudoku.BLANK_TOKEN], np.int32), (len(r), 1)), r[:, 3:] + 1], axis=1)
        return apply_tokens(tokens, src.reshape(len(r), -1).astype(np.int32), tmap.astype(np.uint8))

    def score(self, preds: np.ndarray, pset: PuzzleSet) -> dict[str, np.ndarray]:
        """Per-puzzle columns; predictions are tokens (N, cells)."""
        return {"exact": (np.asarray(preds) == self.tokens(pset.answers)).all(1)}

    def edges(self, ratings) -> list[float]:
        return SUDOKU_BINS

    def generate(self, args: dict, workers: int | None):
        from arc_pipeline.augment.puzzles.sudoku_gen import SudokuGenConfig, generate

        return generate(_config(SudokuGenConfig, args, "sudoku"), workers=workers)


class Maze(Domain):
    name, module, rating = "maze", maze, "S-G distance (BFS steps)"
    text = staticmethod(maze.to_text)

    def vocab_size(self, size: int) -> int:
        return maze.VOCAB

    def record_width(self, size: int) -> int:
        return 1

    def max_augmentations(self, size: int) -> int:
        return 8  # the dihedral group

    def identity(self, n: int, size: int) -> np.ndarray:
        return np.zeros((n, 1), np.int32)

    def sample(self, n: int, copies: int, size: int, rng: np.random.Generator) -> np.ndarray:
        """Identity, then `copies - 1` distinct other dihedral ops per maze (copies <= 8)."""
        ops = rng.permuted(np.tile(np.arange(1, 8, dtype=np.int32), (n, 1)), axis=1)[:, : copies - 1]
        return np.concatenate([np.zeros((n, 1), np.int32), ops], axis=1).reshape(-1, 1)

    def check(self, records: np.ndarray, size: int) -> str | None:
        r = np.asarray(records)
        if r.ndim != 2 or r.shape[1] != 1:
            return f"records of shape {r.shape}, expected (N, 1)"
        return "dihedral op outside 0..7" if len(r) and (r.min() < 0 or r.max() > 7) else None

    def apply(self, tokens: np.ndarray, records: np.ndarray, size: int) -> np.ndarray:
        return maze.apply_dihedral(tokens, np.asarray(records)[:, 0], size)

    def score(self, preds: np.ndarray, pset: PuzzleSet) -> dict[str, np.ndarray]:
        p = np.asarray(preds)
        ok = [maze.valid_optimal(pred, q, pset.size) for pred, q in zip(p, pset.questions)]
        return {"exact": (p == pset.answers).all(1), "valid_optimal": np.array(ok, bool)}

    def edges(self, ratings) -> list[float]:
        return length_edges(ratings)

    def generate(self, args: dict, workers: int | None):
        from arc_pipeline.augment.puzzles.maze_gen import MazeGenConfig, default_min_path, generate

        args = dict(args)
        if "min_path" not in args:
            args["min_path"] = default_min_path(int(args.get("size", 30)), bool(args.get("perfect", False)))
        return generate(_config(MazeGenConfig, args, "maze"), workers=workers)


DOMAINS = {"sudoku": Sudoku(), "maze": Maze()}
GENERATE = "generate "  # a source spelled as the `arc-pipeline generate` command line (without --out)


def is_spec(source: str) -> bool:
    return source.strip().startswith(GENERATE)


def parse_spec(source: str) -> tuple[str, dict]:
    """`generate sudoku --size 6 --count 1000 --test-count 1000 --seed 0` -> ("sudoku", {size: 6, ...})."""
    words = shlex.split(source)
    if len(words) < 2 or words[0] != "generate" or words[1] not in DOMAINS:
        raise ArcError(f"source {source!r}: expected `generate sudoku|maze --option value ...`")
    args: dict = {}
    rest = words[2:]
    i = 0
    while i < len(rest):
        w = rest[i]
        if not w.startswith("--"):
            raise ArcError(f"source {source!r}: {w!r} is not an --option")
        key = w[2:].replace("-", "_")
        if key in ("out", "test_out", "json", "workers"):
            raise ArcError(f"source {source!r}: --{w[2:]} is not a data option here (ingest keeps the sets in the run "
                           "directory; generation workers follow data.workers)")
        if i + 1 < len(rest) and not rest[i + 1].startswith("--"):
            args[key] = rest[i + 1]
            i += 2
        else:
            args[key] = True  # a flag such as --perfect
            i += 1
    return words[1], args


def _config(cls, args: dict, name: str):
    """A generator config from spec options, each converted to its field's type."""
    kinds = {f.name: f.type for f in fields(cls)}
    kw = {}
    for key, raw in args.items():
        if key not in kinds:
            raise ArcError(f"generate {name}: unknown option --{key.replace('_', '-')}; valid: "
                           + ", ".join(f"--{k.replace('_', '-')}" for k in kinds if k != "workers"))
        kind = str(kinds[key])
        try:
            if raw is True or "bool" in kind:
                kw[key] = raw is True or str(raw).lower() in ("1", "true", "yes")
            elif "float" in kind:
                kw[key] = float(raw)
            elif "int" in kind:
                kw[key] = int(raw)
            else:
                kw[key] = str(raw)
        except ValueError as e:
            raise ArcError(f"generate {name}: --{key.replace('_', '-')} {raw!r}: {e}") from None
    return cls(**kw)


def domain(name: str):
    if name not in DOMAINS:
        raise ArcError(f"unknown puzzle domain {name!r}; valid: {', '.join(DOMAINS)}")
    return DOMAINS[name]


def load(path: str | Path, name: str) -> PuzzleSet:
    """A puzzle CSV of domain `name`, validated (every error names the file and row)."""
    if not Path(path).is_file():
        raise ArcError(f"{path}: no such puzzle CSV; pass a file in the {COLUMNS_HINT} layout or a "
                       f"`generate {name} ...` source")
    return domain(name).load(path)


COLUMNS_HINT = "source,question,answer,rating"
