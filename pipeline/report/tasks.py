"""The per-output and per-task parts of report.html: the gallery (attempt 1 over the truth for every
test output, failing first), the task table (one row per task, anchored, searchable, filterable,
sortable) and the grid images both draw. compare.html reuses `task_row`."""

from __future__ import annotations

import base64
import html
from urllib.parse import quote

import numpy as np

from arc_pipeline.arc.render import grid_pixels, overlay_pixels, png_bytes
from arc_pipeline.report.categories import CATEGORIES, LABELS, ORDER, wrong_cells
from arc_pipeline.report.data import LOW_AGREEMENT, InputView, TaskRow

FILTERS = (("all", "all"), ("solved", "solved"), ("partial", "partly solved"), ("unsolved", "unsolved"),
           ("unknown", "truth unknown"), ("low", f"low agreement (top share < {LOW_AGREEMENT:.0%})"),
           ("rankloss", "ranking loss (truth among candidates, not in top 2)"),
           ("fallback", "fallback"), ("budget", "stopped by the budget"))
MARKS = {"fallback": "fallback", "budget": "budget cut", "low": "low agreement", "rankloss": "ranking loss"}
DEMO_PX, TEST_PX, TILE_PX = 56, 88, 84  # longest side of a drawn grid: demonstrations, test line, gallery
COMPACT_PX = 60  # test-line grids on a page of more than OPEN_UP_TO tasks
OPEN_UP_TO = 40  # tasks on a page whose demonstrations show unfolded (more: one click per task)


def anchor(task_id: str) -> str:
    """The element id of a task's row (URL-safe, so `report.html#task-<id>` links to it)."""
    return "task-" + quote(task_id, safe="")


def grid_img(grid: np.ndarray | None, max_px: int = 120) -> str:
    """An <img> of a grid (cells sized so the longer side is about max_px), or a dash."""
    if grid is None:
        return '<span class="none">-</span>'
    g = np.asarray(grid, dtype=np.uint8)
    cell = max(3, min(16, max_px // max(g.shape)))
    return _img(grid_pixels(g, cell), g.shape)


def overlay_img(attempt: np.ndarray | None, truth: np.ndarray | None, max_px: int = 120) -> str:
    """An <img> of `attempt` drawn over `truth`: wrong cells framed white with the truth's colour at their centre."""
    if attempt is None:
        return '<span class="none">no grid</span>'
    a = np.asarray(attempt, dtype=np.uint8)
    cell = max(3, min(16, max_px // max(a.shape)))
    return _img(overlay_pixels(a, truth, cell), a.shape)


def _img(pixels: np.ndarray, shape: tuple[int, ...]) -> str:
    uri = base64.b64encode(png_bytes(pixels)).decode()
    return f'<img alt="{shape[0]}x{shape[1]}" src="data:image/png;base64,{uri}">'


def figure(label: str, grid: np.ndarray | None, max_px: int = 120, cls: str = "", img: str | None = None,
           hover: str = "") -> str:
    """A grid (or a ready `img`) with its caption above it (`hover`: more, as a tooltip); captions line up."""
    tip = f" title='{html.escape(hover)}'" if hover else ""
    return f"<figure class='{cls}'{tip}><figcaption>{label}</figcaption>{img or grid_img(grid, max_px)}</figure>"


def _shape(g: np.ndarray | None) -> str:
    return "-" if g is None else f"{g.shape[0]}x{g.shape[1]}"


def attempt_caption(t: InputView, truth: np.ndarray | None) -> str:
    """What attempt 1 is against the truth, in a few words."""
    if t.category is None:
        return "attempt 1 (truth unknown)"
    if t.category == "exact":
        return "exact" if t.correct and t.wrong == 0 else "exact (attempt 2)"
    if t.category == "novalid":
        return "no valid grid"
    if t.wrong is not None:
        return f"{LABELS[t.category]}: {t.wrong} of {t.attempt.size} wrong"
    return f"{LABELS[t.category]}: {_shape(t.attempt)} vs {_shape(truth)}"


def gallery(rows: list[TaskRow]) -> list[str]:
    """Every test output as a small tile (attempt 1 over the truth), failing first, each linking to its task."""
    tiles = [(r, i, t) for r in rows for i, t in enumerate(r.tests)]
    tiles.sort(key=lambda x: (ORDER.get(x[2].category, len(ORDER)), x[2].top_share, x[0].task.id, x[1]))
    h = [f"<h2 id='gallery'>Gallery</h2><p>Each test output's attempt 1 drawn over its truth (a wrong cell framed "
         "white, the truth's colour at its centre; another shape: attempt, then truth), failing first; "
         f"<span id='gshown'>{len(tiles)}</span> of {len(tiles)} shown. Click a tile for its task.</p>"
         "<div class='gallery'>"]
    for r, i, t in tiles:
        tid, truth = r.task.id, r.task.test[i].output
        task_tags = [x for x in r.tags() if not x.startswith("cat-")]
        tags = " ".join(task_tags + ([f"cat-{t.category}"] if t.category else []))
        label = html.escape(tid) + (f" &middot; {i + 1}" if len(r.tests) > 1 else "")
        if t.fallback:
            img = f"<span class='none'>{'no valid grid' if t.no_valid else 'not predicted'}</span>"
        elif truth is not None and t.attempt is not None and t.attempt.shape != truth.shape:
            img = f"<span class='pairs'>{grid_img(t.attempt, TILE_PX // 2)}{grid_img(truth, TILE_PX // 2)}</span>"
        else:
            img = overlay_img(t.attempt, truth, TILE_PX)
        h.append(f"<a class='tile c-{t.category or 'unknown'}' href='#{anchor(tid)}' data-tags='{tags}' "
                 f"data-id='{html.escape(tid.lower())}' title='{html.escape(tid)}'>{img}<span class='tid'>{label}</span>"
                 f"<span class='cap'>{html.escape(attempt_caption(t, truth))}</span></a>")
    h.append("</div>")
    return h


def task_table(rows: list[TaskRow]) -> list[str]:
    counts = {f: sum(f in r.tags() for r in rows) for f, _ in FILTERS}
    counts["all"] = len(rows)
    cats = [(f"cat-{k}", label) for k, label, _ in CATEGORIES]
    counts |= {f: sum(f in r.tags() for r in rows) for f, _ in cats}
    h = [f"<h2 id='tasks-head'>Tasks</h2><p>Showing <span id='shown'>{len(rows)}</span> of {len(rows)}. Search by id, "
         "filter, or click a column header to sort. A candidate outlined green is the truth; one drawn over the truth "
         "has its wrong cells framed white (the truth's colour at their centre); captions give votes, share of votes, "
         "mean halting probability and mean steps.</p>"
         "<div class='filters'><input id='search' type='search' placeholder='search task id' size='16'> "]
    h += [f"<button data-f='{f}' class='{'on' if f == 'all' else ''}'>{html.escape(label)} ({counts[f]})</button>"
          for f, label in FILTERS + tuple((f, label) for f, label in cats if counts[f])]
    h.append("</div><table class='sortable' id='tasks'><thead><tr><th>task</th><th>right</th><th>why</th>"
             "<th title='best rank of the truth among the voted candidates'>rank</th>"
             "<th title=\"top candidate's share of the votes (lowest over the task's test inputs)\">share</th>"
             "<th title='distinct valid grids voted; +: predictions.parquet keeps vote.top_k, there may be more'>"
             "distinct</th><th title='predictions made / planned'>made</th>"
             "<th>demonstrations, then per test input: input, truth, candidates (#1 and #2 are the attempts)</th>"
             "</tr></thead><tbody>")
    compact = len(rows) > OPEN_UP_TO
    h += [task_row(r, compact=compact) for r in rows]
    h.append("</tbody></table>")
    return h


def task_row(r: TaskRow, lead: str = "", compact: bool = False) -> str:
    """One task's <tr>; `lead` (already escaped) is a first cell, e.g. the run's name in a comparison;
    `compact` (a long page): the demonstrations folded, the test grids smaller."""
    known, tags = r.known, r.tags()
    right = sum(known)
    cls = "" if not known else ("ok" if right == len(known) else ("bad" if right == 0 else "part"))
    share = min((t.top_share for t in r.tests), default=0.0)
    distinct = sum(t.distinct for t in r.tests)
    more = "+" if any(t.capped for t in r.tests) else ""
    predicted = sum(t.predicted for t in r.tests)
    planned = [t.planned for t in r.tests]
    plan = f"/{sum(planned)}" if all(p is not None for p in planned) and planned else ""
    marks = "".join(f"<span class='mark m-{t}'>{MARKS[t]}</span>" for t in tags if t in MARKS)
    cats = [t.category for t in r.tests if t.category]
    why = ", ".join(LABELS[c] for c in dict.fromkeys(cats)) or "?"
    tid = html.escape(r.task.id)
    anchor_id = "" if lead else f" id='{anchor(r.task.id)}'"  # a comparison draws a task once per run
    cls += " compact" if compact else ""
    h = [f"<tr class='{cls}'{anchor_id} data-tags='{' '.join(tags)}' data-id='{html.escape(r.task.id.lower())}'>"
         f"{f'<td>{lead}</td>' if lead else ''}<td class='tid'><a href='#{anchor(r.task.id)}'>{tid}</a><br>{marks}</td>"
         f"<td class='num' data-v='{right if known else -1}'>{f'{right}/{len(known)}' if known else '?'}</td>"
         f"<td class='why' data-v='{min((ORDER[c] for c in cats), default=len(ORDER))}'>{why}</td>"
         f"<td class='num' data-v='{r.best_rank or 9999}'>{r.best_rank or '-'}</td>"
         f"<td class='num' data-v='{share:.4f}'>{share:.0%}</td><td class='num' data-v='{distinct}'>{distinct}{more}</td>"
         f"<td class='num' data-v='{predicted}'>{predicted}{plan}</td><td class='grids'>"]
    if r.failed:
        h.append(f"<div class='bad'>predict failed for this task: {html.escape(r.failed)}</div>")
    h.append(f"<details class='demos'{'' if compact else ' open'}><summary>{len(r.task.train)} demonstrations"
             "</summary><div class='line'>")
    for j, p in enumerate(r.task.train):
        h.append(f"<span class='pair'>{figure(f'demo {j + 1} input', p.input, DEMO_PX)}"
                 f"{figure('output', p.output, DEMO_PX)}</span>")
    h.append("</div></details>")
    for i, (pair, t) in enumerate(zip(r.task.test, r.tests)):
        h.append(_test_line(i, pair.input, pair.output, t, compact))
    h.append("</td></tr>")
    return "".join(h)


def _test_line(i: int, test_input: np.ndarray, truth: np.ndarray | None, t: InputView, compact: bool) -> str:
    px = COMPACT_PX if compact else TEST_PX
    more = "+" if t.capped else ""
    why = f"<br><span class='c-{t.category} why'>{LABELS[t.category]}</span>" if t.category else ""
    h = [f"<div class='line'><span class='what'>test {i + 1}{why}<br><span class='none'>{t.distinct}{more} distinct"
         "</span>" + (f" <span class='mark m-budget'>{t.predicted} of {t.planned}</span>" if t.budget_cut else "")
         + "</span>" + figure("input", test_input, px) + figure("truth", truth, px, cls="sub")]
    if t.fallback:
        why = (f"no valid grid: {t.predicted} prediction{'s' if t.predicted != 1 else ''} made,<br>none decoded to a "
               "grid; both attempts<br>are the test input" if t.no_valid else "not predicted: both attempts<br>are "
               "the test input")
        h.append(figure(why, None, cls="miss"))
    for k, c in enumerate(t.candidates):
        wrong = None if truth is None or c.right else wrong_cells(c.grid, truth)
        votes = f"{c.votes} vote{'s' if c.votes != 1 else ''} ({c.share:.0%})"
        detail = f"halt {c.halt:.2f} &middot; {c.steps:.1f} steps"
        wrong_text = f" &middot; <b>{wrong} wrong</b>" if wrong else ""
        # a long page keeps captions to one short line; the rest is the tooltip
        label = f"<b>#{k + 1}</b> &middot; {c.share:.0%}" if compact else f"<b>#{k + 1}</b> &middot; {votes}{wrong_text}<br>{detail}"
        hover = html.unescape(f"#{k + 1}: {votes}{wrong_text}; {detail}").replace("<b>", "").replace("</b>", "") if compact else ""
        img = overlay_img(c.grid, truth, px) if wrong else None
        h.append(figure(label, c.grid, px, cls="right" if c.right else "", img=img, hover=hover))
    if t.rank is not None and t.rank > len(t.candidates):
        h.append(f"<span class='none'>truth ranked #{t.rank} of {t.distinct}{more} distinct</span>")
    h.append("</div>")
    return "".join(h)
