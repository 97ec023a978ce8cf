"""score: score.json (micro = per output, macro = per task, tasks solved, pass@K per task and per
output, the `protocol` and `cost` blocks of `pipeline.protocol`) and scores.parquet, when the target
tasks have solutions; skipped with a note when they do not (e.g. Kaggle's hidden tasks)."""

from __future__ import annotations

from pathlib import Path

from arc_pipeline.arc.io import atomic_path, write_json
from arc_pipeline.rundir import PREDICTIONS, SCORE_JSON, SCORES_PARQUET, SUBMISSION, TASKS, RunDir
from arc_pipeline.stages import boards
from arc_pipeline.stages.contract import Context, Stage, StageResult


def run(cfg, run_dir: str | Path, ctx: Context | None = None) -> StageResult:
    if boards.for_run(cfg):  # Sudoku or mazes
        return boards.score(cfg, Path(run_dir), ctx or Context())
    import polars as pl

    from arc_pipeline.submissions.score import score

    ctx = ctx or Context()
    run_dir = Path(run_dir)
    _, target = RunDir(run_dir).tasks()
    if not all(t.has_solutions for t in target.values()):
        ctx.note("score: skipped, the target tasks have no solutions")
        return StageResult([], {"skipped": True}, note="no solutions")
    result = score(run_dir / SUBMISSION, target)
    out = result.to_dict()
    per_task = result.per_task_frame()
    if (run_dir / PREDICTIONS).exists():
        from arc_pipeline.solver.vote import pass_at_k_both, read_predictions, solution_ranks

        voted = read_predictions(run_dir / PREDICTIONS)
        # per_task: the paper's (mean over tasks of the fraction right); per_output: Kaggle's
        out["pass_at_k"] = pass_at_k_both(voted, target)
        ranks = solution_ranks(voted, target)
        best = ranks.group_by("task_id").agg(pl.col("rank").min().alias("best_rank"))
        per_task = per_task.join(best, on="task_id", how="left")
        out["candidates_per_output"] = _mean_candidates(voted, target)
    from arc_pipeline.protocol import cost_block, protocol_block

    # how the figures were made and what they cost (docs/exporting.md): every figure is read with them
    out["protocol"] = protocol_block(cfg, run_dir)
    out["cost"] = cost_block(cfg, run_dir, len(target))
    write_json(run_dir / SCORE_JSON, out, indent=2)
    with atomic_path(run_dir / SCORES_PARQUET) as tmp:
        per_task.write_parquet(tmp)
    summary = {k: out[k] for k in ("micro", "macro", "tasks_solved", "tasks", "outputs", "outputs_correct")}
    if "pass_at_k" in out:
        summary["pass@1 per task"] = out["pass_at_k"]["per_task"].get("1")
        summary["pass@1 per output"] = out["pass_at_k"]["per_output"].get("1")
    return StageResult([SCORE_JSON, SCORES_PARQUET], summary)


def _mean_candidates(voted, target) -> float:
    n = sum(len(t.test) for t in target.values())
    return round(len(voted) / n, 3) if n else 0.0


STAGE = Stage(
    "score", run,
    reads=(TASKS,), optional=(SUBMISSION, PREDICTIONS), writes=(SCORE_JSON, SCORES_PARQUET),
    # the cost block's $ per task: a new price rescores (seconds), so every $ shown follows the config
    config=("run.device_price",),
)
