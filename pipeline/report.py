"""report.html: one self-contained page per run (scores, stage timings, loss curve, per-task grids).

Grids are PNG data URIs (arc.render's encoder), so the page needs no other file; rows sort by
clicking a column header (a few lines of inline JavaScript).
"""

from __future__ import annotations

import base64
import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from arc.render import grid_pixels, png_bytes
from arc.task import Task


@dataclass
class TaskRow:
    task: Task
    attempts: list[list[np.ndarray | None]]  # per test input: attempt_1, attempt_2
    correct: list[bool | None]  # per test input; None when the truth is unknown
    best_rank: int | None = None  # rank of the right candidate among the votes (None: not found)


@dataclass
class ReportData:
    title: str
    scores: dict[str, Any] | None  # score.json, or None when the target has no solutions
    stages: list[tuple[str, str, float, str]]  # (stage, status, seconds, note)
    rows: list[TaskRow]
    curves: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # name -> (step, value)
    notes: list[str] = field(default_factory=list)
    sources: list[dict] = field(default_factory=list)  # training sources: source, tasks, pairs, weight, share


def grid_img(grid: np.ndarray | None, max_px: int = 120) -> str:
    """An <img> of a grid (cells sized so the longer side is about max_px), or a dash."""
    if grid is None:
        return '<span class="none">-</span>'
    g = np.asarray(grid, dtype=np.uint8)
    cell = max(3, min(16, max_px // max(g.shape)))
    uri = base64.b64encode(png_bytes(grid_pixels(g, cell))).decode()
    return f'<img alt="{g.shape[0]}x{g.shape[1]}" src="data:image/png;base64,{uri}">'


def loss_svg(curves: dict[str, list[tuple[float, float]]], width: int = 640, height: int = 220) -> str:
    """Inline SVG line chart of each curve (steps on x, values on y, linear)."""
    pts = [p for c in curves.values() for p in c if math.isfinite(p[1])]
    if not pts:
        return '<p class="none">no training metrics found</p>'
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y0, y1 = min(0.0, min(p[1] for p in pts)), max(p[1] for p in pts)
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1)
    pad = 40
    colours = ["#1E93FF", "#F93C31", "#4FCC30", "#FFDC00", "#E53AA3", "#FF851B"]

    def xy(p: tuple[float, float]) -> str:
        x = pad + (p[0] - x0) / (x1 - x0) * (width - 2 * pad)
        y = height - pad - (p[1] - y0) / (y1 - y0) * (height - 2 * pad)
        return f"{x:.1f},{y:.1f}"

    parts = [f'<svg width="{width}" height="{height}" class="chart">',
             f'<rect x="{pad}" y="{pad}" width="{width - 2 * pad}" height="{height - 2 * pad}" class="frame"/>',
             f'<text x="{pad}" y="{height - 10}">step {x0:g}</text>',
             f'<text x="{width - pad}" y="{height - 10}" text-anchor="end">step {x1:g}</text>',
             f'<text x="5" y="{pad}">{y1:.3g}</text>', f'<text x="5" y="{height - pad}">{y0:.3g}</text>']
    for i, (name, c) in enumerate(curves.items()):
        good = [p for p in c if math.isfinite(p[1])]
        colour = colours[i % len(colours)]
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" '
                     f'points="{" ".join(xy(p) for p in good)}"/>')
        parts.append(f'<text x="{width - pad - 5}" y="{pad + 15 + 14 * i}" text-anchor="end" '
                     f'fill="{colour}">{html.escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def read_curves(files: dict[str, Path], keys_with: str = "loss") -> dict[str, list[tuple[float, float]]]:
    """(step, value) series of every numeric field whose name contains `keys_with`, per labelled JSONL file."""
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
                if keys_with in k and isinstance(v, (int, float)) and not isinstance(v, bool):
                    curves.setdefault(f"{label} {k}", []).append((float(step), float(v)))
    return curves


_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;background:#fafafa;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:3px 8px;vertical-align:top}
th{background:#eee;cursor:pointer}td.num{text-align:right}.ok{background:#dfd}.bad{background:#fdd}
.none{color:#999}img{image-rendering:pixelated;margin:2px}.chart text{font-size:11px}
.chart .frame{fill:#fff;stroke:#ccc}.grids{white-space:nowrap}.lbl{font-size:11px;color:#666;display:block}
"""
_SORT_JS = """
document.querySelectorAll('table.sortable th').forEach((th,i)=>th.addEventListener('click',()=>{
 const tb=th.closest('table').tBodies[0];const rows=[...tb.rows];const asc=th.dataset.asc!=='1';
 th.dataset.asc=asc?'1':'0';const key=r=>{const c=r.cells[i];const v=c.dataset.v??c.textContent;
 const n=parseFloat(v);return isNaN(n)?v:n};
 rows.sort((a,b)=>{const x=key(a),y=key(b);return (x>y?1:x<y?-1:0)*(asc?1:-1)});rows.forEach(r=>tb.appendChild(r))}));
"""


def render(data: ReportData) -> str:
    """The whole page as one HTML string."""
    h = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(data.title)}</title>",
         f"<style>{_STYLE}</style></head><body><h1>{html.escape(data.title)}</h1>"]
    h.append("<h2>Score</h2>")
    if data.scores is None:
        h.append("<p>The target tasks have no solutions: nothing to score.</p>")
    else:
        s = data.scores
        cells = [("micro (per output)", f"{s.get('micro', 0):.4f}"), ("macro (per task)", f"{s.get('macro', 0):.4f}"),
                 ("tasks solved", f"{s.get('tasks_solved', 0)} / {s.get('tasks', 0)}"),
                 ("outputs right", f"{s.get('outputs_correct', 0)} / {s.get('outputs', 0)}")]
        for per, ks in (s.get("pass_at_k") or {}).items():
            cells += [(f"pass@{k} ({per.replace('_', ' ')})", f"{v:.4f}") for k, v in ks.items()]
        h.append("<table id='scores'><tr>" + "".join(f"<th>{html.escape(k)}</th>" for k, _ in cells) + "</tr><tr>"
                 + "".join(f"<td class='num'>{v}</td>" for _, v in cells) + "</tr></table>")
    if data.notes:
        h.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in data.notes) + "</ul>")
    h.append("<h2>Stages</h2><table><tr><th>stage</th><th>status</th><th>seconds</th><th>note</th></tr>")
    for stage, status, secs, note in data.stages:
        h.append(f"<tr><td>{stage}</td><td>{html.escape(status)}</td><td class='num'>{secs:.1f}</td>"
                 f"<td>{html.escape(note)}</td></tr>")
    h.append("</table>")
    if data.sources:
        h.append("<h2>Training sources</h2><table id='sources'><tr><th>source</th><th>tasks</th><th>pairs</th>"
                 "<th>weight</th><th>share of draws</th></tr>")
        for r in data.sources:
            w = "-" if r.get("weight") is None else f"{r['weight']:g}"
            h.append(f"<tr><td>{html.escape(str(r['source']))}</td><td class='num'>{r['tasks']}</td>"
                     f"<td class='num'>{r['pairs']}</td><td class='num'>{w}</td><td class='num'>{r['share']:.1%}</td></tr>")
        h.append("</table>")
    h.append("<h2>Training loss</h2>" + loss_svg(data.curves))
    h.append("<h2>Tasks</h2><p>Click a column header to sort.</p><table class='sortable' id='tasks'><thead><tr>"
             "<th>task</th><th>test inputs</th><th>right</th><th>best rank</th><th>grids: input, truth, attempt 1, "
             "attempt 2 (per test input)</th></tr></thead><tbody>")
    for r in data.rows:
        known = [c for c in r.correct if c is not None]
        right = sum(known)
        cls = "" if not known else ("ok" if right == len(known) else ("bad" if right == 0 else ""))
        h.append(f"<tr class='{cls}'><td>{html.escape(r.task.id)}</td><td class='num'>{len(r.task.test)}</td>"
                 f"<td class='num' data-v='{right if known else -1}'>{f'{right}/{len(known)}' if known else '?'}</td>"
                 f"<td class='num' data-v='{r.best_rank or 9999}'>{r.best_rank or '-'}</td><td class='grids'>")
        for i, pair in enumerate(r.task.test):
            att = r.attempts[i] if i < len(r.attempts) else [None, None]
            h.append("<div>" + "".join(
                f"<span style='display:inline-block'><span class='lbl'>{lbl}</span>{grid_img(g)}</span>"
                for lbl, g in (("input", pair.input), ("truth", pair.output), ("attempt 1", att[0]),
                               ("attempt 2", att[1] if len(att) > 1 else None))) + "</div>")
        h.append("</td></tr>")
    h.append(f"</tbody></table><script>{_SORT_JS}</script></body></html>")
    return "".join(h)
