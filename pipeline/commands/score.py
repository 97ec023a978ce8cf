"""`arc-pipeline score SUBMISSION --solutions SRC`: micro, macro and tasks fully solved."""

import json
from pathlib import Path

import click

from arc_pipeline.stages.score import STAGE

_CHALLENGES, _SOLUTIONS = "_challenges.json", "_solutions.json"


def _task_source(source: str) -> str:
    """A Kaggle *_solutions.json is read through its sibling *_challenges.json (which loads both)."""
    path = Path(source)
    if path.name.endswith(_SOLUTIONS):
        sibling = path.with_name(path.name[: -len(_SOLUTIONS)] + _CHALLENGES)
        if sibling.exists():
            return str(sibling)
    return source


FORMULA_START = r"^[=+\-@\t\r]"  # what a spreadsheet reads as a formula at the start of a cell


def csv_safe(frame):
    """`frame` with every text cell a spreadsheet would run as a formula (a task id such as
    `=HYPERLINK(...)` from an untrusted submission) prefixed with a quote, so it shows as text."""
    import polars as pl

    text = [c for c, t in frame.schema.items() if t == pl.Utf8]
    return frame.with_columns(pl.when(pl.col(c).str.contains(FORMULA_START)).then(pl.lit("'") + pl.col(c))
                              .otherwise(pl.col(c)).alias(c) for c in text)


def _write_table(frame, path: Path) -> None:
    from arc_pipeline.arc.errors import ArcError
    from arc_pipeline.arc.io import atomic_path

    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise ArcError(f"{path}: --per-task writes .csv or .parquet; choose one of those extensions")
    with atomic_path(path) as tmp:
        if suffix == ".csv":
            csv_safe(frame).write_csv(tmp)
        else:
            frame.write_parquet(tmp)


def score_command(stage) -> click.Command:
    """`arc-pipeline score`: the run's score stage (`score --run-dir DIR`) or a file
    (`score SUBMISSION --solutions SRC`, no run directory, nothing written unless --per-task)."""
    from arc_pipeline.commands.stage import stage_command

    params = (
        click.Argument(["submission"], required=False, type=click.Path(path_type=Path)),
        click.Option(["--solutions", "source"],
                     help="Tasks with known test outputs: a built-in name, a directory, a *_challenges.json "
                     "(with its *_solutions.json beside it) or the *_solutions.json itself "
                     "(default for a run directory: its tasks/target.json)."),
        click.Option(["--json", "as_json"], is_flag=True, help="Print one JSON object instead of a table."),
        click.Option(["--per-task"], type=click.Path(dir_okay=False, path_type=Path),
                     help="Write one row per task (task_id, outputs, correct, fraction, solved) to FILE (.csv or .parquet)."),
    )
    cmd = stage_command(stage, params, other_form=_file_form)
    cmd.help = ("Score a submission.json (or a run directory holding one) against known test outputs: "
                "`score SUBMISSION --solutions SRC`; or run the score stage of a run: `score --run-dir DIR`.")
    return cmd


def _file_form(submission, source, as_json, per_task, run_dir, preset, files, sets, force) -> bool:
    """Score SUBMISSION when given (True); with none, the stage form runs (False)."""
    file_only = [n for n, v in (("--solutions", source), ("--json", as_json), ("--per-task", per_task)) if v]
    if submission is None:
        if run_dir is None:
            raise click.UsageError("pass SUBMISSION (a submission.json or a run directory to score) or "
                                   "--run-dir DIR (the run's score stage: score.json, scores.parquet)")
        if file_only:
            raise click.UsageError(f"{', '.join(file_only)} go with SUBMISSION; `score --run-dir DIR` runs the stage, "
                                   "which scores the run's submission.json against its tasks/target.json")
        return False
    stage_only = [n for n, v in (("--run-dir", run_dir), ("--preset", preset), ("--config", files), ("--set", sets),
                                 ("--force", force)) if v]
    if stage_only:
        raise click.UsageError(f"{', '.join(stage_only)} go with the stage form `score --run-dir DIR`, not with "
                               "SUBMISSION")
    score_file(submission, source, as_json, per_task)
    return True


def score_file(submission: Path, source: str | None, as_json: bool, per_task: Path | None) -> None:
    """Score a submission.json (or a run directory holding one) against known test outputs."""
    from arc_pipeline.arc.load import load
    from arc_pipeline import ui
    from arc_pipeline.commands.validate import task_source
    from arc_pipeline.submissions.score import score as score_of
    from arc_pipeline.submissions.validate import load_submission, validate

    source = task_source(submission, source, "--solutions")
    tasks = load(_task_source(source))
    parsed = load_submission(submission)
    result = score_of(parsed, tasks)
    problems = validate(parsed, tasks)
    if problems:  # still scored (missing parts count 0), but the user must know Kaggle would refuse it
        ui.warn(
            f"{submission}: {len(problems)} problem(s) Kaggle would reject, first: "
            f"{problems[0]} (see `arc-pipeline validate`)"
        )
    if per_task is not None:
        _write_table(result.per_task_frame(), per_task)
    if as_json:
        out = {"submission": str(submission), "solutions": source, **result.to_dict()}
        ui.verbatim(json.dumps(out))
        return
    ui.table(
        ui.plain(f"{submission} against {source}"),
        ["metric", "score", "counts"],
        [
            ["micro", f"{result.micro:.4f}", f"{result.outputs_correct}/{result.outputs} test outputs right"],
            ["macro", f"{result.macro:.4f}", f"mean over {result.tasks} tasks"],
            ["tasks solved", f"{result.tasks_solved}/{result.tasks}", "every test output right"],
        ],
    )
    if per_task is not None:
        ui.info(f"per-task table: {per_task}")


# `score --run-dir DIR` is the score stage; `score SUBMISSION --solutions SRC` scores a file
score = score_command(STAGE)
