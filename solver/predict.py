"""Prediction as one call: a checkpoint and a test split in, voted and raw predictions out.

`predict(checkpoint, source, runtime, cfg, vote)` is what the predict stage, the puzzle stage and the
tests call. On an ARC test split every augmented copy of every test input runs through the model
(`solver.infer.predict_chunks`), augmentations identity-first and chunk by chunk, so under a
deadline every test input gets its identity pass first; the predictions are voted under
`vote.rule` (`solver.raw.rank_predictions`). On a puzzle split (Sudoku, mazes) each puzzle runs
once (no test-time augmentation, as in the paper) and there is nothing to vote.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterator

import numpy as np
import polars as pl

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.solver.infer import PredictConfig
from arc_pipeline.solver.vote import VoteConfig

Advance = Callable[..., None]
Progress = Callable[..., ContextManager[Advance]]  # progress(description, total, unit=) -> advance(n)


@contextmanager
def _quiet(description: str, total: int, unit: str = "it") -> Iterator[Advance]:
    yield lambda n=1, metrics=None: None


@dataclass(frozen=True)
class Prediction:
    """What one prediction call returns."""

    # ARC: ranked candidates per (task, test index), `solver.vote.vote`'s frame (predictions.parquet
    # keeps the top vote.top_k); puzzles: one row per target puzzle (row, tokens, text, steps, halt_prob)
    voted: pl.DataFrame
    raw: pl.DataFrame | None  # ARC with predict.keep_raw: every prediction before voting (`solver.raw`)
    summary: dict[str, Any]
    stopped: str = ""  # why prediction stopped before the end ("" when complete)
    failed: dict[str, str] = field(default_factory=dict)  # task id -> error, tasks left to the identity fallback

    @property
    def note(self) -> str:
        """One line for the run's log: stopped early, tasks that failed ("" when neither)."""
        failed = (f"{len(self.failed)} task(s) failed and fall back to their input grid: {', '.join(sorted(self.failed))}"
                  if self.failed else "")
        return "; ".join(filter(None, [self.stopped, failed]))


def predict(checkpoint: str | Path, source, runtime, cfg: PredictConfig = PredictConfig(),
            vote: VoteConfig = VoteConfig(), *, fingerprint: str | None = None, checkpoint_rows: bool = False,
            max_test_augs: int = 0, remaining: Callable[[], float] | None = None, progress: Progress | None = None,
            on_note: Callable[[str], None] | None = None) -> Prediction:
    """Predict the test split `source` (`augment.dataset.open_split(..., "test")`) with `checkpoint`.

    `fingerprint`: the build's, checked against the checkpoint's (None: not checked). `checkpoint_rows`:
    the checkpoint was trained on another build of the same tasks, so its puzzle rows are matched by
    (task, augmentation) and every test puzzle must have one. `max_test_augs`: augmented copies per test
    input (0 = all). `remaining()`: seconds left before the deadline (None: no deadline). `progress`: a
    `ui.progress`-shaped context manager; `on_note` hears each note as it happens."""
    from arc_pipeline.solver.checkpoint import build_model

    t0, note, progress = time.time(), on_note or (lambda msg: None), progress or _quiet
    checkpoint = Path(checkpoint)
    model = build_model(checkpoint, device=runtime.device, use_ema=cfg.use_ema, fingerprint=fingerprint)
    if getattr(source, "domain", None) is not None:  # Sudoku or mazes
        return _puzzles(model, checkpoint, source, runtime, cfg, remaining, progress, t0)
    if checkpoint_rows:
        source = rows_of_checkpoint(source, checkpoint, model)
    order = aug_order(source)
    if max_test_augs:
        order = order[: max_test_augs * max(1, _test_inputs(source))]
    cfg = sized(cfg, model, runtime, len(order), note)
    failed: dict[str, str] = {}
    # the ranking rules' extra work (solver.vote.VoteConfig): a second pass with the other weight
    # set, and every view's final table kept for the likelihood matrix
    pcfg = replace(cfg, keep_raw=True) if vote.scored else cfg
    has_ema = (checkpoint / "ema.pt").is_file()
    first = "ema" if cfg.use_ema and has_ema else "live"
    passes = [(model, first)]
    if vote.pooled and has_ema:
        other = build_model(checkpoint, device=runtime.device, use_ema=first == "live", fingerprint=fingerprint)
        passes.append((other, "live" if first == "ema" else "ema"))  # same table rows: `source` serves both
    elif vote.pooled:
        note("predict: the checkpoint has no EMA weights, so vote.rule=checkpoints pools one weight set")
    tables: list | None = [] if vote.scored else None
    frames, raws, stops = [], [], []
    with progress("predict", len(order) * len(passes), unit="pred") as advance:
        for i, (m, weights) in enumerate(passes):
            f, r, stopped = _in_rounds(m, source, order, runtime, pcfg, advance, remaining=remaining, failed=failed,
                                       on_note=note, weights=weights, primary=i == 0, tables=tables)
            frames.append(f)
            raws += [r] if r is not None else []
            stops += [f"{weights} weights: {stopped}" if i else stopped] if stopped else []
    from arc_pipeline.solver.infer import canvas_of, empty_frame
    from arc_pipeline.solver.raw import rank_predictions

    failed = _every_ranks(failed, runtime)
    if not getattr(runtime, "is_main", True):  # rank 0 alone was handed the predictions, and votes
        return Prediction(empty_frame(), None, {"checkpoint": checkpoint.name}, "; ".join(stops), failed)
    frame = pl.concat(frames, how="diagonal_relaxed")
    raw = pl.concat(raws, how="diagonal_relaxed") if raws else None
    voted, raw = rank_predictions(frame, raw, tables, vote, canvas_of(source))
    summary = {"checkpoint": checkpoint.name, "predictions": len(frame), "of": len(source),
               "passes": [w for _, w in passes], "candidates": len(voted),
               "mean_steps": float(frame["steps"].mean()) if len(frame) else 0.0,
               "seconds": round(time.time() - t0, 1)}
    if failed:
        summary["failed_tasks"] = sorted(failed)
    return Prediction(voted, raw if cfg.keep_raw else None, summary, "; ".join(stops), failed)


def sized(cfg: PredictConfig, model, runtime, n: int, note: Callable[[str], None]) -> PredictConfig:
    """`cfg` with predict.batch_size "auto" measured (`solver.memory.auto_predict_batch`); every rank
    takes the smallest pick, so all cut the same chunks."""
    if cfg.batch_size != "auto":
        return cfg
    from arc_pipeline.solver.memory import auto_predict_batch

    world = getattr(runtime, "world_size", 1)
    b, said = auto_predict_batch(model, runtime, -(-n // world))
    if world > 1:
        b = min(runtime.all_gather_object(b))
    if getattr(runtime, "is_main", True):
        note(said if world == 1 else f"{said} (the smallest of {world} ranks' picks: {b})")
    return replace(cfg, batch_size=b)


def _every_ranks(failed: dict[str, str], runtime) -> dict[str, str]:
    """The tasks that failed on any rank (each rank predicts its own shard), on every rank."""
    if not getattr(runtime, "distributed", False):
        return failed
    merged: dict[str, str] = {}
    for part in runtime.all_gather_object(failed):
        merged.update(part)
    return dict(sorted(merged.items()))


def aug_order(source) -> np.ndarray:
    """Test-split example indices ordered by augmentation index (all identities first)."""
    ex = source.examples.with_row_index("i").join(
        source.puzzles.select(pl.col("puzzle_id").cast(pl.Int64), "aug_index"),
        left_on=pl.col("puzzle_id").cast(pl.Int64), right_on="puzzle_id", how="left")
    return ex.sort(["aug_index", "i"])["i"].to_numpy().astype(np.int64)


def _test_inputs(source) -> int:
    """How many (task, test index) inputs the split holds."""
    return source.examples.select(["task_id", "test_index"]).unique().height


def rows_of_checkpoint(source, path: Path, model):
    """The test split read through the checkpoint's puzzle rows, matched by (task, augmentation);
    every test puzzle must be one the checkpoint trained."""
    from arc_pipeline.solver import puzzle_match
    from arc_pipeline.solver.infer import RowMapped, puzzle_rows

    pmap = puzzle_match.read_puzzle_map(path)
    if pmap is None:
        raise ArcError(f"{path}: the checkpoint has no puzzle_map.parquet, so its rows cannot be matched to the tasks")
    rows, unmatched = puzzle_rows(source, pmap)
    if unmatched:
        raise ArcError(f"{path}: {unmatched} test puzzle(s) of this build are not rows of the checkpoint; the build must "
                       f"use the checkpoint's own augmentations (rebuild: arc-pipeline run --from build)")
    return RowMapped(source, rows, model.puzzle_emb.num_puzzles)


def _in_rounds(model, source, order, runtime, pcfg, advance, *, remaining, failed, on_note, weights: str,
               primary: bool, tables: list | None):
    """One weight set over an ARC test split in augmentation order (`predict_chunks`; the first chunk
    holds every identity). `weights` and `primary` label the rows (`solver.raw`); `tables` collects
    each chunk's final log-stablemax tables, in row order, for `solver.likelihood`.
    Returns (voting frame, predictions_raw frame or None when predict.keep_raw is off, note)."""
    from arc_pipeline.solver.infer import empty_frame, predict_chunks, to_frame
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
        return empty_frame(), None, stopped
    return pl.concat(frames), (pl.concat(raws) if raws else None), stopped


def _puzzles(model, checkpoint: Path, source, runtime, cfg, remaining, progress, t0) -> Prediction:
    """Every target puzzle once, halting as [predict] says; one row per puzzle."""
    from arc_pipeline.solver.infer import predict_chunks

    n, parts = len(source), []
    pcfg = replace(sized(cfg, model, runtime, n, lambda msg: None), keep_raw=False)  # steps per puzzle: ARC's file only
    with progress("predict", n, unit="puzzle") as advance:
        stopped = predict_chunks(model, source, np.arange(n), runtime, pcfg, parts.append, advance, remaining=remaining)
    rows = np.concatenate([p.index for p in parts]) if parts else np.zeros(0, np.int64)
    tokens = np.concatenate([p.tokens for p in parts]) if parts else np.zeros((0, source.seq_len), np.uint8)
    steps = np.concatenate([p.steps for p in parts]) if parts else np.zeros(0, np.int16)
    halt = np.concatenate([p.halt_prob for p in parts]) if parts else np.zeros(0, np.float32)
    dom = source.domain
    text = [dom.text(dom.grids(t)) if _in_alphabet(t, source) else "" for t in tokens]
    frame = pl.DataFrame({"row": rows.astype(np.int64), "tokens": [t.tobytes() for t in tokens], "text": text,
                          "steps": steps.astype(np.int16), "halt_prob": halt.astype(np.float32)})
    summary = {"checkpoint": checkpoint.name, "predictions": len(frame), "of": n,
               "mean_steps": round(float(steps.mean()), 3) if len(steps) else 0.0, "seconds": round(time.time() - t0, 1)}
    return Prediction(frame, None, summary, stopped)


def _in_alphabet(tokens: np.ndarray, source) -> bool:
    return bool(len(tokens)) and int(tokens.min()) >= 1 and int(tokens.max()) < source.vocab_size
