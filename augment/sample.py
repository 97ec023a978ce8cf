"""Sampling distinct augmentations of a task from a seed and the task id alone.

Two records give the same augmented task exactly when one is the other composed with a symmetry
of the task (a record that maps the task onto itself). So instead of hashing every augmented
copy, we find the task's symmetries once (at most 8: one colour map per dihedral can fit), give
each record a canonical key (the smallest over its symmetry-coset of the dihedral id and the
colour map restricted to the task's colours) and keep the first record of every key. The tests
check this against hashing the augmented grids directly.

Content means what a model sees: demonstration pairs and test inputs (test outputs may be hidden).
"""

from __future__ import annotations

import hashlib
import itertools
import math

import numpy as np

from arc_pipeline.arc.task import Task
from arc_pipeline.augment.records import DIHEDRAL_COMPOSE, N_COLORS, N_DIHEDRAL, SWAPS_AXES, Aug

ENUMERATE_LIMIT = 50_000  # record spaces up to this size are enumerated, larger ones sampled


def task_rng(task_id: str, seed: int) -> np.random.Generator:
    """A generator derived from (seed, task id) only: stable across machines and Python runs."""
    digest = hashlib.blake2b(f"{int(seed)}\x00{task_id}".encode(), digest_size=16).digest()
    return np.random.Generator(np.random.PCG64(int.from_bytes(digest, "little")))


def visible_grids(task: Task) -> list[np.ndarray]:
    grids = []
    for p in task.train:
        grids += [p.input, p.output]
    grids += [p.input for p in task.test]
    return grids


def _dihedral_view(g: np.ndarray, d: int) -> np.ndarray:
    # dihedral_numpy spelt as slices: the same views without np.rot90's call overhead (~1 us a grid
    # instead of ~16), as the symmetry search calls it for every grid and transform
    if d >= 4:
        g = g.T
    k = d % 4
    return g if k == 0 else g[:, ::-1].T if k == 1 else g[::-1, ::-1] if k == 2 else g.T[:, ::-1]


def task_symmetries(task: Task, permute_zero: bool = False) -> list[tuple[int, np.ndarray]]:
    """Records (dihedral, colour map as a (10,) array) that map the task's visible content onto itself."""
    grids = visible_grids(task)
    found = []
    square = all(g.shape[0] == g.shape[1] for g in grids)
    for d in range(N_DIHEDRAL):
        if SWAPS_AXES[d] and not square:  # a grid would change shape
            continue
        moved = [_dihedral_view(g, d) for g in grids]
        # The colour map must send each colour of a moved grid to the colour in the same cell of the
        # grid, in every grid alike: each source colour has one image over all of them.
        pairs = np.unique(np.concatenate([t.astype(np.int64).ravel() * N_COLORS + g.ravel() for t, g in zip(moved, grids)]))
        src, dst = pairs // N_COLORS, pairs % N_COLORS
        if len(np.unique(src)) != len(src):
            continue
        cmap = np.full(N_COLORS, -1, dtype=np.int64)
        cmap[src] = dst
        used = cmap >= 0
        if len(np.unique(cmap[used])) != used.sum() or (not permute_zero and used[0] and cmap[0] != 0):
            continue
        found.append((d, cmap))
    return found


def _keys(dihedral: np.ndarray, colors: np.ndarray, used: np.ndarray, syms) -> np.ndarray:
    # Canonical key per record: min over symmetries s of (record o s) restricted to the used colours,
    # packed base-10 into an int64 (dihedral first).
    best = None
    for d_s, c_s in syms:
        d = DIHEDRAL_COMPOSE[dihedral, d_s]
        key = d.astype(np.int64)
        for c in used:
            key = key * N_COLORS + colors[:, c_s[c]]
        best = key if best is None else np.minimum(best, key)
    return best


def _enumerate(used_movable: np.ndarray, movable: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    # Every dihedral x every injective map of the used movable colours into the movable colours,
    # completed to a permutation by sending the unused colours, in order, to the free targets.
    k = len(used_movable)
    unused = np.setdiff1d(movable, used_movable)
    images = list(itertools.permutations(movable.tolist(), k))
    maps = np.array(images, dtype=np.int64).reshape(len(images), k)
    perms = np.tile(np.arange(N_COLORS, dtype=np.int64), (len(maps), 1))
    perms[:, used_movable] = maps
    if len(unused):
        taken = np.zeros((len(maps), N_COLORS), dtype=bool)
        np.put_along_axis(taken, maps, True, axis=1)
        # Free targets of each row in increasing order: taken ones sort past the end.
        free = np.sort(np.where(taken[:, movable], N_COLORS, movable[None, :]), axis=1)
        perms[:, unused] = free[:, : len(unused)]
    colors = np.repeat(perms, N_DIHEDRAL, axis=0)
    dihedral = np.tile(np.arange(N_DIHEDRAL), len(perms))
    order = rng.permutation(len(colors))
    return dihedral[order], colors[order]


def _draw(n: int, movable: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    dihedral = rng.integers(0, N_DIHEDRAL, size=n)
    colors = np.tile(np.arange(N_COLORS, dtype=np.int64), (n, 1))
    colors[:, movable] = rng.permuted(np.tile(movable, (n, 1)), axis=1)
    return dihedral, colors


def _first_distinct(dihedral: np.ndarray, colors: np.ndarray, used: np.ndarray, syms, want: int) -> np.ndarray:
    """Positions of the first `want` records with keys not seen before, in order. Keys are computed
    for a prefix that doubles until it holds `want` distinct keys: the first occurrences within a
    prefix are the first occurrences overall, so the answer is that of keying every record."""
    m = len(dihedral)
    size = min(m, 2 * want + 64)
    while True:
        keys = _keys(dihedral[:size], colors[:size], used, syms)
        _, first = np.unique(keys, return_index=True)
        if len(first) >= want or size == m:
            return np.sort(first)[:want]
        size = min(m, 2 * size)


def sample_aug_rows(task: Task, n: int, seed: int, *, permute_zero: bool = False) -> np.ndarray:
    """Like `sample_augs`, as an (m, 11) uint8 array (dihedral, colour map), m <= n."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if n == 1:  # the identity alone (always first); skips the symmetry search, ~2 ms a task
        return Aug.identity().to_row()[None, :].copy()
    rng = task_rng(task.id, seed)
    movable = np.arange(0 if permute_zero else 1, N_COLORS)
    present = np.zeros(N_COLORS, dtype=bool)
    for g in visible_grids(task):
        present[np.unique(g)] = True
    used = np.flatnonzero(present)
    used_movable = np.intersect1d(used, movable)
    syms = task_symmetries(task, permute_zero)
    space = N_DIHEDRAL * math.perm(len(movable), len(used_movable))
    classes = space // len(syms)

    identity = Aug.identity().to_row().astype(np.int64)
    dihedral = np.zeros(1, dtype=np.int64)
    colors = identity[None, 1:]
    if n > 1:
        if space <= ENUMERATE_LIMIT:
            d_new, c_new = _enumerate(used_movable, movable, rng)
        else:
            # Enough draws that n distinct keys are all but certain; capped, so an unlucky task
            # returns slightly fewer rather than looping.
            draws = min(4 * n + 64, 50 * n)
            d_new, c_new = _draw(draws, movable, rng)
        dihedral = np.concatenate([dihedral, d_new])
        colors = np.concatenate([colors, c_new])
    keep = _first_distinct(dihedral, colors, used, syms, min(n, classes))
    out = np.empty((len(keep), 1 + N_COLORS), dtype=np.uint8)
    out[:, 0] = dihedral[keep]
    out[:, 1:] = colors[keep]
    return out


def sample_augs(task: Task, n: int, seed: int, *, permute_zero: bool = False) -> list[Aug]:
    """Up to n augmentations of `task` with pairwise different content, identity first.

    Derived from (seed, task.id) alone. Fewer than n when the task's colours and symmetries allow
    fewer distinct augmentations (then all of them are returned).
    """
    return [Aug.from_row(r) for r in sample_aug_rows(task, n, seed, permute_zero=permute_zero)]
