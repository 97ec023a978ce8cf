"""report: report.html from the run's artifacts (arc_pipeline.report gathers and draws it)."""

from __future__ import annotations

from pathlib import Path

from arc_pipeline.rundir import (ADAPT, CHECKPOINTS, DATASET, MANIFEST, METRICS, PREDICTIONS, PREDICTIONS_RAW, REPORT_DIR,
                                 REPORT_HTML, SCORE_JSON, SUBMISSION, TASKS)
from arc_pipeline.stages import boards
from arc_pipeline.stages.contract import Context, Stage, StageResult


def run(cfg, run_dir: str | Path, ctx: Context | None = None) -> StageResult:
    if boards.for_run(cfg):  # Sudoku or mazes
        return boards.report(cfg, Path(run_dir), ctx or Context())
    from arc_pipeline.report import write

    data = write(Path(run_dir), cfg)
    return StageResult([REPORT_HTML], {"tasks": len(data.rows), "curves": len(data.curves)})


STAGE = Stage(
    "report", run,
    reads=(TASKS,), writes=(REPORT_HTML, REPORT_DIR),
    optional=(DATASET, METRICS, CHECKPOINTS, ADAPT, PREDICTIONS, PREDICTIONS_RAW, SUBMISSION, SCORE_JSON, MANIFEST),
)
