"""numba Sudoku solver that counts its search effort.

A grid is a flat int8 array of `size * size` digits (0 = blank). Candidates are bitmasks (bit d-1
for digit d). Propagation applies naked and hidden singles to a fixpoint, then (when `locked`, the default for
ratings, as in tdoku) box-line eliminations, and repeats; search branches on a cell
with the fewest candidates (first such cell, row-major) and tries digits low to high, or in a random
order when asked. Effort is counted as `guesses`: branch assignments tried. Random symmetry
transforms change which cell and digit come first, which is why ratings average over several.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from arc_pipeline.augment.jit import KERNEL, njit
from arc_pipeline.augment.puzzles.rng import below, shuffle
from arc_pipeline.augment.puzzles.sudoku import line_perms, shape_of

@lru_cache(maxsize=None)
def geometry(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(units (3*size, size) cell indices, peers (cells, n_peers) cell indices) for a shape."""
    s = shape_of(size)
    cells = np.arange(size * size).reshape(size, size)
    boxes = cells.reshape(size // s.box_rows, s.box_rows, size // s.box_cols, s.box_cols).transpose(0, 2, 1, 3)
    units = np.concatenate([cells, cells.T, boxes.reshape(size, size)]).astype(np.int32)
    peers = []
    for c in range(size * size):
        ps = sorted({int(x) for u in units if c in u for x in u} - {c})
        peers.append(ps)
    return units, np.array(peers, np.int32)


@njit(**KERNEL)
def _popcount(m):
    n = 0
    while m:
        m &= m - 1
        n += 1
    return n


@njit(**KERNEL)
def _low_digit(m):
    """Digit (1-based) of the lowest set bit."""
    d = 1
    while not (m & 1):
        m >>= 1
        d += 1
    return d


@njit(**KERNEL)
def _eliminate(cand, vals, c, bit):
    """Drop `bit` from unsolved cell c: 1 if it changed, -1 if that left no candidate, else 0."""
    if vals[c] != 0 or not (cand[c] & bit):
        return 0
    cand[c] &= ~bit
    return -1 if cand[c] == 0 else 1


@njit(**KERNEL)
def _locked(cand, vals, size, br, bc):
    """Locked candidates (box-line interactions): 1 if anything was eliminated, -1 on a contradiction, else 0.

    A digit confined to one line inside a box leaves the rest of that line; a digit confined to one box
    inside a line leaves the rest of that box."""
    status = 0
    for box_r in range(0, size, br):
        for box_c in range(0, size, bc):
            for d in range(size):
                bit = 1 << d
                row, col, n = -1, -1, 0
                for i in range(box_r, box_r + br):
                    for j in range(box_c, box_c + bc):
                        c = i * size + j
                        if vals[c] == 0 and cand[c] & bit:
                            row = i if n == 0 or row == i else -2
                            col = j if n == 0 or col == j else -2
                            n += 1
                if n < 2:
                    continue  # none (digit placed) or a hidden single, which the singles pass handles
                for k in range(size):
                    if row >= 0 and not box_c <= k < box_c + bc:
                        e = _eliminate(cand, vals, row * size + k, bit)
                        if e < 0:
                            return -1
                        status |= e
                    if col >= 0 and not box_r <= k < box_r + br:
                        e = _eliminate(cand, vals, k * size + col, bit)
                        if e < 0:
                            return -1
                        status |= e
                # claiming: the digit's candidates in a line that crosses this box all lie inside it
                for line in range(2):
                    for x in range((box_r if line == 0 else box_c), (box_r + br if line == 0 else box_c + bc)):
                        inside, outside = 0, 0
                        for k in range(size):
                            c = x * size + k if line == 0 else k * size + x
                            if vals[c] == 0 and cand[c] & bit:
                                if (box_c <= k < box_c + bc) if line == 0 else (box_r <= k < box_r + br):
                                    inside += 1
                                else:
                                    outside += 1
                        if inside and not outside:
                            for i in range(box_r, box_r + br):
                                for j in range(box_c, box_c + bc):
                                    if (i != x) if line == 0 else (j != x):
                                        e = _eliminate(cand, vals, i * size + j, bit)
                                        if e < 0:
                                            return -1
                                        status |= e
    return status


@njit(**KERNEL)
def _propagate(cand, vals, units, peers, full, stats, locked=False):
    """Naked + hidden singles (+ locked candidates if `locked`) to a fixpoint in place; False on a contradiction.

    stats[2] counts sweeps: a finer effort measure that still grows for puzzles needing no guess."""
    ncell = cand.shape[0]
    size = units.shape[1]
    bc = 0  # box width: the columns spanned by the first box (units[2 * size])
    for k in range(size):
        bc = max(bc, units[2 * size, k] % size + 1)
    changed = True
    while changed:
        changed = False
        stats[2] += 1
        for c in range(ncell):
            if vals[c] != 0:
                continue
            m = cand[c]
            if m == 0:
                return False
            if m & (m - 1) == 0:
                d = _low_digit(m)
                vals[c] = d
                changed = True
                for k in range(peers.shape[1]):
                    p = peers[c, k]
                    if vals[p] == d:
                        return False
                    if cand[p] & m:
                        cand[p] &= ~m
                        if vals[p] == 0 and cand[p] == 0:
                            return False
        for u in range(units.shape[0]):
            once = 0
            twice = 0
            placed = 0
            for k in range(units.shape[1]):
                c = units[u, k]
                if vals[c] != 0:
                    placed |= 1 << (vals[c] - 1)
                else:
                    twice |= once & cand[c]
                    once |= cand[c]
            if (once | placed) != full:
                return False
            hidden = once & ~twice & ~placed
            if hidden:
                for k in range(units.shape[1]):
                    c = units[u, k]
                    if vals[c] == 0 and cand[c] & hidden:
                        h = cand[c] & hidden
                        if h & (h - 1):
                            return False  # one cell is the only place for two digits
                        if cand[c] != h:
                            cand[c] = h
                            changed = True
        if locked and not changed:
            st = _locked(cand, vals, size, size // bc, bc)
            if st < 0:
                return False
            changed = st > 0
    return True


@njit(**KERNEL)
def _candidates(grid, size, out):
    """Initial candidate masks: a given is its digit, a blank anything."""
    full = (1 << size) - 1
    for c in range(grid.shape[0]):
        out[c] = full if grid[c] == 0 else 1 << (grid[c] - 1)


@njit(**KERNEL)
def _search(grid, units, peers, size, limit, randomize, state, sols, stats, locked=False):
    """Count solutions of `grid` up to `limit` (the first ones land in `sols`); stats += [guesses, backtracks, sweeps]."""
    cand0 = np.empty(grid.shape[0], np.int32)
    _candidates(grid, size, cand0)
    return _search_cand(cand0, units, peers, size, limit, randomize, state, sols, stats, locked)


@njit(**KERNEL)
def _search_cand(cand0, units, peers, size, limit, randomize, state, sols, stats, locked=False):
    """`_search` from candidate masks (so a caller can also forbid digits in blank cells)."""
    ncell = size * size
    full = (1 << size) - 1
    cand = np.empty((ncell + 1, ncell), np.int32)
    vals = np.zeros((ncell + 1, ncell), np.int8)
    bcell = np.zeros(ncell + 1, np.int32)
    brem = np.zeros(ncell + 1, np.int32)
    cand[0, :] = cand0
    if not _propagate(cand[0], vals[0], units, peers, full, stats, locked):
        return 0
    nsol = 0
    depth = 0
    expand = True
    while True:
        if expand:
            best = -1
            bestn = size + 1
            for c in range(ncell):
                if vals[depth, c] == 0:
                    n = _popcount(cand[depth, c])
                    if n < bestn:
                        bestn = n
                        best = c
                        if n == 2:
                            break
            if best < 0:
                if nsol < sols.shape[0]:
                    sols[nsol, :] = vals[depth]
                nsol += 1
                if nsol >= limit:
                    return nsol
                depth -= 1  # solved leaf: go back to the last branch point
            else:
                bcell[depth] = best
                brem[depth] = cand[depth, best]
        expand = False
        while depth >= 0 and brem[depth] == 0:
            depth -= 1
        if depth < 0:
            return nsol
        m = brem[depth]
        if randomize:
            pick = below(state, _popcount(m))
            for _ in range(pick):
                m &= m - 1
        bit = m & -m
        brem[depth] &= ~bit
        cand[depth + 1, :] = cand[depth]
        vals[depth + 1, :] = vals[depth]
        cand[depth + 1, bcell[depth]] = bit
        stats[0] += 1
        if _propagate(cand[depth + 1], vals[depth + 1], units, peers, full, stats, locked):
            depth += 1
            expand = True
        else:
            stats[1] += 1


@njit(**KERNEL)
def _transform(grid, size, rperms, cperms, can_transpose, state, out):
    """A random symmetry of `grid` into `out` (digit map, band/row, stack/column, maybe transpose)."""
    dmap = np.arange(size + 1).astype(np.int8)
    shuffle(state, dmap[1:])
    r = rperms[below(state, rperms.shape[0])]
    c = cperms[below(state, cperms.shape[0])]
    t = can_transpose and below(state, 2) == 1
    for i in range(size):
        for j in range(size):
            v = dmap[grid[r[i] * size + c[j]]]
            if t:
                out[j * size + i] = v
            else:
                out[i * size + j] = v


@njit(**KERNEL)
def _rate(grid, units, peers, size, rperms, cperms, can_transpose, n_transforms, state, locked=False):
    """(mean guesses, mean propagation sweeps) to the first solution over `n_transforms` random symmetries."""
    tmp = np.empty_like(grid)
    sols = np.empty((1, grid.shape[0]), np.int8)
    stats = np.zeros(3, np.int64)
    for _ in range(n_transforms):
        _transform(grid, size, rperms, cperms, can_transpose, state, tmp)
        _search(tmp, units, peers, size, 1, False, state, sols, stats, locked)
    return stats[0] / n_transforms, stats[2] / n_transforms


def _grid(grid: np.ndarray, size: int) -> np.ndarray:
    g = np.ascontiguousarray(np.asarray(grid).ravel(), dtype=np.int8)
    if g.shape != (size * size,) or g.min() < 0 or g.max() > size:
        raise ValueError(f"expected {size * size} digits in 0..{size}, got shape {np.asarray(grid).shape}")
    return g


def count_solutions(grid: np.ndarray, size: int, limit: int = 2, *, locked: bool = False) -> tuple[int, np.ndarray, int]:
    """(solutions found up to `limit`, the first one (zeros if none), guesses) for a 0-blank grid."""
    units, peers = geometry(size)
    sols = np.zeros((1, size * size), np.int8)
    stats = np.zeros(3, np.int64)
    n = _search(_grid(grid, size), units, peers, size, limit, False, np.zeros(1, np.uint64), sols, stats, locked)
    return int(n), sols[0].astype(np.uint8), int(stats[0])


def rate(grid: np.ndarray, size: int, *, n_transforms: int = 16, seed: int = 0, locked: bool = True) -> float:
    """Difficulty: mean solver guesses over `n_transforms` random symmetries (seeded); `locked` adds box-line reasoning."""
    units, peers = geometry(size)
    rperms, cperms = line_perms(size)
    state = np.array([seed], np.uint64)
    g = _grid(grid, size)
    return float(_rate(g, units, peers, size, rperms, cperms, shape_of(size).can_transpose, n_transforms, state, locked)[0])
