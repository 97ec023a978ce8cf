"""report.html: one self-contained page per run, read as a competitor reads a run.

Top to bottom: the run's facts (steps trained of planned and why training stopped, model, preset,
protocol, device, seed, speed, the checkpoint predicted with, cost); the score as pass@K rows; the rest
of score.json's protocol block (`report.provenance`); why the test outputs fail (a category per
output, `report.categories`, as counts that filter); a gallery of attempt 1 drawn over the truth
for every test output, failing first; the budget and where it went (with device-seconds and $ per
task), the training sources, halting and augmentation charts, training curves, every checkpoint
`arc-pipeline evaluate` scored (curve and table); then one row per task (`report.tasks`: demonstrations,
each test input, the truth, attempt 1 over the truth, the top candidates with votes, share, mean
halting probability and steps), with a search box, filters and sortable columns.

Grids are PNG data URIs (arc.render's encoder) and charts inline SVG (report.charts), so the page
needs no other file and opens offline.
"""

from __future__ import annotations

import html
from collections import Counter

from arc_pipeline.report import provenance
from arc_pipeline.report.categories import CATEGORIES
from arc_pipeline.report.charts import bar_chart, line_chart
from arc_pipeline.report.data import ReportData, TaskRow
from arc_pipeline.report.style import FILTER_JS, SORT_JS, STYLE
from arc_pipeline.report.tasks import gallery, task_table

# metric groups drawn as one chart each: (title, y label, predicate on the metric's name)
CURVE_GROUPS = (
    ("loss terms", "loss", lambda k: "loss" in k or k == "ce"),
    ("exact accuracy", "fraction exact", lambda k: "exact" in k),
    ("learning rate", "learning rate", lambda k: k == "lr"),
    ("throughput", "examples / s", lambda k: k == "examples_per_s"),
)


def loss_svg(curves: dict[str, list[tuple[float, float]]]) -> str:
    """The loss terms among `curves` against the training step."""
    loss = {k: v for k, v in curves.items() if CURVE_GROUPS[0][2](k.rsplit(" ", 1)[-1])}
    return line_chart(loss, "training step", "loss", title="training loss") if loss else \
        '<p class="none">no training metrics found</p>'


def curve_charts(curves: dict[str, list[tuple[float, float]]]) -> str:
    out = []
    for title, ylabel, pick in CURVE_GROUPS:
        group = {name: pts for name, pts in curves.items() if pick(name.rsplit(" ", 1)[-1])}
        if group:
            out.append(line_chart(group, "training step", ylabel, title=title))
    return "".join(out) or '<p class="none">no training metrics found</p>'


def render(data: ReportData) -> str:
    """The whole page as one HTML string."""
    title = html.escape(data.title)
    h = [f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>",
         f"<style>{STYLE}</style></head><body><h1>{title}</h1>"]
    h += _facts(data.facts)
    h += _scores(data)
    h += provenance.protocol_html(data.provenance.get("protocol"))
    if data.notes:
        h.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in data.notes) + "</ul>")
    h += _categories(data.rows)
    h += gallery(data.rows)
    h += _budget(data)
    if data.sources:
        h.append("<h2>Training sources</h2><table id='sources'><tr><th>source</th><th>tasks</th><th>pairs</th>"
                 "<th>weight</th><th>share of draws</th></tr>")
        for r in data.sources:
            w = "-" if r.get("weight") is None else f"{r['weight']:g}"
            h.append(f"<tr><td>{html.escape(str(r['source']))}</td><td class='num'>{r['tasks']}</td>"
                     f"<td class='num'>{r['pairs']}</td><td class='num'>{w}</td><td class='num'>{r['share']:.1%}</td></tr>")
        h.append("</table>")
    h.append("<h2>Predictions</h2><div class='charts'>")
    if data.halt_steps:
        h.append(bar_chart([(str(k), float(v)) for k, v in sorted(data.halt_steps.items())],
                           "halting step", "predictions", title="halting steps"))
    if data.aug_pass:
        h.append(line_chart({"pass@2 per task": [(n, a) for n, a, _ in data.aug_pass],
                             "pass@2 per output": [(n, b) for n, _, b in data.aug_pass]},
                            "augmentations voted per test input (identity first)", "pass@2", log_x=True,
                            markers=True, title="pass@2 against augmentations"))
    h.append("</div>")
    if data.halt_steps:
        h.append("<p class='none'>halting step: the first step (from predict.min_steps) whose halting probability "
                 "passes predict.threshold, else the last step run.</p>")
    if not data.halt_steps and not data.aug_pass:
        h.append("<p class='none'>no predictions_raw.parquet (or no solutions): no halting or augmentation charts</p>")
    h.append("<h2>Training curves</h2><div class='charts'>" + curve_charts(data.curves) + "</div>")
    h += provenance.checkpoints_html(data.provenance.get("evaluation"))
    h += task_table(data.rows)
    h.append(f"<script>{SORT_JS}{FILTER_JS}</script></body></html>")
    return "".join(h)


def _facts(facts: list[tuple[str, str]]) -> list[str]:
    if not facts:
        return []
    return ["<dl id='facts'>"] + [f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in facts] + ["</dl>"]


def _scores(data: ReportData) -> list[str]:
    h = ["<h2>Score</h2>"]
    if data.scores is None:
        return h + ["<p>The target tasks have no solutions: nothing to score. Judge by the agreement "
                    "(share of votes of the top candidate) and the halting probabilities below.</p>"]
    s = data.scores
    h.append(f"<p id='headline'><b>micro (per output, Kaggle's) {s.get('micro', 0):.4f}</b> "
             f"({s.get('outputs_correct', 0)} of {s.get('outputs', 0)} test outputs right) &middot; "
             f"<b>macro (per task, the papers') {s.get('macro', 0):.4f}</b> &middot; tasks fully solved "
             f"{s.get('tasks_solved', 0)} of {s.get('tasks', 0)}; scored on submission.json's two attempts.</p>")
    pak = s.get("pass_at_k") or {}
    ks = list(dict.fromkeys(k for per in pak.values() for k in per))
    h.append("<div class='charts'>")
    if ks:
        pers = list(pak)
        h.append("<table id='scores'><tr><th>K</th>" + "".join(f"<th>pass@K {html.escape(p.replace('_', ' '))}</th>"
                                                               for p in pers) + "</tr>")
        for k in sorted(ks, key=float):
            cls = " class='k2'" if k == "2" else ""
            h.append(f"<tr{cls}><td class='num'>{html.escape(str(k))}</td>"
                     + "".join(f"<td class='num'>{pak[p][k]:.4f}</td>" if k in pak[p] else "<td>-</td>" for p in pers)
                     + "</tr>")
        h.append("</table>")
        series = {per.replace("_", " "): [(float(k), float(v)) for k, v in kv.items()] for per, kv in pak.items()}
        h.append(line_chart(series, "K (candidates allowed per test input)", "pass@K", log_x=True, markers=True,
                            title="pass@K against K"))
    h.append("</div>")
    if ks:
        h.append("<p class='none'>pass@K: the truth among the K best-voted candidates; pass@2 is the competition's "
                 "figure (it equals the score above when the submission holds the top two).</p>")
    return h


def _categories(rows: list[TaskRow]) -> list[str]:
    counts = Counter(t.category for r in rows for t in r.tests if t.category)
    if not counts:
        return []
    total = sum(counts.values())
    h = [f"<h2 id='why'>Why outputs fail</h2><p>Each of the {total} test outputs with a known truth, judged on the "
         "submission's attempts (exact) and then on attempt 1. Click a category to filter the gallery and the tasks."
         "</p><div class='filters cats'>"]
    for k, label, legend in CATEGORIES:
        h.append(f"<button data-f='cat-{k}' class='c-{k}' title='{html.escape(legend)}'>{html.escape(label)} "
                 f"<b>{counts.get(k, 0)}</b></button>")
    h.append("<button data-f='all'>all</button></div><table id='categories'><tr><th>category</th><th>outputs</th>"
             "<th>share</th><th>meaning</th></tr>")
    h += [f"<tr><td>{html.escape(label)}</td><td class='num'>{counts.get(k, 0)}</td>"
          f"<td class='num'>{counts.get(k, 0) / total:.0%}</td><td>{html.escape(legend)}</td></tr>"
          for k, label, legend in CATEGORIES]
    h.append("</table>")
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
    cost = data.provenance.get("cost")
    h += provenance.cost_items(cost)
    tests = [t for r in data.rows for t in r.tests]
    if tests:
        no_valid = sum(t.no_valid for t in tests)
        unpredicted = sum(t.fallback and not t.no_valid for t in tests)
        h.append(f"<li>fallbacks: {no_valid + unpredicted} of {len(tests)} test inputs had no candidate "
                 f"({no_valid} whose predictions decoded to no valid grid, {unpredicted} not predicted); "
                 "both their attempts are the test input</li>")
    paid = ("<th>device-seconds</th><th>$ per task</th>" if cost else "")
    h.append(f"</ul><table id='stages'><tr><th>stage</th><th>status</th><th>seconds</th><th>share</th>{paid}"
             "<th>note</th></tr>")
    for stage, status, secs, note in data.stages:
        share = secs / total if total > 0 else 0.0
        cells = "".join(f"<td class='num'>{v}</td>" for v in provenance.stage_cost(cost, stage)) if cost else ""
        h.append(f"<tr><td>{html.escape(stage)}</td><td>{html.escape(status)}</td><td class='num'>{secs:.1f}</td>"
                 f"<td><svg width='120' height='10'><rect width='{120 * share:.1f}' height='10' fill='#1E93FF'/></svg> "
                 f"{share:.0%}</td>{cells}<td>{html.escape(note)}</td></tr>")
    h.append("</table>")
    return h
