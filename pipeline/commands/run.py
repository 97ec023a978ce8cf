"""`arc-pipeline run`: every stage in order, resuming where a previous run stopped."""

from __future__ import annotations

import time
from pathlib import Path

import click

from arc_pipeline.commands.options import (config_options, data_options, devices_option, follow_node_0, force_option,
                                          nodes_options, resolve_from_options)


@click.command("run")
@config_options
@data_options
@devices_option
@nodes_options
@click.option("--time-budget", default=None, metavar="DURATION",
              help="Wall clock for the run, e.g. 12h, 90m; a valid submission.json is always left.")
@click.option("--from", "from_stage", default=None, metavar="STAGE",
              help="Rerun STAGE and every stage after it, whatever the manifest says.")
@force_option
def run(preset, files, sets, run_dir, from_stage, force, **flags) -> None:
    """Run every stage (ingest .. report), resuming where a previous run stopped."""
    from arc_pipeline import api, ui
    from arc_pipeline.launch import follower
    from arc_pipeline.stages import STAGES
    from arc_pipeline.stages.runner import plan

    t0 = time.time()
    cfg, rdir, origin = resolve_from_options(preset, files, sets, run_dir, **flags)
    if follower(cfg):
        return follow_node_0(cfg, rdir)
    if from_stage is not None and from_stage not in STAGES:
        raise click.BadParameter(f"{from_stage!r} is not a stage; valid stages: {', '.join(STAGES)}",
                                 param_hint="--from")
    rows = plan(cfg, rdir, force=STAGES[0] if force else from_stage)
    ui.info(f"[bold]run[/] {ui.plain(rdir)}  config: {ui.plain(origin)}  protocol: {cfg.run.protocol}  "
            f"device: {ui.plain(_device_text(cfg))}  budget: {ui.plain(cfg.run.time_budget or 'none')}", markup=True)
    ui.note(f"train: {', '.join(s.source for s in cfg.data.train_sources()) or '-'}  target: {cfg.data.target}")
    _sources_table(cfg, rdir)
    ui.table("plan", ["stage", "action", "why"], [[r.stage, r.action, r.reason] for r in rows])
    from arc_pipeline.stages.train import plan_text

    schedule = plan_text(cfg, rdir)
    if schedule:
        ui.info(schedule)

    def on_start(stage, row):
        if row.action != "cached":
            ui.info(f"[bold cyan]{stage}[/] ({row.action})", markup=True)

    def on_end(stage, rec):
        if rec.status == "done" and rec.summary and rec.start >= t0:
            ui.note("  " + ", ".join(f"{k}={_short(v)}" for k, v in rec.summary.items()))

    # the one path of the Python API (budget -> deadline from t0, the lock, tracking)
    result = api.run(cfg, rdir, force=force, from_stage=from_stage, started=t0, progress=ui.progress, on_note=ui.note,
                     on_start=on_start, on_end=on_end)
    summary(rdir, result.records, time.time() - t0)


def summary(rdir: Path, records: dict, seconds: float) -> None:
    """Scores, seconds per stage and the paths a run left."""
    import json

    from arc_pipeline import ui

    ui.table("stages", ["stage", "status", "seconds", "note"],
             [[s, r.status, f"{r.seconds:.1f}", r.note] for s, r in records.items()])
    from arc_pipeline.rundir import CONFIG, MANIFEST, REPORT_HTML, SCORE_JSON, SUBMISSION

    score = rdir / SCORE_JSON
    rec = records.get("score")
    try:  # only a score the manifest vouches for; a stray or corrupt file is not shown
        s = json.loads(score.read_text()) if rec is not None and rec.status == "done" and score.exists() else None
    except (OSError, ValueError):
        s = None
    if isinstance(s, dict) and "domain" in s:  # a Sudoku or maze run
        from arc_pipeline.report.board import score_rows

        ui.table(f"score ({s['domain']}, held-out puzzles)", *score_rows(s))
    elif isinstance(s, dict) and "micro" in s:
        row = [f"{s['micro']:.4f}", f"{s['macro']:.4f}", f"{s['tasks_solved']}/{s['tasks']}",
               f"{s['outputs_correct']}/{s['outputs']}"]
        p = s.get("pass_at_k") or {}
        cols = [f"pass@{k} {per}" for per in ("per task", "per output") for k in ("1", "2")]
        vals = [f"{p[per][k]:.4f}" if k in p.get(per, {}) else "-" for per in ("per_task", "per_output") for k in ("1", "2")]
        ui.table("score", ["micro (per output)", "macro (per task)", "tasks solved", "outputs right", *cols], [row + vals])
    for name in (SUBMISSION, SCORE_JSON, REPORT_HTML, CONFIG, MANIFEST):
        if (rdir / name).exists():
            ui.note(f"{name:16s} {rdir / name}")
    ui.info(f"done in {seconds:.1f}s")


def _device_text(cfg) -> str:
    if cfg.run.nnodes > 1:
        return f"{cfg.run.nnodes} nodes x {cfg.run.devices} processes (torchrun, rendezvous {cfg.run.rdzv_endpoint})"
    if cfg.run.devices > 1:
        return f"{cfg.run.devices} processes (torchrun)"
    return cfg.train.device


def _short(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _sources_table(cfg, rdir: Path) -> None:
    """Each training source's tasks and share of training draws (known once ingest has run)."""
    from arc_pipeline import ui
    from arc_pipeline.rundir import RunDir

    srcs = cfg.data.train_sources()
    if len(srcs) < 2 and all(s.weight is None for s in srcs):
        return
    done = {}
    path = RunDir(rdir).tasks_parquet
    if path.is_file():
        import polars as pl

        from arc_pipeline.mix import source_shares

        done = {r["source"]: r for r in source_shares(pl.read_parquet(path))}
    total = sum(s.weight for s in srcs) if all(s.weight is not None for s in srcs) else None
    rows = []
    for s in srcs:
        r = done.get(s.source)
        share = r["share"] if r else (s.weight / total if total else None)
        rows.append([s.source, str(r["tasks"]) if r else "after ingest", str(r["pairs"]) if r else "-",
                     "-" if s.weight is None else f"{s.weight:g}", f"{share:.1%}" if share is not None else "by pairs"])
    ui.table("training sources", ["source", "tasks", "pairs", "weight", "share"], rows)
