import numpy as np
import polars as pl
import pytest

from arc_pipeline.arc.task import Pair, Task, as_grid
from arc_pipeline.solver.vote import (
    VoteConfig,
    for_rule,
    grid_from_bytes,
    pass_at_k,
    pass_at_k_both,
    pass_at_k_per_task,
    predictions_frame,
    read_predictions,
    to_candidates,
    vote,
    write_predictions,
)

A = np.array([[1, 2], [3, 4]], dtype=np.uint8)
B = np.array([[0, 0], [0, 0]], dtype=np.uint8)
C = np.array([[0, 0, 0]], dtype=np.uint8)  # different shape, same bytes prefix as B
D = np.array([[5]], dtype=np.uint8)


def frame(rows):
    """rows: (task, test_index, grid, halt_prob)."""
    return predictions_frame(
        [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows], [3] * len(rows)
    )


def ranked(voted, task="t", i=0):
    sub = voted.filter((pl.col("task_id") == task) & (pl.col("test_index") == i)).sort("rank")
    return [grid_from_bytes(g, r, c) for g, r, c in sub.select("grid", "rows", "cols").iter_rows()]


def test_votes_rank_first_then_halt_probability_breaks_ties():
    preds = frame(
        [("t", 0, A, 0.1), ("t", 0, A, 0.1), ("t", 0, B, 0.2), ("t", 0, C, 0.9), ("t", 0, B, 0.2), ("t", 0, D, 0.5)]
    )
    v = vote(preds)
    order = ranked(v)
    # A and B have 2 votes each; B's mean halt prob (0.2) beats A's (0.1); C (0.9) beats D (0.5).
    assert [g.tolist() for g in order] == [B.tolist(), A.tolist(), C.tolist(), D.tolist()]
    top = v.filter(pl.col("rank") == 1).row(0, named=True)
    assert top["votes"] == 2 and top["mean_halt_prob"] == pytest.approx(0.2)


def test_same_bytes_different_shape_are_distinct_candidates():
    flat = np.zeros((1, 4), dtype=np.uint8)  # same 4 zero bytes as B (2x2)
    v = vote(frame([("t", 0, B, 0.5), ("t", 0, flat, 0.5)]))
    assert v.height == 2 and set(v["votes"].to_list()) == {1}


def test_rank_rules_halt_and_weighted():
    preds = frame([("t", 0, A, 0.3)] * 3 + [("t", 0, B, 0.95)] * 1 + [("t", 0, C, 0.5)] * 2)
    assert ranked(vote(preds, VoteConfig(rule="votes")))[0].tolist() == A.tolist()
    assert ranked(vote(preds, VoteConfig(rule="halt")))[0].tolist() == B.tolist()
    # weighted: A 0.9, B 0.95, C 1.0
    assert [g.tolist() for g in ranked(vote(preds, VoteConfig(rule="weighted")))] == [C.tolist(), B.tolist(), A.tolist()]


def test_order_independent_of_input_order():
    rows = [("t", 0, A, 0.5), ("t", 0, B, 0.5), ("t", 1, C, 0.1), ("u", 0, D, 0.4), ("t", 0, D, 0.5)]
    v1 = vote(frame(rows))
    v2 = vote(frame(rows[::-1]))
    assert v1.equals(v2)


def test_null_grids_get_no_votes_and_groups_are_separate():
    v = vote(frame([("t", 0, None, 0.9), ("t", 0, A, 0.1), ("t", 1, A, 0.1), ("u", 0, A, 0.1)]))
    assert v.height == 3
    assert v["rank"].to_list() == [1, 1, 1]


def task(tid, outputs):
    test = tuple(Pair(as_grid([[0]]), None if o is None else as_grid(o)) for o in outputs)
    return Task(tid, (Pair(as_grid([[1]]), as_grid([[1]])),), test)


def test_pass_at_k_counts_missing_inputs_as_misses():
    tasks = {"t": task("t", [A, B]), "u": task("u", [D]), "w": task("w", [[[7]]])}
    preds = frame(
        [("t", 0, A, 0.1)] * 3  # right at rank 1
        + [("t", 1, A, 0.1)] * 3 + [("t", 1, C, 0.1)] * 2 + [("t", 1, B, 0.1)]  # right at rank 3
        + [("u", 0, A, 0.9)]  # wrong
    )  # w: no prediction at all
    p = pass_at_k(vote(preds), tasks, ks=(1, 2, 3, 1000))
    assert p == {1: 0.25, 2: 0.25, 3: 0.5, 1000: 0.5}
    # per task (the paper's): t gets 1/2 at K=1 and 2/2 at K=3; u and w get 0 -> means over 3 tasks
    q = pass_at_k_per_task(vote(preds), tasks, ks=(1, 2, 3, 1000))
    assert q == pytest.approx({1: 0.5 / 3, 2: 0.5 / 3, 3: 1 / 3, 1000: 1 / 3})
    both = pass_at_k_both(vote(preds), tasks, ks=(1, 3))
    assert both == {"per_task": {"1": q[1], "3": q[3]}, "per_output": {"1": 0.25, "3": 0.5}}


def test_pass_at_k_ignores_hidden_outputs():
    tasks = {"t": task("t", [A, None])}
    assert pass_at_k(vote(frame([("t", 0, A, 0.5)])), tasks, ks=(1,)) == {1: 1.0}


def test_candidates_never_miss_a_test_input():
    tasks = {"t": task("t", [A, B, A]), "u": task("u", [D])}
    preds = frame([("t", 1, B, 0.2)] * 2 + [("t", 1, A, 0.1), ("t", 1, C, 0.1), ("x", 0, A, 0.1)])
    cand = to_candidates(vote(preds), tasks, k=2)
    assert set(cand) == {"t", "u"}
    assert [len(c) for c in cand["t"]] == [0, 2, 0] and cand["u"] == [[]]
    assert cand["t"][1][0].tolist() == B.tolist()


def test_predictions_parquet_round_trip_keeps_top_k(tmp_path):
    preds = frame([("t", 0, g, 0.5) for g in (A, A, A, B, B, C, D)])
    v = vote(preds)
    write_predictions(tmp_path / "predictions.parquet", v, top_k=2)
    back = read_predictions(tmp_path / "predictions.parquet")
    assert back["rank"].to_list() == [1, 2] and back["votes"].to_list() == [3, 2]
    assert grid_from_bytes(*back.select("grid", "rows", "cols").row(0)).tolist() == A.tolist()


def test_vote_config_declares_its_checks():
    from arc_pipeline.arc.fields import problems

    assert problems(VoteConfig(), "vote") == []
    assert problems(VoteConfig(top_k=1), "vote") == ["vote.top_k = 1: out of range; valid: [2, inf)"]


def test_checkpoints_ranks_as_votes_and_for_rule_picks_the_pooled_rows():
    preds = frame([("t", 0, A, 0.3), ("t", 0, B, 0.9), ("t", 0, B, 0.1), ("t", 0, A, 0.2)])
    preds = preds.with_columns(pl.Series("primary", [True, True, False, False]))
    assert vote(preds, VoteConfig(rule="checkpoints")).equals(vote(preds))
    assert for_rule(preds, "checkpoints").height == 4 and for_rule(preds, "votes").height == 2
    assert for_rule(preds.drop("primary"), "votes").height == 4  # a file with one weight set
    # the first pass alone: one vote each, B's halting probability (0.9) wins
    assert ranked(vote(for_rule(preds, "votes")))[0].tolist() == B.tolist()
    pooled = vote(for_rule(preds, "checkpoints"))
    assert pooled["votes"].to_list() == [2, 2] and ranked(pooled)[0].tolist() == B.tolist()  # 0.5 > 0.25


def test_likelihood_ranks_by_score_then_votes():
    preds = frame([("t", 0, A, 0.9), ("t", 0, A, 0.9), ("t", 0, B, 0.1), ("t", 0, C, 0.1), ("u", 0, D, 0.5)])
    scores = pl.concat([
        predictions_frame(["t"] * 3, [0] * 3, [A, B, C], [0.0] * 3, [1] * 3).with_columns(
            pl.Series("score", [-4.0, -1.0, -1.0])),
    ]).select("task_id", "test_index", "rows", "cols", "grid", "score")
    v = vote(preds, VoteConfig(rule="likelihood"), scores)
    # B and C tie on score and votes (1 each) and halting probability: shape then bytes decide (B is 2x2, C 1x3)
    assert [g.tolist() for g in ranked(v)] == [C.tolist(), B.tolist(), A.tolist()]
    assert v.filter(pl.col("task_id") == "u")["score"].to_list() == [float("-inf")]  # unscored ranks last
    assert "score" in v.columns and "score" not in vote(preds).columns
    with pytest.raises(ValueError, match="candidate scores"):
        vote(preds, VoteConfig(rule="likelihood"))


def test_rules_that_need_a_second_pass_or_tables_say_so():
    assert not VoteConfig().pooled and not VoteConfig().scored
    assert VoteConfig(rule="checkpoints").pooled and not VoteConfig(rule="checkpoints").scored
    assert VoteConfig(rule="likelihood").scored and not VoteConfig(rule="likelihood").pooled
    assert VoteConfig(compare=True).pooled and VoteConfig(compare=True).scored
