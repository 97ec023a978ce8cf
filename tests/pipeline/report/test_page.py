"""report.html: scores, the per-task view (demonstrations, candidates with votes, fallbacks, budget
cuts, filters), run-level charts; tolerant of cut-short metrics; hostile ids escaped."""

import base64
import re

import numpy as np
import polars as pl

from arc_pipeline.arc.task import Pair, Task
from arc_pipeline.report.data import Candidate, InputView, ReportData, TaskRow, read_curves
from arc_pipeline.report.page import loss_svg, render
from arc_pipeline.report.tasks import grid_img
from arc_pipeline.report.charts import bar_chart, line_chart

HOSTILE = "<script>alert(1)</script>"


def _task(tid, out=True, demos=1):
    g = np.arange(6, dtype=np.uint8).reshape(2, 3)
    return Task(tid, tuple(Pair(g + j, g + j) for j in range(demos)), (Pair(g, g if out else None),))


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
    assert curves == {"train loss": [(1.0, 2.0), (2.0, 1.5)], "train lr": [(1.0, 0.1)]}
    assert read_curves({"train": f}, "loss") == {"train loss": [(1.0, 2.0), (2.0, 1.5)]}
    svg = loss_svg(curves)
    assert svg.startswith("<svg") and "polyline" in svg
    assert "no training metrics" in loss_svg({})


def test_charts_have_labelled_axes_and_escape_names():
    svg = line_chart({HOSTILE: [(1, 0.1), (10, 0.2), (100, 0.5)]}, "K (candidates)", "pass@K", log_x=True)
    assert "K (candidates)" in svg and "pass@K" in svg and HOSTILE not in svg and "&lt;script&gt;" in svg
    assert ">10<" in svg and ">100<" in svg  # log ticks at the powers of ten
    bars = bar_chart([("1", 3.0), ("2", 5.0)], "halting step", "predictions")
    assert bars.count("<rect") == 3 and "halting step" in bars  # frame + two bars
    assert "no data" in line_chart({"x": [(0, float("nan"))]}, "a", "b")


def _cand(grid, votes, n, right=None):
    return Candidate(grid, votes, votes / n, 0.8, 3.0, right)


def test_page_marks_fallbacks_budget_cuts_low_agreement_and_ranking_loss():
    g = np.arange(6, dtype=np.uint8).reshape(2, 3)
    w = (g + 1) % 10
    rows = [
        TaskRow(_task("aaa"), [InputView([_cand(g, 6, 8, True), _cand(w, 2, 8, False)], True, 8, 8, rank=1)]),
        TaskRow(_task("bbb"), [InputView([], False, 8, 8, fallback=True)]),
        TaskRow(_task("ccc"), [InputView([_cand(w, 1, 8, False)] * 3 + [_cand(g, 1, 8, True)], False, 4, 8, rank=4)]),
        TaskRow(_task("ddd", out=False), [InputView([_cand(w, 5, 8)], None, 8, 8)]),
    ]
    assert [r.tags() for r in rows] == [["solved"], ["unsolved", "fallback"], ["unsolved", "low", "rankloss", "budget"],
                                        ["unknown"]]
    scores = {"micro": 0.5, "macro": 0.25, "tasks_solved": 1, "tasks": 3, "outputs": 3, "outputs_correct": 1,
              "pass_at_k": {"per_task": {"1": 0.25, "2": 0.25, "5": 0.5}, "per_output": {"1": 0.5, "2": 0.5}}}
    page = render(ReportData("t", scores, [("train", "done", 3.0, ""), ("predict", "done", 1.0, "")], rows,
                             {"train loss": [(0, 1.0), (1, 0.5)], "train lr": [(0, 1e-4), (1, 1e-4)]},
                             budget={"predictions": 28, "planned": 32, "fallbacks": 1, "entries": 4,
                                     "stopped": "predict stopped by the time budget after 28 of 32 predictions"},
                             halt_steps={2: 10, 4: 18}, aug_pass=[(1, 0.1, 0.1), (8, 0.3, 0.25)]))
    assert "<th>pass@K per task</th><th>pass@K per output</th>" in page and "pass@K against K" in page
    assert "<tr class='k2'><td class='num'>2</td><td class='num'>0.2500</td><td class='num'>0.5000</td>" in page
    assert "<td class='num'>5</td><td class='num'>0.5000</td><td>-</td>" in page  # per output has no K=5 and "pass@2 against augmentations" in page
    assert "halting steps" in page and "learning rate" in page and "training step" in page
    assert "28 of 32 planned" in page and "stopped by the time budget" in page and "1 of 4 test inputs" in page
    assert "75%" in page  # train's share of the stage seconds
    assert page.count("<tr class='ok'") == 1 and page.count("<tr class='bad'") == 2
    aaa = page.split("id='task-aaa'")[1].split("</tr>")[0]
    # demonstration input + output, test input, truth, two candidates
    assert aaa.count("<img") == 6 and "demo 1 input" in aaa
    assert "6 votes (75%)" in aaa and "2 votes (25%)" in aaa and "halt 0.80" in aaa and "3.0 steps" in aaa
    assert aaa.count("class='right'") == 1
    bbb = page.split("id='task-bbb'")[1].split("</tr>")[0]
    assert "m-fallback" in bbb and "no valid grid: 8 predictions made" in bbb
    ccc = page.split("id='task-ccc'")[1].split("</tr>")[0]
    assert "4 of 8" in ccc and "ranking loss" in ccc and "low agreement" in ccc
    assert "data-f='rankloss'" in page and "(1)</button>" in page and "addEventListener" in page
    assert "nothing to score" in render(ReportData("t", None, [], rows[3:], {}))


def test_page_of_a_tiny_run_has_demonstrations_votes_fallbacks_and_escapes_ids(tmp_path, tiny_report_run):
    from arc_pipeline.report import gather

    data = gather(tiny_report_run(tmp_path))
    by_id = {r.task.id: r for r in data.rows}
    assert by_id["solved1"].tests[0].rank == 1 and by_id["solved1"].tags() == ["solved", "cat-exact"]
    hostile = by_id[HOSTILE].tests[0]
    assert hostile.rank == 3 and [c.votes for c in hostile.candidates] == [3, 2, 1] and hostile.predicted == 6
    assert by_id[HOSTILE].tags() == ["unsolved", "rankloss", "cat-shape"]
    assert by_id["nothing"].tests[0].fallback and "fallback" in by_id["nothing"].tags()
    assert data.halt_steps == {1: 1, 2: 8, 3: 1}
    from arc_pipeline.solver.raw import augmentations_voted
    from arc_pipeline.stages.ingest import load_tasks

    full = augmentations_voted(pl.read_parquet(tmp_path / "predictions_raw.parquet"), load_tasks(tmp_path)[1])
    assert data.aug_pass == [(int(r.rule.split()[0]), r.per_task["2"], r.per_output["2"]) for r in full]  # last grids only
    assert data.aug_pass[-1][0] == 6 and data.aug_pass[-1][1] == 1 / 3  # solved1 only of the 3 tasks
    page = render(data)
    assert HOSTILE not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("demo 1 input") == 3
    assert "3 votes (50%)" in page and "3 votes (75%)" in page and "not predicted: both attempts" in page
    assert "best rank of the truth" in page and page.count("m-fallback") == 2  # the style rule, the row mark
