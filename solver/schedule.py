"""How many optimizer steps a run takes: `train.steps`, or its epochs over the sampler's examples per epoch."""

from __future__ import annotations

from dataclasses import replace
from typing import Mapping

from arc_pipeline.solver.config import TrainConfig
from arc_pipeline.solver.sampler import make_sampler


def planned_steps(cfg: TrainConfig, epoch_length: float) -> int:
    """Optimizer steps of a run: `cfg.steps`, or epochs x examples per epoch / global batch when cfg.epochs > 0."""
    if cfg.epochs <= 0:
        return cfg.steps
    return max(1, round(cfg.epochs * epoch_length / cfg.global_batch))


def resolve_schedule(cfg: TrainConfig, source, group_weights: Mapping[str, float] | None = None) -> TrainConfig:
    """`cfg` with `steps` from its epochs (the sampler's examples per epoch on `source`); as is without epochs."""
    if cfg.epochs <= 0:
        return cfg
    sampler = make_sampler(source, cfg.sampling, cfg.seed, group_weights)
    return replace(cfg, steps=planned_steps(cfg, sampler.epoch_length))
