"""Voting over augmented predictions: identical grids per (task, test index) pooled, ranked, scored.

A prediction frame has one row per prediction (`PREDICTION_SCHEMA`): the grid, already mapped back
through the inverse augmentation, as row-major bytes plus its shape (null grid = the decoded canvas
held no valid grid). `vote` pools identical grids and ranks them; `pass_at_k` scores the ranking
against known test outputs; `to_candidates` hands the top grids to the submission writer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Mapping, Sequence, get_args

import numpy as np
import polars as pl

from arc_pipeline.arc.io import atomic_path
from arc_pipeline.arc.fields import at_least, option
from arc_pipeline.arc.task import Task

PREDICTION_SCHEMA = {
    "task_id": pl.String,
    "test_index": pl.Int32,
    "grid": pl.Binary,  # row-major uint8 cells of the grid (values 0..9); null = no valid grid
    "rows": pl.UInt8,
    "cols": pl.UInt8,
    "halt_prob": pl.Float32,  # sigmoid(halt logit) at the step the prediction was taken
    "steps": pl.Int16,  # supervision steps used
}
GROUP = ["task_id", "test_index"]
CANDIDATE = ["rows", "cols", "grid"]
PASS_KS = (1, 2, 5, 10, 100, 1000)


RuleName = Literal["votes", "halt", "weighted", "checkpoints", "likelihood"]
RULES: tuple[str, ...] = get_args(RuleName)


@dataclass(frozen=True)
class VoteConfig:
    rule: RuleName = option(
        "votes", "how the candidates of one test input are ranked (docs/inference.md): votes (the reference's): most "
        "votes first, ties by mean halting probability; halt: highest mean halting probability first, ties by votes; "
        "weighted: votes weighted by halting probability (their sum) first, ties by votes; checkpoints: votes over "
        "the predictions of both weight sets of the checkpoint (EMA and the live weights) pooled, ties by mean halting "
        "probability (predict runs a second pass); likelihood: highest mean over the test input's views of the "
        "model's log-probability of the candidate under that view (`solver.likelihood`), ties by votes then halting "
        "probability", added_later=True)
    top_k: int = option(10, "candidates per test input kept in predictions.parquet (two attempts are submitted)",
                        at_least(2), added_later=True)
    compare: bool = option(
        False, "predict also records what every rule needs (the live-weights pass, every candidate scored under "
        "every view) so `arc-pipeline analyze` compares all rules; about doubles predict's time", added_later=True)

    @property
    def pooled(self) -> bool:
        """Predict runs both weight sets (EMA and live)."""
        return self.rule == "checkpoints" or self.compare

    @property
    def scored(self) -> bool:
        """Predict scores every candidate under every view (`solver.likelihood`)."""
        return self.rule == "likelihood" or self.compare


def grid_to_bytes(grid: np.ndarray) -> tuple[bytes, int, int]:
    g = np.ascontiguousarray(grid, dtype=np.uint8)
    return g.tobytes(), g.shape[0], g.shape[1]


def grid_from_bytes(data: bytes, rows: int, cols: int) -> np.ndarray:
    return np.frombuffer(data, dtype=np.uint8).reshape(rows, cols).copy()


def predictions_frame(
    task_ids: Sequence[str],
    test_indices: Sequence[int],
    grids: Sequence[np.ndarray | None],
    halt_probs: Sequence[float] | np.ndarray,
    steps: Sequence[int] | np.ndarray,
) -> pl.DataFrame:
    """A prediction frame from per-prediction lists; a None grid stays a null row."""
    data, rows, cols = [], [], []
    for g in grids:
        if g is None:
            data.append(None)
            rows.append(0)
            cols.append(0)
        else:
            b, r, c = grid_to_bytes(g)
            data.append(b)
            rows.append(r)
            cols.append(c)
    return pl.DataFrame(
        {
            "task_id": list(task_ids),
            "test_index": np.asarray(test_indices, dtype=np.int32),
            "grid": data,
            "rows": np.asarray(rows, dtype=np.uint8),
            "cols": np.asarray(cols, dtype=np.uint8),
            "halt_prob": np.asarray(halt_probs, dtype=np.float32),
            "steps": np.asarray(steps, dtype=np.int16),
        },
        schema=PREDICTION_SCHEMA,
    )


def for_rule(predictions: pl.DataFrame, rule: str) -> pl.DataFrame:
    """The rows a rule votes: every row for `checkpoints`; else only the first pass's (`primary`)
    when the frame holds two weight sets."""
    if rule == "checkpoints" or "primary" not in predictions.columns:
        return predictions
    return predictions.filter(pl.col("primary"))


def vote(predictions: pl.DataFrame, cfg: VoteConfig = VoteConfig(), scores: pl.DataFrame | None = None) -> pl.DataFrame:
    """Every distinct grid per (task, test index), ranked (rank 1 = best) by `cfg.rule`.

    Columns: task_id, test_index, rank, grid, rows, cols, votes, mean_halt_prob, mean_steps (and
    `score` under the likelihood rule, which needs `scores`: task_id, test_index, rows, cols, grid,
    score, from `solver.likelihood.candidate_scores`). `predictions` are voted as given: pick a
    rule's rows with `for_rule`. Ties left by the rule are broken by shape then bytes, so the order
    never depends on input order.
    """
    pooled = (
        predictions.filter(pl.col("grid").is_not_null())
        .group_by(GROUP + CANDIDATE)
        .agg(
            pl.len().cast(pl.Int32).alias("votes"),
            pl.col("halt_prob").mean().cast(pl.Float32).alias("mean_halt_prob"),
            pl.col("steps").cast(pl.Float32).mean().alias("mean_steps"),
        )
    )
    extra = []
    if cfg.rule in ("votes", "checkpoints"):
        keys = ["votes", "mean_halt_prob"]
    elif cfg.rule == "halt":
        keys = ["mean_halt_prob", "votes"]
    elif cfg.rule == "weighted":
        pooled = pooled.with_columns((pl.col("mean_halt_prob") * pl.col("votes")).alias("_weight"))
        keys = ["_weight", "votes"]
    else:
        if scores is None:
            raise ValueError("the likelihood rule needs candidate scores (solver.likelihood.candidate_scores)")
        # a candidate without a score (none is, when scores come from the same predictions) ranks last
        pooled = pooled.join(scores.select(GROUP + CANDIDATE + ["score"]), on=GROUP + CANDIDATE, how="left")
        pooled = pooled.with_columns(pl.col("score").cast(pl.Float64).fill_nan(None).fill_null(float("-inf")))
        keys, extra = ["score", "votes", "mean_halt_prob"], ["score"]
    desc = [True] * len(keys)
    ranked = pooled.sort(GROUP + keys + CANDIDATE, descending=[False, False] + desc + [False, False, False])
    ranked = ranked.with_columns((pl.int_range(pl.len()).over(GROUP) + 1).cast(pl.Int32).alias("rank"))
    return ranked.select(
        "task_id", "test_index", "rank", "grid", "rows", "cols", "votes", "mean_halt_prob", "mean_steps", *extra
    )


def _solutions_frame(tasks: Mapping[str, Task]) -> pl.DataFrame:
    ids, idx, data, rows, cols = [], [], [], [], []
    for tid, task in tasks.items():
        for i, pair in enumerate(task.test):
            if pair.output is None:
                continue
            b, r, c = grid_to_bytes(pair.output)
            ids.append(tid)
            idx.append(i)
            data.append(b)
            rows.append(r)
            cols.append(c)
    return pl.DataFrame(
        {"task_id": ids, "test_index": idx, "grid": data, "rows": rows, "cols": cols},
        schema={k: PREDICTION_SCHEMA[k] for k in ("task_id", "test_index", "grid", "rows", "cols")},
    )


def solution_ranks(voted: pl.DataFrame, tasks: Mapping[str, Task]) -> pl.DataFrame:
    """One row per known test output: task_id, test_index, rank of the right grid (null = never predicted)."""
    sols = _solutions_frame(tasks)
    hits = voted.select(GROUP + CANDIDATE + ["rank"])
    return sols.join(hits, on=GROUP + CANDIDATE, how="left").select("task_id", "test_index", "rank")


def _hits(voted: pl.DataFrame, tasks: Mapping[str, Task]) -> tuple[list[str], np.ndarray]:
    """(task id, rank of the right grid with inf for never predicted) per known test output."""
    ranks = solution_ranks(voted, tasks)
    r = ranks["rank"].to_numpy().astype(np.float64)
    return ranks["task_id"].to_list(), np.where(np.isnan(r), np.inf, r)


def pass_at_k(voted: pl.DataFrame, tasks: Mapping[str, Task], ks: Sequence[int] = PASS_KS) -> dict[int, float]:
    """Per output: the fraction of known test outputs whose right grid is ranked within the top K.

    Iterates over the solutions, so a test input with no prediction counts as a miss. This is
    Kaggle's leaderboard figure; `pass_at_k_per_task` is the paper's.
    """
    _, filled = _hits(voted, tasks)
    if len(filled) == 0:
        return {k: 0.0 for k in ks}
    return {k: float(np.mean(filled <= k)) for k in ks}


def pass_at_k_per_task(voted: pl.DataFrame, tasks: Mapping[str, Task], ks: Sequence[int] = PASS_KS) -> dict[int, float]:
    """Per task: the mean over tasks of the fraction of that task's test outputs right within K
    (the paper's and the reference's pass@K; tasks with no known output are left out)."""
    ids, filled = _hits(voted, tasks)
    if len(filled) == 0:
        return {k: 0.0 for k in ks}
    _, task_of = np.unique(np.asarray(ids, dtype=object).astype(str), return_inverse=True)
    per_task = np.bincount(task_of)
    return {k: float(np.mean(np.bincount(task_of, weights=filled <= k) / per_task)) for k in ks}


def pass_at_k_both(voted: pl.DataFrame, tasks: Mapping[str, Task], ks: Sequence[int] = PASS_KS) -> dict[str, dict[str, float]]:
    """{"per_task": {K: ...}, "per_output": {K: ...}} with string keys, as score.json stores them."""
    return {"per_task": {str(k): v for k, v in pass_at_k_per_task(voted, tasks, ks).items()},
            "per_output": {str(k): v for k, v in pass_at_k(voted, tasks, ks).items()}}


def to_candidates(
    voted: pl.DataFrame, tasks: Mapping[str, Task] | None = None, k: int = 2
) -> dict[str, list[list[np.ndarray]]]:
    """`candidates[task_id][test_index]` = up to k ranked grids, the submission writer's input.

    With `tasks`, every task and every test input is present (an empty list where nothing was
    predicted, so the writer's fallback applies); predictions for unknown tasks are dropped.
    """
    top = voted.filter(pl.col("rank") <= k).sort(GROUP + ["rank"])
    out: dict[str, list[list[np.ndarray]]] = {}
    if tasks is not None:
        out = {tid: [[] for _ in task.test] for tid, task in tasks.items()}
    for tid, i, data, r, c in top.select("task_id", "test_index", "grid", "rows", "cols").iter_rows():
        if tasks is None:
            slots = out.setdefault(tid, [])
            while len(slots) <= i:
                slots.append([])
        elif tid not in out or i >= len(out[tid]):
            continue
        out[tid][i].append(grid_from_bytes(data, r, c))
    return out


def write_predictions(path: str | Path, voted: pl.DataFrame, top_k: int) -> None:
    """predictions.parquet: the top_k candidates per test input, written atomically."""
    with atomic_path(path) as tmp:
        voted.filter(pl.col("rank") <= top_k).write_parquet(tmp)


def read_predictions(path: str | Path) -> pl.DataFrame:
    return pl.read_parquet(path)
