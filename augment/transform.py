"""Apply augmentation records to grids and map predictions back (validating wrappers over numba)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from arc_pipeline.augment.kernels import Packed, _apply_packed, pack, unpack
from arc_pipeline.augment.records import DIHEDRAL_INVERSE, N_COLORS, N_DIHEDRAL, SWAPS_AXES, Aug, augs_to_array


def check_aug_rows(rows: np.ndarray) -> np.ndarray:
    """Validate an (n, 11) record array (dihedral, colour map); return it as contiguous uint8."""
    rows = np.asarray(rows)
    if rows.ndim != 2 or rows.shape[1] != 1 + N_COLORS:
        raise ValueError(f"augmentation rows must be (n, 11), got {rows.shape}")
    if len(rows) and (rows[:, 0].min() < 0 or rows[:, 0].max() >= N_DIHEDRAL):
        raise ValueError("dihedral ids must be 0..7")
    colors = rows[:, 1:]
    if len(rows) and not (np.sort(colors, axis=1) == np.arange(N_COLORS)).all():
        raise ValueError("every colour map must be a permutation of 0..9")
    return np.ascontiguousarray(rows, dtype=np.uint8)


def invert_rows(rows: np.ndarray) -> np.ndarray:
    """The inverse of every record in an (n, 11) array."""
    rows = check_aug_rows(rows)
    out = np.empty_like(rows)
    out[:, 0] = DIHEDRAL_INVERSE[rows[:, 0]]
    inv = np.empty((len(rows), N_COLORS), dtype=np.uint8)
    np.put_along_axis(inv, rows[:, 1:].astype(np.int64), np.arange(N_COLORS, dtype=np.uint8)[None, :].repeat(len(rows), 0), axis=1)
    out[:, 1:] = inv
    return out


def _check_packed(p: Packed) -> Packed:
    data = np.ascontiguousarray(p.data, dtype=np.uint8)
    starts = np.ascontiguousarray(p.starts, dtype=np.int64)
    shapes = np.ascontiguousarray(p.shapes, dtype=np.int64)
    if shapes.shape != (len(starts), 2):
        raise ValueError(f"shapes {shapes.shape} must be ({len(starts)}, 2)")
    if len(starts):
        ends = starts + shapes[:, 0] * shapes[:, 1]
        if starts.min() < 0 or ends.max() > len(data) or shapes.min() < 0:
            raise ValueError("packed grids reach outside their data")
        if len(data) and data.max() >= N_COLORS:
            raise ValueError(f"grid values must be 0..9, found {int(data.max())}")
    return Packed(data, starts, shapes)


def apply_packed(p: Packed, rows: np.ndarray) -> Packed:
    """Grid n of `p` under record `rows[n]` (an (n, 11) array: dihedral, colour map)."""
    p = _check_packed(p)
    rows = check_aug_rows(rows)
    if len(rows) != len(p):
        raise ValueError(f"{len(p)} grids but {len(rows)} records")
    dst = np.empty_like(p.data)
    _apply_packed(p.data, p.starts, p.shapes, rows[:, 0].copy(), np.ascontiguousarray(rows[:, 1:]), dst)
    swap = np.array(SWAPS_AXES)[rows[:, 0]] if len(rows) else np.zeros(0, bool)
    shapes = np.where(swap[:, None], p.shapes[:, ::-1], p.shapes)
    return Packed(dst, p.starts.copy(), np.ascontiguousarray(shapes))


def apply_batch(grids: Sequence[np.ndarray], augs: Sequence[Aug]) -> list[np.ndarray]:
    """Each grid under its record."""
    return unpack(apply_packed(pack(grids), augs_to_array(augs)))


def invert_batch(grids: Sequence[np.ndarray], augs: Sequence[Aug]) -> list[np.ndarray]:
    """Each grid (e.g. a prediction in the augmented frame) mapped back through its record's inverse."""
    return unpack(apply_packed(pack(grids), invert_rows(augs_to_array(augs))))


def apply(grid: np.ndarray, aug: Aug) -> np.ndarray:
    return apply_batch([np.asarray(grid)], [aug])[0]


def invert(grid: np.ndarray, aug: Aug) -> np.ndarray:
    return invert_batch([np.asarray(grid)], [aug])[0]
