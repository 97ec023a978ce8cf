"""Fixtures for the report package's tests."""

import json

import numpy as np
import polars as pl
import pytest

HOSTILE = "<script>alert(1)</script>"


@pytest.fixture(scope="session")
def tiny_report_run():
    """A factory: `make(dir)` fills `dir` as ingest/predict/submit/score leave it."""
    return _tiny_run


def _tiny_run(tmp_path):
    """A run directory as ingest/predict/submit/score leave it: 3 tasks (one with a hostile id);
    one solved at rank 1, one whose truth is voted third, one with no prediction (fallback)."""
    from arc_pipeline.rundir import PREDICTIONS, PREDICTIONS_RAW, SCORE_JSON, SUBMISSION, TARGET_JSON, TRAIN_JSON
    from arc_pipeline.solver.vote import VoteConfig, predictions_frame, vote

    g = np.array([[1, 2], [3, 4]], dtype=np.uint8)
    a, b = (g + 1) % 10, (g + 2) % 10
    demo = {"input": [[5, 5], [5, 6]], "output": [[7, 7], [7, 8]]}
    test = {"input": g.tolist(), "output": g.tolist()}
    ids = ["solved1", HOSTILE, "nothing"]
    (tmp_path / "tasks").mkdir(parents=True)
    (tmp_path / TRAIN_JSON).write_text("{}")
    (tmp_path / TARGET_JSON).write_text(json.dumps({t: {"train": [demo], "test": [test]} for t in ids}))
    grids = [g, g, g, a] + [a, a, a, b, b, g]
    tids = ["solved1"] * 4 + [HOSTILE] * 6
    steps = [1, 2, 2, 3] + [2] * 6
    frame = predictions_frame(tids, [0] * 10, grids, [0.9] * 10, steps)
    vote(frame, VoteConfig()).write_parquet(tmp_path / PREDICTIONS)
    pl.DataFrame({"task_id": tids, "test_index": pl.Series([0] * 10, dtype=pl.Int32),
                  "aug_index": pl.Series(list(range(4)) + list(range(6)), dtype=pl.Int32),
                  "steps": pl.Series([3] * 10, dtype=pl.Int16), "halt_step": pl.Series(steps, dtype=pl.Int16),
                  "step_grid": [[x.tobytes()] * 3 for x in grids], "grid_last": [x.tobytes() for x in grids],
                  "rows_last": pl.Series([2] * 10, dtype=pl.UInt8), "cols_last": pl.Series([2] * 10, dtype=pl.UInt8), "step_rows": [[2] * 3] * 10,
                  "step_cols": [[2] * 3] * 10, "step_halt_prob": [[0.9] * 3] * 10},
                 schema_overrides={"step_grid": pl.List(pl.Binary), "step_rows": pl.List(pl.UInt8),
                                   "step_cols": pl.List(pl.UInt8), "step_halt_prob": pl.List(pl.Float32)}
                 ).write_parquet(tmp_path / PREDICTIONS_RAW)
    sub = {"solved1": [{"attempt_1": g.tolist(), "attempt_2": a.tolist()}],
           HOSTILE: [{"attempt_1": a.tolist(), "attempt_2": b.tolist()}],
           "nothing": [{"attempt_1": g.tolist(), "attempt_2": g.tolist()}]}
    (tmp_path / SUBMISSION).write_text(json.dumps(sub))
    (tmp_path / SCORE_JSON).write_text(json.dumps({"micro": 2 / 3, "macro": 2 / 3, "tasks": 3, "tasks_solved": 2,
                                                   "outputs": 3, "outputs_correct": 2,
                                                   "pass_at_k": {"per_task": {"1": 1 / 3, "2": 1 / 3, "5": 2 / 3}}}))
    return tmp_path
