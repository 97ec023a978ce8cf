"""train: the TRM on the dataset's train split, resuming from checkpoints/latest when present."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.rundir import CHECKPOINTS, DATASET, METRICS, TASKS_PARQUET, RunDir
from arc_pipeline.stages.contract import Context, Stage, StageResult


def schedule_text(train_cfg, steps: int, epoch_length: float, *, approx: bool = False) -> str:
    """One line: the step count and where it comes from (epochs x examples per epoch / batch, or steps)."""
    about = "about " if approx else ""
    if train_cfg.epochs > 0:
        return (f"{train_cfg.epochs:g} epochs x {about}{epoch_length:,.0f} examples per epoch ({train_cfg.sampling} sampling) "
                f"/ batch {train_cfg.global_batch} = {about}{steps:,} steps")
    epochs = steps * train_cfg.global_batch / epoch_length if epoch_length else 0
    return f"{steps:,} steps (train.steps) = {about}{epochs:,.3g} epochs of {about}{epoch_length:,.0f} examples at batch {train_cfg.global_batch}"


def duration_text(seconds: float) -> str:
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"


def plan_text(cfg, run_dir: str | Path) -> str | None:
    """The training schedule for the run's plan: exact from the build when there is one, else counted
    from the sources (the reference rule's examples per epoch); with the speed of this run's last
    training metrics when it has some. None when the run does not train."""
    if cfg.run.checkpoint:
        return None
    run_dir = Path(run_dir)
    ds = run_dir / DATASET
    approx = False
    length = None
    if (ds / "meta.json").is_file():
        from arc_pipeline.augment.dataset import open_split
        from arc_pipeline.solver.sampler import make_sampler

        try:
            length = make_sampler(open_split(ds, "train"), cfg.train.sampling, cfg.train.seed).epoch_length
        except ArcError:  # a damaged build: the plan rebuilds it; count from the sources meanwhile
            length = None
    if length is None:
        length = _pairs_from_sources(cfg, run_dir) if cfg.train.sampling == "reference" else None
        if length is None:
            return f"train: {cfg.train.steps:,} steps" if cfg.train.epochs <= 0 else "train: steps known after the build"
        approx = True  # before ingest's overlap filter and the build's held-out pairs
    from arc_pipeline.solver.schedule import planned_steps

    steps = planned_steps(cfg.train, length)
    text = "train: " + schedule_text(cfg.train, steps, length, approx=approx)
    rate = RunDir(run_dir).examples_per_s()
    if rate > 0:
        text += f"; at this run's {rate:,.0f} examples/s about {duration_text(steps * cfg.train.global_batch / rate)}"
    else:
        text += "; time: estimated once training has logged its speed"
    return text


PLAN_PIECES = 8  # sources in more pieces than this (2,048 task files) are counted by ingest, not for the plan


def _pairs_from_sources(cfg, run_dir: Path) -> int | None:
    """Training pairs per epoch under the reference rule, before any build: counted from the ARC
    sources when they are small; for large ones (NVARC's 103k tasks, which this would read whole into
    memory) from the task table ingest wrote, or None before ingest. None too when the sources are not
    ARC tasks (e.g. generated puzzles) or cannot be read yet."""
    from arc_pipeline.arc.load import units
    from arc_pipeline.stages.ingest import load_sources

    try:
        small = sum(len(units(s.source, demos=s.demos)) for s in cfg.data.train_sources()) <= PLAN_PIECES
        if not small:
            return _pairs_from_ingest(cfg, RunDir(run_dir).tasks_parquet)
        train_tasks, _, target = load_sources(cfg)
    except (ArcError, OSError, ValueError):
        return None
    length = sum(len(t.train) + sum(p.output is not None for p in t.test) for t in train_tasks.values())
    return length + (sum(len(t.train) for t in target.values()) if cfg.run.protocol == "joint" else 0)


def _pairs_from_ingest(cfg, table: Path) -> int | None:
    """The same count from the task table ingest wrote (train tasks kept: demonstrations + test pairs;
    the target's demonstrations under joint), None before ingest."""
    if not table.is_file():
        return None
    import polars as pl

    try:
        rows = pl.read_parquet(table, columns=["split", "pairs", "test_inputs", "dropped"])
    except (OSError, pl.exceptions.PolarsError):  # damaged: ingest reruns; no count meanwhile
        return None
    train = rows.filter((pl.col("split") == "train") & ~pl.col("dropped"))
    target = rows.filter(pl.col("split") == "target")["pairs"].sum() if cfg.run.protocol == "joint" else 0
    return int(train["pairs"].sum() + train["test_inputs"].sum() + target)


def run(cfg, run_dir: str | Path, ctx: Context | None = None) -> StageResult:
    ctx = ctx or Context()
    run_dir = Path(run_dir)
    if cfg.run.protocol == "pretrain-adapt" and cfg.run.checkpoint:
        return StageResult([], {"skipped": True}, note=f"pre-trained checkpoint {cfg.run.checkpoint} is used")
    if cfg.run.protocol == "joint" and cfg.run.checkpoint:
        return StageResult([], {"skipped": True}, note=f"checkpoint {cfg.run.checkpoint} is evaluated as is")
    from arc_pipeline.augment.dataset import open_split, read_puzzles
    from arc_pipeline.solver import ckpt_folder
    from arc_pipeline.solver.sampler import make_sampler
    from arc_pipeline.solver.schedule import resolve_schedule
    from arc_pipeline.solver.train import train

    ds = run_dir / DATASET
    mcfg, meta = RunDir(run_dir).model_config(cfg.model)
    source = open_split(ds, "train")
    val = open_split(ds, "val") if meta["counts"].get("val", 0) else None
    weights = source_weights(run_dir, source)
    if weights:
        ctx.note(f"train: source weights give {len(weights)} training task(s) their visits per epoch")
    from arc_pipeline.solver.device import setup_runtime

    runtime = setup_runtime(cfg.train.device, cfg.train.dtype)
    latest = None
    if runtime.is_main:  # one rank checks (and hashes) the checkpoints; a second would race its deletions
        for why in ckpt_folder.drop_broken(run_dir / CHECKPOINTS):  # killed mid-write or corrupted: resume before it
            ctx.note(f"train: removed a broken checkpoint: {why}")
        latest = ckpt_folder.latest(run_dir / CHECKPOINTS)
    latest = runtime.broadcast_object(latest)
    resumed = int(ckpt_folder.read_meta(latest)["step"]) if latest is not None else 0
    if resumed:
        ctx.note(f"train: resuming from step {resumed} ({latest})")
    budget = cfg.train.time_budget_s
    tcfg = resolve_schedule(cfg.train, source, weights)
    per_epoch = make_sampler(source, tcfg.sampling, tcfg.seed, weights).epoch_length
    ctx.note(f"train: {schedule_text(cfg.train, tcfg.steps, per_epoch)}")
    stop_at = time.time() + budget if budget else None
    with ctx.progress("train", tcfg.steps, unit="step", stop_at=stop_at, deadline=ctx.deadline,
                      completed=resumed) as advance:
        done = [resumed]

        def on_metrics(row: dict) -> None:
            step = int(row.get("step", done[0]))
            if done[0] == resumed and step > resumed and row.get("elapsed_s"):
                ctx.note(speed_note((step - resumed) / row["elapsed_s"], step, tcfg.steps,
                                    stop_at - time.time() if stop_at else None))
            advance(step - done[0], metrics=row)
            ctx.metrics("train", row)
            done[0] = step

        result = train(mcfg, tcfg, source, run_dir / CHECKPOINTS, val_source=val,
                       puzzle_map=read_puzzles(ds), dataset_fingerprint=meta["fingerprint"],
                       on_metrics=on_metrics, group_weights=weights, runtime=runtime,
                       metrics_path=run_dir / METRICS)
    for note in result.notes:
        ctx.note(f"train: {note}")
    if result.stopped == "time_budget":
        ctx.note(f"train: stopped by the time budget at step {result.step} of {tcfg.steps}")
    m = result.metrics or {}
    from arc_pipeline.solver.device import describe_device

    summary = {"step": result.step, "planned": tcfg.steps, "resumed_from": resumed, "stopped": result.stopped,
               "device": describe_device(cfg.train.device, cfg.run.devices * cfg.run.nnodes),
               "loss": m.get("loss"), "exact_accuracy": m.get("exact_accuracy"),
               "examples_per_s": m.get("examples_per_s"),
               "val_exact": (result.val or {}).get("exact"), "seconds": round(result.seconds, 1)}
    return StageResult([CHECKPOINTS, METRICS], {k: v for k, v in summary.items() if v is not None})


def speed_note(rate: float, step: int, steps: int, budget_left: float | None) -> str:
    """The first speed note: the time the remaining steps need, or where the time budget stops them."""
    need = (steps - step) / rate
    head = f"train: {rate:.3g} steps/s so far: "
    if budget_left is not None and budget_left < need:
        stop = min(steps, step + int(rate * max(budget_left, 0.0)))
        return (head + f"the time budget ({duration_text(max(budget_left, 0.0))} left) stops training at about step "
                f"{stop:,} of {steps:,}; the remaining {steps - step:,} steps would need about {duration_text(need)}")
    return head + f"about {duration_text(need)} for the remaining {steps - step:,} steps"


def source_weights(run_dir: Path, source) -> dict[str, float] | None:
    """Visits per epoch per training task from [data] train's weights (None when unweighted)."""
    import polars as pl

    from arc_pipeline.mix import group_weights
    from arc_pipeline.solver.sampler import source_groups

    path = RunDir(run_dir).tasks_parquet
    if not path.is_file():
        return None
    frame = pl.read_parquet(path)
    groups = source_groups(source)
    if "weight" not in frame.columns or groups is None:
        return None
    return group_weights(groups.names, groups.mean_pairs(), frame)


STAGE = Stage(
    "train", run,
    reads=(DATASET,), optional=(TASKS_PARQUET,), writes=(CHECKPOINTS, METRICS),
    config=("model", "train", "run.checkpoint"),
    unhashed=("train.device", "train.compile", "train.log_every", "train.time_budget_s", "train.puzzle_table",
              "train.puzzle_table_dir"),
    distributed=True, resumable=True, budget="reserve",
)
