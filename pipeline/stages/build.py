"""build: the augmented dataset (dataset/) from the ingested tasks."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from pipeline.rundir import DATASET, RunDir
from pipeline.stages import Context, StageResult
from pipeline.stages.ingest import load_tasks


def run(cfg, run_dir: str | Path, ctx: Context | None = None) -> StageResult:
    from augment.build import build

    ctx = ctx or Context()
    run_dir = Path(run_dir)
    train, target = load_tasks(run_dir)
    bcfg = cfg.build
    if bcfg.protocol != cfg.run.protocol:  # one source of truth: [run] protocol
        bcfg = dataclasses.replace(bcfg, protocol=cfg.run.protocol)
    with ctx.progress("build", len(train) + len(target), unit="task") as advance:
        result = build(train, target, bcfg, RunDir(run_dir).dataset, on_progress=advance)
    summary = {"puzzles": result.num_puzzles, **{f"{k}_examples": v for k, v in result.counts.items()},
               "seconds": round(result.seconds, 2)}
    return StageResult([DATASET], summary, note="reused an identical build" if result.skipped else "")
