"""The pipeline's own sections, [data] and [run]; every other section belongs to the package that uses it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from arc_pipeline.arc.errors import ArcError

SOURCE_KEYS = ("source", "weight", "limit", "demos")


@dataclass(frozen=True)
class TrainSource:
    """One entry of [data] train: a plain string, or a table {source, weight, limit, demos}."""

    source: str
    weight: float | None = None  # share of training draws relative to the other sources; None = by size
    limit: int = 0  # keep the first N tasks of this source (by id) after filtering; 0 = all
    demos: int = 3  # demonstrations per task cut from a RE-ARC example pool (arc.readers)


def train_source(entry: Any, where: str = "data.train") -> TrainSource:
    """A [data] train entry as a `TrainSource`, or an ArcError naming the entry and the valid keys."""
    if isinstance(entry, str):
        return TrainSource(entry)
    if not isinstance(entry, dict):
        raise ArcError(f"{where}: {entry!r} is neither a source name nor a table; valid: \"arc1/training\" or "
                       "{source = \"...\", weight = 1.0, limit = 0, demos = 3}")
    unknown = sorted(set(entry) - set(SOURCE_KEYS))
    if unknown:
        raise ArcError(f"{where}: unknown key {unknown[0]!r} in {entry!r}; valid keys: {', '.join(SOURCE_KEYS)}")
    src, weight, limit, demos = (entry.get(k) for k in SOURCE_KEYS)
    if not isinstance(src, str) or not src.strip():
        raise ArcError(f"{where}: {entry!r} needs source = a built-in name, directory or file")
    if weight is not None and (isinstance(weight, bool) or not isinstance(weight, (int, float))
                               or not math.isfinite(weight) or weight <= 0):
        raise ArcError(f"{where}: {src}: weight = {weight!r}; valid: a finite number > 0")
    for key, v, lo in (("limit", limit, 0), ("demos", demos, 1)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < lo):
            raise ArcError(f"{where}: {src}: {key} = {v!r}; valid: an integer >= {lo}")
    return TrainSource(src, None if weight is None else float(weight), limit or 0, 3 if demos is None else demos)


@dataclass(frozen=True)
class DataConfig:
    """[data]: where the tasks come from and which of them a run keeps."""

    # sources whose tasks train the model: names, or tables {source, weight, limit, demos} whose
    # weights give each source's share of training draws (all sources weighted, or none)
    train: tuple[str | dict, ...] = ("arc1/training",)
    target: str = "arc1/evaluation"  # the tasks to answer (solutions inline when known)
    keep_overlap: bool = False  # keep training tasks that contain a target test pair
    # how a target test pair is matched in training tasks: "symmetry" = also under the 8 dihedral
    # transforms and colour permutations fixing 0 (how augmented dumps leak); "symmetry+zero" = 0
    # permuted too; "exact" = content only (as before)
    overlap_check: Literal["exact", "symmetry", "symmetry+zero"] = "symmetry"
    max_side: int = 0  # keep only tasks whose every grid fits max_side x max_side; 0 = all
    limit_train: int = 0  # keep the first N training tasks (by id) after filtering; 0 = all
    limit_target: int = 0  # keep the first N target tasks (by id) after filtering; 0 = all
    # "sudoku" | "maze": train and target are puzzle CSVs (source,question,answer,rating) or
    # `generate sudoku|maze ...` command lines (train takes its train part, target its test part)
    domain: Literal["arc", "sudoku", "maze"] = "arc"
    skip_invalid: bool = False  # drop invalid tasks (each named in a note) instead of failing the run

    def train_sources(self) -> list[TrainSource]:
        """[data] train as `TrainSource`s (plain strings take the defaults)."""
        out = [train_source(e, f"data.train[{i}]") for i, e in enumerate(self.train)]
        weighted = [s.weight is not None for s in out]
        if any(weighted) and not all(weighted):
            bare = next(s.source for s in out if s.weight is None)
            raise ArcError(f"data.train: {bare} has no weight while other sources have one; give every source a "
                           "weight (its share of training draws), or none (shares follow each source's pairs)")
        return out

    def validate(self) -> list[str]:
        try:
            self.train_sources()
        except ArcError as e:
            return [str(e)]
        return []


TRACKERS = ("tensorboard", "wandb")


@dataclass(frozen=True)
class RunOptions:
    """[run]: how the run as a whole behaves (named apart from `PipelineConfig`, the whole config)."""

    protocol: Literal["joint", "pretrain-adapt"] = "joint"  # [build] protocol follows it
    # a checkpoint to start from (train is skipped when set): pretrain-adapt adapts it to the targets;
    # joint evaluates it as is on the tasks it was trained with, building its own augmentations
    checkpoint: str = ""
    devices: int = 1  # > 1 launches train, adapt and predict under torchrun
    time_budget: str = ""  # wall clock for the whole run, e.g. "12h", "90m", "600s"; "" = none
    reserve: float = 0.15  # fraction of the budget kept for predict/submit after train/adapt
    max_test_augs: int = 0  # predict at most this many augmented copies per test input; 0 = all built
    # the run's seed: cuts RE-ARC example pools into tasks at ingest, and a layer that sets it sets
    # build.seed, train.seed and predict.seed too (unless that layer sets them itself)
    seed: int = 0
    track: tuple[str, ...] = ()  # experiment trackers fed the training metrics: "tensorboard", "wandb" (extras)

    def validate(self) -> list[str]:
        bad = [t for t in self.track if t not in TRACKERS]
        return [f"run.track = {list(self.track)}: unknown {', '.join(bad)}; valid: {', '.join(TRACKERS)}"] if bad else []
