"""Private numba kernels for ARC augmentation and encoding, plus the packed-grid layout they read.

Kernels take arrays and scalars and write into outputs the caller allocated; they do no checks
(numba does not bound-check), so call them only through the validating wrappers in
`augment.transform` and `augment.encode`. Every kernel has a numpy twin in the tests.

Packed layout: a batch of grids of different shapes lives in one flat uint8 array `data`; grid n
occupies `data[starts[n] : starts[n] + h*w]` row-major, with `shapes[n] = (h, w)`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from arc_pipeline.augment.jit import KERNEL, njit

PAD, EOS, COLOR0 = 0, 1, 2


class Packed(NamedTuple):
    data: np.ndarray  # (total,) uint8
    starts: np.ndarray  # (n,) int64
    shapes: np.ndarray  # (n, 2) int64

    def __len__(self) -> int:
        return len(self.starts)

    def grid(self, n: int) -> np.ndarray:
        h, w = (int(v) for v in self.shapes[n])
        s = int(self.starts[n])
        return self.data[s : s + h * w].reshape(h, w)


def pack(grids) -> Packed:
    """Grids (2-D uint8 arrays) as one packed batch."""
    shapes = np.array([g.shape for g in grids], dtype=np.int64).reshape(-1, 2)
    sizes = shapes[:, 0] * shapes[:, 1]
    starts = np.zeros(len(grids), dtype=np.int64)
    if len(grids):
        np.cumsum(sizes[:-1], out=starts[1:])
    data = np.concatenate([np.ascontiguousarray(g, dtype=np.uint8).ravel() for g in grids]) if len(grids) else np.zeros(0, np.uint8)
    return Packed(data, starts, shapes)


def unpack(p: Packed) -> list[np.ndarray]:
    return [p.grid(n) for n in range(len(p))]


@njit(**KERNEL)
def _source_cell(d, i, j, h, w):
    # Cell of the (h, w) source that lands on cell (i, j) of the result of dihedral d
    # (see augment.records for the numbering).
    if d == 0:
        return i, j
    if d == 1:
        return j, w - 1 - i
    if d == 2:
        return h - 1 - i, w - 1 - j
    if d == 3:
        return h - 1 - j, i
    if d == 4:
        return j, i
    if d == 5:
        return h - 1 - i, j
    if d == 6:
        return h - 1 - j, w - 1 - i
    return i, w - 1 - j


@njit(**KERNEL)
def _out_shape(d, h, w):
    # The shape of an (h, w) grid after dihedral d: 1, 3, 4 and 6 swap the sides.
    if d == 1 or d == 3 or d == 4 or d == 6:
        return w, h
    return h, w


@njit(**KERNEL)
def _apply_packed(src, starts, shapes, dihedral, colors, dst):
    # dst has the same starts as src (a transform keeps the cell count); result n has shape
    # (w, h) when dihedral[n] swaps axes.
    for n in range(starts.shape[0]):
        h = shapes[n, 0]
        w = shapes[n, 1]
        d = dihedral[n]
        s = starts[n]
        oh, ow = _out_shape(d, h, w)
        for i in range(oh):
            for j in range(ow):
                r, c = _source_cell(d, i, j, h, w)
                dst[s + i * ow + j] = colors[n, src[s + r * w + c]]


@njit(**KERNEL)
def _put(data, start, h, w, d, colors, canvas, r0, c0, out):
    # One grid, transformed and colour-mapped, written as tokens at (r0, c0) of a canvas row,
    # with EOS on the row below and the column right of it (where the canvas has room).
    oh, ow = _out_shape(d, h, w)
    for i in range(oh):
        base = (r0 + i) * canvas + c0
        for j in range(ow):
            r, c = _source_cell(d, i, j, h, w)
            out[base + j] = colors[data[start + r * w + c]] + COLOR0
        if c0 + ow < canvas:
            out[base + ow] = EOS
    if r0 + oh < canvas:
        base = (r0 + oh) * canvas + c0
        for j in range(ow):
            out[base + j] = EOS


@njit(**KERNEL)
def _encode_examples(data, starts, shapes, grid_in, grid_out, augs, offsets, canvas, inputs, labels):
    # Row b: grid grid_in[b] (and grid_out[b] as label, -1 = no label) under record augs[b]
    # (dihedral, 10 colours) at offsets[b]. inputs/labels arrive zeroed (PAD).
    for b in range(grid_in.shape[0]):
        d = augs[b, 0]
        colors = augs[b, 1:]
        g = grid_in[b]
        _put(data, starts[g], shapes[g, 0], shapes[g, 1], d, colors, canvas, offsets[b, 0], offsets[b, 1], inputs[b])
        g = grid_out[b]
        if g >= 0:
            _put(data, starts[g], shapes[g, 0], shapes[g, 1], d, colors, canvas, offsets[b, 0], offsets[b, 1], labels[b])


@njit(**KERNEL)
def _crop_shapes(tokens, canvas, shapes):
    # Largest rectangle of colour tokens anchored at the top-left: row r extends the rectangle while
    # its leading run of colour tokens is non-empty; the width is the minimum run so far, and the
    # (rows, width) with the largest area wins (first one on ties). (0, 0) when cell (0, 0) is not a colour.
    for b in range(tokens.shape[0]):
        width = canvas
        best_area = 0
        best_h = 0
        best_w = 0
        for r in range(canvas):
            run = 0
            while run < width and tokens[b, r * canvas + run] >= COLOR0 and tokens[b, r * canvas + run] < COLOR0 + 10:
                run += 1
            width = run
            if width == 0:
                break
            if (r + 1) * width > best_area:
                best_area = (r + 1) * width
                best_h = r + 1
                best_w = width
        shapes[b, 0] = best_h
        shapes[b, 1] = best_w


@njit(**KERNEL)
def _extract(tokens, canvas, shapes, starts, dst):
    # Copy the top-left (h, w) block of each token row into packed grids, as colours.
    for b in range(tokens.shape[0]):
        h = shapes[b, 0]
        w = shapes[b, 1]
        s = starts[b]
        for i in range(h):
            for j in range(w):
                dst[s + i * w + j] = tokens[b, i * canvas + j] - COLOR0
