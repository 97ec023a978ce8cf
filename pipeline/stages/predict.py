"""predict: every augmented copy of every target test input through the model, voted
(predictions.parquet). Under a deadline, augmentations are taken identity-first, round by round,
and prediction stops when the clock runs out: every test input gets its identity pass first."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from arc.errors import ArcError
from pipeline.stages import Context, StageResult
from pipeline.rundir import ADAPT, CHECKPOINTS, DATASET, PREDICTIONS

SAFETY_S = 5.0  # seconds kept after prediction for voting, submit and report


def checkpoint_path(cfg, run_dir: Path) -> Path | None:
    """The checkpoint to predict with: adapt/ (pretrain-adapt) or checkpoints/; the best by the
    held-out split when it beats the latest, else the latest."""
    from solver import checkpoint as ckpt

    if cfg.run.protocol == "pretrain-adapt":
        folder = run_dir / ADAPT
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


def load_model(path: Path, runtime, use_ema: bool, fingerprint: str | None = None):
    """The TRM of a checkpoint, with its EMA weights applied when asked and present.

    `fingerprint`: the dataset build the checkpoint must belong to (None: trust the checkpoint,
    as for adapt/, whose rows are already in the build's numbering)."""
    from solver import checkpoint as ckpt
    from solver.config import ModelConfig
    from solver.ema import EMA
    from solver.model import TRM

    meta = ckpt.read_meta(path)
    mc = dict(meta["model_config"])
    mcfg = ModelConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in mc.items()})
    model = TRM(mcfg).to(runtime.device)
    ema = EMA(model) if use_ema and (Path(path) / "ema.pt").is_file() else None
    fp = meta.get("dataset_fingerprint", "") if fingerprint is None else fingerprint
    ckpt.load(path, model=model, ema=ema, fingerprint=fp, device=runtime.device)
    if ema is not None:
        ema.copy_to(model)
    model.eval()
    return model


def aug_order(source) -> np.ndarray:
    """Test-split example indices ordered by augmentation index (all identities first)."""
    import polars as pl

    ex = source.examples.with_row_index("i").join(
        source.puzzles.select(pl.col("puzzle_id").cast(pl.Int64), "aug_index"),
        left_on=pl.col("puzzle_id").cast(pl.Int64), right_on="puzzle_id", how="left")
    return ex.sort(["aug_index", "i"])["i"].to_numpy().astype(np.int64)


def run(cfg, run_dir: str | Path, ctx: Context | None = None) -> StageResult:
    from augment.dataset import open_split, read_meta
    from solver.device import setup_runtime
    from solver.infer import predict
    from solver.vote import VoteConfig, vote, write_predictions

    ctx = ctx or Context()
    run_dir = Path(run_dir)
    path = checkpoint_path(cfg, run_dir)
    if path is None:
        if ctx.deadline is not None:  # out of time before any checkpoint: the fallback submission stands
            ctx.note("predict: no checkpoint to predict with; submission.json keeps its fallback")
            return StageResult([], {"skipped": True}, note="no checkpoint")
        raise ArcError(f"{run_dir}: no checkpoint to predict with; run `arc-pipeline train --run-dir {run_dir}` first")
    ds = run_dir / DATASET
    source = open_split(ds, "test")
    runtime = setup_runtime(cfg.train.device, cfg.train.dtype)
    own = None if cfg.run.protocol == "pretrain-adapt" else read_meta(ds)["fingerprint"]
    model = load_model(path, runtime, cfg.predict.use_ema, own)
    order = aug_order(source)
    if cfg.run.max_test_augs:
        per_input = max(1, _test_inputs(source))
        order = order[: cfg.run.max_test_augs * per_input]
    t0, stopped = time.time(), ""
    with ctx.progress("predict", len(order), unit="pred") as advance:
        if ctx.deadline is None:
            if len(order) < len(source):
                source = dataclasses.replace(source, rows=np.asarray(source.rows)[np.sort(order)])
            frame = predict(model, source, runtime, cfg.predict, on_progress=advance)
        else:
            frame, stopped = _by_rounds(model, source, order, runtime, cfg.predict, ctx, advance)
    voted = vote(frame, VoteConfig())
    if runtime.rank == 0:
        write_predictions(run_dir / PREDICTIONS, voted, VoteConfig().top_k)
    if stopped:
        ctx.note(f"predict: {stopped}")
    summary = {"checkpoint": path.name, "predictions": len(frame), "of": len(source), "candidates": len(voted),
               "mean_steps": float(frame["steps"].mean()) if len(frame) else 0.0,
               "seconds": round(time.time() - t0, 1)}
    return StageResult([PREDICTIONS], summary, note=stopped)


def _test_inputs(source) -> int:
    ex = source.examples
    return ex.select(["task_id", "test_index"]).unique().height


def _by_rounds(model, source, order, runtime, pcfg, ctx, advance):
    """Predict chunk by chunk in augmentation order until done or the deadline is near; every
    rank takes its shard of each chunk, and all ranks agree on when to stop."""
    import torch

    from solver.infer import Raw, gather, run_steps, shard, to_frame

    rank, world = runtime.rank, runtime.world_size
    chunk = max(pcfg.batch_size * 4 * world, _test_inputs(source))  # the first chunk: every identity
    parts, stopped, last = [], "", 0.0
    for lo in range(0, len(order), chunk):
        left = ctx.remaining()
        stop = bool(lo) and left is not None and left < SAFETY_S + last  # the next chunk would not fit
        if world > 1:
            flags = runtime.all_gather(torch.tensor([int(stop)], device=runtime.device))
            stop = bool(flags.any())
        if stop:
            stopped = f"stopped by the time budget after {lo} of {len(order)} predictions"
            break
        t = time.time()
        idx = order[lo:lo + chunk]
        raw = run_steps(model, source, idx[shard(len(idx), rank, world)], runtime, pcfg, advance)
        parts.append(gather(raw, len(idx), runtime))
        last = time.time() - t
    raw = Raw(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(Raw)))
    return to_frame(raw, source), stopped
