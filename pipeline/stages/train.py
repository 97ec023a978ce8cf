"""train: the TRM on the dataset's train split, resuming from checkpoints/latest when present."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from pipeline.rundir import CHECKPOINTS, DATASET, METRICS
from pipeline.stages import Context, StageResult


def model_config(cfg, dataset_dir: Path):
    """[model] with the sizes the dataset dictates (sequence, vocabulary, puzzle rows)."""
    from augment.dataset import read_meta

    meta = read_meta(dataset_dir)
    return dataclasses.replace(cfg.model, seq_len=int(meta["seq_len"]), vocab_size=int(meta["vocab_size"]),
                               num_puzzles=int(meta["num_puzzles"])), meta


def run(cfg, run_dir: str | Path, ctx: Context | None = None) -> StageResult:
    ctx = ctx or Context()
    run_dir = Path(run_dir)
    if cfg.run.protocol == "pretrain-adapt" and cfg.run.checkpoint:
        return StageResult([], {"skipped": True}, note=f"pre-trained checkpoint {cfg.run.checkpoint} is used")
    if cfg.run.protocol == "joint" and cfg.run.checkpoint:
        return StageResult([], {"skipped": True}, note=f"checkpoint {cfg.run.checkpoint} is evaluated as is")
    from augment.dataset import open_split, read_puzzles
    from solver import checkpoint as ckpt
    from solver.train import train

    ds = run_dir / DATASET
    mcfg, meta = model_config(cfg, ds)
    source = open_split(ds, "train")
    val = open_split(ds, "val") if meta["counts"].get("val", 0) else None
    weights = source_weights(run_dir, source)
    if weights:
        ctx.note(f"train: source weights give {len(weights)} training task(s) their visits per epoch")
    for why in ckpt.drop_broken(run_dir / CHECKPOINTS):  # killed mid-write or corrupted: resume before it
        ctx.note(f"train: removed a broken checkpoint: {why}")
    latest = ckpt.latest(run_dir / CHECKPOINTS)
    resumed = int(ckpt.read_meta(latest)["step"]) if latest is not None else 0
    if resumed:
        ctx.note(f"train: resuming from step {resumed} ({latest})")
    budget = cfg.train.time_budget_s
    with ctx.progress("train", cfg.train.steps, unit="step", stop_at=time.time() + budget if budget else None,
                      deadline=ctx.deadline, completed=resumed) as advance:
        done = [resumed]

        def on_metrics(row: dict) -> None:
            step = int(row.get("step", done[0]))
            advance(step - done[0], metrics=row)
            ctx.metrics("train", row)
            done[0] = step

        result = train(mcfg, cfg.train, source, run_dir / CHECKPOINTS, val_source=val,
                       puzzle_map=read_puzzles(ds), dataset_fingerprint=meta["fingerprint"],
                       on_metrics=on_metrics, group_weights=weights,
                       metrics_path=run_dir / METRICS)
    for note in result.notes:
        ctx.note(f"train: {note}")
    if result.stopped == "time_budget":
        ctx.note(f"train: stopped by the time budget at step {result.step} of {cfg.train.steps}")
    m = result.metrics or {}
    summary = {"step": result.step, "resumed_from": resumed, "stopped": result.stopped,
               "loss": m.get("loss"), "exact_accuracy": m.get("exact_accuracy"),
               "examples_per_s": m.get("examples_per_s"),
               "val_exact": (result.val or {}).get("exact"), "seconds": round(result.seconds, 1)}
    return StageResult([CHECKPOINTS, METRICS], {k: v for k, v in summary.items() if v is not None})


def source_weights(run_dir: Path, source) -> dict[str, float] | None:
    """Visits per epoch per training task from [data] train's weights (None when unweighted)."""
    import polars as pl

    from pipeline.mix import group_weights
    from pipeline.rundir import RunDir
    from solver.sampler import source_groups

    path = RunDir(run_dir).tasks_parquet
    if not path.is_file():
        return None
    frame = pl.read_parquet(path)
    groups = source_groups(source)
    if "weight" not in frame.columns or groups is None:
        return None
    return group_weights(groups.names, groups.mean_pairs(), frame)
