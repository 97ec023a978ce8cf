"""Mazes: labelled paths are shortest (independent BFS), augmentation keeps them shortest, scoring,
CSV round trip, determinism, split by wall layout."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.augment.puzzles.maze import (
    GOAL,
    OPEN,
    PATH,
    START,
    WALL,
    MazeSet,
    MazeSource,
    apply_dihedral,
    dihedral_positions,
    label,
    load_csv,
    save_csv,
    score,
    valid_optimal,
)
from arc_pipeline.augment.puzzles.maze_gen import MazeGenConfig, default_min_path, generate


def naive_bfs(grid: np.ndarray, start: tuple[int, int]) -> dict[tuple[int, int], int]:
    """Independent BFS over non-wall cells of a 2-D id grid."""
    h, w = grid.shape
    dist = {start: 0}
    todo = deque([start])
    while todo:
        r, c = todo.popleft()
        for nr, nc in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
            if 0 <= nr < h and 0 <= nc < w and grid[nr, nc] != WALL and (nr, nc) not in dist:
                dist[(nr, nc)] = dist[(r, c)] + 1
                todo.append((nr, nc))
    return dist


def assert_shortest_path(q: np.ndarray, a: np.ndarray, size: int, rating: float | None = None) -> None:
    q, a = q.reshape(size, size), a.reshape(size, size)
    assert (q[a != PATH] == a[a != PATH]).all() and (q[a == PATH] == OPEN).all()
    s = tuple(int(x) for x in np.argwhere(q == START)[0])
    g = tuple(int(x) for x in np.argwhere(q == GOAL)[0])
    best = naive_bfs(q, s)[g]
    if rating is not None:
        assert best == rating
    cells = {tuple(int(x) for x in p) for p in np.argwhere(a == PATH)}
    assert len(cells) == best - 1
    # the marked cells alone must lead S to G in `best` steps
    only = np.where(a == PATH, OPEN, WALL)
    only[s], only[g] = START, GOAL
    assert naive_bfs(only, s).get(g) == best


@pytest.fixture(scope="module")
def mazes() -> dict[str, MazeSet]:
    return {
        "hard": generate(MazeGenConfig(size=30, min_path=110, count=2, seed=0)).train,
        "small": generate(MazeGenConfig(size=10, min_path=30, count=20, seed=1)).train,
        "perfect": generate(MazeGenConfig(size=11, min_path=16, count=20, seed=2, perfect=True)).train,
    }


@pytest.mark.parametrize("kind", ["hard", "small", "perfect"])
def test_generated_paths_are_shortest(mazes, kind):
    m = mazes[kind]
    for q, a, r in zip(m.questions, m.answers, m.ratings):
        assert_shortest_path(q, a, m.size, r)
        assert r >= {"hard": 110, "small": 30, "perfect": 16}[kind]
        assert (q == START).sum() == 1 and (q == GOAL).sum() == 1


def test_wall_density_and_perfect_structure(mazes):
    density = (mazes["hard"].questions == WALL).mean(1)
    assert ((density > 0.2) & (density < 0.55)).all()
    p = mazes["perfect"].questions.reshape(-1, 11, 11)
    assert (p[:, 0] == WALL).all() and (p[:, :, 0] == WALL).all()
    # a spanning tree over 25 rooms opens 25 rooms + 24 passages
    assert ((p != WALL).sum((1, 2)) == 49).all()


def test_tie_break_is_up_right_down_left():
    q = np.full((4, 4), OPEN, np.uint8)
    q[0, 0], q[1, 1] = START, GOAL
    a, d = label(q.ravel(), 4)
    assert d == 2
    # from S at (0,0) up is off-grid, right reaches (0,1) one step closer: the path goes right first
    assert a.reshape(4, 4)[0, 1] == PATH and a.reshape(4, 4)[1, 0] == OPEN


@pytest.mark.parametrize("kind", ["hard", "perfect"])
def test_dihedral_augmentation_keeps_shortest_paths(mazes, kind):
    m = mazes[kind]
    n = len(m)
    for op in range(8):
        ops = np.full(n, op)
        q, a = apply_dihedral(m.questions, ops, m.size), apply_dihedral(m.answers, ops, m.size)
        for qq, aa, r in zip(q, a, m.ratings):
            assert_shortest_path(qq, aa, m.size, r)
            assert valid_optimal(aa, qq, m.size)


def test_dihedral_kernel_matches_numpy():
    rng = np.random.default_rng(0)
    g = rng.integers(1, 6, (8, 7, 7)).astype(np.uint8)
    ops = np.arange(8)
    got = apply_dihedral(g.reshape(8, -1), ops, 7).reshape(8, 7, 7)
    want = [np.rot90(g[k], k) if k < 4 else np.rot90(g[k], k - 4).T for k in range(8)]
    assert all((got[k] == want[k]).all() for k in range(8))
    assert len({m.tobytes() for m in dihedral_positions(7)}) == 8


def test_source_batches(mazes):
    m = mazes["small"]
    src = MazeSource(m, augment=True)
    assert (src.seq_len, src.vocab_size, src.num_puzzles, len(src)) == (100, 6, 2, 20)
    b = src.batch(np.arange(20), seed=3)
    assert (b.puzzle_ids == 1).all() and b.inputs.dtype == np.uint8
    for q, a in zip(b.inputs, b.labels):
        assert valid_optimal(a, q, 10)
    again = src.batch(np.arange(20), seed=3)
    assert (again.inputs == b.inputs).all()
    assert not (b.inputs == m.questions).all(), "augmentation should move some mazes"
    plain = MazeSource(m).batch(np.arange(3), seed=3)
    assert (plain.inputs == m.questions[:3]).all() and (plain.labels == m.answers[:3]).all()


def test_score_exact_and_valid_optimal():
    q = np.full((5, 5), OPEN, np.uint8)
    q[0, 0], q[2, 2] = START, GOAL
    q[1, 1] = WALL
    lab, d = label(q.ravel(), 5)
    assert d == 4
    other = q.copy()  # another shortest path: down, down, right, right
    other[1, 0] = other[2, 0] = other[2, 1] = PATH
    broken = q.copy()  # marks that never reach G
    broken[0, 1] = broken[0, 2] = PATH
    wall_hit = lab.reshape(5, 5).copy()
    wall_hit[4, 4] = PATH
    s = score(np.stack([lab, other.ravel(), broken.ravel(), wall_hit.ravel()]), np.stack([q.ravel()] * 4), np.stack([lab] * 4), 5)
    assert s.n == 4 and s.exact == 0.25 and s.valid_optimal == 0.5
    moved_goal = lab.copy()
    moved_goal[np.flatnonzero(moved_goal == GOAL)] = OPEN
    assert not valid_optimal(moved_goal, q.ravel(), 5)


def test_generation_is_deterministic_and_split_by_layout():
    cfg = MazeGenConfig(size=10, min_path=20, count=15, test_count=15, seed=7)
    a, b = generate(cfg), generate(cfg)
    assert (a.train.questions == b.train.questions).all() and (a.test.answers == b.test.answers).all()
    layouts = [(q == WALL).tobytes() for q in np.concatenate([a.train.questions, a.test.questions])]
    assert len(set(layouts)) == 30
    c = generate(MazeGenConfig(size=10, min_path=20, count=15, seed=8))
    assert not (c.train.questions == a.train.questions).all()


def test_bad_configs_raise_user_errors():
    with pytest.raises(ArcError, match="odd"):
        generate(MazeGenConfig(size=10, min_path=5, count=1, perfect=True))
    with pytest.raises(ArcError, match="min-path"):
        generate(MazeGenConfig(size=6, min_path=40, count=1, max_layouts=50))
    assert default_min_path(30) == 110 and default_min_path(10) == 30


def test_csv_round_trip_and_errors(tmp_path, mazes):
    m = mazes["perfect"]
    save_csv(tmp_path / "m.csv", m)
    back = load_csv(tmp_path / "m.csv")
    assert back.size == 11 and (back.questions == m.questions).all() and (back.answers == m.answers).all()
    assert (back.ratings == m.ratings).all()
    (tmp_path / "bad.csv").write_text('source,question,answer,rating\nx,"#  S",#,0\n')
    with pytest.raises(ArcError, match="bad.csv"):
        load_csv(tmp_path / "bad.csv")
    (tmp_path / "chars.csv").write_text('source,question,answer,rating\nx,"#X S",#oSG,0\n')
    with pytest.raises(ArcError, match="characters"):
        load_csv(tmp_path / "chars.csv")


def test_perfect_mazes_redraw_when_the_start_is_too_central():
    res = generate(MazeGenConfig(size=7, min_path=8, count=10, perfect=True, seed=0))
    assert len(res.train) == 10 and (res.train.ratings >= 8).all()
    assert res.attempts > 10, "some starts had no cell 8 steps away and were redrawn"
