"""report: report.html from the run's artifacts (score, manifest, predictions, metrics)."""

from __future__ import annotations

import json
from pathlib import Path

from arc.io import write_text
from pipeline.manifest import Manifest
from pipeline import puzzles
from pipeline.stages import STAGES, Context, StageResult
from pipeline.rundir import ADAPT, CHECKPOINTS, METRICS, PREDICTIONS, REPORT_HTML, SCORE_JSON, SUBMISSION
from pipeline.stages.ingest import load_tasks

CURVES = {"train": METRICS, "train ckpt": f"{CHECKPOINTS}/{METRICS}", "adapt": f"{ADAPT}/{METRICS}"}


def gather(run_dir: Path):
    """Everything the page shows, read from the run directory."""
    import numpy as np

    from pipeline.report import ReportData, TaskRow, read_curves

    _, target = load_tasks(run_dir)
    submission = json.loads((run_dir / SUBMISSION).read_text()) if (run_dir / SUBMISSION).exists() else {}
    scores = json.loads((run_dir / SCORE_JSON).read_text()) if (run_dir / SCORE_JSON).exists() else None
    ranks: dict[tuple[str, int], int] = {}
    if (run_dir / PREDICTIONS).exists() and scores is not None:
        from solver.vote import read_predictions, solution_ranks

        for tid, i, rank in solution_ranks(read_predictions(run_dir / PREDICTIONS), target).iter_rows():
            if rank is not None:
                ranks[(tid, i)] = rank
    rows = []
    for tid, task in target.items():
        entries = submission.get(tid) or []
        attempts, correct = [], []
        for i, pair in enumerate(task.test):
            e = entries[i] if i < len(entries) and isinstance(entries[i], dict) else {}
            att = [_grid(e.get("attempt_1")), _grid(e.get("attempt_2"))]
            attempts.append(att)
            correct.append(None if pair.output is None else any(
                a is not None and a.shape == pair.output.shape and bool(np.array_equal(a, pair.output)) for a in att))
        found = [ranks[(tid, i)] for i in range(len(task.test)) if (tid, i) in ranks]
        rows.append(TaskRow(task, attempts, correct, min(found) if found else None))
    manifest = Manifest(run_dir)
    # the report is written while its own stage is still running; it lists the stages before it
    stages = [(s, r.status, r.seconds, r.note) for s in STAGES
              if s != "report" and (r := manifest.stages.get(s)) is not None]
    curves = read_curves({k: run_dir / v for k, v in CURVES.items()})
    return ReportData(f"arc-pipeline run: {run_dir.resolve().name}", scores, stages, rows, curves,
                      sources=_sources(run_dir))


def _sources(run_dir: Path) -> list[dict]:
    import polars as pl

    from pipeline.mix import source_shares
    from pipeline.rundir import RunDir

    path = RunDir(run_dir).tasks_parquet
    return source_shares(pl.read_parquet(path)) if path.is_file() else []


def _grid(value):
    import numpy as np

    try:
        g = np.asarray(value, dtype=np.uint8)
    except (TypeError, ValueError):
        return None
    return g if value is not None and g.ndim == 2 and g.size else None


def run(cfg, run_dir: str | Path, ctx: Context | None = None) -> StageResult:
    if puzzles.for_run(cfg):  # Sudoku or mazes
        return puzzles.report(cfg, Path(run_dir), ctx or Context())
    from pipeline.report import render

    run_dir = Path(run_dir)
    data = gather(run_dir)
    write_text(run_dir / REPORT_HTML, render(data))
    return StageResult([REPORT_HTML], {"tasks": len(data.rows), "curves": len(data.curves)})
