"""Sudoku domain: generated puzzles are unique (independent solver), augmentations keep validity,
6x6 never transposes, records invert, kernel parity with numpy, CSV round trip, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.augment.puzzles.sudoku import (
    BOXES,
    SudokuAug,
    SudokuSet,
    SudokuSource,
    apply,
    aug_arrays,
    is_valid_solution,
    line_perms,
    load_csv,
    sample_arrays,
    sample_augs,
    save_csv,
)
from arc_pipeline.augment.puzzles.sudoku_gen import SudokuGenConfig, canonical_key, generate
from arc_pipeline.augment.puzzles.sudoku_solve import count_solutions, rate
from arc_pipeline.augment.puzzles.tokens import apply_tokens


def naive_count(grid: np.ndarray, size: int, limit: int = 2) -> int:
    """Plain backtracking with sets, branching on the blank with fewest options: an independent uniqueness check."""
    br, bc = BOXES[size]
    g = [[int(v) for v in row] for row in np.asarray(grid).reshape(size, size)]

    def options(r: int, c: int) -> set[int]:
        r0, c0 = r - r % br, c - c % bc
        used = set(g[r]) | {g[k][c] for k in range(size)} | {g[r0 + a][c0 + b] for a in range(br) for b in range(bc)}
        return set(range(1, size + 1)) - used

    def rec() -> int:
        blanks = [(len(options(r, c)), r, c) for r in range(size) for c in range(size) if g[r][c] == 0]
        if not blanks:
            return 1
        _, r, c = min(blanks)
        n = 0
        for d in sorted(options(r, c)):
            g[r][c] = d
            n = min(limit, n + rec())
            g[r][c] = 0
            if n >= limit:
                break
        return n

    return rec()


@pytest.fixture(scope="module")
def sets() -> dict[int, SudokuSet]:
    return {
        4: generate(SudokuGenConfig(size=4, count=3, seed=3)).train,
        6: generate(SudokuGenConfig(size=6, count=40, seed=3)).train,
        9: generate(SudokuGenConfig(size=9, count=4, seed=3)).train,
    }


@pytest.mark.parametrize("size", [4, 6, 9])
def test_generated_puzzles_have_unique_valid_solutions(sets, size):
    s = sets[size]
    for q, a in zip(s.questions, s.answers):
        assert is_valid_solution(a, size)
        assert ((q == 0) | (q == a)).all()
        assert naive_count(q, size) == 1


def test_generated_6x6_are_minimal(sets):
    for q in sets[6].questions[:10]:
        for c in np.nonzero(q)[0]:
            weaker = q.copy()
            weaker[c] = 0
            assert naive_count(weaker, 6) == 2


def test_solver_agrees_with_naive_count():
    rng = np.random.default_rng(0)
    full = generate(SudokuGenConfig(size=6, count=1, seed=9)).train.answers[0]
    for _ in range(30):
        q = full * (rng.random(36) < 0.3)
        want = naive_count(q, 6)
        n, sol, _ = count_solutions(q, 6)
        assert n == want and count_solutions(q, 6, locked=True)[0] == want
        assert is_valid_solution(sol, 6) and ((q == 0) | (q == sol)).all()
    bad = full.copy()
    bad[1] = bad[0]  # two equal digits in a row
    assert count_solutions(bad, 6)[0] == 0


@pytest.mark.parametrize("size", [4, 6, 9])
def test_augmented_solution_solves_augmented_puzzle(sets, size):
    s = sets[size]
    rng = np.random.default_rng(size)
    augs = sample_augs(len(s), size, rng)
    q, a = apply(s.questions, augs, size), apply(s.answers, augs, size)
    for qq, aa in zip(q, a):
        assert is_valid_solution(aa, size)
        assert ((qq == 0) | (qq == aa)).all()
        assert count_solutions(qq, size)[0] == 1
    assert ((q > 0).sum(1) == (s.questions > 0).sum(1)).all()


def test_source_batches_keep_validity_and_are_seeded(sets):
    src = SudokuSource(sets[6], augment=True)
    assert (src.seq_len, src.vocab_size, src.num_puzzles, len(src)) == (36, 8, 2, 40)
    idx = np.arange(40)
    b = src.batch(idx, seed=5)
    assert b.inputs.dtype == np.uint8 and b.inputs.shape == (40, 36)
    assert (b.puzzle_ids == 1).all() and b.puzzle_ids.dtype == np.int32
    assert b.inputs.min() >= 1 and b.labels.min() >= 2 and b.labels.max() <= 7
    for x, y in zip(b.inputs, b.labels):
        assert is_valid_solution(y - 1, 6)
        assert ((x == 1) | (x == y)).all()
    again = src.batch(idx, seed=5)
    assert (again.inputs == b.inputs).all() and (again.labels == b.labels).all()
    assert not (src.batch(idx, seed=6).inputs == b.inputs).all()
    plain = SudokuSource(sets[6]).batch(idx[:3], seed=5)
    assert (plain.inputs == sets[6].questions[:3] + 1).all()


def test_6x6_augmentation_never_transposes_or_rotates_90():
    pos, _ = sample_arrays(20000, 6, np.random.default_rng(0))
    src_rows = pos.reshape(-1, 6, 6) // 6  # source row of each output cell
    assert (src_rows == src_rows[:, :, :1]).all(), "an output row drew from several source rows"
    # 180-degree rotations are symmetries of 2x3 boxes and must be reachable
    rot180 = np.arange(36)[::-1]
    assert (pos == rot180).all(1).any() or len(np.unique(pos, axis=0)) > 3000
    with pytest.raises(ValueError, match="transpose"):
        aug_arrays([SudokuAug((1, 2, 3, 4, 5, 6), tuple(range(6)), tuple(range(6)), True)], 6)
    with pytest.raises(ValueError, match="bands"):
        aug_arrays([SudokuAug((1, 2, 3, 4, 5, 6), (0, 2, 1, 3, 4, 5), tuple(range(6)), False)], 6)


def test_9x9_augmentation_transposes_about_half_the_time():
    pos, _ = sample_arrays(4000, 9, np.random.default_rng(1))
    src_rows = pos.reshape(-1, 9, 9) // 9
    transposed = (src_rows == src_rows[:, :1, :]).all((1, 2))
    assert 0.4 < transposed.mean() < 0.6


@pytest.mark.parametrize("size", [4, 6, 9])
def test_records_round_trip(size):
    rng = np.random.default_rng(size)
    grids = rng.integers(0, size + 1, (50, size * size)).astype(np.uint8)
    augs = sample_augs(50, size, rng)
    once = apply(grids, augs, size)
    back = np.stack([apply(g[None], [a.inverse()], size)[0] for g, a in zip(once, augs)])
    assert (back == grids).all()
    assert (apply(grids, [SudokuAug.identity(size)] * 50, size) == grids).all()


def test_kernel_matches_numpy_twin():
    rng = np.random.default_rng(0)
    for size in (4, 6, 9):
        tokens = rng.integers(0, size + 2, (64, size * size)).astype(np.uint8)
        pos, tmap = sample_arrays(64, size, rng)
        twin = np.take_along_axis(tmap, np.take_along_axis(tokens, pos, 1).astype(np.int64), 1)
        assert (apply_tokens(tokens, pos, tmap) == twin).all()
    # hand-written: swap the two stacks of a 4x4 and map digit 1 <-> 2
    g = np.arange(16, dtype=np.uint8).reshape(1, 16) % 5
    out = apply(g, [SudokuAug((2, 1, 3, 4), (0, 1, 2, 3), (2, 3, 0, 1), False)], 4)
    assert out.reshape(4, 4).tolist() == [[1, 3, 0, 2], [2, 1, 4, 0], [0, 2, 3, 4], [4, 0, 1, 3]]


def test_canonical_key_is_symmetry_invariant(sets):
    rng = np.random.default_rng(4)
    for size in (6, 9):
        q = sets[size].questions[0]
        key = canonical_key(q, size)
        for a in sample_augs(3, size, rng):
            assert canonical_key(apply(q[None], [a], size)[0], size) == key
        other = sets[size].questions[1]
        assert canonical_key(other, size) != key


def test_generation_is_deterministic_and_deduplicated():
    cfg = SudokuGenConfig(size=6, count=30, test_count=10, seed=11)
    a, b = generate(cfg), generate(cfg)
    assert (a.train.questions == b.train.questions).all() and (a.test.questions == b.test.questions).all()
    assert (a.train.ratings == b.train.ratings).all()
    c = generate(SudokuGenConfig(size=6, count=30, seed=12))
    assert not (c.train.questions == a.train.questions).all()
    keys = [canonical_key(q, 6) for q in np.concatenate([a.train.questions, a.test.questions])]
    assert len(set(keys)) == 40, "train and test must be distinct up to symmetry"


def test_hard_search_beats_random_minimal():
    easy = generate(SudokuGenConfig(size=6, count=12, seed=5))
    hard = generate(SudokuGenConfig(size=6, count=6, seed=5, difficulty="hard", hard_steps=60, per_chain=3, min_rating=1.5))
    assert (hard.train.ratings >= 1.5).all()
    assert hard.train.ratings.mean() > easy.train.ratings.mean() + 1.0
    for q, a in zip(hard.train.questions, hard.train.answers):
        assert naive_count(q, 6) == 1 and is_valid_solution(a, 6)


def test_medium_needs_guesses_and_4x4_has_no_hard():
    med = generate(SudokuGenConfig(size=6, count=3, seed=2, difficulty="medium"))
    assert (med.train.ratings > 0).all()
    with pytest.raises(ArcError, match="4x4"):
        generate(SudokuGenConfig(size=4, count=2, seed=0, difficulty="medium"))


def naive_canonical(q: np.ndarray, size: int) -> bytes:
    """Brute force over every band/row, stack/column permutation (and transpose when square)."""
    rperms, cperms = line_perms(size)
    g = q.reshape(size, size)
    best = None
    for t in (0, 1) if BOXES[size][0] == BOXES[size][1] else (0,):
        src = g.T if t else g
        for r in rperms:
            for c in cperms:
                img = src[np.ix_(r, c)].ravel() if not t else g[np.ix_(c, r)].T.ravel()
                relabel, out = {}, []
                for v in img:
                    out.append(size + 1 if v == 0 else relabel.setdefault(int(v), len(relabel) + 1))
                if best is None or out < best:
                    best = out
    return bytes(0 if v == size + 1 else v for v in best)


@pytest.mark.parametrize("size", [4, 6])
def test_canonical_key_matches_brute_force(sets, size):
    for q in sets[size].questions[:2]:
        assert canonical_key(q, size) == naive_canonical(q, size)


def test_train_split_does_not_depend_on_test_count():
    a = generate(SudokuGenConfig(size=6, count=10, seed=4))
    b = generate(SudokuGenConfig(size=6, count=10, test_count=10, seed=4))
    assert (a.train.questions == b.train.questions).all() and len(b.test) == 10


def test_rating_is_seeded():
    q = generate(SudokuGenConfig(size=9, count=1, seed=8)).train.questions[0]
    assert rate(q, 9, seed=1) == rate(q, 9, seed=1)
    assert rate(q, 9, seed=1) >= 0


def test_csv_round_trip_and_errors(tmp_path, sets):
    path = tmp_path / "s.csv"
    save_csv(path, sets[6])
    back = load_csv(path)
    assert back.size == 6 and (back.questions == sets[6].questions).all() and (back.answers == sets[6].answers).all()
    assert np.allclose(back.ratings, sets[6].ratings) and back.sources == sets[6].sources
    # the published layout: '.' blanks, integer ratings
    q9, a9 = sets[9].questions[0], sets[9].answers[0]
    (tmp_path / "ext.csv").write_text(
        "source,question,answer,rating\n"
        f"forum,{''.join('.' if v == 0 else str(v) for v in q9)},{''.join(str(v) for v in a9)},37\n"
    )
    ext = load_csv(tmp_path / "ext.csv")
    assert ext.size == 9 and ext.ratings[0] == 37 and (ext.questions[0] == q9).all()
    (tmp_path / "bad.csv").write_text("source,question,answer,rating\nx,123,123,0\n")
    with pytest.raises(ArcError, match="bad.csv"):
        load_csv(tmp_path / "bad.csv")
    (tmp_path / "clash.csv").write_text("source,question,answer,rating\n"
                                        f"x,2{''.join('.' for _ in range(35))},{''.join(str(v) for v in sets[6].answers[0])},0\n")
    if sets[6].answers[0][0] != 2:
        with pytest.raises(ArcError, match="row 2"):
            load_csv(tmp_path / "clash.csv")


def test_symmetry_group_sizes():
    """6x6 has 3!*2^3 row and 2!*(3!)^2 column arrangements; with 6! digit maps: 2,488,320 (PUZZLES.md)."""
    r6, c6 = line_perms(6)
    assert (len(r6), len(c6)) == (48, 72) and len(r6) * len(c6) * 720 == 2_488_320
    r9, c9 = line_perms(9)
    assert len(r9) == len(c9) == 1296 and len({tuple(r) for r in r9.tolist()}) == 1296


def test_locked_candidates_are_sound_and_save_guesses():
    rng = np.random.default_rng(1)
    full = generate(SudokuGenConfig(size=9, count=1, seed=2)).train.answers[0]
    for _ in range(40):  # sound: box-line eliminations never lose a solution
        q = full * (rng.random(81) < 0.3)
        assert count_solutions(q, 9, limit=50)[0] == count_solutions(q, 9, limit=50, locked=True)[0]
    # Norvig's top95 #1 stalls singles-only propagation but falls to box-line reasoning
    top95 = "4.....8.5.3..........7......2.....6.....8.4......1.......6.3.7.5..2.....1.4......"
    g = np.array([0 if ch == "." else int(ch) for ch in top95])
    assert rate(g, 9, n_transforms=4, locked=False) > 20 and rate(g, 9, n_transforms=4, locked=True) == 0
    assert (count_solutions(g, 9, locked=True)[1] == count_solutions(g, 9)[1]).all()
