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


def overlay_pixels(attempt: np.ndarray, truth: np.ndarray | None, cell: int = 16) -> np.ndarray:
    """An attempt drawn as `grid_pixels`, each cell that differs from `truth` (same shape) framed in
    white with the truth's colour at its centre; with no truth or another shape, the attempt alone."""
    a = np.asarray(attempt, dtype=np.uint8)
    img = grid_pixels(a, cell)
    if truth is None or np.shape(truth) != a.shape:
        return img
    t = np.asarray(truth, dtype=np.uint8)
    inner = max(0, (cell - 3) // 3)  # the centre square showing the truth's colour
    for r, c in zip(*np.nonzero(a != t)):
        y, x = r * cell + 1, c * cell + 1  # the cell's colour area: (cell-1) x (cell-1)
        img[y : y + cell - 1, x : x + cell - 1] = _MARK
        if cell >= 4:
            img[y + 1 : y + cell - 2, x + 1 : x + cell - 2] = PALETTE_RGB[a[r, c]]
        if inner:
            o = (cell - 1 - inner) // 2
            img[y + o : y + o + inner, x + o : x + o + inner] = PALETTE_RGB[t[r, c]]
    return img


# A 5x7 bitmap font for labels in PNGs (no image library needed): each glyph 7 rows of 5 bits,
# most significant bit on the left; an unknown character is drawn as '?'.
_FONT_HEX = {
    "0": "0e11131519110e", "1": "040c040404040e", "2": "0e11010204081f", "3": "1f02040201110e",
    "4": "02060a121f0202", "5": "1f101e0101110e", "6": "0608101e11110e", "7": "1f010204080808",
    "8": "0e11110e11110e", "9": "0e11110f01020c", "A": "0e11111f111111", "B": "1e11111e11111e",
    "C": "0e11101010110e", "D": "1c12111111121c", "E": "1f10101e10101f", "F": "1f10101e101010",
    "G": "0e11101711110f", "H": "1111111f111111", "I": "0e04040404040e", "J": "0702020202120c",
    "K": "11121418141211", "L": "1010101010101f", "M": "111b1515111111", "N": "11111915131111",
    "O": "0e11111111110e", "P": "1e11111e101010", "Q": "0e11111115120d", "R": "1e11111e141211",
    "S": "0f10100e01011e", "T": "1f040404040404", "U": "1111111111110e", "V": "11111111110a04",
    "W": "1111111515150a", "X": "11110a040a1111", "Y": "1111110a040404", "Z": "1f01020408101f",
    "a": "00000e010f110f", "b": "1010161911111e", "c": "00000e1010110e", "d": "01010d1311110f", "e": "00000e111f100e",
    "f": "0609081c080808", "g": "000f11110f010e", "h": "10101619111111", "i": "04000c0404040e", "j": "0200060202120c",
    "k": "10101214181412", "l": "0c04040404040e", "m": "00001a15151111", "n": "00001619111111", "o": "00000e1111110e",
    "p": "00001e111e1010", "q": "00000d130f0101", "r": "00001619101010", "s": "00000e100e011e", "t": "08081c08080906",
    "u": "0000111111130d", "v": "00001111110a04", "w": "0000111115150a", "x": "0000110a040a11", "y": "000011110f010e",
    "z": "00001f0204081f",
    " ": "00000000000000", "-": "0000001f000000", ".": "00000000000c0c", ":": "000c0c000c0c00",
    "/": "01020204080810", "?": "0e110102040004", "(": "02040808080402", ")": "08040202020408",
    "_": "0000000000001f", "#": "0a0a1f0a1f0a0a", ",": "000000000c0408",
}
_FONT = {ch: np.array([[(b >> (4 - i)) & 1 for i in range(5)] for b in bytes.fromhex(h)], dtype=bool)
         for ch, h in _FONT_HEX.items()}
_TEXT = (220, 220, 220)
_MARK = (255, 255, 255)


def text_pixels(text: str, scale: int = 1, colour: tuple[int, int, int] = _TEXT,
                background: tuple[int, int, int] = _BACKGROUND) -> np.ndarray:
    """A one-line label as an (7*scale, 6*scale*len-scale, 3) image in the 5x7 font."""
    glyphs = [_FONT.get(ch, _FONT["?"]) for ch in text] or [_FONT[" "]]
    mask = np.concatenate([np.pad(g, ((0, 0), (0, 1))) for g in glyphs], axis=1)[:, :-1]
    mask = np.repeat(np.repeat(mask, scale, axis=0), scale, axis=1)
    img = np.empty((*mask.shape, 3), dtype=np.uint8)
    img[:] = background
    img[mask] = colour
    return img


def task_pixels(task: Task, cell: int = 16, gap: int | None = None, *, labels: bool = True) -> np.ndarray:
    """One image of the task: a row per pair (train then test), input left, output right; with
    `labels`, the task id on top and a caption over each grid (demo N / test N, input / output)."""
    gap = cell if gap is None else gap
    scale = max(1, cell // 8)
    cap = 7 * scale + max(2, gap // 2) if labels else 0  # caption height above each grid
    rows = []
    for k, p in enumerate((*task.train, *task.test)):
        left = grid_pixels(p.input, cell)
        if p.output is None:
            right = np.empty_like(left)
            right[:] = _HIDDEN
        else:
            right = grid_pixels(p.output, cell)
        name = f"demo {k + 1}" if k < len(task.train) else f"test {k - len(task.train) + 1}"
        rows.append((left, right, f"{name} input", f"{name} output" + (" ?" if p.output is None else "")))
    captions = [text_pixels(c, scale) for r in rows for c in r[2:]] if labels else []
    title = text_pixels(f"task {task.id}", scale) if labels else None
    col_w = [max([r[k].shape[1] for r in rows] + [c.shape[1] for c in captions[k::2]]) for k in (0, 1)]
    top = gap + (title.shape[0] + gap if labels else 0)
    height = top + sum(cap + max(l.shape[0], r.shape[0]) + gap for l, r, *_ in rows)
    width = max(gap + col_w[0] + gap + col_w[1] + gap, gap + title.shape[1] + gap if labels else 0)
    img = np.empty((height, width, 3), dtype=np.uint8)
    img[:] = _BACKGROUND
    if labels:
        img[gap : gap + title.shape[0], gap : gap + title.shape[1]] = title
    y = top
    for i, (left, right, lcap, rcap) in enumerate(rows):
        if i == len(task.train) and i and gap >= 4:  # a line in the gap marks where the test pairs start
            mid = y - gap + (gap - 2) // 2
            img[mid : mid + 2, gap : width - gap] = _GRID_LINE
        x = gap + col_w[0] + gap
        if labels:
            for c, cx in ((captions[2 * i], gap), (captions[2 * i + 1], x)):
                img[y : y + c.shape[0], cx : cx + c.shape[1]] = c
        y += cap
        img[y : y + left.shape[0], gap : gap + left.shape[1]] = left
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


def write_task_png(task: Task, path: str | Path, cell: int = 16, *, labels: bool = True) -> None:
    """Write the task drawing (labelled unless `labels` is off) to `path` atomically."""
    write_bytes(path, png_bytes(task_pixels(task, cell, labels=labels)))
