"""The PNG encoder writes a valid file whose pixels are the ARC palette; terminal text is coloured."""

import struct
import zlib

import numpy as np
import pytest

from arc_pipeline.arc.render import (PALETTE, PALETTE_RGB, _TEXT, grid_pixels, grid_text, overlay_pixels, png_bytes,
                                     task_pixels, task_renderable, text_pixels, write_task_png)
from arc_pipeline.arc.task import Pair, Task


def decode_png(data: bytes) -> np.ndarray:
    """A minimal independent reader for 8-bit RGB, unfiltered, non-interlaced PNGs (checks CRCs)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        (crc,) = struct.unpack(">I", data[pos + 8 + n : pos + 12 + n])
        assert crc == zlib.crc32(kind + body)
        chunks.append((kind, body))
        pos += 12 + n
    assert [k for k, _ in chunks][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    w, h, depth, ctype, comp, filt, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, ctype, comp, filt, interlace) == (8, 2, 0, 0, 0)
    raw = zlib.decompress(b"".join(b for k, b in chunks if k == b"IDAT"))
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(h, 1 + 3 * w)
    assert (rows[:, 0] == 0).all()  # filter "none" on every scanline
    return rows[:, 1:].reshape(h, w, 3)


GRID = np.arange(10, dtype=np.uint8).reshape(2, 5)


def test_palette_is_the_arc_palette():
    assert len(PALETTE) == 10 and PALETTE[0] == "#000000" and PALETTE[1] == "#0074D9" and PALETTE[9] == "#870C25"
    assert PALETTE_RGB[2].tolist() == [0xFF, 0x41, 0x36]


def test_png_round_trips_pixels_exactly():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(7, 13, 3), dtype=np.uint8)
    assert np.array_equal(decode_png(png_bytes(img)), img)
    with pytest.raises(ValueError):
        png_bytes(img[..., 0])


def test_grid_pixels_paint_each_cell_in_its_colour():
    cell = 8
    img = grid_pixels(GRID, cell)
    assert img.shape == (2 * cell + 1, 5 * cell + 1, 3)
    for r in range(2):
        for c in range(5):
            block = img[r * cell + 1 : (r + 1) * cell, c * cell + 1 : (c + 1) * cell]
            assert (block == PALETTE_RGB[GRID[r, c]]).all()


def test_task_png_file_holds_every_pair(tmp_path):
    task = Task("t", (Pair(GRID, GRID.T.copy()),), (Pair(GRID, None),))
    path = tmp_path / "t.png"
    write_task_png(task, path, cell=4, labels=False)
    img = decode_png(path.read_bytes())
    assert np.array_equal(img, task_pixels(task, 4, labels=False))
    gap = 4
    # The first input sits at (gap, gap); its cell (1, 3) has colour 8.
    y, x = gap + 1 * 4 + 2, gap + 3 * 4 + 2
    assert img[y, x].tolist() == PALETTE_RGB[8].tolist()
    assert img.shape[0] == gap + (5 * 4 + 1) + gap + (2 * 4 + 1) + gap  # two pair rows: 5-high, 2-high
    divider = gap + (5 * 4 + 1) + gap // 2 - 1  # the line between train and test pairs
    assert (img[divider, gap : img.shape[1] - gap] == [85, 85, 85]).all()
    assert (img[divider - 1, gap] == [30, 30, 30]).all()


def test_task_png_is_labelled_with_the_task_id_and_each_grid_role():
    task = Task("t1", (Pair(GRID, GRID.T.copy()),), (Pair(GRID, None),))
    plain, labelled = task_pixels(task, 16, labels=False), task_pixels(task, 16)
    scale, text = 2, list(_TEXT)
    cap = 7 * scale + 16 // 2
    # a title line, then a caption over each pair's row
    assert labelled.shape[0] == plain.shape[0] + (7 * scale + 16) + 2 * cap
    title = text_pixels("task t1", scale)
    assert np.array_equal(labelled[16 : 16 + title.shape[0], 16 : 16 + title.shape[1]], title)
    top = 16 + title.shape[0] + 16
    for y, words in ((top, ("demo 1 input", "demo 1 output")), (top + cap + 5 * 16 + 1 + 16, ("test 1 input", "test 1 output ?"))):
        left = text_pixels(words[0], scale)
        assert np.array_equal(labelled[y : y + left.shape[0], 16 : 16 + left.shape[1]], left)
        assert (labelled[y : y + left.shape[0]] == text).all(axis=2).sum() > (left == text).all(axis=2).sum()  # + output's
    assert (text_pixels("1") == text).all(axis=2)[:, 2].all()  # the stem of a 1
    assert np.array_equal(text_pixels("\u00e9"), text_pixels("?"))  # a character the font lacks


def test_overlay_marks_each_wrong_cell_with_the_truth_colour_at_its_centre():
    truth = GRID.copy()
    attempt = GRID.copy()
    attempt[1, 2] = 0
    img = overlay_pixels(attempt, truth, 16)
    assert np.array_equal(img[:17, :17], grid_pixels(attempt, 16)[:17, :17])  # a right cell as drawn
    y, x = 16 + 1, 2 * 16 + 1
    assert img[y, x].tolist() == [255, 255, 255] and img[y + 1, x + 1].tolist() == PALETTE_RGB[0].tolist()
    assert img[y + 7, x + 7].tolist() == PALETTE_RGB[truth[1, 2]].tolist()  # the truth's colour at the centre
    assert np.array_equal(overlay_pixels(attempt, truth[:1], 16), grid_pixels(attempt, 16))  # another shape: plain


def test_terminal_text_uses_palette_backgrounds_or_digits():
    text = grid_text(GRID)
    assert text.plain.split("\n") == ["  " * 5] * 2
    styles = [str(s.style) for s in text.spans]
    assert styles[:5] == [f"on {PALETTE[v]}" for v in range(5)]
    assert grid_text(GRID, digits=True).plain == "0 1 2 3 4\n5 6 7 8 9"
    compact = grid_text(GRID, compact=True)
    assert compact.plain == "\u2580" * 5  # two grid rows per line
    assert str(compact.spans[0].style) == f"{PALETTE[0]} on {PALETTE[5]}"


def test_task_renderable_switches_to_compact_when_too_wide():
    from rich.console import Console

    big = np.zeros((30, 30), dtype=np.uint8)
    task = Task("wide", (Pair(big, big),), (Pair(big, None),))
    console = Console(width=100, record=True, color_system=None)
    console.print(task_renderable(task, max_width=100, digits=True))
    out = console.export_text()
    assert "0" * 30 in out and "test 0" in out and "?" in out
    assert max(len(line) for line in out.splitlines()) <= 100
