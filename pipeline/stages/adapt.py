"""adapt: fine-tune on the target tasks' demonstrations (pretrain-adapt); a no-op for joint."""

from __future__ import annotations

from pathlib import Path

from arc.errors import ArcError
from pipeline.stages import Context, StageResult
from pipeline.stages.build import DATASET
from pipeline.stages.train import CHECKPOINTS, model_config

ADAPT = "adapt"


def source_checkpoint(cfg, run_dir: Path) -> Path:
    """What adapt starts from: run.checkpoint when set, else this run's trained checkpoints."""
    return Path(cfg.run.checkpoint) if cfg.run.checkpoint else run_dir / CHECKPOINTS


def run(cfg, run_dir: str | Path, ctx: Context | None = None) -> StageResult:
    ctx = ctx or Context()
    run_dir = Path(run_dir)
    if cfg.run.protocol == "joint":
        return StageResult([], {"skipped": True}, note="joint protocol: the target demonstrations were trained on")
    try:
        from solver.adapt import adapt
    except ImportError as e:
        raise ArcError(f"adapt is unavailable ({e}); use --set run.protocol=joint") from None
    from augment.dataset import open_split, read_puzzles

    ds = run_dir / DATASET
    mcfg, meta = model_config(cfg, ds)
    with ctx.progress("adapt", getattr(cfg.adapt, "steps", None), unit="step") as advance:
        done = [0]

        def on_metrics(row: dict) -> None:
            step = int(row.get("step", done[0]))
            advance(step - done[0])
            done[0] = step

        result = adapt(source_checkpoint(cfg, run_dir), open_split(ds, "adapt"), run_dir / ADAPT, cfg.adapt,
                       model_cfg=mcfg, train_cfg=cfg.train, puzzle_map=read_puzzles(ds),
                       dataset_fingerprint=meta["fingerprint"], on_metrics=on_metrics)
    if result.stopped == "time_budget":
        ctx.note(f"adapt: stopped by the time budget at step {result.step} of {cfg.adapt.steps}")
    summary = {"step": result.step, "stopped": result.stopped, "rows_carried": result.rows_carried,
               "rows_new": result.rows_new, "loss": (result.metrics or {}).get("loss"),
               "seconds": round(result.seconds, 1)}
    return StageResult([ADAPT], {k: v for k, v in summary.items() if v is not None})
