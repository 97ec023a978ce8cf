"""report.html: one self-contained page per run, read as a competitor reads a run.

Run level: scores, pass@K against K, the budget and where it went (seconds per stage, predictions
made of those planned, fallbacks), the training sources, a halting-step histogram, pass@2 against
the augmentations voted, training curves. Per task: the demonstration pairs, each test input, the
truth when known, the top candidates with votes, share of votes, mean halting probability and mean
steps; marks for fallbacks and budget stops; rows filter (solved / unsolved / low agreement /
ranking loss ...) and sort by clicking a column header (a few lines of inline JavaScript).

Grids are PNG data URIs (arc.render's encoder) and charts inline SVG (report.charts), so
the page needs no other file and opens offline.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from arc_pipeline.arc.render import grid_pixels, png_bytes
from arc_pipeline.arc.task import Task
from arc_pipeline.report.charts import bar_chart, line_chart
from arc_pipeline.report.style import FILTER_JS, SORT_JS, STYLE

LOW_AGREEMENT = 0.5  # a test input whose top candidate holds less than this share of the votes
SHOWN = 5  # candidates drawn per test input


@dataclass
class Candidate:
    grid: np.ndarray
    votes: int
    share: float  # votes / predictions made for the test input
    halt: float  # mean halting probability of its votes
    steps: float  # mean supervision steps of its votes
    right: bool | None = None  # None when the truth is unknown


@dataclass
class InputView:
    candidates: list[Candidate]  # ranked, best first (at most SHOWN)
    correct: bool | None  # the submission's attempts hold the truth (None: unknown)
    predicted: int = 0  # predictions made for this test input
    planned: int | None = None  # predictions planned (augmented copies), when the build is there
    rank: int | None = None  # rank of the truth among all candidates (None: not predicted or unknown)
    fallback: bool = False  # no candidate: the submission's attempts are the test input

    @property
    def budget_cut(self) -> bool:
        return self.planned is not None and self.predicted < self.planned

    @property
    def top_share(self) -> float:
        return self.candidates[0].share if self.candidates else 0.0


@dataclass
class TaskRow:
    task: Task
    tests: list[InputView]
    failed: str | None = None  # predict failed for this task (its inputs fall back)

    @property
    def known(self) -> list[bool]:
        return [t.correct for t in self.tests if t.correct is not None]

    @property
    def best_rank(self) -> int | None:
        ranks = [t.rank for t in self.tests if t.rank is not None]
        return min(ranks) if ranks else None

    def tags(self) -> list[str]:
        k = self.known
        out = ["unknown"] if not k else (["solved"] if all(k) else ["unsolved"])
        if any(t.candidates and t.top_share < LOW_AGREEMENT for t in self.tests):
            out.append("low")
        if any(t.rank is not None and t.rank > 2 for t in self.tests):
            out.append("rankloss")
        if self.failed or any(t.fallback for t in self.tests):
            out.append("fallback")
        if any(t.budget_cut for t in self.tests):
            out.append("budget")
        return out


@dataclass
class ReportData:
    title: str
    scores: dict[str, Any] | None  # score.json, or None when the target has no solutions
    stages: list[tuple[str, str, float, str]]  # (stage, status, seconds, note)
    rows: list[TaskRow]
    curves: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # metric -> (step, value)
    notes: list[str] = field(default_factory=list)
    sources: list[dict] = field(default_factory=list)  # training sources: source, tasks, pairs, weight, share
    budget: dict[str, Any] = field(default_factory=dict)  # time_budget_s, predictions, planned, stopped, fallbacks, entries
    halt_steps: dict[int, int] = field(default_factory=dict)  # halting step -> predictions
    aug_pass: list[tuple[int, float, float]] = field(default_factory=list)  # (augmentations, pass@2 task, output)


def grid_img(grid: np.ndarray | None, max_px: int = 120) -> str:
    """An <img> of a grid (cells sized so the longer side is about max_px), or a dash."""
    if grid is None:
        return '<span class="none">-</span>'
    g = np.asarray(grid, dtype=np.uint8)
    cell = max(3, min(16, max_px // max(g.shape)))
    uri = base64.b64encode(png_bytes(grid_pixels(g, cell))).decode()
    return f'<img alt="{g.shape[0]}x{g.shape[1]}" src="data:image/png;base64,{uri}">'


def figure(label: str, grid: np.ndarray | None, max_px: int = 120, cls: str = "") -> str:
    """A grid with its caption above it; captions line up whatever the grids' heights."""
    return (f"<figure class='{cls}'><figcaption>{label}</figcaption>{grid_img(grid, max_px)}</figure>")


def loss_svg(curves: dict[str, list[tuple[float, float]]]) -> str:
    """The loss terms among `curves` against the training step."""
    loss = {k: v for k, v in curves.items() if CURVE_GROUPS[0][2](k.rsplit(" ", 1)[-1])}
    return line_chart(loss, "training step", "loss", title="training loss") if loss else \
        '<p class="none">no training metrics found</p>'


def read_curves(files: dict[str, Path], keys_with: str = "") -> dict[str, list[tuple[float, float]]]:
    """(step, value) series of every numeric field (whose name contains `keys_with`), per labelled JSONL file."""
    curves: dict[str, list[tuple[float, float]]] = {}
    for label, path in files.items():
        if not path.exists():
            continue
        for i, line in enumerate(path.read_text().splitlines()):
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a kill
            if not isinstance(rec, dict):
                continue
            step = rec.get("step", i)
            for k, v in rec.items():
                if k != "step" and keys_with in k and isinstance(v, (int, float)) and not isinstance(v, bool):
                    curves.setdefault(f"{label} {k}", []).append((float(step), float(v)))
    return curves


# metric groups drawn as one chart each: (title, y label, predicate on the metric's name)
CURVE_GROUPS = (
    ("loss terms", "loss", lambda k: "loss" in k or k == "ce"),
    ("exact accuracy", "fraction exact", lambda k: "exact" in k),
    ("learning rate", "learning rate", lambda k: k == "lr"),
    ("throughput", "examples / s", lambda k: k == "examples_per_s"),
)


def curve_charts(curves: dict[str, list[tuple[float, float]]]) -> str:
    out = []
    for title, ylabel, pick in CURVE_GROUPS:
        group = {name: pts for name, pts in curves.items() if pick(name.rsplit(" ", 1)[-1])}
        if group:
            out.append(line_chart(group, "training step", ylabel, title=title))
    return "".join(out) or '<p class="none">no training metrics found</p>'


FILTERS = (("all", "all"), ("solved", "solved"), ("unsolved", "unsolved"), ("unknown", "truth unknown"),
           ("low", f"low agreement (top share < {LOW_AGREEMENT:.0%})"),
           ("rankloss", "ranking loss (truth among candidates, not in top 2)"),
           ("fallback", "fallback"), ("budget", "stopped by the budget"))
MARKS = {"fallback": "fallback", "budget": "budget cut", "low": "low agreement", "rankloss": "ranking loss"}


def render(data: ReportData) -> str:
    """The whole page as one HTML string."""
    h = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(data.title)}</title>",
         f"<style>{STYLE}</style></head><body><h1>{html.escape(data.title)}</h1>"]
    h += _scores(data)
    if data.notes:
        h.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in data.notes) + "</ul>")
    h += _budget(data)
    if data.sources:
        h.append("<h2>Training sources</h2><table id='sources'><tr><th>source</th><th>tasks</th><th>pairs</th>"
                 "<th>weight</th><th>share of draws</th></tr>")
        for r in data.sources:
            w = "-" if r.get("weight") is None else f"{r['weight']:g}"
            h.append(f"<tr><td>{html.escape(str(r['source']))}</td><td class='num'>{r['tasks']}</td>"
                     f"<td class='num'>{r['pairs']}</td><td class='num'>{w}</td><td class='num'>{r['share']:.1%}</td></tr>")
        h.append("</table>")
    h.append("<h2>Predictions</h2>")
    if data.halt_steps:
        h.append(bar_chart([(str(k), float(v)) for k, v in sorted(data.halt_steps.items())],
                           "halting step",
                           "predictions", title="halting steps"))
        h.append("<p class='none'>halting step: the first step (from predict.min_steps) whose halting probability "
                 "passes predict.threshold, else the last step run.</p>")
    if data.aug_pass:
        h.append(line_chart({"pass@2 per task": [(n, a) for n, a, _ in data.aug_pass],
                             "pass@2 per output": [(n, b) for n, _, b in data.aug_pass]},
                            "augmentations voted per test input (identity first)", "pass@2", log_x=True,
                            markers=True, title="pass@2 against augmentations"))
    if not data.halt_steps and not data.aug_pass:
        h.append("<p class='none'>no predictions_raw.parquet (or no solutions): no halting or augmentation charts</p>")
    h.append("<h2>Training curves</h2>" + curve_charts(data.curves))
    h += _tasks(data.rows)
    h.append(f"<script>{SORT_JS}{FILTER_JS}</script></body></html>")
    return "".join(h)


def _scores(data: ReportData) -> list[str]:
    h = ["<h2>Score</h2>"]
    if data.scores is None:
        return h + ["<p>The target tasks have no solutions: nothing to score. Judge by the agreement "
                    "(share of votes of the top candidate) and the halting probabilities below.</p>"]
    s = data.scores
    cells = [("micro (per output)", f"{s.get('micro', 0):.4f}"), ("macro (per task)", f"{s.get('macro', 0):.4f}"),
             ("tasks solved", f"{s.get('tasks_solved', 0)} / {s.get('tasks', 0)}"),
             ("outputs right", f"{s.get('outputs_correct', 0)} / {s.get('outputs', 0)}")]
    pak = s.get("pass_at_k") or {}
    for per, ks in pak.items():
        cells += [(f"pass@{k} ({per.replace('_', ' ')})", f"{v:.4f}") for k, v in ks.items()]
    h.append("<table id='scores'><tr>" + "".join(f"<th>{html.escape(k)}</th>" for k, _ in cells) + "</tr><tr>"
             + "".join(f"<td class='num'>{v}</td>" for _, v in cells) + "</tr></table>")
    series = {f"{per.replace('_', ' ')}": [(float(k), float(v)) for k, v in ks.items()] for per, ks in pak.items()}
    if series:
        h.append(line_chart(series, "K (candidates allowed per test input)", "pass@K", log_x=True, markers=True,
                            title="pass@K against K"))
    return h


def _budget(data: ReportData) -> list[str]:
    b = data.budget
    h = ["<h2>Budget and where it went</h2><ul id='budget'>"]
    total = sum(s for _, _, s, _ in data.stages)
    tb = b.get("time_budget_s")
    h.append(f"<li>stages took {total:.1f} s" + (f" of a {tb:g} s time budget" if tb else " (no time budget)") + "</li>")
    if b.get("planned"):
        h.append(f"<li>predictions made: {b.get('predictions', 0)} of {b['planned']} planned "
                 f"({b.get('predictions', 0) / b['planned']:.1%})</li>")
    if b.get("stopped"):
        h.append(f"<li class='bad'>{html.escape(str(b['stopped']))}</li>")
    if b.get("entries") is not None:
        h.append(f"<li>fallbacks: {b.get('fallbacks', 0)} of {b['entries']} test inputs had no prediction "
                 "(both attempts are the test input)</li>")
    h.append("</ul><table id='stages'><tr><th>stage</th><th>status</th><th>seconds</th><th>share</th><th>note</th></tr>")
    for stage, status, secs, note in data.stages:
        share = secs / total if total > 0 else 0.0
        h.append(f"<tr><td>{html.escape(stage)}</td><td>{html.escape(status)}</td><td class='num'>{secs:.1f}</td>"
                 f"<td><svg width='120' height='10'><rect width='{120 * share:.1f}' height='10' fill='#1E93FF'/></svg> "
                 f"{share:.0%}</td><td>{html.escape(note)}</td></tr>")
    h.append("</table>")
    return h


def _tasks(rows: list[TaskRow]) -> list[str]:
    counts = {f: sum(f in r.tags() for r in rows) for f, _ in FILTERS}
    counts["all"] = len(rows)
    h = [f"<h2>Tasks</h2><p>Showing <span id='shown'>{len(rows)}</span> of {len(rows)}. Filter, or click a column "
         "header to sort. A candidate outlined green is the truth; captions give votes, share of votes, mean "
         "halting probability and mean steps.</p><div class='filters'>"]
    h += [f"<button data-f='{f}' class='{'on' if f == 'all' else ''}'>{html.escape(label)} ({counts[f]})</button>"
          for f, label in FILTERS]
    h.append("</div><table class='sortable' id='tasks'><thead><tr><th>task</th><th>right</th><th>truth rank</th>"
             "<th>top share</th><th>candidates</th><th>predicted</th><th>marks</th>"
             "<th>demonstrations, then per test input: input, truth, candidates</th></tr></thead><tbody>")
    for r in rows:
        h.append(task_row(r))
    h.append("</tbody></table>")
    return h


def task_row(r: TaskRow, lead: str = "") -> str:
    """One task's <tr>; `lead` (already escaped) is a first cell, e.g. the run's name in a comparison."""
    known, tags = r.known, r.tags()
    right = sum(known)
    cls = "" if not known else ("ok" if right == len(known) else ("bad" if right == 0 else ""))
    share = min((t.top_share for t in r.tests), default=0.0)
    n_cand = sum(len(t.candidates) for t in r.tests)
    predicted = sum(t.predicted for t in r.tests)
    planned = [t.planned for t in r.tests]
    plan = f" / {sum(planned)}" if all(p is not None for p in planned) and planned else ""
    marks = "".join(f"<span class='mark m-{t}'>{MARKS[t]}</span>" for t in tags if t in MARKS)
    tid = html.escape(r.task.id)
    h = [f"<tr class='{cls}' data-tags='{' '.join(tags)}'>{f'<td>{lead}</td>' if lead else ''}<td>{tid}</td>"
         f"<td class='num' data-v='{right if known else -1}'>{f'{right}/{len(known)}' if known else '?'}</td>"
         f"<td class='num' data-v='{r.best_rank or 9999}'>{r.best_rank or '-'}</td>"
         f"<td class='num' data-v='{share:.4f}'>{share:.0%}</td><td class='num'>{n_cand}</td>"
         f"<td class='num' data-v='{predicted}'>{predicted}{plan}</td><td>{marks}</td><td class='grids'>"]
    if r.failed:
        h.append(f"<div class='bad'>predict failed for this task: {html.escape(r.failed)}</div>")
    h.append("<div class='line'><span class='what'>demonstrations</span>")
    for j, p in enumerate(r.task.train):
        h.append(f"<span class='pair'>{figure(f'demo {j + 1} input', p.input, 72)}"
                 f"{figure('output', p.output, 72)}</span>")
    h.append("</div>")
    for i, (pair, t) in enumerate(zip(r.task.test, r.tests)):
        h.append(f"<div class='line'><span class='what'>test {i + 1}"
                 + (" <span class='mark m-fallback'>fallback</span>" if t.fallback else "")
                 + (f" <span class='mark m-budget'>{t.predicted} of {t.planned}</span>" if t.budget_cut else "")
                 + "</span>" + figure("input", pair.input) + figure("truth", pair.output, cls="sub"))
        for k, c in enumerate(t.candidates):
            label = (f"#{k + 1}{' (attempt)' if k < 2 else ''} &middot; {c.votes} vote{'s' if c.votes != 1 else ''} "
                     f"({c.share:.0%})<br>halt {c.halt:.2f} &middot; {c.steps:.1f} steps")
            h.append(figure(label, c.grid, cls="right" if c.right else ""))
        if not t.candidates:
            h.append(figure("no candidate: attempts are the input", None))
        if t.rank is not None and t.rank > len(t.candidates):
            h.append(f"<span class='none'>truth ranked #{t.rank}</span>")
        h.append("</div>")
    h.append("</td></tr>")
    return "".join(h)
