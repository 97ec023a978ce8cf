"""Fixtures for the pipeline package's tests: run directories as the stages leave them, for the report and tracking."""

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


@pytest.fixture(scope="session")
def crafted_report_run():
    """A factory: `make(dir, tasks)` writes a run directory from `tasks` = {task id: [(input, truth,
    predictions), ...] per test input}, predictions being grids or None (decoded to no valid grid):
    target.json (one demonstration each), predictions.parquet voted from them, predictions_raw's
    counting columns, submission.json (the top two, or the test input twice when nothing is voted)
    and score.json from the submission."""
    return _crafted_run


def _crafted_run(root, tasks):
    from arc_pipeline.arc.load import load
    from arc_pipeline.rundir import PREDICTIONS, PREDICTIONS_RAW, SCORE_JSON, SUBMISSION, TARGET_JSON, TRAIN_JSON
    from arc_pipeline.solver.vote import VoteConfig, pass_at_k_both, predictions_frame, to_candidates, vote
    from arc_pipeline.submissions.score import score

    root.mkdir(parents=True, exist_ok=True)
    (root / "tasks").mkdir()
    (root / TRAIN_JSON).write_text("{}")
    demo = {"input": [[5, 5], [5, 6]], "output": [[7, 7], [7, 8]]}
    (root / TARGET_JSON).write_text(json.dumps({tid: {"train": [demo], "test": [
        {"input": np.asarray(i).tolist(), "output": np.asarray(o).tolist()} for i, o, _ in tests]}
        for tid, tests in tasks.items()}))
    tids, idx, grids = [], [], []
    for tid, tests in tasks.items():
        for i, (_, _, preds) in enumerate(tests):
            tids += [tid] * len(preds)
            idx += [i] * len(preds)
            grids += [None if g is None else np.asarray(g, dtype=np.uint8) for g in preds]
    frame = predictions_frame(tids, idx, grids, [0.9] * len(tids), [2] * len(tids))
    voted = vote(frame, VoteConfig())
    voted.write_parquet(root / PREDICTIONS)
    pl.DataFrame({"task_id": tids, "test_index": pl.Series(idx, dtype=pl.Int32),
                  "halt_step": pl.Series([2] * len(tids), dtype=pl.Int16)}).write_parquet(root / PREDICTIONS_RAW)
    target = load(str(root / TARGET_JSON)).tasks
    cands = to_candidates(voted, target)
    sub = {tid: [{"attempt_1": (c[0] if c else t.test[i].input).tolist(),
                  "attempt_2": (c[1] if len(c) > 1 else c[0] if c else t.test[i].input).tolist()}
                 for i, c in enumerate(cands[tid])] for tid, t in target.items()}
    (root / SUBMISSION).write_text(json.dumps(sub))
    out = score(root / SUBMISSION, target).to_dict()
    out["pass_at_k"] = pass_at_k_both(voted, target)
    (root / SCORE_JSON).write_text(json.dumps(out))
    return root
