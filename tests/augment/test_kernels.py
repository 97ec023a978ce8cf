"""Every augmentation kernel against its plain-numpy twin, and the round trip over all public tasks."""

from __future__ import annotations

import numpy as np
import pytest

from arc_pipeline.arc.load import load
from arc_pipeline.augment.encode import EOS, decode, decode_batch, decode_to_original, encode, encode_examples
from arc_pipeline.augment.kernels import Packed, pack, unpack
from arc_pipeline.augment.records import Aug, augs_to_array, dihedral_numpy
from arc_pipeline.augment.transform import apply, apply_batch, apply_packed, invert, invert_batch, invert_rows

# ---- numpy twins (obvious, slow) -------------------------------------------------------------


def twin_apply(g: np.ndarray, row: np.ndarray) -> np.ndarray:
    return np.asarray(row[1:], dtype=np.uint8)[dihedral_numpy(g, int(row[0]))]


def twin_encode(g: np.ndarray | None, row: np.ndarray, offset, canvas: int) -> np.ndarray:
    out = np.zeros((canvas, canvas), dtype=np.uint8)
    if g is None:
        return out.ravel()
    t = twin_apply(g, row) + 2
    r, c = offset
    h, w = t.shape
    out[r : r + h, c : c + w] = t
    if r + h < canvas:
        out[r + h, c : c + w] = EOS
    if c + w < canvas:
        out[r : r + h, c + w] = EOS
    return out.ravel()


def twin_crop(tokens: np.ndarray, canvas: int) -> np.ndarray | None:
    colour = (tokens.reshape(canvas, canvas) >= 2) & (tokens.reshape(canvas, canvas) <= 11)
    # valid[h-1, w-1]: the top-left h x w block is all colour
    valid = np.minimum.accumulate(np.minimum.accumulate(colour, axis=0), axis=1)
    area = np.outer(np.arange(1, canvas + 1), np.arange(1, canvas + 1)) * valid
    if area.max() == 0:
        return None
    h = int(np.flatnonzero((area == area.max()).any(axis=1))[0]) + 1  # fewest rows on ties
    w = int(area.max()) // h
    return tokens.reshape(canvas, canvas)[:h, :w] - 2


# ---- inputs -----------------------------------------------------------------------------------


def random_grids(rng: np.random.Generator, n: int, max_side: int = 30) -> list[np.ndarray]:
    return [rng.integers(0, 10, size=tuple(rng.integers(1, max_side + 1, size=2)), dtype=np.uint8) for _ in range(n)]


def random_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    return augs_to_array([Aug(int(rng.integers(8)), tuple(rng.permutation(10))) for _ in range(n)])


HAND = [
    np.array([[1]], dtype=np.uint8),
    np.array([[1, 2, 3]], dtype=np.uint8),
    np.array([[1], [2], [3]], dtype=np.uint8),
    np.array([[0, 1], [2, 3]], dtype=np.uint8),
    np.arange(6, dtype=np.uint8).reshape(2, 3),
    np.arange(900, dtype=np.int64).reshape(30, 30).__mod__(10).astype(np.uint8),
]


# ---- records vs kernels ---------------------------------------------------------------------


def test_hand_written_dihedral_images_match_numbering():
    g = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.uint8)
    expected = {
        0: [[1, 2, 3], [4, 5, 6]],
        1: [[3, 6], [2, 5], [1, 4]],  # rotate 90 counter-clockwise
        2: [[6, 5, 4], [3, 2, 1]],
        3: [[4, 1], [5, 2], [6, 3]],
        4: [[1, 4], [2, 5], [3, 6]],  # transpose
        5: [[4, 5, 6], [1, 2, 3]],  # flip up-down
        6: [[6, 3], [5, 2], [4, 1]],  # anti-transpose
        7: [[3, 2, 1], [6, 5, 4]],  # flip left-right
    }
    for d, want in expected.items():
        assert apply(g, Aug(d)).tolist() == want, d


@pytest.mark.parametrize("grids", ["hand", "random"])
def test_apply_packed_matches_numpy_twin(grids):
    rng = np.random.default_rng(1)
    gs = HAND * 8 if grids == "hand" else random_grids(rng, 200)
    rows = random_rows(rng, len(gs))
    rows[: min(8, len(rows)), 0] = np.arange(min(8, len(rows)))  # every dihedral at least once
    out = unpack(apply_packed(pack(gs), rows))
    for g, r, o in zip(gs, rows, out):
        assert np.array_equal(o, twin_apply(g, r))


def test_invert_rows_matches_record_inverse():
    rng = np.random.default_rng(2)
    augs = [Aug(int(rng.integers(8)), tuple(rng.permutation(10))) for _ in range(50)]
    assert np.array_equal(invert_rows(augs_to_array(augs)), augs_to_array([a.inverse() for a in augs]))


def test_apply_batch_follows_composition():
    rng = np.random.default_rng(3)
    gs = random_grids(rng, 40, 12)
    a = [Aug(int(rng.integers(8)), tuple(rng.permutation(10))) for _ in gs]
    b = [Aug(int(rng.integers(8)), tuple(rng.permutation(10))) for _ in gs]
    two_steps = apply_batch(apply_batch(gs, b), a)
    one_step = apply_batch(gs, [x.compose(y) for x, y in zip(a, b)])
    assert all(np.array_equal(p, q) for p, q in zip(two_steps, one_step))


def test_wrappers_reject_bad_input():
    with pytest.raises(ValueError, match="0..9"):
        apply(np.array([[10]], dtype=np.uint8), Aug())
    with pytest.raises(ValueError, match="permutation"):
        apply_packed(pack([np.zeros((2, 2), np.uint8)]), np.array([[0, 0, 0, 2, 3, 4, 5, 6, 7, 8, 9]]))
    with pytest.raises(ValueError, match="records"):
        apply_packed(pack([np.zeros((2, 2), np.uint8)]), augs_to_array([Aug(), Aug()]))
    with pytest.raises(ValueError, match="outside"):
        apply_packed(Packed(np.zeros(3, np.uint8), np.array([0]), np.array([[2, 2]])), augs_to_array([Aug()]))


# ---- encoding ---------------------------------------------------------------------------------


@pytest.mark.parametrize("canvas", [30, 12])
def test_encode_examples_matches_numpy_twin(canvas):
    rng = np.random.default_rng(4)
    gs = random_grids(rng, 120, canvas) + [g for g in HAND if max(g.shape) <= canvas]
    n = 300
    grid_in = rng.integers(0, len(gs), n)
    grid_out = rng.integers(-1, len(gs), n)  # -1: no label
    rows = random_rows(rng, n)
    offsets = np.zeros((n, 2), dtype=np.int64)
    for b in range(n):
        ext = [gs[grid_in[b]].shape] + ([gs[grid_out[b]].shape] if grid_out[b] >= 0 else [])
        h, w = np.max(ext, axis=0)
        if rows[b, 0] in (1, 3, 4, 6):
            h, w = w, h
        offsets[b] = rng.integers(0, canvas - h + 1), rng.integers(0, canvas - w + 1)
    inputs, labels = encode_examples(pack(gs), grid_in, grid_out, rows, offsets, canvas)
    for b in range(n):
        assert np.array_equal(inputs[b], twin_encode(gs[grid_in[b]], rows[b], offsets[b], canvas)), b
        out = gs[grid_out[b]] if grid_out[b] >= 0 else None
        assert np.array_equal(labels[b], twin_encode(out, rows[b], offsets[b], canvas)), b


def test_encode_hand_written_layout():
    tokens = encode(np.array([[0, 1, 2], [3, 4, 5]], dtype=np.uint8), canvas=5, offset=(1, 1)).reshape(5, 5)
    assert tokens.tolist() == [
        [0, 0, 0, 0, 0],
        [0, 2, 3, 4, 1],
        [0, 5, 6, 7, 1],
        [0, 1, 1, 1, 0],
        [0, 0, 0, 0, 0],
    ]
    full = encode(np.full((4, 4), 9, dtype=np.uint8), canvas=4)
    assert (full == 11).all()  # no room for EOS: none written


def test_encode_rejects_grid_off_canvas():
    with pytest.raises(ValueError, match="does not fit"):
        encode(np.zeros((3, 3), np.uint8), canvas=4, offset=(2, 0))


def test_decode_hand_written():
    c = 5
    g = np.array([[0, 1, 2], [3, 4, 5]], dtype=np.uint8)
    assert np.array_equal(decode(encode(g, c), c), g)
    assert decode(np.zeros(c * c, np.uint8), c) is None
    # garbage after the EOS border is ignored; a ragged right edge is cut to the best rectangle
    t = encode(g, c).reshape(c, c).copy()
    t[4, :] = 7
    t[0, 3:] = 5  # row 0 runs 5 cells wide...
    assert np.array_equal(decode(t.ravel(), c), g)  # ...but 2 x 3 = 6 beats 1 x 5


def test_decode_ties_and_areas_follow_the_rule():
    c = 5
    t = np.full((c, c), 3, np.uint8)
    t[2:, 1:] = 0  # columns 1..4 of rows 2..4 are PAD: rectangles 2x5=10 vs 5x1=5
    assert decode(t.ravel(), c).shape == (2, 5)
    t = np.full((c, c), 3, np.uint8)
    t[1:, 2:] = 1  # 1x5=5 vs 5x2=10
    assert decode(t.ravel(), c).shape == (5, 2)
    t = np.full((4, 4), 3, np.uint8)
    t[2:, 2:] = 0  # 2x4 = 4x2 = 8: fewest rows wins
    assert decode(t.ravel(), 4).shape == (2, 4)


@pytest.mark.parametrize("kind", ["noise", "encoded"])
def test_decode_batch_matches_numpy_twin(kind):
    rng = np.random.default_rng(5)
    c = 30
    n = 300
    if kind == "noise":
        # mostly colour tokens so rectangles are non-trivial, with scattered PAD/EOS
        tokens = rng.integers(2, 12, (n, c * c), dtype=np.uint8)
        holes = rng.random((n, c * c)) < rng.random((n, 1)) * 0.05
        tokens[holes] = rng.integers(0, 2, holes.sum())
    else:
        gs = random_grids(rng, n)
        tokens = np.stack([encode(g, c) for g in gs])
        flip = rng.random(tokens.shape) < 0.002
        tokens[flip] = rng.integers(0, 12, flip.sum())
    got = unpack(decode_batch(tokens, c))
    for b in range(n):
        want = twin_crop(tokens[b], c)
        if want is None:
            assert got[b].size == 0
        else:
            assert np.array_equal(got[b], want), b


def test_decode_to_original_inverts_the_record():
    rng = np.random.default_rng(6)
    gs = random_grids(rng, 50, 20)
    rows = random_rows(rng, len(gs))
    idx = np.arange(len(gs))
    inputs, _ = encode_examples(pack(gs), idx, -np.ones_like(idx), rows, np.zeros((len(gs), 2)), 30)
    back = decode_to_original(inputs, rows, 30)
    assert all(np.array_equal(b, g) for b, g in zip(back, gs))
    assert decode_to_original(np.zeros((1, 900), np.uint8), rows[:1], 30) == [None]


def test_single_grid_apply_invert_round_trip():
    g = np.arange(12, dtype=np.uint8).reshape(3, 4) % 10
    for d in range(8):
        a = Aug(d, (0, 9, 8, 7, 6, 5, 4, 3, 2, 1))
        assert np.array_equal(invert(apply(g, a), a), g)


# ---- round trip over every public task -----------------------------------------------------------


def test_round_trip_every_task_of_arc1_and_arc2():
    grids = []
    for name in ("arc1/training", "arc1/evaluation", "arc2/training", "arc2/evaluation"):
        for task in load(name):
            for p in (*task.train, *task.test):
                grids += [g for g in (p.input, p.output) if g is not None]
    assert len(grids) > 16_000
    packed = pack(grids)
    rng = np.random.default_rng(7)
    for d in range(8):
        for permute_zero in (False, True):
            colors = np.arange(10)
            colors[0 if permute_zero else 1 :] = rng.permutation(colors[0 if permute_zero else 1 :])
            rows = np.tile(Aug(d, tuple(colors)).to_row(), (len(grids), 1))
            there = apply_packed(packed, rows)
            back = apply_packed(there, invert_rows(rows))
            assert np.array_equal(back.data, packed.data) and np.array_equal(back.shapes, packed.shapes)
            # and the forward image is the numpy twin's, checked on a spread of grids
            for i in range(0, len(grids), 997):
                assert np.array_equal(there.grid(i), twin_apply(grids[i], rows[i]))
    sample = grids[::500]
    augs = [Aug(int(rng.integers(8)), tuple(rng.permutation(10))) for _ in sample]
    assert all(np.array_equal(b, g) for b, g in zip(invert_batch(apply_batch(sample, augs), augs), sample))
