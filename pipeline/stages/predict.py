"""predict: every augmented copy of every target test input through the model, voted
(predictions.parquet), and every prediction before voting with its trajectory
(predictions_raw.parquet, `solver.raw`). Augmentations are taken identity-first, chunk by chunk, in
one loop; under a deadline it stops when the next chunk would not fit, so every test input gets its
identity pass first."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from arc.errors import ArcError
from arc.io import atomic_path
from pipeline import puzzles
from pipeline.stages import Context, StageResult
from pipeline.rundir import ADAPT, CHECKPOINTS, DATASET, PREDICTIONS, PREDICTIONS_RAW

SAFETY_S = 5.0  # seconds kept after prediction for voting, submit and report


def checkpoint_path(cfg, run_dir: Path) -> Path | None:
    """The checkpoint to predict with: adapt/ (pretrain-adapt) or checkpoints/; the best by the
    held-out split when it beats the latest, else the latest."""
    from solver import checkpoint as ckpt

    if cfg.run.protocol == "pretrain-adapt":
        from solver.adapt import INIT

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
    if puzzles.for_run(cfg):  # Sudoku or mazes
        return puzzles.predict(cfg, Path(run_dir), ctx or Context())
    from augment.dataset import open_split, read_meta
    from solver.device import setup_runtime
    from solver.vote import VoteConfig, vote, write_predictions

    ctx = ctx or Context()
    run_dir = Path(run_dir)
    path = checkpoint_path(cfg, run_dir)
    if path is not None and (path.parent / "latest").is_file():
        from solver import checkpoint as ckpt

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
    model = load_model(path, runtime, cfg.predict.use_ema, own)
    if evaluated:
        source = rows_of_checkpoint(source, path, model)
    order = aug_order(source)
    if cfg.run.max_test_augs:
        per_input = max(1, _test_inputs(source))
        order = order[: cfg.run.max_test_augs * per_input]
    t0, failed = time.time(), {}
    with ctx.progress("predict", len(order), unit="pred") as advance:
        frame, raw, stopped = predict_in_rounds(model, source, order, runtime, cfg.predict, advance,
                                                remaining=ctx.remaining if ctx.deadline is not None else None,
                                                failed=failed, on_note=ctx.note)
    voted = vote(frame, VoteConfig())
    outputs = [PREDICTIONS] + ([PREDICTIONS_RAW] if raw is not None else [])
    if runtime.rank == 0:
        write_predictions(run_dir / PREDICTIONS, voted, VoteConfig().top_k)
        if raw is not None:
            with atomic_path(run_dir / PREDICTIONS_RAW) as tmp:
                raw.write_parquet(tmp, compression="zstd")
    if stopped:
        ctx.note(f"predict: {stopped}")
    summary = {"checkpoint": path.name, "checkpoint_path": _relative(path, run_dir), "predictions": len(frame),
               "of": len(source), "candidates": len(voted),
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


# what a failed batch raises: out of memory (torch's is a RuntimeError), a shape the model rejects
TASK_ERRORS = (RuntimeError, ValueError, IndexError, MemoryError, ArcError)


def isolated(run, source, idx: np.ndarray, failed: dict, on_note=None):
    """`run(idx)` (a Raw for those examples); when it raises, the examples are run again task by
    task and a task that still fails is left out (its test inputs get the identity fallback in
    submit) and recorded in `failed`. Rank-local, so every rank still reaches the same gather."""
    import dataclasses

    from solver.infer import Raw

    note = on_note or (lambda msg: None)
    try:
        return run(idx)
    except TASK_ERRORS as e:
        note(f"predict: a batch of {len(idx)} predictions failed ({type(e).__name__}: {str(e)[:200]}); "
             "retrying task by task")
    tasks = source.examples["task_id"].to_numpy()[idx]
    parts = []
    for tid in dict.fromkeys(tasks.tolist()):
        try:
            parts.append(run(idx[tasks == tid]))
        except TASK_ERRORS as e:
            failed[tid] = f"{type(e).__name__}: {e}"[:300]
            note(f"predict: task {tid} failed ({failed[tid]}); its test inputs fall back to their input grid")
    if not parts:
        parts.append(run(idx[:0]))

    def joined(name):
        values = [getattr(p, name) for p in parts]
        return None if any(v is None for v in values) else np.concatenate(values)

    return Raw(*(joined(f.name) for f in dataclasses.fields(Raw)))


def evaluates_checkpoint(cfg) -> bool:
    """Protocol joint with run.checkpoint: that checkpoint is evaluated as is on the tasks it was
    trained with (train is skipped; the build uses the checkpoint's own augmentations)."""
    return cfg.run.protocol == "joint" and bool(cfg.run.checkpoint)


def rows_of_checkpoint(source, path: Path, model):
    """The test split read through the checkpoint's puzzle rows, matched by (task, augmentation);
    every test puzzle must be one the checkpoint trained."""
    from solver import checkpoint as ckpt
    from solver.infer import RowMapped, puzzle_rows

    pmap = ckpt.read_puzzle_map(path)
    if pmap is None:
        raise ArcError(f"{path}: the checkpoint has no puzzle_map.parquet, so its rows cannot be matched to the tasks")
    rows, unmatched = puzzle_rows(source.examples, pmap)
    if unmatched:
        raise ArcError(f"{path}: {unmatched} test puzzle(s) of this build are not rows of the checkpoint; the build must "
                       f"use the checkpoint's own augmentations (rebuild: arc-pipeline run --force build)")
    return RowMapped(source, rows, model.puzzle_emb.num_puzzles)


def _test_inputs(source) -> int:
    ex = source.examples
    return ex.select(["task_id", "test_index"]).unique().height


def predict_in_rounds(model, source, order, runtime, pcfg, advance=None, *, remaining=None, failed=None, on_note=None):
    """Prediction of an ARC test split in augmentation order (`predict_chunks`; the first chunk
    holds every identity).

    `failed` (a dict): isolate failing tasks into it (see `isolated`).
    Returns (voting frame, predictions_raw frame or None when predict.keep_raw is off, note)."""
    import polars as pl

    from solver.infer import to_frame
    from solver.raw import raw_frame

    frames, raws = [], []

    def decode(raw) -> None:  # per chunk, so only one chunk's undecoded tokens are held at a time
        frames.append(to_frame(raw, source))
        if pcfg.keep_raw:
            raws.append(raw_frame(raw, source, pcfg.threshold, pcfg.min_steps))

    stopped = predict_chunks(model, source, order, runtime, pcfg, decode, advance, remaining=remaining,
                             first=_test_inputs(source), failed=failed, on_note=on_note)
    if not frames:
        from solver.infer import empty_frame

        return empty_frame(), None, stopped
    return pl.concat(frames), (pl.concat(raws) if raws else None), stopped


def predict_chunks(model, source, order, runtime, pcfg, on_chunk, advance=None, *, remaining=None, first: int = 0,
                   failed: dict | None = None, on_note=None) -> str:
    """The one prediction loop: chunks of `order` (at least `first` examples each) through
    `solver.infer.run_steps`, each chunk's gathered `Raw` handed to `on_chunk`, until done or, with
    `remaining()` (seconds left, or None), until the next chunk would not fit. Every rank takes its
    shard of each chunk and all ranks agree on when to stop. With `failed` (a dict), a task whose
    batch raises falls back alone (`isolated`). Returns the note ("" when complete)."""
    import torch

    from solver.infer import gather, run_steps, shard

    rank, world = runtime.rank, runtime.world_size
    chunk = max(pcfg.batch_size * 4 * world, first)
    stopped, last = "", 0.0
    for lo in range(0, len(order), chunk):
        left = remaining() if remaining is not None else None
        stop = bool(lo) and left is not None and left < SAFETY_S + last  # the next chunk would not fit
        if world > 1:
            flags = runtime.all_gather(torch.tensor([int(stop)], device=runtime.device))
            stop = bool(flags.any())
        if stop:
            stopped = f"stopped by the time budget after {lo} of {len(order)} predictions"
            break
        t = time.time()
        idx = order[lo:lo + chunk]
        mine = idx[shard(len(idx), rank, world)]

        def steps(i):
            return run_steps(model, source, i, runtime, pcfg, advance, record=pcfg.keep_raw)

        raw = steps(mine) if failed is None else isolated(steps, source, mine, failed, on_note)
        on_chunk(gather(raw, len(idx), runtime))
        last = time.time() - t
    return stopped
