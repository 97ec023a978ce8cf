"""predictions_raw.parquet: every prediction before voting, with its whole trajectory, so halting and
the number of augmentations can be judged after the fact on any run (`arc-pipeline analyze`).

One row per predicted example (an augmented copy of a test input): task_id, test_index, index
(example), puzzle_id, aug_index (0 = identity; predict takes augmentations in this order), the
record (dihedral, colors), steps (supervision steps run), halt_step and halt_prob (the first step
>= predict.min_steps whose sigmoid(halt logit) > predict.threshold, else the last step run: where
halting would stop, or did when it was on), the grid there and at the last step (grid_halt/
grid_last with their shapes; null = no valid grid), and per step: step_halt_prob, step_grid,
step_rows, step_cols. Grids are mapped back to the task's own frame, as in voting. For the ranking
rules (`solver.vote.VoteConfig.rule`): weights ("ema" or "live": the weight set that predicted the
row) and primary (the first pass, the one every rule but `checkpoints` votes), logprob (the
log-probability of grid_last under the row's own view from the final step, `solver.likelihood`;
null without a grid) and, when predict scored them, view_logprob (this view's log-probability of
every candidate of its test input, in `solver.likelihood.candidate_table` order).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import polars as pl

from arc_pipeline.arc.task import Task
from arc_pipeline.solver.halting import first_halt
from arc_pipeline.solver.vote import PREDICTION_SCHEMA, RULES, VoteConfig, for_rule, pass_at_k_both, vote

RAW_FILE = "predictions_raw.parquet"
THRESHOLDS = (0.1, 0.3, 0.5, 0.7, 0.9, 0.99)


def halting_steps(step_halt: np.ndarray, steps: np.ndarray, threshold: float, min_steps: int) -> np.ndarray:
    """1-based step where halting at `threshold` stops each row: the first step >= min_steps with
    probability > threshold, else the last step run (`solver.halting`)."""
    return first_halt(step_halt, steps, min_steps=min_steps, cut=threshold)


def aug_index_of(source, rows: pl.DataFrame) -> np.ndarray:
    """The augmentation index (0 = identity) of each example row, from the build's puzzle table."""
    puzzles = getattr(source, "puzzles", None)
    if puzzles is None:
        return np.zeros(rows.height, dtype=np.int32)
    joined = rows.select(pl.col("puzzle_id").cast(pl.Int64)).join(
        puzzles.select(pl.col("puzzle_id").cast(pl.Int64), pl.col("aug_index").cast(pl.Int32)),
        on="puzzle_id", how="left", maintain_order="left")
    return joined["aug_index"].fill_null(0).to_numpy()


def raw_frame(raw, source, threshold: float, min_steps: int, *, weights: str = "ema", primary: bool = True) -> pl.DataFrame:
    """The predictions_raw rows of a recorded `solver.infer.Raw` (run_steps(..., record=True))."""
    from arc_pipeline.augment.encode import decode_to_original
    from arc_pipeline.solver.infer import aug_rows, canvas_of
    from arc_pipeline.solver.likelihood import own_logprobs

    if raw.step_tokens is None:
        raise ValueError("raw_frame needs run_steps(..., record=True)")
    n, s, seq_len = raw.step_tokens.shape
    rows = source.examples[raw.index.tolist()] if n else source.examples.head(0)
    records = aug_rows(rows)
    grids = decode_to_original(raw.step_tokens.reshape(n * s, seq_len), np.repeat(records, s, axis=0), canvas_of(source))
    steps = raw.steps.astype(np.int64)
    halt = halting_steps(raw.step_halt, steps, threshold, min_steps)
    data, shape_r, shape_c, probs = [], [], [], []
    for i in range(n):
        g = grids[i * s:i * s + steps[i]]
        data.append([None if x is None else x.tobytes() for x in g])
        shape_r.append([0 if x is None else x.shape[0] for x in g])
        shape_c.append([0 if x is None else x.shape[1] for x in g])
        probs.append(raw.step_halt[i, :steps[i]].tolist())

    def at(step: np.ndarray) -> tuple[list, list, list]:
        return ([data[i][step[i] - 1] for i in range(n)], [shape_r[i][step[i] - 1] for i in range(n)],
                [shape_c[i][step[i] - 1] for i in range(n)])

    gh, rh, ch = at(halt)
    gl, rl, cl = at(steps)
    last = [grids[i * s + steps[i] - 1] if steps[i] else None for i in range(n)]
    logprob = (own_logprobs(last, records, raw.final_logp, canvas_of(source)) if raw.final_logp is not None
               else np.full(n, np.nan))
    return pl.DataFrame({
        "task_id": rows["task_id"].cast(pl.String), "test_index": rows["test_index"].cast(pl.Int32),
        "index": pl.Series(raw.index, dtype=pl.Int64), "puzzle_id": rows["puzzle_id"].cast(pl.Int64),
        "aug_index": pl.Series(aug_index_of(source, rows), dtype=pl.Int32),
        "dihedral": pl.Series(records[:, 0], dtype=pl.UInt8), "colors": pl.Series(records[:, 1:].tolist(), dtype=pl.List(pl.UInt8)),
        "steps": pl.Series(steps, dtype=pl.Int16), "halt_step": pl.Series(halt, dtype=pl.Int16),
        "halt_prob": pl.Series([probs[i][halt[i] - 1] for i in range(n)], dtype=pl.Float32),
        "grid_halt": pl.Series(gh, dtype=pl.Binary), "rows_halt": pl.Series(rh, dtype=pl.UInt8),
        "cols_halt": pl.Series(ch, dtype=pl.UInt8),
        "grid_last": pl.Series(gl, dtype=pl.Binary), "rows_last": pl.Series(rl, dtype=pl.UInt8),
        "cols_last": pl.Series(cl, dtype=pl.UInt8),
        "step_halt_prob": pl.Series(probs, dtype=pl.List(pl.Float32)),
        "step_grid": pl.Series(data, dtype=pl.List(pl.Binary)),
        "step_rows": pl.Series(shape_r, dtype=pl.List(pl.UInt8)), "step_cols": pl.Series(shape_c, dtype=pl.List(pl.UInt8)),
        "weights": pl.Series([weights] * n, dtype=pl.String), "primary": pl.Series([primary] * n, dtype=pl.Boolean),
        "logprob": pl.Series(logprob, dtype=pl.Float32).fill_nan(None),
    })


def rank_predictions(frame: pl.DataFrame, raw: pl.DataFrame | None, tables: list | None, cfg: VoteConfig,
                     canvas: int) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """A run's predictions voted under `cfg.rule` (predict's last step). With `cfg.scored`, `raw`
    first gains `view_logprob` from `tables` (each chunk's final tables, in raw's row order)."""
    from arc_pipeline.solver.likelihood import candidate_scores, with_view_logprobs

    scores = None
    if cfg.scored and raw is not None:
        raw = with_view_logprobs(raw, np.concatenate(tables) if tables else np.zeros((0, 0, 0), np.float16), canvas)
        if cfg.rule == "likelihood":
            scores = candidate_scores(raw, raw["primary"])
    return vote(for_rule(frame, cfg.rule), cfg, scores), raw


# --- analysis: the same predictions voted under other stopping rules and fewer augmentations ----


def predictions_at(raw: pl.DataFrame, step: np.ndarray) -> pl.DataFrame:
    """A voting frame (PREDICTION_SCHEMA) taking row i's grid at 1-based `step[i]` (capped at the steps run)."""
    step = np.minimum(np.asarray(step, dtype=np.int64), raw["steps"].to_numpy())
    k = pl.Series("_k", step - 1, dtype=pl.Int64)
    probs = raw["step_halt_prob"].to_list()
    return raw.with_columns(k).select(
        "task_id", "test_index",
        pl.col("step_grid").list.get(pl.col("_k")).alias("grid"),
        pl.col("step_rows").list.get(pl.col("_k")).alias("rows"),
        pl.col("step_cols").list.get(pl.col("_k")).alias("cols"),
    ).with_columns(
        pl.Series("halt_prob", [p[j] for p, j in zip(probs, step - 1)], dtype=pl.Float32),
        pl.Series("steps", step, dtype=pl.Int16),
    ).cast({k: v for k, v in PREDICTION_SCHEMA.items()})


def padded_probs(raw: pl.DataFrame) -> np.ndarray:
    """(N, S) halting probabilities per step; NaN where a row did not run that step."""
    probs = raw["step_halt_prob"].to_list()
    s = max((len(p) for p in probs), default=0)
    out = np.full((len(probs), s), np.nan, dtype=np.float32)
    for i, p in enumerate(probs):
        out[i, :len(p)] = p
    return out


@dataclass(frozen=True)
class Row:
    rule: str  # what was voted
    mean_steps: float
    per_task: dict[str, float]  # pass@K, the paper's: mean over tasks of the fraction of outputs right
    per_output: dict[str, float]  # pass@K, Kaggle's: fraction of test outputs right


def _score(label: str, preds: pl.DataFrame, tasks: Mapping[str, Task], ks: Sequence[int],
           cfg: VoteConfig = VoteConfig(), scores: pl.DataFrame | None = None) -> Row:
    both = pass_at_k_both(vote(preds, cfg, scores), tasks, ks)
    mean = float(preds["steps"].cast(pl.Float64).mean()) if preds.height else 0.0
    return Row(label, mean, both["per_task"], both["per_output"])


def primary(raw: pl.DataFrame) -> pl.DataFrame:
    """The first pass's rows (what every rule but `checkpoints` votes); all rows of older files."""
    return for_rule(raw, "votes")


def stopping_rules(raw: pl.DataFrame, tasks: Mapping[str, Task], *, thresholds: Sequence[float] = THRESHOLDS,
                   min_steps: int = 1, ks: Sequence[int] = (1, 2)) -> list[Row]:
    """pass@K with all steps, halting at each threshold, and each fixed step 1..N_sup (first pass)."""
    raw = primary(raw)
    steps = raw["steps"].to_numpy().astype(np.int64)
    probs = padded_probs(raw)
    rows = [_score("all steps", predictions_at(raw, steps), tasks, ks)]
    for t in thresholds:
        rows.append(_score(f"halt p>{t:g}", predictions_at(raw, halting_steps(probs, steps, t, min_steps)), tasks, ks))
    for k in range(1, probs.shape[1] + 1):
        rows.append(_score(f"step {k}", predictions_at(raw, np.full(len(steps), k)), tasks, ks))
    return rows


def aug_counts(n_max: int) -> list[int]:
    """8, 16, 32, ... below n_max, then n_max (all)."""
    out, n = [], 8
    while n < n_max:
        out.append(n)
        n *= 2
    return out + [n_max]


def augmentations_voted(raw: pl.DataFrame, tasks: Mapping[str, Task], ks: Sequence[int] = (1, 2)) -> list[Row]:
    """pass@K (all steps) voting only each test input's first n augmentations (identity first; first pass)."""
    raw = primary(raw)
    n_max = int(raw["aug_index"].max()) + 1 if raw.height else 1
    rows = []
    for n in aug_counts(n_max):
        sub = raw.filter(pl.col("aug_index") < n)
        label = f"{n} augs" + (" (all)" if n == n_max else "")
        rows.append(_score(label, predictions_at(sub, sub["steps"].to_numpy()), tasks, ks))
    return rows


# --- ranking rules: the same final-step predictions ranked by every rule of solver.vote ----------

ANY = 2**31 - 1  # a K past every rank: "the right grid is a candidate at all"


def rule_missing(raw: pl.DataFrame, rule: str) -> str:
    """Why `rule` cannot be judged on this file ("" when it can)."""
    if rule == "checkpoints" and ("weights" not in raw.columns or raw["weights"].n_unique() < 2):
        return "one weight set predicted: rerun predict with vote.rule=checkpoints or vote.compare=true"
    if rule == "likelihood" and "view_logprob" not in raw.columns:
        return "no per-view log-probs: rerun predict with vote.rule=likelihood or vote.compare=true"
    return ""


def ranking_rules(raw: pl.DataFrame, tasks: Mapping[str, Task], ks: Sequence[int] = (1, 2)
                  ) -> tuple[list[Row], dict[str, str], dict[str, float]]:
    """pass@K of the final-step predictions under every rule this file can judge; for the others,
    why not; and the ceiling no rule can pass: the right grid among any pass's candidates at all
    ({"per_task": ..., "per_output": ...})."""
    from arc_pipeline.solver.likelihood import candidate_scores

    rows, missing = [], {}
    for rule in RULES:
        if why := rule_missing(raw, rule):
            missing[rule] = why
            continue
        sub = for_rule(raw, rule)
        scores = None
        if rule == "likelihood":
            scores = candidate_scores(raw, raw["primary"] if "primary" in raw.columns else None)
        rows.append(_score(rule, predictions_at(sub, sub["steps"].to_numpy()), tasks, ks,
                           VoteConfig(rule=rule), scores))
    every = vote(predictions_at(raw, raw["steps"].to_numpy()))
    ceiling = {k: v[str(ANY)] for k, v in pass_at_k_both(every, tasks, (ANY,)).items()}
    return rows, missing, ceiling
