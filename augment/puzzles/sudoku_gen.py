"""Sudoku generators: random minimal puzzles (easy/medium) and hill-climbed hard puzzles.

Every draw or chain has its own RNG stream seeded by (seed, split, index), so output is deterministic
and independent of batching. Puzzles are deduplicated by canonical form (the lexicographically
least image under all symmetries, digits relabelled by first appearance), so no two rows of a file
are equivalent and a train/test split of distinct rows is a split by equivalence class. A `hard`
search chain yields up to `per_chain` related puzzles (those it keeps at or above `min_rating`);
train and test come from separate chains, so no chain straddles the split.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.arc.pool import worker_pool, workers_for
from arc_pipeline.augment.jit import KERNEL, njit
from arc_pipeline.augment.puzzles.csvfile import generated_split
from arc_pipeline.augment.puzzles.pool import Distinct, in_order
from arc_pipeline.augment.puzzles.rng import below, shuffle, stream
from arc_pipeline.augment.puzzles.sudoku import SudokuSet, line_perms, shape_of
from arc_pipeline.augment.puzzles.sudoku_solve import _candidates, _rate, _search, _search_cand, geometry

Difficulty = Literal["easy", "medium", "hard"]


@dataclass(frozen=True)
class SudokuGenConfig:
    size: int = 6
    count: int = 1000
    seed: int = 0
    difficulty: Difficulty = "easy"  # easy: random minimal; medium: minimal needing a guess; hard: hill-climbed
    test_count: int = 0  # extra puzzles for a test split, inequivalent to every train puzzle
    locked: bool = True  # rate with box-line reasoning too, like tdoku (Sudoku-Extreme's rating solver)
    rate_transforms: int = 8  # random symmetries averaged per rating inside the search
    final_transforms: int = 32  # ... for the rating written out (more, so the filter on it is less noisy)
    hard_steps: int = 800  # hill-climbing steps per hard search chain (ratings still climb at 800)
    per_chain: int = 16  # at most this many puzzles from one chain (neighbours on a chain are alike)
    min_rating: float | None = None  # hard: mean guesses to reach; None = default_min_rating(size)
    max_attempts_factor: int = 50  # give up after count * factor draws or chains


@dataclass(frozen=True)
class SudokuGenResult:
    train: SudokuSet
    test: SudokuSet
    attempts: int  # random draws (easy, medium) or search chains (hard)
    duplicates: int
    seconds: float
    workers: int = 1  # processes that drew

    def summary(self) -> dict:
        """Counts, throughput and rating statistics over train and test together (JSON-ready)."""
        r = np.concatenate([self.train.ratings, self.test.ratings]).astype(float)
        clues = np.concatenate([(self.train.questions > 0).sum(1), (self.test.questions > 0).sum(1)])
        return {
            "train": len(self.train), "test": len(self.test), "size": self.train.size,
            "seconds": round(self.seconds, 3), "workers": self.workers, "puzzles_per_s": round(len(r) / max(self.seconds, 1e-9), 2),
            "draws_or_chains": self.attempts, "duplicates": self.duplicates,
            "rating_mean": round(float(r.mean()), 3), "rating_max": round(float(r.max()), 3),
            "needs_guess": round(float((r > 0).mean()), 4), "clues_mean": round(float(clues.mean()), 2),
        }


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
    shuffle(state, order)
    sols = np.empty((1, size * size), np.int8)
    stats = np.zeros(3, np.int64)
    cand = np.empty(size * size, np.int32)
    for c in order:
        d = puzzle[c]
        if d == 0:
            continue
        puzzle[c] = 0
        # `puzzle` had one solution, so without clue c it stays unique iff no solution puts another digit at c,
        # a search that fails fast, unlike counting solutions to two
        _candidates(puzzle, size, cand)
        cand[c] &= ~(1 << (d - 1))
        if _search_cand(cand, units, peers, size, 1, False, state, sols, stats) != 0:
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
        k = below(state, 2)  # keep a random one of the two solutions found
        diff = np.nonzero(sols[0] != sols[1])[0]
        c = diff[below(state, diff.shape[0])]
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
    for _ in range(1 + below(state, 2)):
        out[clues[below(state, clues.shape[0])]] = 0
    blanks = np.nonzero(p == 0)[0]
    out[blanks[below(state, blanks.shape[0])]] = 1 + below(state, size)


@njit(**KERNEL)
def _hard_chain(size, units, peers, rperms, cperms, can_t, steps, n_rate, min_rating, locked, state, emitted):
    """Hill-climb from a random minimal puzzle, keeping a mutant whenever its effort score is no lower.

    Every kept puzzle whose mean guesses reach `min_rating` is copied to `emitted` (until it is full);
    returns how many were."""
    p = np.empty(size * size, np.int8)
    q = np.empty(size * size, np.int8)
    _minimal_puzzle(size, units, peers, state, p)
    g, w = _rate(p, units, peers, size, rperms, cperms, can_t, n_rate, state, locked)
    r = g + 0.01 * w  # sweeps break ties on the plateau of puzzles that need no guess
    g_kept = g
    n = 0
    if g >= min_rating:
        emitted[0] = p
        n = 1
    for step in range(steps):
        if n >= emitted.shape[0] or (step == steps // 3 and g_kept < 0.5 * min_rating and n == 0):
            break  # full, or a chain too far below the bar a third of the way in (cheaper to restart)
        _mutate(p, size, state, q)
        if not _make_unique(q, units, peers, size, state):
            continue
        _minimise(q, units, peers, size, state)
        g, w = _rate(q, units, peers, size, rperms, cperms, can_t, n_rate, state, locked)
        rq = g + 0.01 * w
        if rq >= r:  # >= lets the chain drift across plateaus
            p[:] = q
            r = rq
            g_kept = g
            if g >= min_rating:
                emitted[n] = q
                n += 1
    return n


@njit(**KERNEL)
def _canonical_rows(p, size, t, r, c, best, relabel, exact):
    """Compare the image of `p` under (transpose t, row perm r, col perm c) with `best`, replacing it if smaller.

    Compares only the first row unless `exact`. Returns -1 (smaller), 0 (equal), 1 (larger)."""
    blank = size + 1
    relabel[:] = 0
    nxt = 1
    better = False
    for i in range(size if exact else 1):
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
                return 1
    return -1 if better else 0


@njit(**KERNEL)
def _canonical(p, size, rperms, cperms, can_t, best):
    """Lexicographically least symmetric image of `p` (blank sorts last, digits relabelled by first use).

    Two passes: the least first row over (transpose, source row, column perm), then the full image
    only for row perms that start with a source row achieving it (the other rows cannot win)."""
    blank = size + 1
    best[:] = blank + 1  # larger than anything, so the first candidate wins
    relabel = np.zeros(size + 1, np.int8)
    n_t = 2 if can_t else 1
    ties = np.empty((n_t * size * cperms.shape[0], 3), np.int32)
    n_ties = 0
    one = np.zeros(1, np.int32)
    for t in range(n_t):
        for i0 in range(size):
            one[0] = i0
            for ci in range(cperms.shape[0]):
                cmp = _canonical_rows(p, size, t, one, cperms[ci], best, relabel, False)
                if cmp < 0:
                    n_ties = 0
                if cmp <= 0:
                    ties[n_ties, 0], ties[n_ties, 1], ties[n_ties, 2] = t, i0, ci
                    n_ties += 1
    best[size:] = blank + 1
    for k in range(n_ties):
        t, i0, ci = ties[k, 0], ties[k, 1], ties[k, 2]
        for ri in range(rperms.shape[0]):
            if rperms[ri, 0] == i0:
                _canonical_rows(p, size, t, rperms[ri], cperms[ci], best, relabel, True)
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


def default_min_rating(size: int) -> float:
    """Mean guesses a `hard` puzzle must reach (9x9: near the low edge of Sudoku-Extreme's hard band, 25-55)."""
    return {4: 0.0, 6: 2.0, 9: 20.0}[size]


def _draw(cfg: SudokuGenConfig, split: int, index: int) -> list[tuple[np.ndarray, float]]:
    """Puzzles from one random minimal draw or one hard search chain, each with a fresh rating."""
    s = shape_of(cfg.size)
    units, peers = geometry(cfg.size)
    rperms, cperms = line_perms(cfg.size)
    state = stream(cfg.seed, split, index)
    if cfg.difficulty == "hard":
        min_rating = default_min_rating(cfg.size) if cfg.min_rating is None else cfg.min_rating
        emitted = np.empty((cfg.per_chain, s.cells), np.int8)
        n = _hard_chain(cfg.size, units, peers, rperms, cperms, s.can_transpose, cfg.hard_steps, cfg.rate_transforms,
                        min_rating, cfg.locked, state, emitted)
        found = list(emitted[:n])
    else:
        min_rating = 1e-9 if cfg.difficulty == "medium" else 0.0
        found = [np.empty(s.cells, np.int8)]
        _minimal_puzzle(cfg.size, units, peers, state, found[0])
    out = []
    for p in found:
        # a fresh rating: the chain kept puzzles on their own (upward-biased) estimate
        r = float(_rate(p, units, peers, cfg.size, rperms, cperms, s.can_transpose, cfg.final_transforms, state, cfg.locked)[0])
        if r >= min_rating:
            out.append((p.astype(np.uint8), r))
    return out


def _solve(p: np.ndarray, size: int) -> np.ndarray:
    units, peers = geometry(size)
    sols = np.zeros((2, size * size), np.int8)
    n = _unique(p.astype(np.int8), units, peers, size, np.zeros(1, np.uint64), sols)
    assert n == 1, "generator produced a puzzle without a unique solution"
    return sols[0].astype(np.uint8)


def _draws(cfg: SudokuGenConfig, split: int, lo: int, hi: int) -> list[list[tuple[np.ndarray, float]]]:
    return [_draw(cfg, split, i) for i in range(lo, hi)]


def _collect(cfg: SudokuGenConfig, pool, on_progress) -> tuple[list, int, int]:
    """Draws in index order, deduplicated by canonical form across both splits."""
    hard = cfg.difficulty == "hard"
    distinct = Distinct(on_progress)
    attempts = 0
    parts = []
    for split, want in ((0, cfg.count), (1, cfg.test_count)):
        puzzles: list[np.ndarray] = []
        ratings: list[float] = []
        index = 0
        draws = in_order(_draws, (cfg, split), block=1 if hard else 16, pool=pool)
        try:
            while len(puzzles) < want:
                if index >= max(want * cfg.max_attempts_factor, 100):
                    raise ArcError(
                        f"Sudoku {cfg.size}x{cfg.size} {cfg.difficulty}: only {len(puzzles)} of {want} distinct puzzles "
                        f"after {index} {'chains' if hard else 'draws'}; ask for fewer"
                        + (" (4x4 has only a few dozen inequivalent minimal puzzles)" if cfg.size == 4 else "")
                        + (" or lower --min-rating" if hard else "")
                    )
                index, found = next(draws)
                index += 1
                for p, r in found:
                    if not distinct.new(canonical_key(p, cfg.size)):
                        continue
                    puzzles.append(p)
                    ratings.append(r)
                    if len(puzzles) == want:
                        break
        finally:
            draws.close()
        attempts += index
        parts.append((puzzles, ratings))
    return parts, attempts, distinct.duplicates


def generate(cfg: SudokuGenConfig, on_progress: Callable[[int], None] | None = None,
             workers: int | None = None) -> SudokuGenResult:
    """`cfg.count` train and `cfg.test_count` test puzzles, distinct up to symmetry, with ratings.

    `workers` processes draw in parallel (0 = every core; None = every core for hard or large 9x9
    jobs, else one); draws are consumed in index order, so the output does not depend on it.

    Train and test draw from separate stream namespaces (so the train file does not depend on
    `test_count`) and share one set of canonical keys (so no test puzzle is equivalent to a train one)."""
    shape_of(cfg.size)
    if cfg.difficulty not in ("easy", "medium", "hard"):
        raise ArcError(f"unknown Sudoku difficulty {cfg.difficulty!r}; use easy, medium or hard")
    if cfg.size == 4 and cfg.difficulty != "easy":
        raise ArcError("4x4 Sudoku never needs a guess, so there is no medium or hard 4x4; use --difficulty easy")
    t0 = time.perf_counter()
    hard = cfg.difficulty == "hard"
    n_workers = workers_for(workers, worth_it=hard or (cfg.size == 9 and cfg.count + cfg.test_count > 200))
    with worker_pool(n_workers) as pool:
        parts, attempts, duplicates = _collect(cfg, pool, on_progress)
    (train_q, train_r), (test_q, test_r) = parts
    puzzles, cells = train_q + test_q, shape_of(cfg.size).cells
    q = np.stack(puzzles) if puzzles else np.zeros((0, cells), np.uint8)
    a = np.stack([_solve(p, cfg.size) for p in puzzles]) if puzzles else np.zeros((0, cells), np.uint8)
    train, test = generated_split(cfg.size, q, a, train_r + test_r, len(train_q), f"gen{cfg.size}-{cfg.difficulty}")
    return SudokuGenResult(train, test, attempts, duplicates, time.perf_counter() - t0, n_workers)
