"""The ARC augmentation record: a dihedral transform and a colour permutation.

Dihedral ids (how a grid `g` of shape (h, w) is transformed; numpy equivalents):

    0 identity             g
    1 rotate 90 (ccw)      np.rot90(g, 1)      shape (w, h)
    2 rotate 180           np.rot90(g, 2)
    3 rotate 270 (ccw)     np.rot90(g, 3)      shape (w, h)
    4 transpose            g.T                 shape (w, h)
    5 flip up-down         np.flipud(g)        (= rot90 of the transpose)
    6 anti-transpose       np.rot90(g.T, 2)    shape (w, h)
    7 flip left-right      np.fliplr(g)        (= rot270 of the transpose)

In general id d is `np.rot90(g.T if d >= 4 else g, d % 4)`. The colour map sends colour c to
`colors[c]`; by default 0 (background) stays 0. Colour maps act cell-wise, so they commute with the
dihedral part and `Aug` is the direct product of the two groups: `compose` and `inverse` are exact.
A translation offset is not part of the record: it is chosen per example at encoding time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_DIHEDRAL = 8
N_COLORS = 10
IDENTITY_COLORS = tuple(range(N_COLORS))


def dihedral_numpy(grid: np.ndarray, d: int) -> np.ndarray:
    """Reference definition of dihedral id `d` (numpy); the kernels must agree with it."""
    return np.rot90(grid.T if d >= 4 else grid, d % 4)


def _tables() -> tuple[np.ndarray, np.ndarray]:
    # Derive the group tables from the definition itself, so they can never drift from it.
    probe = np.arange(6).reshape(2, 3)  # no symmetry: every transform gives a different array
    images = [dihedral_numpy(probe, d) for d in range(N_DIHEDRAL)]

    def which(a: np.ndarray) -> int:
        return next(d for d, im in enumerate(images) if im.shape == a.shape and (im == a).all())

    compose = np.array(
        [[which(dihedral_numpy(dihedral_numpy(probe, b), a)) for b in range(N_DIHEDRAL)] for a in range(N_DIHEDRAL)],
        dtype=np.int64,
    )
    inverse = np.array([int(np.flatnonzero(compose[a] == 0)[0]) for a in range(N_DIHEDRAL)], dtype=np.int64)
    return compose, inverse


# DIHEDRAL_COMPOSE[a, b] = id of "apply b, then a"; DIHEDRAL_INVERSE[a] undoes a.
DIHEDRAL_COMPOSE, DIHEDRAL_INVERSE = _tables()
# Transforms that swap height and width.
SWAPS_AXES = tuple(d in (1, 3, 4, 6) for d in range(N_DIHEDRAL))


@dataclass(frozen=True)
class Aug:
    """One ARC augmentation: dihedral id 0..7 and a colour map (a permutation of 0..9)."""

    dihedral: int = 0
    colors: tuple[int, ...] = IDENTITY_COLORS

    def __post_init__(self) -> None:
        if not 0 <= self.dihedral < N_DIHEDRAL:
            raise ValueError(f"dihedral must be 0..7, got {self.dihedral}")
        if len(self.colors) != N_COLORS or sorted(self.colors) != list(range(N_COLORS)):
            raise ValueError(f"colors must be a permutation of 0..9, got {self.colors}")
        object.__setattr__(self, "dihedral", int(self.dihedral))
        object.__setattr__(self, "colors", tuple(int(c) for c in self.colors))

    @staticmethod
    def identity() -> Aug:
        return Aug(0, IDENTITY_COLORS)

    @property
    def is_identity(self) -> bool:
        return self.dihedral == 0 and self.colors == IDENTITY_COLORS

    @property
    def keeps_background(self) -> bool:
        return self.colors[0] == 0

    def compose(self, other: Aug) -> Aug:
        """The record equal to applying `other` first, then `self`."""
        d = int(DIHEDRAL_COMPOSE[self.dihedral, other.dihedral])
        return Aug(d, tuple(self.colors[c] for c in other.colors))

    def inverse(self) -> Aug:
        inv = [0] * N_COLORS
        for c, m in enumerate(self.colors):
            inv[m] = c
        return Aug(int(DIHEDRAL_INVERSE[self.dihedral]), tuple(inv))

    def to_row(self) -> np.ndarray:
        """The record as 11 uint8 values: dihedral, then the 10 colours (the array layout of a build)."""
        return np.array((self.dihedral, *self.colors), dtype=np.uint8)

    @staticmethod
    def from_row(row) -> Aug:
        row = [int(v) for v in row]
        return Aug(row[0], tuple(row[1:]))


def augs_to_array(augs) -> np.ndarray:
    """Records as an (n, 11) uint8 array: column 0 dihedral, columns 1..10 the colour map."""
    if len(augs) == 0:
        return np.zeros((0, 1 + N_COLORS), dtype=np.uint8)
    return np.stack([a.to_row() for a in augs])
