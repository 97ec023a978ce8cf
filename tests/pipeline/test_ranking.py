"""Ranking rules through `arc-pipeline run` and `analyze`: a tiny run with vote.rule = likelihood and
vote.compare on records both weight sets and every candidate under every view, votes by the rule,
and analyze judges every rule from the raw file."""

import json

import numpy as np
import polars as pl
import pytest


@pytest.mark.integration
def test_likelihood_run_records_every_view_and_analyze_judges_every_rule(tmp_path, cli, tiny_run):
    from arc_pipeline.solver.likelihood import candidate_scores, candidate_table

    rd = tmp_path / "run"
    result = tiny_run(rd, "--set", "vote.rule=likelihood", "--set", "vote.compare=true",
                      "--set", "train.steps=40", "--set", "train.lr=3e-3")  # enough steps for grids to decode
    assert result.exit_code == 0, result.output
    summary = json.loads((rd / "manifest.json").read_text())["stages"]["predict"]["summary"]
    assert summary["passes"] == ["ema", "live"] and summary["predictions"] == 2 * summary["of"]
    raw = pl.read_parquet(rd / "predictions_raw.parquet")
    assert raw.group_by("weights").len().sort("weights")["len"].to_list() == [summary["of"]] * 2
    assert raw.filter(pl.col("primary"))["weights"].unique().to_list() == ["ema"]
    # a view's own candidate under that view is its logprob column (one computation, two places)
    cands = candidate_table(raw)
    own = raw.with_row_index("_r").join(
        cands.rename({"rows": "rows_last", "cols": "cols_last", "grid": "grid_last"}),
        on=["task_id", "test_index", "rows_last", "cols_last", "grid_last"], how="inner")
    assert own.height == raw["grid_last"].is_not_null().sum() > 0
    got = [lp[c] for lp, c in zip(own["view_logprob"].to_list(), own["cand"].to_list())]
    np.testing.assert_allclose(got, own["logprob"].to_numpy(), rtol=1e-5)
    # predictions.parquet ranks the EMA pass's candidates by their mean log-prob over the EMA views
    written = pl.read_parquet(rd / "predictions.parquet")
    keys = ["task_id", "test_index", "rows", "cols", "grid"]
    scores = candidate_scores(raw, raw["primary"]).rename({"score": "want"})
    ranked = written.join(scores, on=keys, how="left")
    assert ranked["want"].null_count() == 0
    np.testing.assert_allclose(ranked["score"].to_numpy(), ranked["want"].to_numpy(), rtol=1e-12)
    by_rank = ranked.sort("task_id", "test_index", "rank")
    assert by_rank.group_by("task_id", "test_index", maintain_order=True).agg(
        (pl.col("score").diff().drop_nulls() <= 0).all().alias("ok"))["ok"].all()

    analysed = cli("analyze", str(rd), "--json")
    assert analysed.exit_code == 0, analysed.output
    out = json.loads(analysed.output)
    assert [r["rule"] for r in out["ranking_rules"]] == ["votes", "halt", "weighted", "checkpoints", "likelihood"]
    assert out["ranking_rules_missing"] == {}
    ceiling = out["candidates_ceiling"]["per_output"]
    assert all(r["per_output"]["2"] <= ceiling for r in out["ranking_rules"])
    text = cli("analyze", str(rd))
    assert text.exit_code == 0 and "ranking rule" in text.output and "likelihood" in text.output
