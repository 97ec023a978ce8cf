"""report.html for a Sudoku or maze run: scores per rating bin, stages, the loss curve, and the
target boards drawn (Sudoku with their boxes, mazes as cell maps), wrong ones first.

Boards are inline SVG. Sudoku: givens in black, predicted digits green when the whole board is
right, red where a digit differs from the solution. Maze: walls dark, S green, G red, path blue;
in a prediction, a cell that differs from the label is outlined in red.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from arc_pipeline.report.page import loss_svg
from arc_pipeline.report.style import SORT_JS, STYLE

SHOWN = 48  # boards drawn (wrong first, then right; each group by rating, hardest first)
_MAZE_FILL = {1: "#333", 2: "#fff", 3: "#2ECC40", 4: "#FF4136", 5: "#0074D9", 0: "#ccc"}


@dataclass
class BoardReport:
    title: str
    domain: Any  # augment.puzzles.domain.Sudoku | Maze
    target: Any  # PuzzleSet (domain grids)
    preds: np.ndarray  # (N, cells) domain grids, zeros where not predicted
    predicted: np.ndarray  # (N,) bool
    scores: dict | None
    stages: list[tuple[str, str, float, str]]
    curves: dict[str, list[tuple[float, float]]] = field(default_factory=dict)


def sudoku_svg(question: np.ndarray, grid: np.ndarray, size: int, truth: np.ndarray | None = None, px: int = 18) -> str:
    """A Sudoku board: thin cell lines, thick box lines; givens black, other digits green or red."""
    from arc_pipeline.augment.puzzles.sudoku import shape_of

    s = shape_of(size)
    q, g = np.asarray(question).reshape(size, size), np.asarray(grid).reshape(size, size)
    t = None if truth is None else np.asarray(truth).reshape(size, size)
    w = size * px
    parts = [f'<svg width="{w + 2}" height="{w + 2}" class="board"><g transform="translate(1,1)">',
             f'<rect width="{w}" height="{w}" fill="#fff"/>']
    for i in range(size):
        for j in range(size):
            v = int(g[i, j])
            if not v:
                continue
            colour = "#000" if q[i, j] else "#555" if t is None else ("#c00" if v != t[i, j] else "#2a2")
            weight = "bold" if q[i, j] else "normal"
            parts.append(f'<text x="{j * px + px / 2}" y="{i * px + px * 0.72}" text-anchor="middle" '
                         f'font-size="{px * 0.7:.0f}" font-weight="{weight}" fill="{colour}">{v}</text>')
    for k in range(size + 1):
        thick = 2 if k % s.box_rows == 0 else 0.5
        parts.append(f'<line x1="0" y1="{k * px}" x2="{w}" y2="{k * px}" stroke="#000" stroke-width="{thick}"/>')
        thick = 2 if k % s.box_cols == 0 else 0.5
        parts.append(f'<line x1="{k * px}" y1="0" x2="{k * px}" y2="{w}" stroke="#000" stroke-width="{thick}"/>')
    return "".join(parts) + "</g></svg>"


def maze_svg(grid: np.ndarray, size: int, truth: np.ndarray | None = None, max_px: int = 180) -> str:
    """A maze: one square per cell (wall, open, S, G, path); cells differing from `truth` outlined red."""
    g = np.asarray(grid).reshape(size, size)
    px = max(3, max_px // size)
    w = size * px
    parts = [f'<svg width="{w}" height="{w}" class="board">']
    for i in range(size):
        for j in range(size):
            parts.append(f'<rect x="{j * px}" y="{i * px}" width="{px}" height="{px}" fill="{_MAZE_FILL.get(int(g[i, j]), "#ccc")}"/>')
    if truth is not None:
        t = np.asarray(truth).reshape(size, size)
        for i, j in zip(*np.nonzero(g != t)):
            parts.append(f'<rect x="{j * px + 0.5}" y="{i * px + 0.5}" width="{px - 1}" height="{px - 1}" '
                         'fill="none" stroke="#f00" stroke-width="1"/>')
    return "".join(parts) + "</svg>"


def _draw(page: BoardReport, grid: np.ndarray, row: int, truth: np.ndarray | None) -> str:
    size = page.target.size
    if page.domain.name == "sudoku":
        return sudoku_svg(page.target.questions[row], grid, size, truth)
    return maze_svg(grid, size, truth)


def score_rows(s: dict) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of a puzzle score.json for a table: the whole set, then each rating bin."""
    metrics = s.get("metrics", ["exact"])
    header = [s.get("by_rating", {}).get("name", "rating"), "puzzles", *metrics]
    rows = [["all", str(s["puzzles"]), *(f"{s[m]:.4f}" for m in metrics)]]
    rows += [[b["range"], str(b["puzzles"]), *(f"{b[m]:.4f}" for m in metrics)] for b in s["by_rating"]["bins"]]
    return header, rows


def render(page: BoardReport) -> str:
    h = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(page.title)}</title>",
         f"<style>{STYLE}svg.board{{margin:2px}}</style></head><body><h1>{html.escape(page.title)}</h1><h2>Score</h2>"]
    exact = page.domain.score(np.where(page.predicted[:, None], page.domain.tokens(page.preds), 0), page.target)["exact"]
    exact &= page.predicted
    if page.scores is None:
        h.append("<p>No score.json (the score stage has not run).</p>")
    else:
        header, rows = score_rows(page.scores)
        h.append("<table id='scores'><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in header) + "</tr>")
        h += ["<tr>" + "".join(f"<td class='num'>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows]
        h.append("</table>")
        if page.scores.get("note"):
            h.append(f"<p>{html.escape(page.scores['note'])}</p>")
    h.append("<h2>Stages</h2><table><tr><th>stage</th><th>status</th><th>seconds</th><th>note</th></tr>")
    h += [f"<tr><td>{s}</td><td>{html.escape(st)}</td><td class='num'>{sec:.1f}</td><td>{html.escape(n)}</td></tr>"
          for s, st, sec, n in page.stages]
    h.append("</table><h2>Training loss</h2>" + loss_svg(page.curves))
    order = sorted(range(len(exact)), key=lambda i: (bool(exact[i]), -float(page.target.ratings[i]), i))[:SHOWN]
    h.append(f"<h2>Target puzzles</h2><p>{len(order)} of {len(exact)} shown, wrong first, hardest first; "
             "click a column header to sort.</p><table class='sortable' id='puzzles'><thead><tr><th>row</th>"
             f"<th>{html.escape(page.domain.rating)}</th><th>right</th><th>question</th><th>solution</th>"
             "<th>prediction</th></tr></thead><tbody>")
    for i in order:
        t, q = page.target.answers[i], page.target.questions[i]
        pred = _draw(page, page.preds[i], i, t) if page.predicted[i] else '<span class="none">not predicted</span>'
        h.append(f"<tr class='{'ok' if exact[i] else 'bad'}'><td class='num'>{i}</td>"
                 f"<td class='num'>{float(page.target.ratings[i]):g}</td><td data-v='{int(exact[i])}'>"
                 f"{'yes' if exact[i] else 'no'}</td><td>{_draw(page, q, i, None)}</td><td>{_draw(page, t, i, None)}</td>"
                 f"<td>{pred}</td></tr>")
    h.append(f"</tbody></table><script>{SORT_JS}</script></body></html>")
    return "".join(h)
