"""adapt: fine-tune on the target tasks' demonstrations (pretrain-adapt); a no-op for joint."""

from __future__ import annotations

import time
from pathlib import Path

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.rundir import ADAPT, CHECKPOINTS, DATASET, METRICS, RunDir
from arc_pipeline.stages.contract import Context, Stage, StageResult


def source_checkpoint(cfg, run_dir: Path) -> Path:
    """What adapt starts from: run.checkpoint when set, else this run's trained checkpoints."""
    return Path(cfg.run.checkpoint) if cfg.run.checkpoint else run_dir / CHECKPOINTS


def planned(cfg, run_dir: Path, ctx: Context):
    """[adapt] with its steps cut to what fits its time budget at the measured training speed.

    A resumed adapt keeps the steps and time limit it started with, so its schedule and its
    embeddings-only phase stay the ones it planned.
    The speed comes from this run's training metrics, else from the checkpoint's last metrics
    (another machine's: then only the time budget itself guards the deadline)."""
    import dataclasses

    from arc_pipeline.solver import ckpt_folder

    a = cfg.adapt
    started = ckpt_folder.latest(run_dir / ADAPT)
    if started is not None:
        tc = ckpt_folder.read_meta(started).get("train_config", {})
        return dataclasses.replace(a, steps=int(tc.get("steps", a.steps)),
                                   time_budget_s=float(tc.get("time_budget_s", a.time_budget_s)))
    if not a.time_budget_s:
        return a
    rate = RunDir(run_dir).examples_per_s()
    if not rate:
        try:
            rate = float(ckpt_folder.read_meta(source_checkpoint(cfg, run_dir)).get("metrics", {}).get("examples_per_s", 0))
        except ArcError:
            rate = 0.0
    if rate <= 0:
        return a
    fit = int(0.9 * a.time_budget_s * rate / cfg.train.global_batch)
    if fit >= a.steps:
        return a
    ctx.note(f"adapt: {a.steps} steps do not fit {a.time_budget_s:.0f}s at ~{rate:.0f} examples/s; planned {max(fit, 1)}")
    return dataclasses.replace(a, steps=max(fit, 1))


def run(cfg, run_dir: str | Path, ctx: Context | None = None) -> StageResult:
    ctx = ctx or Context()
    run_dir = Path(run_dir)
    if cfg.run.protocol == "joint":
        return StageResult([], {"skipped": True}, note="joint protocol: the target demonstrations were trained on")
    from arc_pipeline.solver.adapt import adapt
    from arc_pipeline.augment.dataset import open_split, read_puzzles

    ds = run_dir / DATASET
    mcfg, meta = RunDir(run_dir).model_config(cfg.model)
    from arc_pipeline.solver import ckpt_folder

    from arc_pipeline.solver.adapt import adapt_train_config
    from arc_pipeline.solver.device import setup_runtime

    tcfg = adapt_train_config(cfg.train, cfg.adapt)
    runtime = setup_runtime(tcfg.device, tcfg.dtype)
    acfg = None
    if runtime.is_main:  # one rank checks (and hashes) the checkpoints and plans; the others are told
        for why in ckpt_folder.drop_broken(run_dir / ADAPT):
            ctx.note(f"adapt: removed a broken checkpoint: {why}")
        acfg = planned(cfg, run_dir, ctx)
    acfg = runtime.broadcast_object(acfg)
    stop_at = time.time() + acfg.time_budget_s if acfg.time_budget_s else None
    with ctx.progress("adapt", acfg.steps, unit="step", stop_at=stop_at, deadline=ctx.deadline) as advance:
        done = [0]

        def on_metrics(row: dict) -> None:
            step = int(row.get("step", done[0]))
            advance(step - done[0], metrics=row)
            ctx.metrics("adapt", row)
            done[0] = step

        result = adapt(source_checkpoint(cfg, run_dir), open_split(ds, "adapt"), run_dir / ADAPT, acfg,
                       model_cfg=mcfg, train_cfg=cfg.train, puzzle_map=read_puzzles(ds),
                       dataset_fingerprint=meta["fingerprint"], on_metrics=on_metrics, runtime=runtime)
    if result.stopped == "time_budget":
        ctx.note(f"adapt: stopped by the time budget at step {result.step} of {acfg.steps}")
    summary = {"step": result.step, "stopped": result.stopped, "rows_carried": result.rows_carried,
               "rows_new": result.rows_new, "loss": (result.metrics or {}).get("loss"),
               "seconds": round(result.seconds, 1)}
    return StageResult([ADAPT], {k: v for k, v in summary.items() if v is not None})


STAGE = Stage(
    "adapt", run,
    reads=(DATASET,), optional=(CHECKPOINTS, METRICS), writes=(ADAPT,),  # or from run.checkpoint
    config=("adapt", "run.protocol", "run.checkpoint"),
    unhashed=("adapt.time_budget_s",),
    distributed=True, resumable=True,
    budget=lambda cfg: "" if cfg.run.protocol == "joint" else "reserve",  # joint: a no-op, nothing to budget
)
