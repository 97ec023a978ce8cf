"""Test-time adaptation (the competition protocol): fine-tune a pre-trained TRM on the target tasks'
demonstrations before predicting them.

The pre-trained table keeps its rows untouched; one new row per target puzzle (task x augmentation)
is appended, starting at the mean of the trained rows (a blank or random row gives 0%: TRM.md).
Training runs through `solver.train.train` on the build's `adapt` split with the dataset's puzzle
ids mapped to the new rows: embeddings alone for the first `embeddings_only_fraction` of the
steps, then the whole model; it stops at train_cfg.steps or train_cfg.time_budget_s, checkpoints,
and resumes like training. Layout of `out_dir`: `init/` (the extended starting checkpoint),
`checkpoints/` (the fine-tuning run), `metrics.jsonl`.
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

from arc.errors import ArcError
from solver import checkpoint as ckpt
from solver.config import ModelConfig, TrainConfig
from solver.infer import RowMapped, aug_keys

MAP_COLUMNS = ("puzzle_id", "task_id", "role", "dihedral", "colors")


@dataclass(frozen=True)
class AdaptConfig:
    embeddings_only_fraction: float = 0.25  # first part of the steps: only the new puzzle rows train
    from_ema: bool = True  # start from the pre-trained EMA weights when the checkpoint has them

    def __post_init__(self) -> None:
        if not 0.0 <= self.embeddings_only_fraction <= 1.0:
            raise ValueError(f"AdaptConfig.embeddings_only_fraction must be in [0, 1], got {self.embeddings_only_fraction}")


@dataclass(frozen=True)
class AdaptResult:
    checkpoint: Path | None  # the fine-tuned step directory (predict from here)
    step: int
    stopped: str  # "steps" | "time_budget" | "already_done"
    new_rows: int  # puzzle rows added for the target tasks
    pretrained_rows: int
    seconds: float
    metrics: dict[str, Any]


def _map_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """The puzzle-map columns with fixed dtypes, so maps from different sources concatenate."""
    if "role" not in frame.columns:
        frame = frame.with_columns(pl.lit("train").alias("role"))
    colors = np.array(frame["colors"].to_list(), dtype=np.uint8).reshape(frame.height, 10)
    return pl.DataFrame(
        {
            "puzzle_id": frame["puzzle_id"].cast(pl.Int64),
            "task_id": frame["task_id"].cast(pl.String),
            "role": frame["role"].cast(pl.String),
            "dihedral": frame["dihedral"].cast(pl.UInt8),
            "colors": pl.Series("colors", colors, dtype=pl.Array(pl.UInt8, 10)),
        }
    )


def _keys(frame: pl.DataFrame) -> np.ndarray:
    colors = np.array(frame["colors"].to_list(), dtype=np.int64).reshape(frame.height, -1)
    return np.array([f"{t}\x00{k}" for t, k in zip(frame["task_id"].to_list(), aug_keys(frame["dihedral"].to_numpy(), colors))])


def plan_rows(pre_map: pl.DataFrame | None, n_pre: int, targets: pl.DataFrame, num_dataset_puzzles: int):
    """(table row for every dataset puzzle id, the adapted puzzle map).

    Target puzzles get rows n_pre.. in puzzle-id order; pre-trained map entries for the same
    (task, augmentation) are dropped from the map so each key names one row.
    """
    targets = _map_frame(targets.sort("puzzle_id"))
    rows = np.zeros(num_dataset_puzzles, dtype=np.int64)
    new_ids = np.arange(n_pre, n_pre + targets.height, dtype=np.int64)
    rows[targets["puzzle_id"].to_numpy()] = new_ids
    added = targets.with_columns(pl.Series("puzzle_id", new_ids, dtype=pl.Int64), pl.lit("target").alias("role"))
    if pre_map is None or pre_map.height == 0:
        return rows, added
    old = _map_frame(pre_map)
    old = old.filter(~pl.Series(np.isin(_keys(old), _keys(targets))))
    return rows, pl.concat([old, added])


def _trained_mean(table: torch.Tensor, pre_map: pl.DataFrame | None) -> torch.Tensor:
    """Mean of the rows pre-training actually trained: role 'train' in its map, else non-zero rows
    (untrained rows stay exactly zero under sparse sign-SGD, and would drag the mean to zero)."""
    ids = None
    if pre_map is not None and "role" in pre_map.columns:
        ids = pre_map.filter(pl.col("role") == "train")["puzzle_id"].to_numpy().astype(np.int64)
        ids = ids[(ids > 0) & (ids < table.shape[0])]
    if ids is None or len(ids) == 0:
        ids = (table[1:].abs().sum(1) > 0).nonzero().squeeze(1).numpy() + 1
    if len(ids) == 0:
        return torch.zeros(table.shape[1], dtype=table.dtype)
    return table[torch.as_tensor(ids)].mean(0)


def adapt_fingerprint(pretrained: Path, pre_meta: dict, dataset_meta: dict, cfg: AdaptConfig) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([str(pretrained.name), pre_meta.get("dataset_fingerprint", ""), pre_meta.get("step"),
                         dataset_meta["fingerprint"], asdict(cfg)], sort_keys=True).encode())
    return "adapt-" + h.hexdigest()[:32]


def _write_init(pretrained: Path, pre_meta: dict, init_dir: Path, mcfg: ModelConfig, cfg: AdaptConfig,
                pre_map, amap: pl.DataFrame, n_new: int, fingerprint: str) -> None:
    """The starting checkpoint: pre-trained weights (EMA when asked), table extended by n_new rows."""
    from solver.ema import EMA
    from solver.model import TRM

    model = TRM(ModelConfig(**pre_meta["model_config"]))
    ema = EMA(model, 0.5) if cfg.from_ema and (pretrained / "ema.pt").is_file() else None
    ckpt.load(pretrained, model=model, ema=ema, fingerprint=pre_meta.get("dataset_fingerprint", ""))
    if ema is not None:
        ema.copy_to(model)
    mean = _trained_mean(model.puzzle_emb.table, pre_map)
    new = model.puzzle_emb.extend(n_new, init="mean")
    with torch.no_grad():
        model.puzzle_emb.table[new.start : new.stop] = mean
    meta = {"dataset_fingerprint": fingerprint, "model_config": asdict(mcfg), "pretrained": str(pretrained),
            "pretrained_step": pre_meta.get("step")}
    ckpt.save(init_dir, 0, model=model, meta=meta, puzzle_map=amap, keep=1)


def adapt(
    pretrained: str | Path,
    dataset_dir: str | Path,
    out_dir: str | Path,
    train_cfg: TrainConfig,
    cfg: AdaptConfig = AdaptConfig(),
    *,
    runtime=None,
    on_metrics: Callable[[dict], None] | None = None,
) -> AdaptResult:
    """Fine-tune `pretrained` on the target demonstrations of the build at `dataset_dir` (resumes
    from `out_dir/checkpoints` when a previous call stopped early)."""
    from augment.dataset import open_split, read_meta, read_puzzles
    from solver.train import train

    pretrained = ckpt.resolve(pretrained)
    pre_meta = ckpt.read_meta(pretrained)
    if "model_config" not in pre_meta:
        raise ArcError(f"{pretrained}: checkpoint meta has no model_config; pre-train with `arc-pipeline train` first")
    dmeta = read_meta(dataset_dir)
    source = open_split(dataset_dir, "adapt")
    if len(source) == 0:
        raise ArcError(f"{dataset_dir}: the adapt split is empty; build the dataset with build.protocol = 'pretrain-adapt'")
    pre_cfg = ModelConfig(**pre_meta["model_config"])
    if pre_cfg.seq_len != source.seq_len:
        raise ArcError(f"{dataset_dir}: canvas {source.canvas} (seq_len {source.seq_len}) differs from the pre-trained "
                       f"model's seq_len {pre_cfg.seq_len}; build with the canvas the checkpoint was trained on")
    pre_map = ckpt.read_puzzle_map(pretrained)
    puzzles = read_puzzles(dataset_dir)
    targets = puzzles.filter(pl.col("role") == "target")
    n_pre = pre_cfg.num_puzzles
    rows, amap = plan_rows(pre_map, n_pre, targets, int(dmeta["num_puzzles"]))
    mcfg = replace(pre_cfg, num_puzzles=n_pre + targets.height)
    fp = adapt_fingerprint(pretrained, pre_meta, dmeta, cfg)
    out_dir = Path(out_dir)
    init_dir = out_dir / "init"
    init = ckpt.latest(init_dir)
    if init is None or ckpt.read_meta(init).get("dataset_fingerprint") != fp:
        _write_init(pretrained, pre_meta, init_dir, mcfg, cfg, pre_map, amap, targets.height, fp)
    frozen = int(round(cfg.embeddings_only_fraction * train_cfg.steps))
    result = train(
        mcfg, train_cfg, RowMapped(source, rows, mcfg.num_puzzles), out_dir / "checkpoints",
        puzzle_map=amap, dataset_fingerprint=fp, init_from=init_dir, trunk_frozen_until=frozen,
        on_metrics=on_metrics, runtime=runtime,
    )  # fmt: skip
    return AdaptResult(result.checkpoint, result.step, result.stopped, targets.height, n_pre, result.seconds, result.metrics)
