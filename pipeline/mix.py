"""Mixing training sources: each source's share of training draws, and the per-task visit weights
that give the sampler (`solver.sampler`, the reference rule) those shares.

Under the reference rule an epoch visits every task once and streams all pairs of one of its
puzzles, so a source's share is its pairs' share. With weights (every [data] train entry weighted)
source s gets share w_s / sum(w): each of its tasks is visited v_s = share_s * P / P_s times per
epoch (P_s its pairs per epoch, P all training sources' pairs), so an epoch keeps its length and a
million generated examples no longer drown 400 real tasks. Target tasks trained under protocol
joint keep weight 1.
"""

from __future__ import annotations

import numpy as np
import polars as pl


def _kept(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter((pl.col("split") == "train") & ~pl.col("dropped"))


def source_shares(frame: pl.DataFrame) -> list[dict]:
    """Per training source (tasks.parquet rows): tasks, pairs, weight (None = unweighted), share."""
    kept = _kept(frame)
    if kept.height == 0:
        return []
    has_weight = "weight" in kept.columns
    g = (kept.group_by("source", maintain_order=True)
         .agg(pl.len().alias("tasks"), (pl.col("pairs") + pl.col("test_inputs")).sum().alias("pairs"),
              (pl.col("weight").first() if has_weight else pl.lit(None, pl.Float64)).alias("weight")))
    rows = g.to_dicts()
    weighted = all(r["weight"] is not None for r in rows)
    total = sum(r["weight"] for r in rows) if weighted else sum(r["pairs"] for r in rows)
    for r in rows:
        r["share"] = (r["weight"] if weighted else r["pairs"]) / total if total else 0.0
        if not weighted:
            r["weight"] = None
    return rows


def group_weights(names: tuple[str, ...], mean_pairs: np.ndarray, frame: pl.DataFrame) -> dict[str, float] | None:
    """Visits per epoch for every training task among the sampler's groups (`names`, with their
    mean pairs per visit), giving each weighted source its share; None when no source is weighted."""
    shares = source_shares(frame)
    if not shares or any(r["weight"] is None for r in shares):
        return None
    kept = _kept(frame)
    source_of = dict(zip(kept["id"].to_list(), kept["source"].to_list()))
    pairs: dict[str, float] = {}
    for name, p in zip(names, mean_pairs.tolist()):
        if name in source_of:
            pairs[source_of[name]] = pairs.get(source_of[name], 0.0) + p
    total = sum(pairs.values())
    visits = {r["source"]: r["share"] * total / pairs[r["source"]] for r in shares if pairs.get(r["source"])}
    return {name: visits[source_of[name]] for name in names if name in source_of and source_of[name] in visits}
