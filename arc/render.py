"""Draw tasks: rich renderables for the terminal, and PNG bytes from a tiny pure-python encoder."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from arc_pipeline.arc.io import write_bytes
from arc_pipeline.arc.task import Pair, Task

# The ARC palette as shown by the official task viewer, colour index -> hex.
PALETTE: tuple[str, ...] = (
    "#000000",  # 0 black
    "#0074D9",  # 1 blue
    "#FF4136",  # 2 red
    "#2ECC40",  # 3 green
    "#FFDC00",  # 4 yellow
    "#AAAAAA",  # 5 grey
    "#F012BE",  # 6 magenta
    "#FF851B",  # 7 orange
    "#7FDBFF",  # 8 sky
    "#870C25",  # 9 maroon
)
PALETTE_RGB = np.array([[int(h[i : i + 2], 16) for i in (1, 3, 5)] for h in PALETTE], dtype=np.uint8)
_BACKGROUND = (30, 30, 30)
_GRID_LINE = (85, 85, 85)
_HIDDEN = (60, 60, 60)  # the box drawn where a test output is unknown


# --- terminal ---------------------------------------------------------------------------------


def grid_text(grid: np.ndarray, *, compact: bool = False, digits: bool = False):
    """A rich Text of a grid: two coloured spaces per cell, or with `compact` one half-block
    character per cell and two grid rows per text line (both about square in a terminal).
    `digits` writes the colour numbers instead, for output without colour (pipes, logs)."""
    from rich.text import Text

    g = np.asarray(grid)
    text = Text()
    if digits:
        sep = "" if compact else " "
        text.append("\n".join(sep.join(str(int(v)) for v in row) for row in g))
        return text
    if not compact:
        for r, row in enumerate(g):
            if r:
                text.append("\n")
            for v in row:
                text.append("  ", style=f"on {PALETTE[int(v)]}")
        return text
    for r in range(0, g.shape[0], 2):
        if r:
            text.append("\n")
        for c in range(g.shape[1]):
            top = PALETTE[int(g[r, c])]
            if r + 1 < g.shape[0]:
                text.append("\u2580", style=f"{top} on {PALETTE[int(g[r + 1, c])]}")
            else:
                text.append("\u2580", style=top)
    return text


def task_renderable(task: Task, max_width: int | None = None, *, digits: bool = False):
    """A rich table of the task's pairs, input beside output; hidden test outputs show as '?'.
    Cells are drawn compact when the widest pair would not fit in `max_width`; `digits` as in
    `grid_text`."""
    from rich.table import Table
    from rich.text import Text

    pairs = (*task.train, *task.test)
    widest = max(p.input.shape[1] + (0 if p.output is None else p.output.shape[1]) for p in pairs)
    compact = max_width is not None and 2 * widest + 30 > max_width
    table = Table(title=f"task {task.id}", show_lines=True, title_justify="left")
    table.add_column("pair", no_wrap=True)
    table.add_column("input", no_wrap=True)
    table.add_column("output", no_wrap=True)

    def add(label: str, p: Pair) -> None:
        h, w = p.input.shape
        if p.output is None:
            out, oshape = Text("?"), "?"
        else:
            out, oshape = grid_text(p.output, compact=compact, digits=digits), f"{p.output.shape[0]}x{p.output.shape[1]}"
        table.add_row(f"{label}\n{h}x{w} -> {oshape}", grid_text(p.input, compact=compact, digits=digits), out)

    for i, p in enumerate(task.train):
        add(f"train {i}", p)
    for i, p in enumerate(task.test):
        add(f"test {i}", p)
    return table


# --- PNG --------------------------------------------------------------------------------------


def grid_pixels(grid: np.ndarray, cell: int = 16) -> np.ndarray:
    """An (H*cell+1, W*cell+1, 3) uint8 image of a grid with 1-pixel lines between cells."""
    g = np.asarray(grid, dtype=np.uint8)
    h, w = g.shape
    img = np.empty((h * cell + 1, w * cell + 1, 3), dtype=np.uint8)
    img[:] = _GRID_LINE
    block = np.repeat(np.repeat(PALETTE_RGB[g], cell, axis=0), cell, axis=1)
    # Each cell keeps (cell-1)x(cell-1) colour pixels; the first row/column of each is grid line.
    mask = np.ones((h * cell, w * cell), dtype=bool)
    mask[::cell, :] = False
    mask[:, ::cell] = False
    img[:-1, :-1][mask] = block[mask]
    return img


def task_pixels(task: Task, cell: int = 16, gap: int | None = None) -> np.ndarray:
    """One image of the task: a row per pair (train then test), input left, output right."""
    gap = cell if gap is None else gap
    rows = []
    for p in (*task.train, *task.test):
        left = grid_pixels(p.input, cell)
        if p.output is None:
            right = np.empty_like(left)
            right[:] = _HIDDEN
        else:
            right = grid_pixels(p.output, cell)
        rows.append((left, right))
    col_w = [max(r[k].shape[1] for r in rows) for k in (0, 1)]
    height = gap + sum(max(l.shape[0], r.shape[0]) + gap for l, r in rows)
    width = gap + col_w[0] + gap + col_w[1] + gap
    img = np.empty((height, width, 3), dtype=np.uint8)
    img[:] = _BACKGROUND
    y = gap
    for i, (left, right) in enumerate(rows):
        if i == len(task.train) and i and gap >= 4:  # a line in the gap marks where the test pairs start
            mid = y - gap + (gap - 2) // 2
            img[mid : mid + 2, gap : width - gap] = _GRID_LINE
        img[y : y + left.shape[0], gap : gap + left.shape[1]] = left
        x = gap + col_w[0] + gap
        img[y : y + right.shape[0], x : x + right.shape[1]] = right
        y += max(left.shape[0], right.shape[0]) + gap
    return img


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(pixels: np.ndarray) -> bytes:
    """Encode an (H, W, 3) uint8 array as an 8-bit RGB PNG (no filtering, zlib level 6)."""
    img = np.ascontiguousarray(pixels, dtype=np.uint8)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) array, got shape {img.shape}")
    h, w, _ = img.shape
    # Each scanline starts with its filter type byte (0 = none).
    raw = np.zeros((h, 1 + w * 3), dtype=np.uint8)
    raw[:, 1:] = img.reshape(h, w * 3)
    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw.tobytes(), 6))
        + _chunk(b"IEND", b"")
    )


def write_task_png(task: Task, path: str | Path, cell: int = 16) -> None:
    """Write the task drawing to `path` atomically."""
    write_bytes(path, png_bytes(task_pixels(task, cell)))
