"""How the score was made, what it cost, and every evaluated checkpoint, on the report page.

score.json's `protocol` and `cost` blocks (`arc_pipeline.protocol`) extend what the page already shows
rather than repeat it: the facts box keeps protocol, device and target, and gains the checkpoint's
step and weights on its "predicted with" row and a "cost" row; the "Protocol" section under the score
holds the rest of the block (evaluation demonstrations trained, augmentations voted, halting, ranking,
metric definitions); the budget's stage table gains device-seconds and $ per task. RUN/evaluation/
checkpoints.json (`arc-pipeline evaluate`) becomes the "Checkpoints" section: the curve and the table,
drawn by the same functions `pipeline.evaluation` writes curve.svg and checkpoints.md with.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

from arc_pipeline.report.charts import line_chart

CHECKPOINT_COLUMNS = ("step", "weights", "pass@1 task", "pass@2 task", "pass@1 output", "pass@2 output",
                      "held-out exact", "held-out tokens", "best")
_ROW_KEYS = ("pass1_task", "pass2_task", "pass1_output", "pass2_output", "held_out_exact", "held_out_tokens")


def gather(run_dir: Path, cfg, scores: dict | None, tasks: int) -> dict[str, Any]:
    """{protocol, cost, evaluation} for the page: the blocks of score.json, else (a target without
    solutions: no score.json) made from the run directory and `cfg` as the score stage makes them, over
    `tasks` target tasks; the evaluation when `evaluate` has written one."""
    out: dict[str, Any] = {"protocol": (scores or {}).get("protocol"), "cost": (scores or {}).get("cost"),
                           "evaluation": read_evaluation(run_dir)}
    if out["protocol"] is None and cfg is not None:
        from arc_pipeline.protocol import cost_block, protocol_block

        out["protocol"] = protocol_block(cfg, run_dir)
        out["cost"] = cost_block(cfg, run_dir, tasks)
    return out


def read_evaluation(run_dir: Path) -> dict | None:
    """RUN/evaluation/checkpoints.json when `evaluate` wrote it (None when absent or unreadable)."""
    from arc_pipeline.rundir import EVALUATION_JSON

    f = Path(run_dir) / EVALUATION_JSON
    try:
        data = json.loads(f.read_text()) if f.is_file() else None
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("rows"), list) else None


def _usd(v: Any) -> str:
    """Dollars to 3 significant figures, never in exponent form ($0.000871, $1.76, $0; below a millionth
    of a dollar: <$0.000001)."""
    if v is None:
        return "-"
    if not v:
        return "$0"
    if abs(v) < 1e-6:
        return "<$0.000001"
    return f"${v:,.{max(2, 2 - math.floor(math.log10(abs(v))))}f}"


def _count(v: Any) -> str:
    """An average count as people write it: 8, 7.5 ("-" when unknown)."""
    return "-" if v is None else f"{v:g}" if isinstance(v, float) else str(v)


def price_words(c: dict) -> str:
    rate = c.get("price_per_device_hour")
    if rate is None:
        return "no price for this device (set run.device_price)"
    how = "set by run.device_price" if c.get("price_source") == "run.device_price" else "an ASSUMED rate"
    return f"${rate:g} per device-hour ({how})"


def extend_facts(facts: list[tuple[str, str]], prov: dict[str, Any]) -> list[tuple[str, str]]:
    """The facts box with the checkpoint's step and weights on "predicted with", and a "cost" row."""
    ck = (prov.get("protocol") or {}).get("checkpoint") or {}
    bits = [f"step {ck['step']}" if ck.get("step") is not None else None, f"{ck['weights']} weights"
            if ck.get("weights") else None, f"held-out exact {ck['held_out']:.4f}" if isinstance(
                ck.get("held_out"), (int, float)) else None, f"imported ({ck['imported']})" if ck.get("imported") else None]
    bits = [b for b in bits if b]
    out = [(k, f"{v} ({', '.join(bits)})" if k == "predicted with" and bits else v) for k, v in facts]
    c = prov.get("cost")
    if c:
        out.append(("cost", f"{_usd(c.get('usd_per_task'))} per task, {_usd(c.get('usd_per_task_test_time'))} of it "
                            f"at test time, over {c.get('tasks')} tasks: {c.get('device_seconds_total', 0):,.0f} "
                            f"device-seconds on {c.get('device')} x {c.get('devices')} at {price_words(c)}"))
    return out


def _row(label: str, value: str, key: str) -> str:
    return f"<tr data-k='{html.escape(key)}'><th>{html.escape(label)}</th><td>{value}</td></tr>"


def protocol_html(p: dict | None) -> list[str]:
    """The protocol block less what the facts box and the training sources already show, in words."""
    if not p:
        return []
    e = html.escape
    demos = p.get("target_demonstrations") or {}
    count = f" ({demos['pairs']} pairs of {demos['tasks']} tasks)" if "pairs" in demos else ""
    trained = p.get("evaluation_demonstrations_trained")
    yes = "unknown" if trained is None else ("yes" if trained else "no")
    a = p.get("augmentations_voted") or {}
    r = p.get("ranking") or {}
    halting = "; ".join(str(v) if k == "rule" else f"{k} {v}" for k, v in (p.get("halting") or {}).items())
    rows = [_row("evaluation demonstrations trained", e(f"{yes}{count}: {p.get('demonstrations_trained_when', '')}"),
                 "evaluation_demonstrations_trained"),
            _row("augmentations voted", e(f"{_count(a.get('per_test_input'))} per test input, of "
                                          f"{_count(a.get('built_per_test_input'))} built (build.augmentations = "
                                          f"{a.get('build.augmentations', '-')}, run.max_test_augs = "
                                          f"{a.get('run.max_test_augs', '-')})"), "augmentations_voted"),
            _row("halting", e(halting or "-"), "halting"),
            _row("ranking", e(f"{r.get('rule', '-')}; attempts: {r.get('attempts', '-')}; ties broken by "
                              f"{r.get('ties', '-')}"), "ranking"),
            _row("metrics", "<ul>" + "".join(f"<li><b>{e(k)}</b>: {e(str(v))}</li>"
                                             for k, v in (p.get("metrics") or {}).items()) + "</ul>", "metrics")]
    return ["<h2>Protocol</h2><p class='none'>How the scores above were made: score.json's protocol block, which "
            "every export carries. Protocol, target, device and the checkpoint are in the facts box at the top; the "
            "training sources and their shares further down.</p><table id='protocol'>"] + rows + ["</table>"]


def cost_items(c: dict | None) -> list[str]:
    """The budget's list items on cost: $ per task (all stages, test time) and the price it was taken at."""
    if not c:
        return []
    assumed = c.get("price_source") != "run.device_price"
    return [f"<li id='cost'>cost: {_usd(c.get('usd_per_task'))} per task over all stages, "
            f"{_usd(c.get('usd_per_task_test_time'))} at test time (stages "
            f"{html.escape(', '.join(c.get('test_time_stages') or []))}), {c.get('tasks')} tasks; "
            f"{html.escape(str(c.get('device')))} x {c.get('devices')} at "
            f"<span class='{'bad' if assumed else ''}'>{html.escape(price_words(c))}</span>"
            + (f": {html.escape(str(c['price_source']))}" if assumed and c.get("price_source") else "") + "</li>",
            f"<li class='none'>{html.escape(str(c.get('note', '')))}</li>"]


def stage_cost(c: dict | None, stage: str) -> tuple[str, str]:
    """(device-seconds, $ per task) cells of one stage, from the cost block ('-' where it has none)."""
    secs = ((c or {}).get("device_seconds") or {}).get(stage)
    rate, tasks = (c or {}).get("price_per_device_hour"), (c or {}).get("tasks")
    if secs is None:
        return "-", "-"
    return f"{secs:,.1f}", _usd(secs / 3600 * rate / tasks) if rate is not None and tasks else "-"


def checkpoint_chart(rows: list[dict]) -> str:
    """pass@2 per task on the target, held-out exact and held-out token accuracy against the step, one
    line per weight set (legend names short enough for the chart's margin; token accuracy moves while
    nothing is solved yet)."""
    series: dict[str, list[tuple[float, float]]] = {}
    for r in rows:
        series.setdefault(f"target pass@2 ({r['weights']})", []).append((r["step"], r["pass2_task"]))
        for key, name in (("held_out_exact", "held-out exact"), ("held_out_tokens", "held-out tokens")):
            if r.get(key) is not None:
                series.setdefault(f"{name} ({r['weights']})", []).append((r["step"], r[key]))
    return line_chart(series, "checkpoint step", "pass@2 per task / accuracy", title="checkpoints", markers=True)


def checkpoint_table(rows: list[dict], best: dict | None) -> list[list[str]]:
    """One row of text per (checkpoint, weights), in CHECKPOINT_COLUMNS; `best` marked *."""
    mark = (best.get("step"), best.get("weights")) if best else None
    fmt = lambda v: "-" if v is None else f"{v:.4f}"  # noqa: E731
    return [[str(r["step"]), r["weights"], *(fmt(r.get(k)) for k in _ROW_KEYS),
             "*" if (r["step"], r["weights"]) == mark else ""] for r in rows]


def checkpoints_html(evaluation: dict | None) -> list[str]:
    """Every evaluated checkpoint: the curve, the `best` rule and the table."""
    if not evaluation or not evaluation.get("rows"):
        return []
    rows = evaluation["rows"]
    h = ["<h2>Checkpoints</h2><p class='none'>Every checkpoint <code>arc-pipeline evaluate</code> scored (evaluation/"
         "checkpoints.json): the target through the predict and vote code, held-out on the build's val split. "
         f"best (*): {html.escape(str(evaluation.get('rule', '')))}.</p><div class='charts'>", checkpoint_chart(rows),
         "</div><table id='checkpoints' class='sortable'><thead><tr>"
         + "".join(f"<th>{html.escape(c)}</th>" for c in CHECKPOINT_COLUMNS) + "</tr></thead><tbody>"]
    for cells in checkpoint_table(rows, evaluation.get("best")):
        h.append("<tr>" + "".join(f"<td class='num'>{html.escape(c)}</td>" for c in cells) + "</tr>")
    h.append("</tbody></table>")
    return h
