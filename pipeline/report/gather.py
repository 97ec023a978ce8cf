"""What report.html shows, read from a run directory (score, manifest, predictions, raw predictions,
metrics), and `write`: gather, render and write the page atomically (the report stage's one call)."""

from __future__ import annotations

import json
from pathlib import Path

from arc_pipeline.arc.io import write_text
from arc_pipeline.manifest import Manifest
from arc_pipeline.report.categories import categorise, wrong_cells
from arc_pipeline.report.facts import nearest_preset, run_facts, title
from arc_pipeline.report.data import SHOWN, Candidate, InputView, ReportData, TaskRow, read_curves
from arc_pipeline.report.page import render
from arc_pipeline.report import provenance
from arc_pipeline.rundir import ADAPT, CHECKPOINTS, METRICS, REPORT_HTML, RunDir

CURVES = {"train": METRICS, "train ckpt": f"{CHECKPOINTS}/{METRICS}", "adapt": f"{ADAPT}/{METRICS}"}


def gather(run_dir: Path, cfg=None) -> ReportData:
    """Everything the page shows, read from the run directory (`cfg`: the run's config; default its config.toml)."""
    import polars as pl

    from arc_pipeline.solver.vote import VoteConfig, grid_from_bytes

    rd = RunDir(run_dir)
    cfg = cfg if cfg is not None else read_run_config(rd)
    _, target = rd.tasks()
    submission = json.loads(rd.submission.read_text()) if rd.submission.exists() else {}
    scores = json.loads(rd.score_json.read_text()) if rd.score_json.exists() else None
    manifest = Manifest(run_dir)
    predict_rec = manifest.stages.get("predict")
    failed = set((predict_rec.summary or {}).get("failed_tasks") or []) if predict_rec else set()
    voted = pl.read_parquet(rd.predictions) if rd.predictions.exists() else None
    raw_path = rd.predictions_raw
    raw = pl.read_parquet(raw_path, columns=["task_id", "test_index", "halt_step"]) if raw_path.is_file() else None
    made = _counts(raw) if raw is not None else (
        _counts(voted, "votes") if voted is not None else {})
    planned = _planned(rd, cfg)
    by_input: dict[tuple[str, int], list] = {}
    if voted is not None:
        for row in voted.sort("task_id", "test_index", "rank").iter_rows(named=True):
            by_input.setdefault((row["task_id"], row["test_index"]), []).append(row)
    # predictions.parquet keeps the top_k candidates per input: an input holding that many may have had more
    top_k = (cfg.vote if cfg is not None else VoteConfig()).top_k
    rows = []
    for tid, task in target.items():
        entries = submission.get(tid) or []
        tests = []
        for i, pair in enumerate(task.test):
            e = entries[i] if i < len(entries) and isinstance(entries[i], dict) else {}
            att = [_grid(e.get("attempt_1")), _grid(e.get("attempt_2"))]
            truth = pair.output
            correct = None if truth is None else any(_same(a, truth) for a in att)
            cands = by_input.get((tid, i), [])
            n = made.get((tid, i)) or sum(c["votes"] for c in cands) or 1
            rank = None
            if truth is not None:
                rank = next((c["rank"] for c in cands if _same(grid_from_bytes(c["grid"], c["rows"], c["cols"]), truth)),
                            None)
            shown = [Candidate(g := grid_from_bytes(c["grid"], c["rows"], c["cols"]), int(c["votes"]), c["votes"] / n,
                               float(c["mean_halt_prob"]), float(c["mean_steps"]),
                               None if truth is None else _same(g, truth)) for c in cands[:SHOWN]]
            tests.append(InputView(shown, correct, made.get((tid, i), 0), planned.get((tid, i)), rank,
                                   fallback=not cands, attempt=att[0], distinct=len(cands),
                                   capped=bool(top_k) and len(cands) >= top_k,
                                   category=categorise(att, truth, pair.input, not cands),
                                   wrong=wrong_cells(att[0], truth)))
        rows.append(TaskRow(task, tests, "predict failed" if tid in failed else None))
    # the report is written while its own stage is still running; it lists the stages before it
    stages = manifest.timeline(leave_out=("report",))
    curves = read_curves({k: run_dir / v for k, v in CURVES.items()})
    halt_steps = {}
    if raw is not None and raw.height:
        counts = raw.group_by("halt_step").len()
        halt_steps = {int(k): int(v) for k, v in counts.iter_rows()}
    n_out = sum(len(t.test) for t in target.values())
    prov = provenance.gather(run_dir, cfg, scores, len(target))
    # loads every shipped preset: once for the title and the facts box
    preset = nearest_preset(cfg) if cfg is not None else None
    return ReportData(title(run_dir, cfg, len(target), preset), scores, stages, rows, curves,
                      sources=_sources(rd), budget=_budget(manifest, cfg, planned),
                      halt_steps=halt_steps, aug_pass=_aug_pass(raw_path, target) if scores is not None else [],
                      facts=provenance.extend_facts(run_facts(rd, manifest, cfg, len(target), n_out, preset), prov),
                      provenance=prov)


def read_run_config(rd: RunDir):
    """The run's resolved config from its config.toml (None when absent or unreadable: no config rows)."""
    from arc_pipeline.arc.errors import ArcError
    from arc_pipeline.config import read_config

    try:
        return read_config(rd.config) if rd.config.is_file() else None
    except (ArcError, OSError, ValueError, TypeError):
        return None


def _counts(frame, weight: str | None = None) -> dict[tuple[str, int], int]:
    import polars as pl

    agg = pl.col(weight).sum() if weight else pl.len()
    return {(t, int(i)): int(n) for t, i, n in frame.group_by("task_id", "test_index").agg(agg.alias("n")).iter_rows()}


def _planned(rd: RunDir, cfg) -> dict[tuple[str, int], int]:
    """Predictions planned per test input: its augmented copies in the build (capped by run.max_test_augs)."""
    from arc_pipeline.arc.errors import ArcError

    if not (rd.dataset / "meta.json").is_file():
        return {}
    try:
        from arc_pipeline.augment.dataset import open_split

        ex = open_split(rd.dataset, "test").examples
    except (ArcError, OSError, KeyError, ValueError):
        return {}
    cap = int(cfg.run.max_test_augs or 0) if cfg is not None else 0
    return {k: (min(v, cap) if cap else v) for k, v in _counts(ex).items()}


def _budget(manifest: Manifest, cfg, planned: dict) -> dict:
    from arc_pipeline.config import parse_duration

    out: dict = {}
    if cfg is not None and cfg.run.time_budget:
        out["time_budget_s"] = parse_duration(cfg.run.time_budget)
    p = manifest.stages.get("predict")
    if p is not None and p.summary and not p.summary.get("skipped"):
        out["predictions"] = p.summary.get("predictions", 0)
        out["planned"] = sum(planned.values()) or p.summary.get("of")
        if "stopped by the time budget" in (p.note or ""):
            out["stopped"] = "predict " + p.note
    s = manifest.stages.get("submit")
    if s is not None and s.summary:
        out["fallbacks"], out["entries"] = s.summary.get("fallbacks", 0), s.summary.get("entries")
    return out


def _aug_pass(raw_path: Path, target) -> list[tuple[int, float, float]]:
    """pass@2 voting each test input's first n augmentations (solver.raw's analysis, all steps).

    Reads each row's last-step grid only (grid_last, as one-step trajectories), not every step's:
    at ARC scale the whole trajectory is ~4 KB a row in memory (bench raw), the last grid a tenth."""
    if not raw_path.is_file():
        return []
    import polars as pl

    from arc_pipeline.solver.raw import augmentations_voted

    known = {tid: t for tid, t in target.items() if all(p.output is not None for p in t.test)}
    if not known:
        return []
    cols = ["task_id", "test_index", "aug_index", "grid_last", "rows_last", "cols_last", "step_halt_prob"]
    if not set(cols) <= set(pl.read_parquet_schema(raw_path)):
        return []  # a raw file of another layout: no chart rather than no report
    raw = pl.read_parquet(raw_path, columns=cols)
    last = raw.select("task_id", "test_index", "aug_index", pl.lit(1, dtype=pl.Int16).alias("steps"),
                      pl.concat_list("grid_last").alias("step_grid"), pl.concat_list("rows_last").alias("step_rows"),
                      pl.concat_list("cols_last").alias("step_cols"),
                      pl.concat_list(pl.col("step_halt_prob").list.last()).alias("step_halt_prob"))
    return [(int(r.rule.split()[0]), r.per_task["2"], r.per_output["2"]) for r in augmentations_voted(last, known)]


def _sources(rd: RunDir) -> list[dict]:
    import polars as pl

    from arc_pipeline.mix import source_shares

    return source_shares(pl.read_parquet(rd.tasks_parquet)) if rd.tasks_parquet.is_file() else []


def _same(a, b) -> bool:
    import numpy as np

    return a is not None and b is not None and a.shape == b.shape and bool(np.array_equal(a, b))


def _grid(value):
    import numpy as np

    try:
        g = np.asarray(value, dtype=np.uint8)
    except (TypeError, ValueError):
        return None
    return g if value is not None and g.ndim == 2 and g.size else None


def write(run_dir: Path, cfg=None) -> ReportData:
    """Gather the run's figures and write its report.html; returns what the page shows."""
    data = gather(run_dir, cfg)
    write_text(run_dir / REPORT_HTML, render(data))
    return data
