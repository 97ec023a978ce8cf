"""Maze generators: random obstacle fields (Maze-Hard's procedure) and spanning-tree "perfect" mazes.

Random obstacles: each layout draws a wall density uniformly in [wall_min, wall_max], walls cell by
cell, a start uniformly among open cells, BFS from it, and the goal uniformly among open cells at
distance >= min_path; a layout with no such cell is dropped. Perfect mazes carve a spanning tree
(randomised depth-first search) over the odd-coordinate cells, so the S-G path is unique.
Maze slot `i` draws its layouts from its own RNG stream (seed, i), so output is deterministic. Layouts are
deduplicated by wall pattern and each yields one maze, so a train/test cut is a cut by wall layout.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.arc.pool import worker_pool, workers_for
from arc_pipeline.augment.jit import KERNEL, njit
from arc_pipeline.augment.puzzles.maze import GOAL, OPEN, START, WALL, MazeSet, _bfs, _mark_path
from arc_pipeline.augment.puzzles.csvfile import generated_split
from arc_pipeline.augment.puzzles.pool import Distinct, in_order
from arc_pipeline.augment.puzzles.rng import below, stream, uniform


def default_min_path(size: int, perfect: bool = False) -> int:
    """110 at 30x30 and 30 at 10x10 (the documented tiers), interpolated as a power law; perfect: 1.5 x size."""
    if perfect:
        return max(2, (3 * size) // 2)
    return max(2, int(round(110 * (size / 30) ** 1.18)))


@dataclass(frozen=True)
class MazeGenConfig:
    size: int = 30
    min_path: int = 110  # minimum BFS distance S -> G in steps
    count: int = 1000
    test_count: int = 0
    seed: int = 0
    perfect: bool = False
    wall_min: float = 0.3
    wall_max: float = 0.5
    max_layouts: int = 200_000  # per maze: give up when no layout qualifies after this many


@dataclass(frozen=True)
class MazeGenResult:
    train: MazeSet
    test: MazeSet
    attempts: int  # layouts drawn
    duplicates: int
    seconds: float
    workers: int = 1  # processes that drew

    def summary(self) -> dict:
        """Counts, throughput and path-length statistics over train and test together (JSON-ready)."""
        d = np.concatenate([self.train.ratings, self.test.ratings]).astype(float)
        return {
            "train": len(self.train), "test": len(self.test), "size": self.train.size,
            "seconds": round(self.seconds, 3), "workers": self.workers, "mazes_per_s": round(len(d) / max(self.seconds, 1e-9), 2),
            "layouts_tried": self.attempts, "duplicates": self.duplicates,
            "path_mean": round(float(d.mean()), 2), "path_min": int(d.min()), "path_max": int(d.max()),
        }


@njit(**KERNEL)
def _obstacle_layout(size, min_path, wall_min, wall_max, max_layouts, state, walls, dist, ends):
    """Draw layouts until one has a start with an open cell >= min_path away; returns layouts drawn (negative: gave up)."""
    ncell = size * size
    for t in range(max_layouts):
        density = wall_min + (wall_max - wall_min) * uniform(state)
        n_open = 0
        for c in range(ncell):
            walls[c] = 1 if uniform(state) < density else 0
            n_open += 1 - walls[c]
        if n_open < 2:
            continue
        k = below(state, n_open)
        start = 0
        for c in range(ncell):
            if walls[c] == 0:
                if k == 0:
                    start = c
                    break
                k -= 1
        _bfs(walls, size, start, dist)
        n_far = 0
        for c in range(ncell):
            n_far += dist[c] >= min_path
        if n_far == 0:
            continue
        k = below(state, n_far)
        for c in range(ncell):
            if dist[c] >= min_path:
                if k == 0:
                    ends[0], ends[1] = start, c
                    return t + 1
                k -= 1
    return -max_layouts


def _spanning_tree(size: int, rng: np.random.Generator) -> np.ndarray:
    """Walls everywhere except a randomised-DFS spanning tree over the cells at odd coordinates."""
    walls = np.ones((size, size), np.uint8)
    rooms = (size - 1) // 2
    seen = np.zeros((rooms, rooms), bool)
    start = (int(rng.integers(rooms)), int(rng.integers(rooms)))
    stack = [start]
    seen[start] = True
    walls[2 * start[0] + 1, 2 * start[1] + 1] = 0
    while stack:
        r, c = stack[-1]
        nbrs = [(r + dr, c + dc) for dr, dc in ((-1, 0), (0, 1), (1, 0), (0, -1))
                if 0 <= r + dr < rooms and 0 <= c + dc < rooms and not seen[r + dr, c + dc]]
        if not nbrs:
            stack.pop()
            continue
        nr, nc = nbrs[int(rng.integers(len(nbrs)))]
        seen[nr, nc] = True
        walls[2 * nr + 1, 2 * nc + 1] = 0
        walls[r + nr + 1, c + nc + 1] = 0  # the wall between the two rooms
        stack.append((nr, nc))
    return walls.ravel()


def _one(cfg: MazeGenConfig, index: int, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(question, answer, S-G distance, layouts drawn) for maze slot `index`; distance -1 when it gave up."""
    seed_state = stream(cfg.seed, index)
    ends = np.zeros(2, np.int64)
    if cfg.perfect:
        walls = _spanning_tree(cfg.size, np.random.default_rng(seed_state))
        tries = 1
        open_cells = np.flatnonzero(walls == 0)
        state = seed_state.copy()
        ends[0] = open_cells[below(state, len(open_cells))]
        _bfs(walls, cfg.size, int(ends[0]), dist)
        far = np.flatnonzero(dist >= cfg.min_path)
        if len(far) == 0:
            return walls, walls, -1, tries
        ends[1] = far[below(state, len(far))]
    else:
        walls = np.empty(cfg.size * cfg.size, np.uint8)
        tries = _obstacle_layout(cfg.size, cfg.min_path, cfg.wall_min, cfg.wall_max, cfg.max_layouts,
                                 seed_state, walls, dist, ends)
        if tries < 0:
            return walls, walls, -1, -tries
    start, goal = int(ends[0]), int(ends[1])
    q = np.where(walls == 1, WALL, OPEN).astype(np.uint8)
    q[start], q[goal] = START, GOAL
    to_goal = np.empty_like(dist)
    _bfs(walls, cfg.size, goal, to_goal)
    a = q.copy()
    _mark_path(to_goal, cfg.size, start, a)
    return q, a, int(to_goal[start]), tries


def _block(cfg: MazeGenConfig, lo: int, hi: int) -> list[tuple[np.ndarray, np.ndarray, int, int]]:
    dist = np.empty(cfg.size * cfg.size, np.int32)
    return [_one(cfg, i, dist) for i in range(lo, hi)]


def generate(cfg: MazeGenConfig, on_progress: Callable[[int], None] | None = None,
             workers: int | None = None) -> MazeGenResult:
    """`cfg.count` train and `cfg.test_count` test mazes, each on a distinct wall layout.

    `workers` processes draw in parallel (0 = every core; None = every core for obstacle fields of
    more than 50 mazes, else one); slots are consumed in index order, so the output does not depend on it."""
    if cfg.size < 5 or cfg.size > 30:
        raise ArcError(f"maze size {cfg.size} is outside 5..30 (the 30x30 canvas bounds it)")
    if cfg.perfect and cfg.size % 2 == 0:
        raise ArcError(f"perfect mazes need an odd size (rooms at odd coordinates); got {cfg.size}, try {cfg.size + 1}")
    if not 0 <= cfg.wall_min <= cfg.wall_max < 1:
        raise ArcError(f"wall density range [{cfg.wall_min}, {cfg.wall_max}] must lie in [0, 1)")
    want = cfg.count + cfg.test_count
    t0 = time.perf_counter()
    distinct = Distinct(on_progress)
    qs, ans, lengths = [], [], []
    attempts = 0
    index = 0
    n_workers = workers_for(workers, worth_it=not cfg.perfect and want > 50)
    with worker_pool(n_workers) as pool:
        slots = in_order(_block, (cfg,), block=8, pool=pool)
        while len(qs) < want:
            index, (q, a, d, tries) = next(slots)
            index += 1
            attempts += tries
            # an obstacle slot that gave up drew max_layouts layouts in vain; a perfect maze just draws again
            if (d < 0 and not cfg.perfect) or index > 20 * want + 100:
                raise ArcError(
                    f"maze {cfg.size}x{cfg.size}: only {len(qs)} of {want} distinct mazes with a path of >= {cfg.min_path} "
                    f"steps after {attempts} layouts; lower --min-path (default {default_min_path(cfg.size, cfg.perfect)}) "
                    "or ask for fewer"
                )
            if d >= 0 and distinct.new((q == WALL).tobytes()):
                qs.append(q)
                ans.append(a)
                lengths.append(d)
        slots.close()
    name = f"gen-maze{cfg.size}{'-perfect' if cfg.perfect else ''}"
    train, test = generated_split(cfg.size, np.stack(qs), np.stack(ans), lengths, cfg.count, name)
    return MazeGenResult(train, test, attempts, distinct.duplicates, time.perf_counter() - t0, n_workers)
