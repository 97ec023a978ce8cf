"""The likelihood rule: each candidate of a test input scored by the model's log-probability of it
under every augmented view of that input, from the final step's token distributions.

Definition. The views v of a test input are its predicted augmented copies (record a_v, final-step
logits l_v of shape (L, V)). Its candidates c are the distinct valid grids the views predicted at
their final step, mapped back to the task's own frame (`candidate_table` fixes their order).
  t_v(c)   = encode(apply(c, a_v)) at the canvas's top-left: c's tokens as view v would write them
             (colour tokens, the EOS row and column, PAD elsewhere), the way test labels are encoded;
  lp_v(c)  = sum over the positions p with t_v(c)[p] != PAD of log stablemax(l_v[p])[t_v(c)[p]]:
             the log-likelihood the training loss maximises (stablemax; PAD positions carry no loss);
  score(c) = the mean of lp_v(c) over the views voted (a product of experts: the geometric mean of
             the views' likelihoods). Every candidate of a test input is scored under the same views,
             so the mean ranks as the sum would; the mean keeps figures comparable across inputs.
Ties go to votes, then mean halting probability, then shape and bytes (`solver.vote.vote`).

What one prediction pass computes. lp_v(c) for a candidate that view v did not predict needs v's
table at c's tokens in v's frame, and the candidates are known only once every view has run (views
of one input are spread over prediction chunks, identity first). So each view's final log-stablemax
table is kept, as float16 (2 * L * V bytes per prediction: 21.6 KB on a 30x30 canvas, about 9 GB
for 419 test inputs x 1000 views), until prediction ends, and the matrix is computed then. Only the
likelihood rule (or `vote.compare`) pays that. The own-view figure lp_v(argmax of v), the `logprob`
column of predictions_raw.parquet, needs only the row's own table and is always recorded.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from arc_pipeline.augment.encode import PAD, encode_examples
from arc_pipeline.augment.kernels import Packed, pack

GROUP = ["task_id", "test_index"]
BLOCK = 4096  # (candidate, view) pairs gathered at once: bounds the (pairs, L) index arrays


def log_stablemax_table(logits) -> np.ndarray:
    """(B, L, V) final-step logits (a torch tensor) as float16 log-stablemax tables, on the CPU."""
    import torch

    from arc_pipeline.solver.losses import log_stablemax

    return log_stablemax(logits).to(torch.float16).cpu().numpy()


def logprobs(grids: Packed, which: np.ndarray, views: np.ndarray, records: np.ndarray, tables: np.ndarray,
             canvas: int) -> np.ndarray:
    """lp_v(c) for each pair m: grid `which[m]` of `grids` (task frame) under view `views[m]`
    (its record `records[views[m]]`, its table `tables[views[m]]`, (L, V)). float64, (M,)."""
    which = np.asarray(which, dtype=np.int64)
    views = np.asarray(views, dtype=np.int64)
    n_views, seq_len, vocab = tables.shape
    flat = tables.reshape(-1)
    out = np.zeros(len(which), dtype=np.float64)
    pos = np.arange(seq_len, dtype=np.int64)[None, :] * vocab
    for lo in range(0, len(which), BLOCK):
        w, v = which[lo:lo + BLOCK], views[lo:lo + BLOCK]
        tokens, _ = encode_examples(grids, w, np.full(len(w), -1), records[v], np.zeros((len(w), 2), np.int64), canvas)
        vals = flat[v[:, None] * (seq_len * vocab) + pos + tokens].astype(np.float64)
        out[lo:lo + BLOCK] = np.where(tokens != PAD, vals, 0.0).sum(1)
    return out


def own_logprobs(grids: list[np.ndarray | None], records: np.ndarray, tables: np.ndarray, canvas: int) -> np.ndarray:
    """lp_v of each view's own grid (task frame) under that view; NaN where the grid is None."""
    ok = np.array([g is not None for g in grids], dtype=bool)
    out = np.full(len(grids), np.nan, dtype=np.float64)
    if ok.any():
        idx = np.flatnonzero(ok)
        out[idx] = logprobs(pack([grids[i] for i in idx]), np.arange(len(idx)), idx, records, tables, canvas)
    return out


def candidate_table(raw: pl.DataFrame) -> pl.DataFrame:
    """The candidates of every test input: task_id, test_index, cand (0-based), rows, cols, grid.

    The distinct valid final-step grids (grid_last) of all of the frame's rows, ordered by shape
    then bytes; `view_logprob` lists follow this order."""
    return (
        raw.filter(pl.col("grid_last").is_not_null())
        .select(*GROUP, pl.col("rows_last").alias("rows"), pl.col("cols_last").alias("cols"), pl.col("grid_last").alias("grid"))
        .unique()
        .sort(GROUP + ["rows", "cols", "grid"])
        .with_columns((pl.int_range(pl.len()).over(GROUP)).cast(pl.Int32).alias("cand"))
        .select(*GROUP, "cand", "rows", "cols", "grid")
    )


def records_of(raw: pl.DataFrame) -> np.ndarray:
    """The (n, 11) augmentation records (dihedral, colour map) of raw rows."""
    colors = np.array(raw["colors"].to_list(), dtype=np.uint8).reshape(raw.height, -1)
    return np.concatenate([raw["dihedral"].to_numpy().astype(np.uint8)[:, None], colors], axis=1)


def with_view_logprobs(raw: pl.DataFrame, tables: np.ndarray, canvas: int) -> pl.DataFrame:
    """`raw` plus `view_logprob`: for each row (a view), lp under it of every candidate of its test
    input, in `candidate_table` order. `tables[i]` is row i's final log-stablemax table."""
    if len(tables) != raw.height:
        raise ValueError(f"{len(tables)} tables for {raw.height} predictions")
    if raw.height == 0:
        return raw.with_columns(pl.Series("view_logprob", [], dtype=pl.List(pl.Float32)))
    cands = candidate_table(raw)
    records = records_of(raw)
    keyed = raw.select(GROUP).with_row_index("_row")
    lists: list[list[float]] = [[] for _ in range(raw.height)]
    by_group = {k: g for k, g in cands.group_by(GROUP, maintain_order=True)}
    for key, rows in keyed.group_by(GROUP, maintain_order=True):
        group = by_group.get(key)
        if group is None:
            continue  # no valid candidate: every list stays empty
        grids = pack([np.frombuffer(b, np.uint8).reshape(r, c) for b, r, c in group.select("grid", "rows", "cols").iter_rows()])
        views = rows["_row"].to_numpy().astype(np.int64)
        k = len(grids)
        lp = logprobs(grids, np.tile(np.arange(k), len(views)), np.repeat(views, k), records, tables, canvas)
        for j, v in enumerate(views):
            lists[v] = lp[j * k:(j + 1) * k].tolist()
    return raw.with_columns(pl.Series("view_logprob", lists, dtype=pl.List(pl.Float32)))


def candidate_scores(raw: pl.DataFrame, voted: pl.Series | None = None) -> pl.DataFrame:
    """score(c) per candidate: task_id, test_index, rows, cols, grid, score (mean lp over the views).

    `raw` must hold `view_logprob` (aligned to `candidate_table(raw)`); `voted` (a boolean mask
    over raw's rows) picks the views that count, e.g. one weight set."""
    if "view_logprob" not in raw.columns:
        raise ValueError("predictions_raw has no view_logprob: predict with vote.rule = \"likelihood\" or vote.compare = true")
    cands = candidate_table(raw)
    views = raw if voted is None else raw.filter(voted)
    long = (
        views.select(*GROUP, "view_logprob")
        .with_columns(pl.int_ranges(pl.col("view_logprob").list.len()).cast(pl.List(pl.Int32)).alias("cand"))
        .explode("view_logprob", "cand")
        .drop_nulls("cand")
        .group_by(GROUP + ["cand"])
        .agg(pl.col("view_logprob").cast(pl.Float64).mean().alias("score"))
    )
    return cands.join(long, on=GROUP + ["cand"], how="inner").select(*GROUP, "rows", "cols", "grid", "score")
