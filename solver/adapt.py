"""Test-time adaptation (the competition protocol): fine-tune a pre-trained TRM on the target tasks'
demonstrations before predicting them.

The adapted table is laid out in the adapt build's puzzle numbering, so prediction reads the build's
ids directly: the table is extended to the build's size (`PuzzleEmbedding.extend`), every build
puzzle whose (task, augmentation) pre-training trained gets that row bit for bit, and every other
row (the target tasks' augmentations) starts at the mean of the trained rows (a blank or random
row gives 0%: TRM.md). Training runs through `solver.train.train` on the build's `adapt` split:
puzzle rows alone for the first `embeddings_only_fraction` of the steps, then the whole model; it
stops at `steps` or `time_budget_s`, checkpoints into `out_dir` and resumes from it.
Layout of `out_dir`: `step_*/`, `latest`, `metrics.jsonl`, and `init/` (the starting checkpoint).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import polars as pl
import torch

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.arc.fields import COUNT, FRACTION, OPTIONAL, at_least, option
from arc_pipeline.solver import checkpoint as ckpt
from arc_pipeline.solver import ckpt_folder, puzzle_match, table_store
from arc_pipeline.solver.config import ModelConfig, TrainConfig
from arc_pipeline.solver.device import setup_runtime

INIT = "init"
METRICS = "metrics.jsonl"


@dataclass(frozen=True)
class AdaptConfig:
    steps: int = option(1000, "optimizer steps of fine-tuning", COUNT)
    time_budget_s: float = option(0.0, "stop (with a checkpoint) after this many seconds; 0 = none", OPTIONAL)
    embeddings_only_fraction: float = option(0.25, "first part of the steps: only puzzle rows train", FRACTION)
    lr: float = option(0.0, "trunk learning rate; 0 = train.lr", OPTIONAL)
    puzzle_lr: float = option(0.0, "puzzle-row (sign-SGD) learning rate; 0 = train.puzzle_lr", OPTIONAL)
    lr_warmup: int = option(-1, "warm-up steps; -1 = min(train.lr_warmup, steps // 10)", at_least(-1))
    from_ema: bool = option(True, "start from the pre-trained EMA weights when the checkpoint has them")


@dataclass(frozen=True)
class AdaptResult:
    checkpoint: Path | None  # the fine-tuned step directory (predict from here)
    step: int
    stopped: str  # "steps" | "time_budget" | "already_done"
    rows_carried: int  # build puzzles whose pre-trained row was copied
    rows_new: int  # build puzzles starting at the trained mean (the targets' augmentations)
    seconds: float
    metrics: dict[str, Any]


def adapt_train_config(train_cfg: TrainConfig, cfg: AdaptConfig) -> TrainConfig:
    """The trainer's config for fine-tuning: the pre-training one with adapt's budget and rates."""
    warmup = cfg.lr_warmup if cfg.lr_warmup >= 0 else min(train_cfg.lr_warmup, cfg.steps // 10)
    return replace(train_cfg, steps=cfg.steps, epochs=0.0, time_budget_s=cfg.time_budget_s, lr=cfg.lr or train_cfg.lr,
                   puzzle_lr=cfg.puzzle_lr or train_cfg.puzzle_lr, lr_warmup=warmup)


def trained_ids(table: torch.Tensor, pre_map: pl.DataFrame | None) -> np.ndarray:
    """Rows pre-training actually trained: role 'train' in its map, else the non-zero rows
    (untrained rows stay exactly zero under sparse sign-SGD; this reads the whole table)."""
    ids = table_store.role_train_ids(pre_map)
    if ids is not None:
        ids = ids[(ids > 0) & (ids < table.shape[0])]
        if len(ids):
            return ids
    return (table[1:].abs().sum(1) > 0).nonzero().squeeze(1).numpy().astype(np.int64) + 1


def trained_mean(table, trained: np.ndarray, from_map: bool) -> torch.Tensor:
    """The mean of the rows `trained`: from a stored table's kept sum when it counted exactly those
    (no row read), else from the rows themselves."""
    if not len(trained):
        return torch.zeros(table.shape[1])
    kept = getattr(table, "mean_of_counted", None)
    mean = kept(table_store.TRAINED, len(trained)) if kept is not None and from_map else None
    return mean if mean is not None else table[torch.as_tensor(trained)].mean(0)


def plan_rows(puzzles: pl.DataFrame, pre_map: pl.DataFrame | None, trained: np.ndarray, num_rows: int) -> np.ndarray:
    """source[i] = the pre-trained row that build puzzle i copies, or -1 (start at the mean).

    Row 0 (blank) copies row 0; a build puzzle copies a row only if pre-training trained it.
    """
    source = np.full(num_rows, -1, dtype=np.int64)
    source[0] = 0
    if pre_map is None or pre_map.height == 0 or puzzles.height == 0:
        return source
    rows = puzzle_match.match_rows(puzzles, pre_map.filter(pl.col("puzzle_id").is_in(trained.tolist())))
    ids = puzzles["puzzle_id"].cast(pl.Int64).to_numpy()
    source[ids[rows >= 0]] = rows[rows >= 0]
    return source


def adapt_key(pretrained: Path, pre_meta: dict, dataset_fp: str, cfg: AdaptConfig) -> str:
    """What the starting point depends on: the pre-trained checkpoint, the build, EMA or not (not the
    budget: a resumed run may get another step count or time budget)."""
    blob = [pretrained.name, pre_meta.get("dataset_fingerprint", ""), pre_meta.get("step"), dataset_fp, cfg.from_ema]
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:32]


def _dataset(dataset):
    """(adapt source, dataset directory) from a build directory or an already opened adapt split."""
    from arc_pipeline.augment.dataset import open_split

    if isinstance(dataset, (str, Path)):
        return open_split(dataset, "adapt"), Path(dataset)
    return dataset, Path(dataset.dataset_dir)


def _write_init(pretrained: Path, pre_meta: dict, init_dir: Path, mcfg: ModelConfig, cfg: AdaptConfig,
                puzzles: pl.DataFrame, fingerprint: str, key: str) -> None:
    """The starting checkpoint in the build's numbering (its meta counts rows carried and new)."""
    model = ckpt.build_model(pretrained, use_ema=cfg.from_ema)
    emb = model.puzzle_emb
    pre_table = emb.table  # a tensor, or a stored table that reads only the rows asked for
    pre_map = puzzle_match.read_puzzle_map(pretrained)
    trained = trained_ids(pre_table, pre_map)
    mean = trained_mean(pre_table, trained, from_map=table_store.role_train_ids(pre_map) is not None)
    source = plan_rows(puzzles, pre_map, trained, mcfg.num_puzzles)
    with torch.no_grad():
        carried = source >= 0
        table = mean.expand(mcfg.num_puzzles, -1).clone()
        table[torch.as_tensor(carried)] = pre_table[torch.as_tensor(source[carried])]
        emb.replace(table.contiguous())
    meta = {"dataset_fingerprint": fingerprint, "adapt_key": key, "model_config": asdict(mcfg), "pretrained": str(pretrained),
            "pretrained_step": pre_meta.get("step"), "rows_carried": int(carried.sum()) - 1,
            "rows_new": int((~carried).sum())}
    ckpt.save(init_dir, 0, model=model, meta=meta, puzzle_map=puzzles, keep=1)


def adapt(
    pretrained: str | Path,
    dataset,
    out_dir: str | Path,
    cfg: AdaptConfig = AdaptConfig(),
    *,
    train_cfg: TrainConfig | None = None,
    model_cfg: ModelConfig | None = None,
    puzzle_map: pl.DataFrame | None = None,
    dataset_fingerprint: str | None = None,
    on_metrics: Callable[[dict], None] | None = None,
    runtime=None,
) -> AdaptResult:
    """Fine-tune `pretrained` on the `adapt` split of a build (a directory or the opened split),
    resuming from `out_dir` when a previous call stopped early.

    The architecture always comes from the checkpoint; `model_cfg` (when given) must agree with it
    on the sequence length. `puzzle_map` and `dataset_fingerprint` default to the build's own.
    """
    from arc_pipeline.augment.dataset import read_meta, read_puzzles
    from arc_pipeline.solver.train import train

    source, dataset_dir = _dataset(dataset)
    pretrained = ckpt_folder.resolve(pretrained)
    pre_meta = ckpt_folder.read_meta(pretrained)
    if "model_config" not in pre_meta:
        raise ArcError(f"{pretrained}: checkpoint meta has no model_config; pre-train with `arc-pipeline train` first")
    if len(source) == 0:
        raise ArcError(f"{dataset_dir}: the adapt split is empty; build the dataset with build.protocol = 'pretrain-adapt'")
    pre_cfg = ckpt.model_config(pre_meta, pretrained)
    for seq_len, what in ((source.seq_len, "the build"), (model_cfg.seq_len if model_cfg else pre_cfg.seq_len, "model.seq_len")):
        if seq_len != pre_cfg.seq_len:
            raise ArcError(f"{dataset_dir}: {what} has sequence length {seq_len} but the pre-trained model at {pretrained} "
                           f"was trained with {pre_cfg.seq_len}; build with the canvas the checkpoint was trained on")
    dmeta = read_meta(dataset_dir)
    puzzles = puzzle_map if puzzle_map is not None else read_puzzles(dataset_dir)
    mcfg = replace(pre_cfg, num_puzzles=int(dmeta["num_puzzles"]))
    # the fine-tuned checkpoints carry the build's own fingerprint, so any reader of the build loads them
    fp = dataset_fingerprint or dmeta["fingerprint"]
    key = adapt_key(pretrained, pre_meta, fp, cfg)
    out_dir = Path(out_dir)
    tcfg = adapt_train_config(train_cfg or TrainConfig(), cfg)
    runtime = runtime or setup_runtime(tcfg.device, tcfg.dtype)
    if runtime.is_main:  # under torchrun one rank writes the starting point; the others wait for it
        init = ckpt_folder.latest(out_dir / INIT)
        if (ckpt_folder.read_meta(init) if init is not None else {}).get("adapt_key") != key:
            if ckpt_folder.latest(out_dir) is not None:
                raise ArcError(f"{out_dir} holds an adaptation from another pre-trained checkpoint, build or adapt "
                               f"config; delete {out_dir} (or re-run the stage with --force) to adapt again")
            _write_init(pretrained, pre_meta, out_dir / INIT, mcfg, cfg, puzzles, fp, key)
    # rank 0 finds the starting point (hashing it); the others are told
    init_meta = runtime.broadcast_object(ckpt_folder.read_meta(out_dir / INIT) if runtime.is_main else None)
    frozen = int(round(cfg.embeddings_only_fraction * cfg.steps))
    result = train(
        mcfg, tcfg, source, out_dir, puzzle_map=puzzles, dataset_fingerprint=fp, init_from=out_dir / INIT,
        trunk_frozen_until=frozen, on_metrics=on_metrics, runtime=runtime, metrics_path=out_dir / METRICS,
    )  # fmt: skip
    return AdaptResult(result.checkpoint, result.step, result.stopped, int(init_meta.get("rows_carried", 0)),
                       int(init_meta.get("rows_new", 0)), result.seconds, result.metrics)

