"""The pipeline's own sections, [data] and [run]; every other section belongs to the package that uses it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.arc.fields import OPTIONAL, SEED, UNIT, COUNT, Range, Rule, option
from arc_pipeline.config.values import parse_duration

SOURCE_KEYS = ("source", "weight", "limit", "demos")


@dataclass(frozen=True)
class TrainSource:
    """One entry of [data] train: a plain string, or a table {source, weight, limit, demos}."""

    source: str
    weight: float | None = None  # share of training draws relative to the other sources; None = by size
    limit: int = 0  # keep the first N tasks of this source (by id) after filtering; 0 = all
    # demonstrations per task cut from an example pool (arc.readers): None = the layout's default (3 for
    # RE-ARC pools; 0 for NVARC's synthetic puzzles: a whole file is one task, its last pair the test)
    demos: int | None = None


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
    for key, v, lo in (("limit", limit, 0), ("demos", demos, 0)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < lo):
            raise ArcError(f"{where}: {src}: {key} = {v!r}; valid: an integer >= {lo}")
    return TrainSource(src, None if weight is None else float(weight), limit or 0, demos)


def _sources_problem(train: tuple) -> str | None:
    """What is wrong with [data] train (an empty name, a bad table, weights on some sources only), or None."""
    for s in train:
        if isinstance(s, str) and not s.strip():
            return "holds an empty source; valid: built-in names, directories or files"
    try:
        sources = [train_source(e, f"data.train[{i}]") for i, e in enumerate(train)]
    except ArcError as e:
        return str(e)
    weighted = [s.weight is not None for s in sources]
    if any(weighted) and not all(weighted):
        bare = next(s.source for s in sources if s.weight is None)
        return (f"{bare} has no weight while other sources have one; give every source a weight (its share of "
                "training draws), or none (shares follow each source's pairs)")
    return None


def _duration_problem(t: str) -> str | None:
    try:
        s = parse_duration(t)
    except ArcError:
        return "not a duration; valid: seconds or e.g. 12h, 90m, 1h30m, 600s, '' for none"
    if not math.isfinite(s) or s < 0:
        return "must be a finite duration >= 0 ('' for none)"
    return None


def _endpoint_problem(e: str) -> str | None:
    host, _, port = e.rpartition(":")
    if e and (not host or not port.isdigit() or not 0 < int(port) < 65536):
        return "valid: node 0's HOST:PORT, e.g. node0.cluster:29500 ('' on one node)"
    return None


@dataclass(frozen=True)
class DataConfig:
    """[data]: where the tasks come from and which of them a run keeps."""

    train: tuple[str | dict, ...] = option(
        ("arc1/training",), "sources whose tasks train the model: names, or tables {source, weight, limit, demos} "
        "whose weights give each source's share of training draws (all sources weighted, or none)",
        Rule("built-in names, directories or files, or tables {source, weight, limit, demos}", _sources_problem))
    target: str = option("arc1/evaluation", "the tasks to answer (solutions inline when known)", Rule(
        "a source (built-in name, directory or challenges file)",
        lambda t: None if t.strip() else "valid: a source (built-in name, directory or challenges file)"))
    keep_overlap: bool = option(False, "keep training tasks that contain a target test pair")
    overlap_check: Literal["exact", "symmetry", "symmetry+zero"] = option(
        "symmetry", 'how a target test pair is matched in training tasks: "symmetry" = also under the 8 dihedral '
        'transforms and colour permutations fixing 0 (how augmented dumps leak); "symmetry+zero" = 0 permuted too; '
        '"exact" = content only (as before)')
    max_side: int = option(0, "keep only tasks whose every grid fits max_side x max_side; 0 = all", Range(0, 30))
    limit_train: int = option(0, "keep the first N training tasks (by id) after filtering; 0 = all", OPTIONAL)
    limit_target: int = option(0, "keep the first N target tasks (by id) after filtering; 0 = all", OPTIONAL)
    domain: Literal["arc", "sudoku", "maze"] = option(
        "arc", '"sudoku" | "maze": train and target are puzzle CSVs (source,question,answer,rating) or '
        "`generate sudoku|maze ...` command lines (train takes its train part, target its test part)")
    skip_invalid: bool = option(False, "drop invalid tasks (each named in a note) instead of failing the run")

    def train_sources(self) -> list[TrainSource]:
        """[data] train as `TrainSource`s (plain strings take the defaults)."""
        problem = _sources_problem(self.train)
        if problem:
            raise ArcError(f"data.train: {problem}")
        return [train_source(e, f"data.train[{i}]") for i, e in enumerate(self.train)]


TRACKERS = ("tensorboard", "wandb")


@dataclass(frozen=True)
class RunOptions:
    """[run]: how the run as a whole behaves (named apart from `PipelineConfig`, the whole config)."""

    protocol: Literal["joint", "pretrain-adapt"] = option(
        "joint", "joint (the paper's: target demonstrations train with the rest) or pretrain-adapt (the "
        "competition's: train on public tasks, then adapt to the targets); [build] protocol follows it")
    checkpoint: str = option(
        "", "a checkpoint to start from (train is skipped when set): pretrain-adapt adapts it to the targets; joint "
        "evaluates it as is on the tasks it was trained with, building its own augmentations")
    devices: int = option(1, "processes per node; > 1 (or nnodes > 1) launches train, adapt and predict under "
                          "torchrun", COUNT)
    nnodes: int = option(1, "machines; each runs the same command on one shared run directory with its own node_rank",
                         COUNT, added_later=True)
    node_rank: int = option(0, "this machine's place, 0 .. nnodes-1: node 0 runs the pipeline and hosts the "
                            "rendezvous, the others follow it", OPTIONAL, added_later=True)
    rdzv_endpoint: str = option("", "node 0's HOST:PORT, reachable from every node (torchrun's c10d rendezvous; "
                                "needed when nnodes > 1)", Rule("HOST:PORT, or '' on one node", _endpoint_problem),
                                added_later=True)
    rdzv_timeout: str = option("30m", "how long a node waits for the others to join a distributed stage",
                               Rule("a duration, e.g. 30m, 2h", _duration_problem), added_later=True)
    time_budget: str = option("", 'wall clock for the whole run, e.g. "12h", "90m", "600s"; "" = none',
                              Rule("seconds or e.g. 12h, 90m, 1h30m, 600s, '' for none", _duration_problem))
    reserve: float = option(0.15, "share of the budget kept for predict/submit after train/adapt", UNIT)
    max_test_augs: int = option(0, "predict at most this many augmented copies per test input; 0 = all built",
                                OPTIONAL)
    seed: int = option(
        0, "the run's seed: cuts RE-ARC example pools into tasks at ingest, and a layer that sets it sets "
        "build.seed, train.seed and predict.seed too (unless that layer sets them itself)", SEED)
    track: tuple[str, ...] = option(
        (), 'experiment trackers fed the training metrics: "tensorboard", "wandb" (extras)',
        Rule(", ".join(TRACKERS), lambda track: next(
            (f"unknown {t}; valid: {', '.join(TRACKERS)}" for t in track if t not in TRACKERS), None)))
    device_price: float = option(
        0.0, "$ per device-hour for the cost block of score.json and exports; 0 = the documented default for the "
        "device (H100, A100, L4, CPU, ...: arc_pipeline.protocol.PRICES, an assumption)", Range(0.0, None),
        added_later=True)
