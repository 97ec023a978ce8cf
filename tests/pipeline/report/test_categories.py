"""Why outputs fail: each category judged right, and a crafted run where every category occurs shows
them on the page as counts that filter, in the gallery (failing first) and in the task rows."""

import re
import shutil
import subprocess

import numpy as np
import pytest

from arc_pipeline.report.categories import CATEGORIES, categorise

TRUTH = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]], dtype=np.uint8)
INPUT = np.array([[3, 3, 3], [3, 0, 3], [3, 3, 3]], dtype=np.uint8)


def _changed(grid, cells):
    g = grid.copy()
    for k in range(cells):
        g.flat[k] = (g.flat[k] + 1) % 10
    return g


ONE_WRONG, FIVE_WRONG = _changed(TRUTH, 1), _changed(TRUTH, 5)
OTHER_SHAPE = np.array([[1, 2], [3, 4]], dtype=np.uint8)
BLANK = np.zeros((3, 3), dtype=np.uint8)


@pytest.mark.parametrize("attempts, no_candidate, expected", [
    ([FIVE_WRONG, TRUTH], False, "exact"),
    ([ONE_WRONG, FIVE_WRONG], False, "near"),
    ([_changed(TRUTH, 3), BLANK], False, "shape"),  # 3 of 9 cells: more than a quarter
    ([FIVE_WRONG, ONE_WRONG], False, "shape"),  # judged on attempt 1
    ([OTHER_SHAPE, TRUTH[:2]], False, "wrongshape"),
    ([BLANK, ONE_WRONG], False, "background"),
    ([np.zeros((1, 1), dtype=np.uint8), None], False, "background"),
    ([INPUT, ONE_WRONG], False, "copy"),
    ([INPUT, INPUT], True, "novalid"),
    ([None, None], False, "novalid"),
])
def test_each_category_is_judged_on_the_attempts(attempts, no_candidate, expected):
    assert categorise(attempts, TRUTH, INPUT, no_candidate) == expected


def test_near_miss_is_a_few_cells_of_a_large_grid_not_most_of_a_tiny_one():
    big = np.zeros((15, 15), dtype=np.uint8)
    big[7, 7] = 4
    assert categorise([_changed(big, 3)], big, INPUT, False) == "near"
    assert categorise([_changed(big, 4)], big, INPUT, False) == "shape"
    tiny = np.array([[1, 2], [3, 4]], dtype=np.uint8)
    assert categorise([_changed(tiny, 1)], tiny, INPUT, False) == "near"
    assert categorise([_changed(tiny, 2)], tiny, INPUT, False) == "shape"
    assert categorise([TRUTH], None, INPUT, False) is None
    one = np.array([[4]], dtype=np.uint8)  # a one-colour truth: a one-colour attempt is judged by its cells
    assert categorise([np.array([[2]], dtype=np.uint8)], one, INPUT, False) == "shape"
    assert categorise([np.zeros((2, 2), dtype=np.uint8)], np.full((2, 2), 3, dtype=np.uint8), INPUT, False) == "shape"


RUN = {  # task id -> [(input, truth, predictions)] per test input; one category each, plus a partly solved task
    "t-exact": [(INPUT, TRUTH, [TRUTH, TRUTH, ONE_WRONG])],
    "t-near": [(INPUT, TRUTH, [ONE_WRONG, ONE_WRONG, BLANK])],
    "t-shape": [(INPUT, TRUTH, [FIVE_WRONG])],
    "t-wrongshape": [(INPUT, TRUTH, [OTHER_SHAPE, OTHER_SHAPE, BLANK])],
    "t-background": [(INPUT, TRUTH, [BLANK])],
    "t-copy": [(INPUT, TRUTH, [INPUT, INPUT, FIVE_WRONG])],
    "t-novalid": [(INPUT, TRUTH, [None] * 8)],
    "t-unpredicted": [(INPUT, TRUTH, [])],
    "t-partial": [(INPUT, TRUTH, [TRUTH]), (INPUT, TRUTH, [ONE_WRONG])],
}


def test_crafted_run_shows_every_category_as_counts_that_filter(tmp_path, crafted_report_run):
    from arc_pipeline.report import gather, render

    data = gather(crafted_report_run(tmp_path / "run", RUN))
    cats = {r.task.id: [t.category for t in r.tests] for r in data.rows}
    assert cats == {"t-exact": ["exact"], "t-near": ["near"], "t-shape": ["shape"], "t-wrongshape": ["wrongshape"],
                    "t-background": ["background"], "t-copy": ["copy"], "t-novalid": ["novalid"],
                    "t-unpredicted": ["novalid"], "t-partial": ["exact", "near"]}
    page = render(data)
    counts = dict(re.findall(r"data-f='cat-(\w+)'[^>]*>[^<]*<b>(\d+)</b>", page))
    assert counts == {"near": "2", "shape": "1", "wrongshape": "1", "background": "1", "copy": "1", "novalid": "2",
                      "exact": "2"}
    assert set(counts) == {k for k, _, _ in CATEGORIES}
    # the gallery: one tile per test output, failing first (nearest the truth first), solved last
    tiles = re.findall(r"<a class='tile c-(\w+)' href='#task-([\w-]+)'", page)
    assert len(tiles) == 10 and [c for c, _ in tiles][:2] == ["near", "near"] and [c for c, _ in tiles][-2:] == ["exact"] * 2
    assert tiles.index(("novalid", "t-novalid")) > tiles.index(("copy", "t-copy"))
    # every tile links to its task's row; the rows carry the category tags the buttons filter on
    for _, tid in tiles:
        assert f"id='task-{tid}'" in page
    row = page.split("id='task-t-partial'")[1].split("</tr>")[0]
    assert "cat-exact cat-near" in page.split("<tr class='part' id='task-t-partial' data-tags='")[1].split("'")[0]
    assert "1 wrong" in row  # the near miss's candidate is drawn over the truth
    assert "data-f='partial'" in page and "partly solved (1)" in page and "id='search'" in page
    # the no-valid-grid case is named as such, apart from an input never predicted
    novalid = page.split("id='task-t-novalid'")[1].split("</tr>")[0]
    assert "no valid grid: 8 predictions made" in novalid and "0 distinct" in novalid
    assert "not predicted" in page.split("id='task-t-unpredicted'")[1].split("</tr>")[0]
    assert "(1 whose predictions decoded to no valid grid, 1 not predicted)" in page
    # distinct candidates counted, not the drawn ones
    assert ">2</td>" in page.split("id='task-t-exact'")[1].split("<td class='grids'>")[0]


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
MEASURE = """<script>window.addEventListener('load',()=>{const rows=[...document.querySelectorAll('#tasks tbody tr')];
document.body.dataset.measure=Math.round(Math.max(...rows.map(r=>r.getBoundingClientRect().width)))+' '+
document.documentElement.scrollWidth;document.querySelector('button[data-f=cat-near]').click();
document.body.dataset.near=document.getElementById('shown').textContent+' '+document.getElementById('gshown').textContent;
});</script>"""


@pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium (apt-get install chromium)")
def test_page_fits_a_1400px_window_filters_and_logs_no_console_error(tmp_path, crafted_report_run):
    from arc_pipeline.report import gather, render

    page = render(gather(crafted_report_run(tmp_path / "run", RUN)))
    (tmp_path / "page.html").write_text(page + MEASURE)
    done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync",
                           f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,900", "--enable-logging=stderr",
                           "--v=0", "--virtual-time-budget=3000", "--dump-dom", f"file://{tmp_path / 'page.html'}"],
                          capture_output=True, text=True, timeout=120)
    row_width, page_width = map(int, re.search(r'data-measure="(\d+) (\d+)"', done.stdout).groups())
    assert row_width <= 1400 and page_width <= 1400
    assert re.search(r'data-near="(\d+) (\d+)"', done.stdout).groups() == ("2", "2")  # tasks, tiles
    assert "CONSOLE" not in done.stderr and "Uncaught" not in done.stderr
