"""ARC grids as token canvases and back.

Tokens: PAD=0, EOS=1, colour c -> c+2 (vocabulary 12). A grid of shape (h, w) placed at offset
(r, c) of a canvas x canvas square fills rows r..r+h-1, columns c..c+w-1 with colour tokens; EOS
fills row r+h under the grid (columns c..c+w-1) and column c+w right of it (rows r..r+h-1), where
the canvas has room; the corner (r+h, c+w) stays PAD, as in the reference; everything else is PAD.

Decoding rule (tolerant of garbage in a model's prediction): the answer is the largest rectangle
of colour tokens anchored at the top-left cell. Rows are scanned from the top; each row's leading
run of colour tokens, capped by the narrowest run above it, bounds the width; the (rows, width)
with the largest area wins, the first on ties; scanning stops at the first row that starts with a
non-colour token. A canvas whose top-left cell is not a colour decodes to None.
"""

from __future__ import annotations

import numpy as np

from arc_pipeline.augment.kernels import COLOR0, EOS, PAD, Packed, _crop_shapes, _encode_examples, _extract, pack, unpack
from arc_pipeline.augment.records import N_COLORS, SWAPS_AXES, Aug
from arc_pipeline.augment.transform import _check_packed, apply_packed, check_aug_rows, invert_rows

VOCAB = 2 + N_COLORS
DEFAULT_CANVAS = 30

__all__ = ["PAD", "EOS", "COLOR0", "VOCAB", "DEFAULT_CANVAS", "encode", "decode", "encode_examples", "decode_batch"]


def _check_canvas(canvas: int) -> int:
    if not 1 <= int(canvas) <= 255:
        raise ValueError(f"canvas must be 1..255, got {canvas}")
    return int(canvas)


def encode_examples(
    grids: Packed,
    grid_in: np.ndarray,
    grid_out: np.ndarray,
    rows: np.ndarray,
    offsets: np.ndarray,
    canvas: int = DEFAULT_CANVAS,
) -> tuple[np.ndarray, np.ndarray]:
    """Token rows (inputs, labels), each (B, canvas*canvas) uint8, for B examples.

    Example b is grid `grid_in[b]` of `grids` (label: `grid_out[b]`, or all PAD when -1) under record
    `rows[b]` (dihedral, colour map) at `offsets[b]` = (row, column) on the canvas.
    """
    canvas = _check_canvas(canvas)
    grids = _check_packed(grids)
    rows = check_aug_rows(rows)
    grid_in = np.ascontiguousarray(grid_in, dtype=np.int64)
    grid_out = np.ascontiguousarray(grid_out, dtype=np.int64)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64).reshape(-1, 2)
    n = len(grid_in)
    if not (len(grid_out) == len(rows) == len(offsets) == n):
        raise ValueError("grid_in, grid_out, rows and offsets must have one entry per example")
    if n:
        if grid_in.min() < 0 or max(grid_in.max(), grid_out.max()) >= len(grids) or grid_out.min() < -1:
            raise ValueError("grid index out of range")
        swap = np.array(SWAPS_AXES)[rows[:, 0]]
        for g in (grid_in, grid_out):
            known = g >= 0
            shp = grids.shapes[np.where(known, g, 0)]
            shp = np.where(swap[:, None], shp[:, ::-1], shp)
            bad = (offsets < 0).any(1) | (known & (offsets + shp > canvas).any(1))
            if bad.any():
                b = int(np.flatnonzero(bad)[0])
                raise ValueError(f"example {b}: grid does not fit the {canvas}x{canvas} canvas at offset {tuple(offsets[b])}")
    inputs = np.zeros((n, canvas * canvas), dtype=np.uint8)
    labels = np.zeros((n, canvas * canvas), dtype=np.uint8)
    _encode_examples(grids.data, grids.starts, grids.shapes, grid_in, grid_out, rows, offsets, canvas, inputs, labels)
    return inputs, labels


def encode(grid: np.ndarray, canvas: int = DEFAULT_CANVAS, offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """One grid as a flat (canvas*canvas,) token array at `offset`."""
    identity = Aug.identity().to_row()[None, :]
    inputs, _ = encode_examples(pack([np.asarray(grid)]), np.array([0]), np.array([-1]), identity, np.array([offset]), canvas)
    return inputs[0]


def decode_batch(tokens: np.ndarray, canvas: int = DEFAULT_CANVAS) -> Packed:
    """Decoded grids of (B, canvas*canvas) token rows; an undecodable row has shape (0, 0)."""
    canvas = _check_canvas(canvas)
    tokens = np.ascontiguousarray(tokens, dtype=np.uint8)
    if tokens.ndim != 2 or tokens.shape[1] != canvas * canvas:
        raise ValueError(f"tokens must be (B, {canvas * canvas}), got {tokens.shape}")
    shapes = np.zeros((len(tokens), 2), dtype=np.int64)
    _crop_shapes(tokens, canvas, shapes)
    sizes = shapes[:, 0] * shapes[:, 1]
    starts = np.zeros(len(tokens), dtype=np.int64)
    if len(tokens):
        np.cumsum(sizes[:-1], out=starts[1:])
    data = np.empty(int(sizes.sum()), dtype=np.uint8)
    _extract(tokens, canvas, shapes, starts, data)
    return Packed(data, starts, shapes)


def decode(tokens: np.ndarray, canvas: int = DEFAULT_CANVAS) -> np.ndarray | None:
    """The grid in one flat token canvas (see the module docstring for the rule), or None."""
    p = decode_batch(np.asarray(tokens).reshape(1, -1), canvas)
    return p.grid(0) if p.shapes[0, 0] else None


def decode_to_original(tokens: np.ndarray, rows: np.ndarray, canvas: int = DEFAULT_CANVAS) -> list[np.ndarray | None]:
    """Decode predictions made in augmented frames and map each back through its record's inverse."""
    rows = check_aug_rows(rows)
    if len(rows) != len(tokens):
        raise ValueError(f"{len(tokens)} predictions but {len(rows)} records")
    grids = apply_packed(decode_batch(tokens, canvas), invert_rows(rows))
    return [g if g.size else None for g in unpack(grids)]
