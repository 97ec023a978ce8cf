"""predictions_raw: halting re-decided after the fact, grids picked per step, recorded steps gathered."""

import numpy as np
import polars as pl
import pytest

from arc_pipeline.solver.infer import PredictConfig, pack, run_steps, unpack
from arc_pipeline.solver.raw import aug_counts, halting_steps, predictions_at
from tests.solver.conftest import V


def test_halting_steps_follow_threshold_min_steps_and_steps_run():
    p = np.array([[0.9, 0.2, 0.95, 0.1], [0.1, 0.2, 0.3, 0.4], [0.6, np.nan, np.nan, np.nan]], dtype=np.float32)
    steps = np.array([4, 4, 1])
    assert halting_steps(p, steps, 0.5, 1).tolist() == [1, 4, 1]
    assert halting_steps(p, steps, 0.5, 2).tolist() == [3, 4, 1]  # step 1 may not stop; row 3 ran one step
    assert halting_steps(p, steps, 0.35, 1).tolist() == [1, 4, 1]
    assert halting_steps(p, steps, 0.99, 1).tolist() == [4, 4, 1]


def test_predictions_at_takes_each_rows_grid_at_its_step():
    g = [bytes([i]) for i in range(4)]
    raw = pl.DataFrame({
        "task_id": ["t", "t"], "test_index": [0, 0], "steps": pl.Series([3, 2], dtype=pl.Int16),
        "step_halt_prob": [[0.1, 0.2, 0.3], [0.4, 0.5]], "step_grid": [[g[0], g[1], g[2]], [g[3], None]],
        "step_rows": [[1, 1, 1], [1, 0]], "step_cols": [[1, 1, 1], [1, 0]],
    })
    out = predictions_at(raw, np.array([2, 3]))  # row 2 ran 2 steps: capped
    assert out["grid"].to_list() == [g[1], None] and out["steps"].to_list() == [2, 2]
    assert out["halt_prob"].to_list() == pytest.approx([0.2, 0.5])
    assert out.schema["test_index"] == pl.Int32 and out.schema["rows"] == pl.UInt8


def test_aug_counts_double_then_all():
    assert aug_counts(6) == [6] and aug_counts(8) == [8] and aug_counts(40) == [8, 16, 32, 40]


def test_recorded_steps_survive_pack_and_unpack(cpu_runtime, fake_trm, halting_source):
    src, halt_at = halting_source(n=11)
    raw = run_steps(fake_trm(max_steps=5), src, np.arange(11), cpu_runtime, PredictConfig(batch_size=4, halt="on"), record=True)
    assert raw.step_tokens.shape == (11, 5, src.seq_len)
    for i in range(11):  # the fake model predicts (input + step) % V at every step it ran
        for k in range(raw.steps[i]):
            assert np.array_equal(raw.step_tokens[i, k], (src.inputs[i].astype(int) + k + 1) % V)
        assert np.isnan(raw.step_halt[i, raw.steps[i]:]).all() and not np.isnan(raw.step_halt[i, :raw.steps[i]]).any()
    back = unpack(pack(raw, 12), raw)
    assert np.array_equal(back.step_tokens, raw.step_tokens) and np.array_equal(back.steps, raw.steps)
    np.testing.assert_allclose(back.step_halt, raw.step_halt)


def rules_raw(with_scores=True):
    """One test input whose answer is A: each rule's choice is known (see the comments)."""
    from arc_pipeline.arc.task import Pair, Task

    a, b, c = (np.array(g, np.uint8) for g in ([[1, 2], [3, 4]], [[0, 0], [0, 0]], [[0, 0, 0]]))
    # first pass (EMA): B, B (0.2 each), A (0.9), C (0.5); second pass (live): A, A (0.1)
    grids, halts = [b, b, a, c, a, a], [0.2, 0.2, 0.9, 0.5, 0.1, 0.1]
    primary = [True] * 4 + [False] * 2
    frame = pl.DataFrame({
        "task_id": ["t"] * 6, "test_index": pl.Series([0] * 6, dtype=pl.Int32), "steps": pl.Series([1] * 6, dtype=pl.Int16),
        "step_halt_prob": [[h] for h in halts], "step_grid": [[g.tobytes()] for g in grids],
        "step_rows": [[g.shape[0]] for g in grids], "step_cols": [[g.shape[1]] for g in grids],
        "grid_last": [g.tobytes() for g in grids], "rows_last": pl.Series([g.shape[0] for g in grids], dtype=pl.UInt8),
        "cols_last": pl.Series([g.shape[1] for g in grids], dtype=pl.UInt8),
        "weights": ["ema"] * 4 + ["live"] * 2, "primary": primary,
    }, schema_overrides={"step_rows": pl.List(pl.UInt8), "step_cols": pl.List(pl.UInt8)})
    if with_scores:  # candidates in order C (1x3), B, A; the live views would favour B if they counted
        lists = [[-5.0, -3.0, -1.0]] * 4 + [[0.0, 0.0, -100.0]] * 2
        frame = frame.with_columns(pl.Series("view_logprob", lists, dtype=pl.List(pl.Float32)))
    return frame, {"t": Task("t", (Pair(a, a),), (Pair(a, a),))}


def test_every_ranking_rule_is_judged_from_the_raw_file():
    from arc_pipeline.solver.raw import ranking_rules

    raw, tasks = rules_raw()
    rows, missing, ceiling = ranking_rules(raw, tasks)
    got = {r.rule: (r.per_output["1"], r.per_output["2"]) for r in rows}
    # votes: B (2 votes) first, A second; halt and weighted: A (0.9 vs 0.2 / 0.9 vs 0.4);
    # checkpoints: A has 3 votes with the live pass; likelihood: A's mean over the EMA views (-1) is best
    assert got == {"votes": (0.0, 1.0), "halt": (1.0, 1.0), "weighted": (1.0, 1.0), "checkpoints": (1.0, 1.0),
                   "likelihood": (1.0, 1.0)}
    assert missing == {} and ceiling == {"per_task": 1.0, "per_output": 1.0}
    assert rows[0].per_task == {"1": 0.0, "2": 1.0}

    one, _ = rules_raw(with_scores=False)
    rows, missing, _ = ranking_rules(one.filter(pl.col("primary")), tasks)
    assert [r.rule for r in rows] == ["votes", "halt", "weighted"]
    assert set(missing) == {"checkpoints", "likelihood"} and "vote.compare=true" in missing["likelihood"]


def test_stopping_rules_vote_the_first_pass_only():
    from arc_pipeline.solver.raw import stopping_rules

    raw, tasks = rules_raw(with_scores=False)
    rows = stopping_rules(raw, tasks, thresholds=(), min_steps=1)
    assert rows[0].rule == "all steps" and rows[0].per_output == {"1": 0.0, "2": 1.0}  # the live A votes not counted
