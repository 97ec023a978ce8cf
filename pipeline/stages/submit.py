"""submit: the top two voted candidates per test input -> submission.json, validated first."""

from __future__ import annotations

from pathlib import Path

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.rundir import PREDICTIONS, PREDICTIONS_RAW, SUBMISSION, TARGET_JSON, TASKS, RunDir
from arc_pipeline.stages import boards
from arc_pipeline.stages.contract import Context, Stage, StageResult


def write(run_dir: Path, target: dict, candidates: dict) -> dict:
    """Write and validate submission.json (every target task, the invalid ones ingest left out too:
    their fallback guesses); the writer's report as a dict."""
    from arc_pipeline.submissions.validate import validate
    from arc_pipeline.submissions.write import write_submission

    skipped = RunDir(run_dir).skipped_targets()
    if skipped:
        target = {**target, **stand_ins(skipped)}
    report = write_submission(run_dir / SUBMISSION, target, candidates)
    problems = validate(run_dir / SUBMISSION, target)
    if problems:  # the writer should make this impossible; never leave a file Kaggle rejects
        (run_dir / SUBMISSION).unlink(missing_ok=True)
        raise ArcError(f"{run_dir / SUBMISSION} failed validation: {'; '.join(problems[:5])}")
    return report.to_dict()


def stand_ins(skipped: dict[str, list]) -> dict:
    """Tasks holding only their fallback guesses as test inputs (id -> a grid per test input), for
    tasks that do not load: the writer answers each test input with its guess, the validator checks them."""
    from arc_pipeline.arc.task import Pair, Task, as_grid

    return {tid: Task(tid, (), tuple(Pair(as_grid(g), None) for g in grids)) for tid, grids in skipped.items()}


def write_fallback(run_dir: str | Path) -> dict | None:
    """A valid submission before any prediction exists (every attempt is the test input); None
    before ingest has written the target tasks (and in Sudoku/maze runs, which have none)."""
    rd = RunDir(run_dir)
    if not rd.target_json.exists():
        return None
    return write(rd.root, rd.tasks()[1], {})


def verify(run_dir: Path) -> str | None:
    """A cached submission.json must still pass the validator (None: it does)."""
    from arc_pipeline.submissions.validate import validate

    rd = RunDir(run_dir)
    if not rd.submission.exists() or not rd.target_json.exists():
        return None
    try:
        problems = validate(rd.submission, {**rd.tasks()[1], **stand_ins(rd.skipped_targets())})
    except ArcError as e:
        problems = [str(e)]
    return f"{SUBMISSION} fails validation: {problems[0]}" if problems else None


def run(cfg, run_dir: str | Path, ctx: Context | None = None) -> StageResult:
    if boards.for_run(cfg):  # Sudoku or mazes
        return boards.submit(cfg, Path(run_dir), ctx or Context())
    from arc_pipeline.solver.vote import read_predictions, to_candidates

    ctx = ctx or Context()
    run_dir = Path(run_dir)
    _, target = RunDir(run_dir).tasks()
    if (run_dir / PREDICTIONS).exists():
        candidates = to_candidates(read_predictions(run_dir / PREDICTIONS), target, k=2)
    else:
        ctx.note(f"submit: {PREDICTIONS} is missing; every attempt falls back to the test input")
        candidates = {}
    report = write(run_dir, target, candidates)
    summary = {k: report[k] for k in ("tasks", "entries", "fallbacks", "single")}
    if report["fallbacks"]:
        undecoded = _undecoded(run_dir, report["fallback_entries"])
        why = "had no prediction"
        if undecoded is not None:
            summary["fallbacks_undecoded"] = undecoded
            why = (f"had no usable candidate: {undecoded} were predicted but no prediction decoded to a grid "
                   f"(an empty or malformed canvas), {report['fallbacks'] - undecoded} were not predicted "
                   "(a failed task, the time budget, too large for the canvas, or an invalid task)")
        ctx.note(f"submit: {report['fallbacks']} of {report['entries']} test inputs {why}; they fell back to "
                 "their input grid")
    return StageResult([SUBMISSION], summary)


def _undecoded(run_dir: Path, entries: list) -> int | None:
    """How many of the fallback `entries` ([task, test index]) the model did predict (predictions_raw.parquet
    lists every prediction made, decoded or not); None without that file."""
    path = run_dir / PREDICTIONS_RAW
    if not path.is_file():
        return None
    import polars as pl

    try:
        made = pl.read_parquet(path, columns=["task_id", "test_index"]).unique()
    except (OSError, pl.exceptions.PolarsError):
        return None
    predicted = set(made.iter_rows())
    return sum((tid, int(i)) in predicted for tid, i in entries)


STAGE = Stage(
    "submit", run,
    reads=(TASKS,), optional=(PREDICTIONS,), writes=(SUBMISSION,),
    verify=verify,
    placeholder=write_fallback,  # a valid submission.json exists from ingest on, whatever happens later
)
