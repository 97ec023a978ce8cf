"""predict: every augmented copy of every target test input through the model, voted
(predictions.parquet), and every prediction before voting with its trajectory
(predictions_raw.parquet, `solver.raw`). Augmentations are taken identity-first, chunk by chunk, in
one loop; under a deadline it stops when the next chunk would not fit, so every test input gets its
identity pass first."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.arc.io import atomic_path
from arc_pipeline import puzzles
from arc_pipeline.config import section_dict
from arc_pipeline.rundir import ADAPT, CHECKPOINTS, DATASET, PREDICTIONS, PREDICTIONS_RAW
from arc_pipeline.stages.contract import Context, Stage, StageResult


def checkpoint_path(cfg, run_dir: Path) -> Path | None:
    """The checkpoint to predict with: adapt/ (pretrain-adapt) or checkpoints/; the best by the
    held-out split when it beats the latest, else the latest."""
    from arc_pipeline.solver import checkpoint as ckpt

    if cfg.run.protocol == "pretrain-adapt":
        from arc_pipeline.solver.adapt import INIT

        folder = run_dir / ADAPT
        if ckpt.latest(folder) is None and ckpt.latest(folder / INIT) is not None:
            # adaptation failed before its first checkpoint: the pre-trained model, remapped to
            # this build but not adapted, still beats the identity fallback
            return ckpt.latest(folder / INIT)
    elif (run_dir / CHECKPOINTS).exists() or not cfg.run.checkpoint:
        folder = run_dir / CHECKPOINTS
    else:
        folder = Path(cfg.run.checkpoint)
    if (folder / "meta.json").is_file():
        return folder
    best, latest = ckpt.best(folder), ckpt.latest(folder)
    if best is None or latest is None:
        return best or latest

    def val(path: Path) -> float:
        return float((ckpt.read_meta(path).get("val") or {}).get("exact", -1.0))

    # ties go to the latest: on equal held-out accuracy, more training is the better bet
    return best if val(best) > val(latest) else latest


def aug_order(source) -> np.ndarray:
    """Test-split example indices ordered by augmentation index (all identities first)."""
    import polars as pl

    ex = source.examples.with_row_index("i").join(
        source.puzzles.select(pl.col("puzzle_id").cast(pl.Int64), "aug_index"),
        left_on=pl.col("puzzle_id").cast(pl.Int64), right_on="puzzle_id", how="left")
    return ex.sort(["aug_index", "i"])["i"].to_numpy().astype(np.int64)


def run(cfg, run_dir: str | Path, ctx: Context | None = None) -> StageResult:
    if puzzles.for_run(cfg):  # Sudoku or mazes
        return puzzles.predict(cfg, Path(run_dir), ctx or Context())
    from arc_pipeline.augment.dataset import open_split, read_meta
    from arc_pipeline.solver.device import setup_runtime
    from arc_pipeline.solver.vote import write_predictions

    ctx = ctx or Context()
    run_dir = Path(run_dir)
    path = checkpoint_path(cfg, run_dir)
    if path is not None and (path.parent / "latest").is_file():
        from arc_pipeline.solver import checkpoint as ckpt

        for which in ("latest", "best"):  # a broken pointer or step is skipped for an intact one, said here
            if note := ckpt.find(path.parent, which)[1]:
                ctx.note(f"predict: {note}")
    if path is None:
        if ctx.deadline is not None:  # out of time before any checkpoint: the fallback submission stands
            ctx.note("predict: no checkpoint to predict with; submission.json keeps its fallback")
            return StageResult([], {"skipped": True}, note="no checkpoint")
        raise ArcError(f"{run_dir}: no checkpoint to predict with; run `arc-pipeline train --run-dir {run_dir}` first")
    ds = run_dir / DATASET
    source = open_split(ds, "test")
    runtime = setup_runtime(cfg.train.device, cfg.train.dtype)
    evaluated = evaluates_checkpoint(cfg)
    own = None if cfg.run.protocol == "pretrain-adapt" or evaluated else read_meta(ds)["fingerprint"]
    from arc_pipeline.solver.checkpoint import build_model

    model = build_model(path, device=runtime.device, use_ema=cfg.predict.use_ema, fingerprint=own)
    if evaluated:
        source = rows_of_checkpoint(source, path, model)
    order = aug_order(source)
    if cfg.run.max_test_augs:
        per_input = max(1, _test_inputs(source))
        order = order[: cfg.run.max_test_augs * per_input]
    t0, failed = time.time(), {}
    vcfg = cfg.vote
    # the ranking rules' extra work (solver.vote.VoteConfig): a second pass with the other weight
    # set, and every view's final table kept for the likelihood matrix
    pcfg = replace(cfg.predict, keep_raw=True) if vcfg.scored else cfg.predict
    first = "ema" if cfg.predict.use_ema and (Path(path) / "ema.pt").is_file() else "live"
    passes = [(model, first)]
    if vcfg.pooled and (Path(path) / "ema.pt").is_file():
        other = build_model(path, device=runtime.device, use_ema=first == "live", fingerprint=own)
        passes.append((other, "live" if first == "ema" else "ema"))  # same table rows: `source` serves both
    elif vcfg.pooled:
        ctx.note("predict: the checkpoint has no EMA weights, so vote.rule=checkpoints pools one weight set")
    tables: list | None = [] if vcfg.scored else None
    frames, raws, notes = [], [], []
    with ctx.progress("predict", len(order) * len(passes), unit="pred") as advance:
        for i, (m, weights) in enumerate(passes):
            f, r, stopped = predict_in_rounds(m, source, order, runtime, pcfg, advance,
                                              remaining=ctx.remaining if ctx.deadline is not None else None,
                                              failed=failed, on_note=ctx.note, weights=weights, primary=i == 0,
                                              tables=tables)
            frames.append(f)
            raws += [r] if r is not None else []
            notes += [f"{weights} weights: {stopped}" if i else stopped] if stopped else []
    import polars as pl

    from arc_pipeline.solver.infer import canvas_of
    from arc_pipeline.solver.raw import rank_predictions

    frame = pl.concat(frames, how="diagonal_relaxed")
    raw = pl.concat(raws, how="diagonal_relaxed") if raws else None
    stopped = "; ".join(notes)
    voted, raw = rank_predictions(frame, raw, tables, vcfg, canvas_of(source))
    if not cfg.predict.keep_raw:
        raw = None
    outputs = [PREDICTIONS] + ([PREDICTIONS_RAW] if raw is not None else [])
    if runtime.rank == 0:
        write_predictions(run_dir / PREDICTIONS, voted, vcfg.top_k)
        if raw is not None:
            with atomic_path(run_dir / PREDICTIONS_RAW) as tmp:
                raw.write_parquet(tmp, compression="zstd")
    if stopped:
        ctx.note(f"predict: {stopped}")
    summary = {"checkpoint": path.name, "checkpoint_path": _relative(path, run_dir), "predictions": len(frame),
               "of": len(source), "passes": [w for _, w in passes], "candidates": len(voted),
               "mean_steps": float(frame["steps"].mean()) if len(frame) else 0.0,
               "seconds": round(time.time() - t0, 1)}
    if failed:
        summary["failed_tasks"] = sorted(failed)
    return StageResult(outputs, summary, note="; ".join(filter(None, [stopped, _failed_note(failed)])))


def _relative(path: Path, run_dir: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(run_dir.resolve()))
    except ValueError:
        return str(path)


def _failed_note(failed: dict) -> str:
    return f"{len(failed)} task(s) failed and fall back to their input grid: {', '.join(sorted(failed))}" if failed else ""


def evaluates_checkpoint(cfg) -> bool:
    """Protocol joint with run.checkpoint: that checkpoint is evaluated as is on the tasks it was
    trained with (train is skipped; the build uses the checkpoint's own augmentations)."""
    return cfg.run.protocol == "joint" and bool(cfg.run.checkpoint)


def rows_of_checkpoint(source, path: Path, model):
    """The test split read through the checkpoint's puzzle rows, matched by (task, augmentation);
    every test puzzle must be one the checkpoint trained."""
    from arc_pipeline.solver import checkpoint as ckpt
    from arc_pipeline.solver.infer import RowMapped, puzzle_rows

    pmap = ckpt.read_puzzle_map(path)
    if pmap is None:
        raise ArcError(f"{path}: the checkpoint has no puzzle_map.parquet, so its rows cannot be matched to the tasks")
    rows, unmatched = puzzle_rows(source, pmap)
    if unmatched:
        raise ArcError(f"{path}: {unmatched} test puzzle(s) of this build are not rows of the checkpoint; the build must "
                       f"use the checkpoint's own augmentations (rebuild: arc-pipeline run --from build)")
    return RowMapped(source, rows, model.puzzle_emb.num_puzzles)


def _test_inputs(source) -> int:
    ex = source.examples
    return ex.select(["task_id", "test_index"]).unique().height


def predict_in_rounds(model, source, order, runtime, pcfg, advance=None, *, remaining=None, failed=None, on_note=None,
                      weights: str = "ema", primary: bool = True, tables: list | None = None):
    """Prediction of an ARC test split in augmentation order (`predict_chunks`; the first chunk
    holds every identity).

    `failed` (a dict): isolate failing tasks into it (see `isolated`). `weights` and `primary`
    label the rows (`solver.raw`); `tables` (a list) collects each chunk's final log-stablemax
    tables, in row order, for `solver.likelihood`.
    Returns (voting frame, predictions_raw frame or None when predict.keep_raw is off, note)."""
    import polars as pl

    from arc_pipeline.solver.infer import predict_chunks, to_frame
    from arc_pipeline.solver.raw import raw_frame

    frames, raws = [], []

    def decode(raw) -> None:  # per chunk, so only one chunk's undecoded tokens are held at a time
        frames.append(to_frame(raw, source).with_columns(pl.lit(primary).alias("primary")))
        if pcfg.keep_raw:
            raws.append(raw_frame(raw, source, pcfg.threshold, pcfg.min_steps, weights=weights, primary=primary))
        if tables is not None:
            tables.append(raw.final_logp)

    stopped = predict_chunks(model, source, order, runtime, pcfg, decode, advance, remaining=remaining,
                             first=_test_inputs(source), failed=failed, on_note=on_note)
    if not frames:
        from arc_pipeline.solver.infer import empty_frame

        return empty_frame(), None, stopped
    return pl.concat(frames), (pl.concat(raws) if raws else None), stopped


STAGE = Stage(
    "predict", run, "Predict every augmented test input and vote (predictions.parquet).",
    reads=(DATASET,), optional=(CHECKPOINTS, ADAPT), writes=(PREDICTIONS, PREDICTIONS_RAW),  # or run.checkpoint
    config=("predict", "vote"),
    distributed=True, budget="deadline",
)
