"""Fingerprints invariant to the 8 dihedral transforms and to colour permutations, and the overlap
they reveal: a rotated or recoloured copy of an evaluation pair, which is how augmented dumps and
generators leak, has the same canonical key as the original.

Canonical form of a pair (input, output): for each dihedral id d, transform both grids, then
relabel colours by order of first appearance (input then output, row-major); colour 0 keeps label
0 unless `permute_zero`. The form is the header (input h, w, output h, w; 0, 0 for a hidden output)
then the relabelled cells; the smallest of the 8 (bytewise) is canonical. Two pairs are equal up to
symmetry exactly when their forms are, and the dihedral id and colour map each one reached give the
record mapping one onto the other (`transform_between`).

A task's canonical form needs one transform for all its pairs: for each d, pairs are ordered by
their own colour-free form (train and test apart, as the plain fingerprint compares them as sets),
then relabelled jointly; ties between pairs with the same colour-free form are tried in every
order (up to `_MAX_ORDERS`, beyond which one order is taken: a miss is possible then, a false match
never, since every form is a true image of the task).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from arc_pipeline.arc.overlap import Overlap
from arc_pipeline.arc.overlap import overlap as exact_overlap
from arc_pipeline.arc.task import Pair, Task, TaskSet
from arc_pipeline.augment.jit import KERNEL, njit
from arc_pipeline.augment.kernels import _out_shape, _source_cell
from arc_pipeline.augment.records import DIHEDRAL_COMPOSE, DIHEDRAL_INVERSE, N_COLORS, N_DIHEDRAL, Aug

HEADER = 4  # input h, w, output h, w
_UNSEEN = 255
_MAX_ORDERS = 720


@njit(**KERNEL)
def _emit(data, start, h, w, d, cmap, nxt, buf, pos, ref, refpos, state):
    # Grid (h, w) at data[start:] under dihedral d into buf[pos:], relabelling unseen colours, while
    # comparing with ref[refpos:]: state 0 = equal so far, -1 = smaller (keep writing), 1 = larger
    # (stop: this candidate cannot win). Returns (next label, state).
    oh, ow = _out_shape(d, h, w)
    for i in range(oh):
        for j in range(ow):
            r, c = _source_cell(d, i, j, h, w)
            v = data[start + r * w + c]
            if cmap[v] == 255:
                cmap[v] = nxt
                nxt += 1
            x = cmap[v]
            if state == 0:
                y = ref[refpos]
                if x > y:
                    return nxt, 1
                if x < y:
                    state = -1
            buf[pos] = x
            pos += 1
            refpos += 1
    return nxt, state


@njit(**KERNEL)
def _header(buf, pos, hi, wi, ho, wo, d):
    # The shapes of input and output after dihedral d.
    buf[pos], buf[pos + 1] = _out_shape(d, hi, wi)
    buf[pos + 2], buf[pos + 3] = _out_shape(d, ho, wo)


@njit(**KERNEL)
def _fresh_labels(cmap, permute_zero):
    # Forget every colour's label; colour 0 keeps label 0 unless permute_zero. Returns the next label.
    cmap[:] = _UNSEEN
    if permute_zero:
        return 0
    cmap[0] = 0
    return 1


@njit(**KERNEL)
def _pair_shapes(shapes, gi, go):
    # (hi, wi, ho, wo) of a pair; a hidden output (go = -1) is 0 x 0.
    if go < 0:
        return shapes[gi, 0], shapes[gi, 1], 0, 0
    return shapes[gi, 0], shapes[gi, 1], shapes[go, 0], shapes[go, 1]


@njit(**KERNEL)
def _canon_pairs(data, starts, shapes, grid_in, grid_out, permute_zero, dst, dst_start, best_d, best_map, cand, cmap):
    # Pair n is (grid_in[n], grid_out[n]) (-1 = hidden output), grids packed as in augment.kernels.
    # Writes its canonical form to dst[dst_start[n]:], the dihedral id reaching it to best_d[n] and
    # the colour map (original -> label, 255 = absent) to best_map[n]. cand (the largest form) and
    # cmap (10) are scratch. A candidate stops at its first cell above the best so far.
    for n in range(grid_in.shape[0]):
        gi = grid_in[n]
        go = grid_out[n]
        hi, wi, ho, wo = _pair_shapes(shapes, gi, go)
        size = 4 + hi * wi + ho * wo
        s = dst_start[n]
        for d in range(8):
            nxt = _fresh_labels(cmap, permute_zero)
            _header(cand, 0, hi, wi, ho, wo, d)
            state = -1 if d == 0 else 0  # the first candidate is the best so far
            if state == 0:
                for k in range(4):
                    if cand[k] != dst[s + k]:
                        state = -1 if cand[k] < dst[s + k] else 1
                        break
            if state == 1:
                continue
            nxt, state = _emit(data, starts[gi], hi, wi, d, cmap, nxt, cand, 4, dst, s + 4, state)
            if state == 1:
                continue
            if go >= 0:
                nxt, state = _emit(data, starts[go], ho, wo, d, cmap, nxt, cand, 4 + hi * wi, dst, s + 4 + hi * wi, state)
            if state == -1:  # strictly smaller (equal forms change nothing)
                for k in range(size):
                    dst[s + k] = cand[k]
                best_d[n] = d
                for c in range(10):
                    best_map[n, c] = cmap[c]


@dataclass(frozen=True)
class PairCanon:
    """Canonical keys of a batch of pairs, with the dihedral id and colour map that reached each."""

    keys: list[str]
    dihedral: np.ndarray  # (n,) int64
    colors: np.ndarray  # (n, 10) uint8: original colour -> canonical label (255 = absent)


def canon_pairs(pairs: Sequence[Pair], *, permute_zero: bool = False, with_output: bool = True) -> PairCanon:
    """Canonical keys of `pairs` (outputs dropped when not `with_output`: input-only keys)."""
    if not with_output:
        pairs = [Pair(p.input, None) for p in pairs]
    packed = _Packed(pairs)
    if (packed.shapes < 1).any() or (packed.shapes > 255).any():
        raise ValueError("grid sides must be 1..255")
    if len(packed.data) and packed.data.max() >= N_COLORS:
        raise ValueError(f"grid values must be 0..9, found {int(packed.data.max())}")
    sizes = packed.sizes
    dst_start = np.zeros(len(pairs), dtype=np.int64)
    if len(pairs):
        np.cumsum(sizes[:-1], out=dst_start[1:])
    dst = np.zeros(int(sizes.sum()), dtype=np.uint8)
    best_d = np.zeros(len(pairs), dtype=np.int64)
    best_map = np.full((len(pairs), N_COLORS), _UNSEEN, dtype=np.uint8)
    cand = np.empty(int(sizes.max()) if len(pairs) else 0, dtype=np.uint8)
    _canon_pairs(packed.data, packed.starts, packed.shapes, packed.gi, packed.go, bool(permute_zero), dst, dst_start,
                 best_d, best_map, cand, np.empty(N_COLORS, dtype=np.uint8))
    raw = dst.tobytes()
    keys = [_digest(raw[s : s + z]) for s, z in zip(dst_start.tolist(), sizes.tolist())]
    return PairCanon(keys, best_d, best_map)


def _digest(b: bytes) -> str:
    return hashlib.blake2b(b, digest_size=16).hexdigest()


def pair_key(pair: Pair, *, permute_zero: bool = False) -> str:
    """Key of a pair equal for every dihedral transform and colour permutation of it."""
    return canon_pairs([pair], permute_zero=permute_zero).keys[0]


def _full_map(partial: np.ndarray) -> np.ndarray:
    # Complete an original -> label map into a permutation: absent colours take the unused labels in order.
    out = partial.astype(np.int64).copy()
    free = iter(sorted(set(range(N_COLORS)) - set(out[out != _UNSEEN].tolist())))
    for c in range(N_COLORS):
        if out[c] == _UNSEEN:
            out[c] = next(free)
    return out


def transform_between(canon_a: PairCanon, i: int, canon_b: PairCanon, j: int) -> Aug:
    """The record taking pair i of `canon_a` onto pair j of `canon_b` (their keys must be equal)."""
    if canon_a.keys[i] != canon_b.keys[j]:
        raise ValueError("the pairs are not equal up to symmetry")
    da, db = int(canon_a.dihedral[i]), int(canon_b.dihedral[j])
    ma, mb = _full_map(canon_a.colors[i]), _full_map(canon_b.colors[j])
    inv_b = np.empty(N_COLORS, dtype=np.int64)
    inv_b[mb] = np.arange(N_COLORS)
    # canon = relabel_m(D_d(p)), so p_b = D_db^-1(mb^-1(ma(D_da(p_a)))); colour maps commute with D.
    d = int(DIHEDRAL_COMPOSE[DIHEDRAL_INVERSE[db], da])
    return Aug(d, tuple(int(inv_b[ma[c]]) for c in range(N_COLORS)))


@njit(**KERNEL)
def _forms(data, starts, shapes, grid_in, grid_out, dihedral, reset, permute_zero, dst, dst_start, cmap):
    # Row n: pair (grid_in[n], grid_out[n]) under dihedral[n] into dst[dst_start[n]:] (header, then
    # cells), relabelling colours by first appearance over a run of rows that starts where reset[n].
    nxt = 0
    for n in range(grid_in.shape[0]):
        if reset[n]:
            nxt = _fresh_labels(cmap, permute_zero)
        gi = grid_in[n]
        go = grid_out[n]
        d = dihedral[n]
        hi, wi, ho, wo = _pair_shapes(shapes, gi, go)
        s = dst_start[n]
        _header(dst, s, hi, wi, ho, wo, d)
        nxt, _ = _emit(data, starts[gi], hi, wi, d, cmap, nxt, dst, s + 4, dst, s + 4, -1)
        if go >= 0:
            nxt, _ = _emit(data, starts[go], ho, wo, d, cmap, nxt, dst, s + 4 + hi * wi, dst, s + 4 + hi * wi, -1)


def _orders(groups: list[list[int]]) -> list[list[int]]:
    """Every order of the pairs that keeps the groups in place and permutes within each group."""
    total = 1
    for g in groups:
        for k in range(2, len(g) + 1):
            total *= k
    if total > _MAX_ORDERS:
        return [[i for g in groups for i in g]]
    return [[i for part in combo for i in part] for combo in itertools.product(*(itertools.permutations(g) for g in groups))]


class _Packed:
    """Every pair of some tasks packed once for the kernels (grid ids per pair, form sizes)."""

    def __init__(self, pairs: Sequence[Pair]) -> None:
        grids: list[np.ndarray] = []
        self.gi = np.empty(len(pairs), dtype=np.int64)
        self.go = np.full(len(pairs), -1, dtype=np.int64)
        self.sizes = np.empty(len(pairs), dtype=np.int64)
        for n, p in enumerate(pairs):
            self.gi[n] = len(grids)
            grids.append(p.input)
            if p.output is not None:
                self.go[n] = len(grids)
                grids.append(p.output)
            self.sizes[n] = HEADER + p.input.size + (p.output.size if p.output is not None else 0)
        self.shapes = np.array([g.shape for g in grids], dtype=np.int64).reshape(-1, 2)
        cells = self.shapes[:, 0] * self.shapes[:, 1]
        self.starts = np.zeros(len(grids), dtype=np.int64)
        if len(grids):
            np.cumsum(cells[:-1], out=self.starts[1:])
        self.data = (np.concatenate([np.ascontiguousarray(g, dtype=np.uint8).ravel() for g in grids])
                     if grids else np.zeros(0, np.uint8))

    def forms(self, rows: np.ndarray, dihedral: np.ndarray, reset: np.ndarray, permute_zero: bool) -> tuple[bytes, np.ndarray]:
        """Forms of pairs `rows` (under `dihedral`, colour runs starting at `reset`): (bytes, offsets)."""
        sizes = self.sizes[rows]
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(sizes, out=offsets[1:])
        dst = np.empty(int(offsets[-1]), dtype=np.uint8)
        _forms(self.data, self.starts, self.shapes, self.gi[rows], self.go[rows], dihedral, reset,
               bool(permute_zero), dst, offsets[:-1].copy(), np.empty(N_COLORS, dtype=np.uint8))
        return dst.tobytes(), offsets


def task_keys(tasks: Sequence[Task], *, permute_zero: bool = False) -> list[str]:
    """Key of each task, equal for every dihedral transform and colour permutation of it (ids and
    pair order ignored; train and test compared apart)."""
    pairs: list[Pair] = []
    splits: list[tuple[list[int], list[int]]] = []
    for t in tasks:
        tr = list(range(len(pairs), len(pairs) + len(t.train)))
        pairs += t.train
        te = list(range(len(pairs), len(pairs) + len(t.test)))
        pairs += t.test
        splits.append((tr, te))
    if not pairs:
        return [_digest(f"{len(t.train)}:{len(t.test)}".encode()) for t in tasks]
    packed = _Packed(pairs)
    every = np.arange(len(pairs))
    seqs: list[list[int]] = []  # candidate pair orders, train then test
    owner: list[tuple[int, int]] = []  # (task, dihedral) of each candidate
    for d in range(N_DIHEDRAL):
        free, off = packed.forms(every, np.full(len(pairs), d), np.ones(len(pairs), dtype=np.bool_), permute_zero)
        form = [free[off[i] : off[i + 1]] for i in range(len(pairs))]
        for k, (tr, te) in enumerate(splits):
            per_split = []
            for ids in (tr, te):
                ranked = sorted(ids, key=lambda i: form[i])
                per_split.append(_orders([list(g) for _, g in itertools.groupby(ranked, key=lambda i: form[i])]))
            for a in per_split[0]:
                for b in per_split[1]:
                    seqs.append(a + b)
                    owner.append((k, d))
    rows = np.array([i for s in seqs for i in s], dtype=np.int64)
    dih = np.array([d for s, (_, d) in zip(seqs, owner) for _ in s], dtype=np.int64)
    reset = np.zeros(len(rows), dtype=np.bool_)
    bounds = np.cumsum([0] + [len(s) for s in seqs])
    reset[bounds[:-1][np.diff(bounds) > 0]] = True
    joint, off = packed.forms(rows, dih, reset, permute_zero)
    best: list[bytes | None] = [None] * len(tasks)
    for (k, _), lo, hi in zip(owner, bounds[:-1], bounds[1:]):
        form = joint[off[lo] : off[hi]]
        if best[k] is None or form < best[k]:
            best[k] = form
    return [_digest(f"{len(t.train)}:{len(t.test)}".encode() + b"\x00" + (best[k] or b"")) for k, t in enumerate(tasks)]


def task_key(task: Task, *, permute_zero: bool = False) -> str:
    """`task_keys` of one task."""
    return task_keys([task], permute_zero=permute_zero)[0]


# ---------------------------------------------------------------- overlap up to symmetry

DIHEDRAL_NAMES = ("identity", "rotate 90", "rotate 180", "rotate 270", "transpose", "flip up-down",
                  "anti-transpose", "flip left-right")


def describe(aug: Aug) -> str:
    """A record in words, e.g. 'rotate 90, colours 1>3 3>1'."""
    moved = [f"{c}>{m}" for c, m in enumerate(aug.colors) if c != m]
    return DIHEDRAL_NAMES[aug.dihedral] + (f", colours {' '.join(moved)}" if moved else "")


def _solved(ts: TaskSet, parts: tuple[str, ...]) -> list[tuple[str, str, int, Pair]]:
    return [(t.id, part, i, p) for t in ts for part in parts for i, p in enumerate(getattr(t, part))
            if p.output is not None]


def overlap(a: TaskSet, b: TaskSet, *, permute_zero: bool = False) -> Overlap:
    """`arc.overlap.overlap` plus the tasks of `b` leaked up to symmetry from `a`, with transforms."""
    exact = exact_overlap(a, b)
    leaked = set(exact.leaked)
    a_pairs = _solved(a, ("train", "test"))
    b_pairs = [r for r in _solved(b, ("test",)) if r[0] not in leaked]
    ca = canon_pairs([r[3] for r in a_pairs], permute_zero=permute_zero)
    cb = canon_pairs([r[3] for r in b_pairs], permute_zero=permute_zero)
    first: dict[str, int] = {}
    for i, key in enumerate(ca.keys):
        first.setdefault(key, i)
    found: dict[str, list[dict]] = {}
    for j, key in enumerate(cb.keys):
        i = first.get(key)
        if i is None:
            continue
        aug = transform_between(ca, i, cb, j)
        found.setdefault(b_pairs[j][0], []).append({
            "test_index": b_pairs[j][2], "a_task": a_pairs[i][0], "a_pair": f"{a_pairs[i][1]} {a_pairs[i][2]}",
            "dihedral": aug.dihedral, "colors": list(aug.colors), "transform": describe(aug),
        })
    if found:  # is the whole task the same up to symmetry, not only the leaked pair?
        ids = list(found)
        a_keys = dict.fromkeys(task_keys(list(a), permute_zero=permute_zero))
        for bid, key in zip(ids, task_keys([b.tasks[i] for i in ids], permute_zero=permute_zero)):
            for m in found[bid]:
                m["whole_task"] = key in a_keys
    return dataclasses.replace(exact, symmetric=list(found), symmetric_from=found)
