"""report.html: scores, per-task rows with grids, a loss curve; tolerant of cut-short metrics."""

import base64
import re

import numpy as np

from arc.task import Pair, Task
from pipeline.report import ReportData, TaskRow, grid_img, loss_svg, read_curves, render


def _task(tid, out=True):
    g = np.arange(6, dtype=np.uint8).reshape(2, 3)
    return Task(tid, (Pair(g, g),), (Pair(g, g if out else None),))


def test_grid_image_is_a_png_of_the_grid_size():
    tag = grid_img(np.zeros((3, 7), dtype=np.uint8), max_px=70)
    data = base64.b64decode(re.search(r"base64,([^\"]+)", tag).group(1))
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (height - 1) * 7 == (width - 1) * 3  # cells are square: the aspect follows the grid
    assert "none" in grid_img(None)


def test_read_curves_skips_a_line_cut_by_a_kill(tmp_path):
    f = tmp_path / "metrics.jsonl"
    f.write_text('{"step": 1, "loss": 2.0, "lr": 0.1}\n{"step": 2, "loss": 1.5}\n{"step": 3, "lo')
    curves = read_curves({"train": f, "missing": tmp_path / "nope.jsonl"})
    assert curves == {"train loss": [(1.0, 2.0), (2.0, 1.5)]}
    svg = loss_svg(curves)
    assert svg.startswith("<svg") and "polyline" in svg
    assert "no training metrics" in loss_svg({})


def test_page_has_scores_sortable_rows_and_attempts():
    g = np.arange(6, dtype=np.uint8).reshape(2, 3)
    rows = [
        TaskRow(_task("aaa"), [[g, None]], [True], best_rank=1),
        TaskRow(_task("bbb"), [[None, None]], [False], best_rank=None),
        TaskRow(_task("ccc", out=False), [[g, g]], [None]),
    ]
    scores = {"micro": 0.5, "macro": 0.25, "tasks_solved": 1, "tasks": 2, "outputs": 2, "outputs_correct": 1,
              "pass_at_k": {"per_task": {"1": 0.25, "2": 0.25}, "per_output": {"1": 0.5, "2": 0.5}}}
    html = render(ReportData("t", scores, [("train", "done", 3.0, "")], rows, {"x loss": [(0, 1.0), (1, 0.5)]}))
    assert "0.5000" in html and "0.2500" in html and "1 / 2" in html and "pass@2 (per task)" in html and "pass@2 (per output)" in html
    assert html.count("<tr class='ok'>") == 1 and html.count("<tr class='bad'>") == 1
    assert "class='sortable'" in html and "addEventListener" in html
    # aaa: input, truth, attempt 1 drawn (3 images), attempt 2 missing
    aaa = html.split(">aaa<")[1].split("</tr>")[0]
    assert aaa.count("<img") == 3
    assert "nothing to score" in render(ReportData("t", None, [], rows[2:], {}))
