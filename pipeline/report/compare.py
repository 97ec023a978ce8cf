"""Two runs side by side (`arc-pipeline compare RUN_A RUN_B`): scores, stage seconds, and the tasks
each run solves that the other does not, drawn as in report.html (one row per run)."""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

from arc_pipeline.report.page import ReportData, TaskRow, task_row
from arc_pipeline.report.style import SORT_JS, STYLE


@dataclass
class Comparison:
    names: tuple[str, str]
    runs: tuple[ReportData, ReportData]

    def solved(self, i: int) -> set[str]:
        return {r.task.id for r in self.runs[i].rows if "solved" in r.tags()}

    def only(self, i: int) -> list[str]:
        """Tasks run i solves and the other does not (sorted)."""
        return sorted(self.solved(i) - self.solved(1 - i))

    def score_rows(self) -> list[tuple[str, str, str]]:
        """(figure, run A, run B); '-' where a run has no such figure."""
        out = []
        flat = [_flat(d) for d in self.runs]
        for key in dict.fromkeys([*flat[0], *flat[1]]):
            out.append((key, flat[0].get(key, "-"), flat[1].get(key, "-")))
        return out


def _flat(d: ReportData) -> dict[str, str]:
    s = d.scores or {}
    out = {}
    if s:
        out.update({"micro (per output)": f"{s.get('micro', 0):.4f}", "macro (per task)": f"{s.get('macro', 0):.4f}",
                    "tasks solved": f"{s.get('tasks_solved', 0)} / {s.get('tasks', 0)}",
                    "outputs right": f"{s.get('outputs_correct', 0)} / {s.get('outputs', 0)}"})
        for per, ks in (s.get("pass_at_k") or {}).items():
            out.update({f"pass@{k} ({per.replace('_', ' ')})": f"{v:.4f}" for k, v in ks.items()})
    for stage, _, secs, _ in d.stages:
        out[f"{stage} seconds"] = f"{secs:.1f}"
    b = d.budget
    if b.get("planned"):
        out["predictions made / planned"] = f"{b.get('predictions', 0)} / {b['planned']}"
    if b.get("entries") is not None:
        out["fallbacks"] = f"{b.get('fallbacks', 0)} / {b['entries']}"
    return out


def gather_two(run_a: Path, run_b: Path) -> Comparison:
    from arc_pipeline.config import read_config
    from arc_pipeline.report.gather import gather

    def one(p: Path) -> ReportData:
        cfg = read_config(p / "config.toml") if (p / "config.toml").is_file() else None
        return gather(p, cfg)

    names = (run_a.resolve().name, run_b.resolve().name)
    if names[0] == names[1]:
        names = (str(run_a), str(run_b))
    return Comparison(names, (one(run_a), one(run_b)))


def render(c: Comparison) -> str:
    a, b = (html.escape(n) for n in c.names)
    h = [f"<!doctype html><html><head><meta charset='utf-8'><title>{a} vs {b}</title><style>{STYLE}</style></head>"
         f"<body><h1>{a} vs {b}</h1><h2>Scores</h2><table id='compare'><tr><th>figure</th><th>{a}</th><th>{b}</th></tr>"]
    for key, x, y in c.score_rows():
        h.append(f"<tr><td>{html.escape(key)}</td><td class='num'>{x}</td><td class='num'>{y}</td></tr>")
    h.append("</table>")
    rows = [{r.task.id: r for r in d.rows} for d in c.runs]
    for i in (0, 1):
        only = c.only(i)
        h.append(f"<h2 id='only-{'ab'[i]}'>Solved by {html.escape(c.names[i])} only ({len(only)})</h2>")
        if not only:
            h.append("<p class='none'>none</p>")
            continue
        h.append("<table class='sortable'><thead><tr><th>run</th><th>task</th><th>right</th><th>truth rank</th>"
                 "<th>top share</th><th>candidates</th><th>predicted</th><th>marks</th><th>grids</th></tr></thead><tbody>")
        for tid in only:
            for j in (i, 1 - i):
                r: TaskRow | None = rows[j].get(tid)
                if r is not None:
                    h.append(task_row(r, lead=html.escape(c.names[j])))
        h.append("</tbody></table>")
    h.append(f"<script>{SORT_JS}</script></body></html>")
    return "".join(h)
