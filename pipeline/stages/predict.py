"""predict: every augmented copy of every target test input through the model, voted
(predictions.parquet), and every prediction before voting with its trajectory
(predictions_raw.parquet, `solver.raw`): one call of `solver.predict.predict`. The stage decides
which checkpoint, whether its rows are matched or its build fingerprint checked, and the deadline;
rank 0 writes."""

from __future__ import annotations

from pathlib import Path

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.arc.io import atomic_path
from arc_pipeline.rundir import ADAPT, CHECKPOINTS, DATASET, PREDICTIONS, PREDICTIONS_RAW, RunDir
from arc_pipeline.stages import boards
from arc_pipeline.stages.contract import Context, Stage, StageResult


def run(cfg, run_dir: str | Path, ctx: Context | None = None) -> StageResult:
    if boards.for_run(cfg):  # Sudoku or mazes
        return boards.predict(cfg, Path(run_dir), ctx or Context())
    from arc_pipeline.augment.dataset import open_split, read_meta
    from arc_pipeline.solver.device import setup_runtime
    from arc_pipeline.solver.predict import predict
    from arc_pipeline.solver.vote import write_predictions

    ctx, rd = ctx or Context(), RunDir(run_dir)
    path = rd.checkpoint(cfg.run, on_note=lambda note: ctx.note(f"predict: {note}"))
    if path is None and ctx.deadline is None:
        raise ArcError(f"{rd.root}: no checkpoint to predict with; run `arc-pipeline train --run-dir {rd.root}` first")
    if path is None:  # out of time before any checkpoint: the fallback submission stands
        ctx.note("predict: no checkpoint to predict with; submission.json keeps its fallback")
        return StageResult([], {"skipped": True}, note="no checkpoint")
    runtime = setup_runtime(cfg.train.device, cfg.predict.runtime_dtype(cfg.train.dtype))
    evaluated = evaluates_checkpoint(cfg)  # another build's rows: matched, so no fingerprint to check
    own = None if cfg.run.protocol == "pretrain-adapt" or evaluated else read_meta(rd.dataset)["fingerprint"]
    result = predict(path, open_split(rd.dataset, "test"), runtime, cfg.predict, cfg.vote, fingerprint=own,
                     checkpoint_rows=evaluated, max_test_augs=cfg.run.max_test_augs,
                     remaining=ctx.remaining if ctx.deadline is not None else None, progress=ctx.progress,
                     on_note=ctx.note)
    if runtime.rank == 0:
        write_predictions(rd.predictions, result.voted, cfg.vote.top_k)
        if result.raw is not None:
            with atomic_path(rd.predictions_raw) as tmp:
                result.raw.write_parquet(tmp, compression="zstd")
    if result.stopped:
        ctx.note(f"predict: {result.stopped}")
    outputs = [PREDICTIONS] + ([PREDICTIONS_RAW] if result.raw is not None else [])
    return StageResult(outputs, {**result.summary, "checkpoint_path": _relative(path, rd.root)}, note=result.note)


def evaluates_checkpoint(cfg) -> bool:
    """Protocol joint with run.checkpoint: that checkpoint is evaluated as is on the tasks it was
    trained with (train is skipped; the build uses the checkpoint's own augmentations)."""
    return cfg.run.protocol == "joint" and bool(cfg.run.checkpoint)


def _relative(path: Path, run_dir: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(run_dir.resolve()))
    except ValueError:
        return str(path)


STAGE = Stage(
    "predict", run,
    reads=(DATASET,), optional=(CHECKPOINTS, ADAPT), writes=(PREDICTIONS, PREDICTIONS_RAW),  # or run.checkpoint
    config=("predict", "vote"),
    distributed=True, budget="deadline",
)
