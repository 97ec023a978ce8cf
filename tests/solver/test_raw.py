"""predictions_raw: halting re-decided after the fact, grids picked per step, recorded steps gathered."""

import numpy as np
import polars as pl
import pytest

from solver.infer import PredictConfig, pack, run_steps, unpack
from solver.raw import aug_counts, halting_steps, predictions_at
from tests.solver.test_infer import RUNTIME, V, FakeTRM, source


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


def test_recorded_steps_survive_pack_and_unpack():
    src, halt_at = source(n=11)
    raw = run_steps(FakeTRM(max_steps=5), src, np.arange(11), RUNTIME, PredictConfig(batch_size=4, halt="on"), record=True)
    assert raw.step_tokens.shape == (11, 5, src.seq_len)
    for i in range(11):  # the fake model predicts (input + step) % V at every step it ran
        for k in range(raw.steps[i]):
            assert np.array_equal(raw.step_tokens[i, k], (src.inputs[i].astype(int) + k + 1) % V)
        assert np.isnan(raw.step_halt[i, raw.steps[i]:]).all() and not np.isnan(raw.step_halt[i, :raw.steps[i]]).any()
    back = unpack(pack(raw, 12), src.seq_len, 5)
    assert np.array_equal(back.step_tokens, raw.step_tokens) and np.array_equal(back.steps, raw.steps)
    np.testing.assert_allclose(back.step_halt, raw.step_halt)
