"""A synthetic run directory at ARC scale, for timing and looking at report.html (`bench report`).

The 400 ARC-AGI-1 evaluation tasks (419 test inputs, their demonstrations and truths) with `augs`
predictions per test input drawn from 30 candidates (the truth and 29 one-cell variants,
Zipf-weighted in random order), voted through solver.vote into predictions.parquet, the rows as
predictions_raw.parquet (the columns the report reads; one-step trajectories), the submission
of the top two candidates and its score.
"""

from __future__ import annotations

import json
from pathlib import Path


def synthetic_run(root: Path, augs: int, seed: int = 0) -> int:
    """The run directory (see the module doc); returns the number of predictions."""
    import numpy as np
    import polars as pl

    from arc_pipeline.arc.load import load
    from arc_pipeline.rundir import PREDICTIONS, PREDICTIONS_RAW, SCORE_JSON, SUBMISSION, TARGET_JSON, TRAIN_JSON
    from arc_pipeline.solver.vote import VoteConfig, pass_at_k_both, predictions_frame, to_candidates, vote, write_predictions
    from arc_pipeline.submissions.score import score
    from arc_pipeline.submissions.write import write_submission

    tasks = load("arc1/evaluation").tasks
    (root / "tasks").mkdir(parents=True, exist_ok=True)
    (root / TRAIN_JSON).write_text("{}")
    pairs = lambda ps: [{"input": p.input.tolist(), "output": p.output.tolist()} for p in ps]  # noqa: E731
    (root / TARGET_JSON).write_text(json.dumps({t.id: {"train": pairs(t.train), "test": pairs(t.test)}
                                                for t in tasks.values()}))
    rng = np.random.default_rng(seed)
    w = 1.0 / np.arange(1, 31) ** 1.2
    tids, idx, grids, aug, steps = [], [], [], [], []
    for t in tasks.values():
        for i, p in enumerate(t.test):
            variants = [p.output]
            for _ in range(29):
                v = p.output.copy()
                v.flat[rng.integers(v.size)] = rng.integers(10)
                variants.append(v)
            pick = rng.choice(30, augs, p=rng.permutation(w / w.sum()))
            tids += [t.id] * augs
            idx += [i] * augs
            grids += [variants[k] for k in pick]
            aug += list(range(augs))
            steps += rng.integers(1, 17, augs).tolist()
    frame = predictions_frame(tids, idx, grids, rng.random(len(tids)), steps)
    voted = vote(frame, VoteConfig())
    write_predictions(root / PREDICTIONS, voted, VoteConfig().top_k)
    one = lambda c, dt: pl.Series([[x] for x in frame[c].to_list()], dtype=pl.List(dt))  # noqa: E731
    pl.DataFrame({"task_id": tids, "test_index": pl.Series(idx, dtype=pl.Int32),
                  "aug_index": pl.Series(aug, dtype=pl.Int32), "steps": pl.Series([1] * len(tids), dtype=pl.Int16),
                  "halt_step": pl.Series(steps, dtype=pl.Int16), "grid_last": frame["grid"],
                  "rows_last": frame["rows"], "cols_last": frame["cols"], "step_grid": one("grid", pl.Binary),
                  "step_rows": one("rows", pl.UInt8), "step_cols": one("cols", pl.UInt8),
                  "step_halt_prob": one("halt_prob", pl.Float32)}).write_parquet(root / PREDICTIONS_RAW,
                                                                                 compression="zstd")
    write_submission(root / SUBMISSION, tasks, to_candidates(voted, tasks))
    scored = score(root / SUBMISSION, tasks).to_dict() | {"pass_at_k": pass_at_k_both(voted, tasks)}
    (root / SCORE_JSON).write_text(json.dumps(scored))
    return len(tids)
