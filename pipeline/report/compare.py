"""Runs side by side (`arc-pipeline compare RUN...`, two or more): a warning when they answer different
target task sets (with the figures recomputed on the tasks they share), scores and stage seconds,
the config keys that differ, training curves overlaid, and the tasks and test outputs each run
alone solves, drawn as in report.html (one row per run). `Comparison.to_json()` is `--json`."""

from __future__ import annotations

import html
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from arc_pipeline.report.data import ReportData, TaskRow
from arc_pipeline.report.facts import config_diff, run_name
from arc_pipeline.report.page import curve_charts
from arc_pipeline.report.style import SORT_JS, STYLE
from arc_pipeline.report.tasks import task_row

Output = tuple[str, int]  # (task id, test index)


@dataclass
class Comparison:
    names: list[str]
    paths: list[Path]
    runs: list[ReportData]
    configs: list[dict[str, dict[str, Any]] | None]  # each run's resolved config (None: no config.toml)

    def task_sets(self) -> list[set[str]]:
        return [{r.task.id for r in d.rows} for d in self.runs]

    @cached_property
    def common(self) -> set[str]:
        """The target tasks every run answers (once: right() and solved() test every row against it)."""
        return set.intersection(*self.task_sets())

    @property
    def sets_differ(self) -> bool:
        return len({frozenset(s) for s in self.task_sets()}) > 1

    def right(self, i: int) -> set[Output]:
        """The test outputs (of the common tasks) run i answers right."""
        return {(r.task.id, j) for r in self.runs[i].rows if r.task.id in self.common
                for j, t in enumerate(r.tests) if t.correct}

    def solved(self, i: int) -> set[str]:
        """The common tasks run i solves fully."""
        return {r.task.id for r in self.runs[i].rows if r.task.id in self.common and r.known and all(r.known)}

    def only(self, i: int) -> list[str]:
        """Common tasks run i solves and no other run does (sorted)."""
        others = set().union(*(self.solved(j) for j in range(len(self.runs)) if j != i))
        return sorted(self.solved(i) - others)

    def only_outputs(self, i: int) -> list[Output]:
        """Test outputs run i answers right and no other run does (sorted)."""
        others = set().union(*(self.right(j) for j in range(len(self.runs)) if j != i))
        return sorted(self.right(i) - others)

    def common_figures(self, i: int) -> dict[str, Any]:
        """Run i's figures on the common tasks, from its rows (the submission's attempts; pass@K from the truth's rank)."""
        rows = [r for r in self.runs[i].rows if r.task.id in self.common and r.known]
        tests = [t for r in rows for t in r.tests if t.correct is not None]
        out: dict[str, Any] = {"tasks": len(rows), "outputs": len(tests), "outputs_right": sum(t.correct for t in tests),
                               "tasks_solved": sum(all(r.known) for r in rows)}
        out["micro"] = out["outputs_right"] / len(tests) if tests else 0.0
        out["macro"] = sum(sum(r.known) / len(r.known) for r in rows) / len(rows) if rows else 0.0
        for k in (1, 2):
            hit = lambda t: t.rank is not None and t.rank <= k  # noqa: E731
            out[f"pass@{k} per output"] = sum(hit(t) for t in tests) / len(tests) if tests else 0.0
            out[f"pass@{k} per task"] = (sum(sum(hit(t) for t in r.tests if t.correct is not None) / len(r.known)
                                             for r in rows) / len(rows)) if rows else 0.0
        return out

    def score_rows(self) -> list[tuple[str, list[str]]]:
        """(figure, one value per run); '-' where a run has no such figure."""
        flat = [_flat(d) for d in self.runs]
        keys = list(dict.fromkeys(k for f in flat for k in f))
        return [(k, [f.get(k, "-") for f in flat]) for k in keys]

    def common_rows(self) -> list[tuple[str, list[str]]]:
        figs = [self.common_figures(i) for i in range(len(self.runs))]
        fmt = lambda v: f"{v:.4f}" if isinstance(v, float) else str(v)  # noqa: E731
        return [(k, [fmt(f[k]) for f in figs]) for k in figs[0]] if figs else []

    def config_rows(self) -> list[tuple[str, list[Any]]]:
        if any(c is None for c in self.configs):
            return []
        return config_diff(self.configs)

    def warning(self) -> str | None:
        if not self.sets_differ:
            return None
        sizes = ", ".join(f"{n}: {len(s)}" for n, s in zip(self.names, self.task_sets()))
        return (f"the runs answer different target task sets ({sizes} tasks; {len(self.common)} in common): their "
                "scores are not comparable; the figures on the common tasks follow")

    def to_json(self) -> dict[str, Any]:
        sets = self.task_sets()
        return {
            "runs": [{"name": n, "path": str(p), "tasks": len(s), "score": d.scores}
                     for n, p, s, d in zip(self.names, self.paths, sets, self.runs)],
            "task_sets_differ": self.sets_differ,
            "warning": self.warning(),
            "common_tasks": len(self.common),
            "common": {n: self.common_figures(i) for i, n in enumerate(self.names)},
            "only_in": {n: sorted(s - self.common) for n, s in zip(self.names, sets)},
            "figures": {k: v for k, v in self.score_rows()},
            "config_diff": [{"key": k, "values": v} for k, v in self.config_rows()],
            "solved_alone": {n: {"tasks": self.only(i), "outputs": [list(o) for o in self.only_outputs(i)]}
                             for i, n in enumerate(self.names)},
        }


def _flat(d: ReportData) -> dict[str, str]:
    s = d.scores or {}
    out = {}
    if s:
        out.update({"micro (per output)": f"{s.get('micro', 0):.4f}", "macro (per task)": f"{s.get('macro', 0):.4f}",
                    "tasks solved": f"{s.get('tasks_solved', 0)} / {s.get('tasks', 0)}",
                    "outputs right": f"{s.get('outputs_correct', 0)} / {s.get('outputs', 0)}"})
        for per, ks in (s.get("pass_at_k") or {}).items():
            out.update({f"pass@{k} ({per.replace('_', ' ')})": f"{v:.4f}" for k, v in ks.items()})
    out.update({label: value for label, value in d.facts if label in ("steps trained", "speed", "model", "predicted with", "cost")})
    for stage, _, secs, _ in d.stages:
        out[f"{stage} seconds"] = f"{secs:.1f}"
    b = d.budget
    if b.get("planned"):
        out["predictions made / planned"] = f"{b.get('predictions', 0)} / {b['planned']}"
    if b.get("entries") is not None:
        out["fallbacks"] = f"{b.get('fallbacks', 0)} / {b['entries']}"
    return out


def gather_runs(paths: list[Path]) -> Comparison:
    from arc_pipeline.report.gather import gather, read_run_config
    from arc_pipeline.rundir import RunDir

    names = [run_name(p) for p in paths]
    if len(set(names)) < len(names):
        names = [str(p) for p in paths]
    cfgs = [read_run_config(RunDir(p)) for p in paths]
    return Comparison(names, list(paths), [gather(p, c) for p, c in zip(paths, cfgs)],
                      [c.to_dict() if c is not None else None for c in cfgs])


def _curves(c: Comparison) -> str:
    """report.html's curve charts over every run's curves, each named by its run."""
    return curve_charts({f"{n}: {name}": pts for n, d in zip(c.names, c.runs) for name, pts in d.curves.items()
                         if not name.startswith("train ckpt")})


def _row(label: str, values: list[Any]) -> str:
    return (f"<tr><td>{html.escape(label)}</td>"
            + "".join(f"<td class='num'>{html.escape(str(v))}</td>" for v in values) + "</tr>")


def render(c: Comparison) -> str:
    names = [html.escape(n) for n in c.names]
    head = "<tr><th>figure</th>" + "".join(f"<th>{n}</th>" for n in names) + "</tr>"
    title = " vs ".join(names)
    h = [f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title><style>{STYLE}</style></head>"
         f"<body><h1>{title}</h1>"]
    warning = c.warning()
    if warning:
        h.append(f"<p class='bad' id='warning'><b>Warning:</b> {html.escape(warning)}.</p>"
                 f"<h2>On the {len(c.common)} common tasks</h2><table id='common'>{head}")
        h += [_row(k, v) for k, v in c.common_rows()]
        h.append("</table>")
    h.append(f"<h2>Scores (each on its own task set)</h2><table id='compare'>{head}")
    h += [_row(k, v) for k, v in c.score_rows()]
    h.append("</table><h2>Config differences</h2>")
    rows = c.config_rows()
    if any(x is None for x in c.configs):
        h.append("<p class='none'>a run has no config.toml: no config comparison</p>")
    elif not rows:
        h.append("<p class='none'>the resolved configs are identical</p>")
    else:
        h.append(f"<table id='config'>{head.replace('figure', 'key')}")
        h += [_row(k, v) for k, v in rows]
        h.append("</table>")
    h.append("<h2>Training curves</h2><div class='charts'>" + _curves(c) + "</div>")
    by_run = [{r.task.id: r for r in d.rows} for d in c.runs]
    for i, name in enumerate(names):
        only, outs = c.only(i), c.only_outputs(i)
        h.append(f"<h2 id='only-{i}'>Solved by {name} alone ({len(only)} tasks, {len(outs)} test outputs)</h2>")
        if outs:
            h.append("<p>test outputs: " + ", ".join(f"{html.escape(t)} #{j + 1}" for t, j in outs) + "</p>")
        if not only:
            h.append("<p class='none'>no task</p>")
            continue
        h.append("<table class='sortable'><thead><tr><th>run</th><th>task</th><th>right</th><th>why</th><th>rank</th>"
                 "<th>share</th><th>distinct</th><th>made</th><th>grids</th></tr></thead><tbody>")
        for tid in only:
            for j in [i] + [j for j in range(len(c.runs)) if j != i]:
                r: TaskRow | None = by_run[j].get(tid)
                if r is not None:
                    h.append(task_row(r, lead=names[j]))
        h.append("</tbody></table>")
    h.append(f"<script>{SORT_JS}</script></body></html>")
    return "".join(h)
