"""Sudoku generators: random minimal puzzles (easy/medium) and hill-climbed hard puzzles.

Every puzzle comes from its own RNG stream seeded by (seed, index), so output is deterministic
and independent of batching. Puzzles are deduplicated by canonical form (the lexicographically
least image under all symmetries, digits relabelled by first appearance), so no two rows of a file
are equivalent and a train/test split of distinct rows is a split by equivalence class. A `hard`
search chain yields exactly one puzzle, so chains never straddle the split either.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np

from arc.errors import ArcError
from augment.jit import KERNEL, njit
from augment.sudoku import SudokuSet, line_perms, shape_of
from augment.sudoku_solve import _below, _rate, _search, _shuffle, geometry

Difficulty = Literal["easy", "medium", "hard"]


@dataclass(frozen=True)
class SudokuGenConfig:
    size: int = 6
    count: int = 1000
    seed: int = 0
    difficulty: Difficulty = "easy"  # easy: random minimal; medium: minimal needing a guess; hard: hill-climbed
    test_count: int = 0  # extra puzzles for a test split, inequivalent to every train puzzle
    rate_transforms: int = 8  # random symmetries averaged per rating
    hard_steps: int = 150  # hill-climbing steps per hard search chain
    max_attempts_factor: int = 50  # give up after count * factor candidates (e.g. medium 4x4 never exists)


@dataclass(frozen=True)
class SudokuGenResult:
    train: SudokuSet
    test: SudokuSet
    attempts: int
    duplicates: int
    seconds: float


@njit(**KERNEL)
def _random_solution(size, units, peers, state, out):
    empty = np.zeros(size * size, np.int8)
    sols = np.empty((1, size * size), np.int8)
    stats = np.zeros(3, np.int64)
    _search(empty, units, peers, size, 1, True, state, sols, stats)
    out[:] = sols[0]


@njit(**KERNEL)
def _unique(grid, units, peers, size, state, sols):
    stats = np.zeros(3, np.int64)
    return _search(grid, units, peers, size, 2, False, state, sols, stats)


@njit(**KERNEL)
def _minimise(puzzle, units, peers, size, state):
    """Drop clues in random order while the solution stays unique; the result is minimal."""
    order = np.arange(size * size)
    _shuffle(state, order)
    sols = np.empty((2, size * size), np.int8)
    for c in order:
        d = puzzle[c]
        if d == 0:
            continue
        puzzle[c] = 0
        if _unique(puzzle, units, peers, size, state, sols) != 1:
            puzzle[c] = d


@njit(**KERNEL)
def _make_unique(puzzle, units, peers, size, state):
    """Add clues until `puzzle` has exactly one solution; False if it has none."""
    sols = np.empty((2, size * size), np.int8)
    while True:
        n = _unique(puzzle, units, peers, size, state, sols)
        if n == 0:
            return False
        if n == 1:
            return True
        k = _below(state, 2)  # keep a random one of the two solutions found
        diff = np.nonzero(sols[0] != sols[1])[0]
        c = diff[_below(state, diff.shape[0])]
        puzzle[c] = sols[k, c]


@njit(**KERNEL)
def _minimal_puzzle(size, units, peers, state, out):
    sol = np.empty(size * size, np.int8)
    _random_solution(size, units, peers, state, sol)
    out[:] = sol
    _minimise(out, units, peers, size, state)


@njit(**KERNEL)
def _mutate(p, size, state, out):
    """Copy `p` with one or two clues removed and one random clue (any digit) added elsewhere."""
    out[:] = p
    clues = np.nonzero(p)[0]
    for _ in range(1 + _below(state, 2)):
        out[clues[_below(state, clues.shape[0])]] = 0
    blanks = np.nonzero(p == 0)[0]
    out[blanks[_below(state, blanks.shape[0])]] = 1 + _below(state, size)


@njit(**KERNEL)
def _hard_chain(size, units, peers, rperms, cperms, can_t, steps, n_rate, state, out):
    """Hill-climb from a random minimal puzzle, keeping a mutant whenever its effort score is no lower."""
    p = np.empty(size * size, np.int8)
    q = np.empty(size * size, np.int8)
    _minimal_puzzle(size, units, peers, state, p)
    g, w = _rate(p, units, peers, size, rperms, cperms, can_t, n_rate, state)
    r = g + 0.01 * w  # sweeps break ties on the plateau of puzzles that need no guess
    for _ in range(steps):
        _mutate(p, size, state, q)
        if not _make_unique(q, units, peers, size, state):
            continue
        _minimise(q, units, peers, size, state)
        g, w = _rate(q, units, peers, size, rperms, cperms, can_t, n_rate, state)
        rq = g + 0.01 * w
        if rq >= r:  # >= lets the chain drift across plateaus
            p[:] = q
            r = rq
    out[:] = p
    return r


@njit(**KERNEL)
def _canonical(p, size, rperms, cperms, can_t, best):
    """Lexicographically least symmetric image of `p` (blank sorts last, digits relabelled by first use)."""
    blank = size + 1
    for k in range(best.shape[0]):
        best[k] = blank + 1  # larger than anything, so the first candidate wins
    relabel = np.zeros(size + 1, np.int8)
    for t in range(2 if can_t else 1):
        for ri in range(rperms.shape[0]):
            r = rperms[ri]
            for ci in range(cperms.shape[0]):
                c = cperms[ci]
                relabel[:] = 0
                nxt = 1
                better = False
                for i in range(size):
                    stop = False
                    for j in range(size):
                        v = p[r[i] * size + c[j]] if t == 0 else p[c[j] * size + r[i]]
                        if v == 0:
                            v = blank
                        else:
                            if relabel[v] == 0:
                                relabel[v] = nxt
                                nxt += 1
                            v = relabel[v]
                        k = i * size + j
                        if better:
                            best[k] = v
                        elif v < best[k]:
                            better = True
                            best[k] = v
                        elif v > best[k]:
                            stop = True
                            break
                    if stop:
                        break
    for k in range(best.shape[0]):
        if best[k] == blank:
            best[k] = 0


def canonical_key(puzzle: np.ndarray, size: int) -> bytes:
    """A key equal for two puzzles exactly when one is a Sudoku symmetry of the other."""
    s = shape_of(size)
    rperms, cperms = line_perms(size)
    best = np.empty(s.cells, np.int8)
    _canonical(np.ascontiguousarray(np.asarray(puzzle).ravel(), np.int8), size, rperms, cperms, s.can_transpose, best)
    return best.tobytes()


def _stream(seed: int, index: int) -> np.ndarray:
    """The RNG state of puzzle `index`: independent streams, whatever the batching."""
    mixed = np.random.SeedSequence([seed, index]).generate_state(1, np.uint64)
    return np.array(mixed, np.uint64)


def _one(cfg: SudokuGenConfig, index: int) -> tuple[np.ndarray, float]:
    s = shape_of(cfg.size)
    units, peers = geometry(cfg.size)
    rperms, cperms = line_perms(cfg.size)
    state = _stream(cfg.seed, index)
    out = np.empty(s.cells, np.int8)
    if cfg.difficulty == "hard":
        _hard_chain(cfg.size, units, peers, rperms, cperms, s.can_transpose, cfg.hard_steps, cfg.rate_transforms, state, out)
    else:
        _minimal_puzzle(cfg.size, units, peers, state, out)
    rating = float(_rate(out, units, peers, cfg.size, rperms, cperms, s.can_transpose, cfg.rate_transforms, state)[0])
    return out.astype(np.uint8), rating


def _solve(p: np.ndarray, size: int) -> np.ndarray:
    units, peers = geometry(size)
    sols = np.zeros((2, size * size), np.int8)
    n = _unique(p.astype(np.int8), units, peers, size, np.zeros(1, np.uint64), sols)
    assert n == 1, "generator produced a puzzle without a unique solution"
    return sols[0].astype(np.uint8)


def generate(cfg: SudokuGenConfig, on_progress: Callable[[int], None] | None = None) -> SudokuGenResult:
    """`cfg.count` train and `cfg.test_count` test puzzles, distinct up to symmetry, with ratings."""
    shape_of(cfg.size)
    if cfg.difficulty not in ("easy", "medium", "hard"):
        raise ArcError(f"unknown Sudoku difficulty {cfg.difficulty!r}; use easy, medium or hard")
    want = cfg.count + cfg.test_count
    t0 = time.perf_counter()
    seen: set[bytes] = set()
    puzzles, ratings = [], []
    attempts = duplicates = 0
    while len(puzzles) < want:
        if attempts >= max(want * cfg.max_attempts_factor, 100):
            raise ArcError(
                f"Sudoku {cfg.size}x{cfg.size} {cfg.difficulty}: only {len(puzzles)} of {want} distinct puzzles after "
                f"{attempts} attempts; ask for fewer, or another difficulty (4x4 never needs a guess, so no 'medium')"
            )
        p, r = _one(cfg, attempts)
        attempts += 1
        if cfg.difficulty == "medium" and r <= 0:
            continue
        key = canonical_key(p, cfg.size)
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        puzzles.append(p)
        ratings.append(r)
        if on_progress:
            on_progress(1)
    q = np.stack(puzzles)
    a = np.stack([_solve(p, cfg.size) for p in puzzles])
    rt = np.array(ratings, np.float32)
    name = f"gen{cfg.size}-{cfg.difficulty}"

    def part(sl: slice, split: str) -> SudokuSet:
        n = len(q[sl])
        return SudokuSet(cfg.size, q[sl], a[sl], rt[sl], (f"{name}-{split}",) * n)

    return SudokuGenResult(
        part(slice(0, cfg.count), "train"), part(slice(cfg.count, want), "test"), attempts, duplicates, time.perf_counter() - t0
    )
