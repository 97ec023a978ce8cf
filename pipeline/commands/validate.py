"""`arc-pipeline validate SUBMISSION --challenges SRC`: every reason Kaggle would reject it."""

from pathlib import Path

import click

from arc_pipeline.rundir import TARGET_JSON as RUN_TARGET  # what `ingest` writes inside a run directory


def task_source(submission: Path, source: str | None, option: str) -> str:
    """The source given, else the target tasks of the run directory passed as SUBMISSION."""
    if source is not None:
        return source
    if submission.is_dir() and (submission / RUN_TARGET).exists():
        return str(submission / RUN_TARGET)
    raise click.UsageError(f"pass {option} SRC (only a run directory with {RUN_TARGET} brings its own tasks)")


@click.command("validate")
@click.argument("submission", type=click.Path(path_type=Path))
@click.option(
    "--challenges",
    "source",
    help="Tasks the submission answers: a built-in name, a directory or a *_challenges.json "
    "(default for a run directory: its tasks/target.json).",
)
@click.pass_context
def validate(ctx: click.Context, submission: Path, source: str | None) -> None:
    """Check a submission.json (or a run directory holding one) as Kaggle would; exit 0 only if accepted."""
    from arc_pipeline.arc.load import load
    from arc_pipeline import ui
    from arc_pipeline.submissions.validate import load_submission
    from arc_pipeline.submissions.validate import validate as problems_of

    source = task_source(submission, source, "--challenges")
    loaded = load(source, skip_invalid=True)
    tasks = {**loaded.tasks, **_stand_ins(source, loaded.skipped)}
    for tid, why in list(loaded.skipped.items())[:5]:
        ui.warn(f"{why} (task {tid} is checked by its test inputs only)")
    if len(loaded.skipped) > 5:
        ui.warn(f"{source}: {len(loaded.skipped) - 5} more invalid task(s) checked by their test inputs only")
    problems = problems_of(load_submission(submission), tasks)  # unreadable JSON: one-line ArcError
    if problems:
        for p in problems:
            ui.info(f"  {p}")
        ui.error(f"{submission}: {len(problems)} problem(s); Kaggle would reject this submission")
        ctx.exit(1)
    n_test = sum(len(t.test) for t in tasks.values())
    ui.info(f"ok: {submission} answers all {len(tasks)} tasks of {source} ({n_test} test inputs); "
            "Kaggle would accept it")


def _stand_ins(source: str, skipped: dict[str, str]) -> dict:
    """Tasks of `source` that do not load (a ragged demonstration, a colour out of range): Kaggle still
    expects one entry per test input for each, so they stand in with their test inputs alone (as far
    as they can be read; one where the test list cannot be)."""
    if not skipped:
        return {}
    from arc_pipeline.arc.load import fallback_tests
    from arc_pipeline.stages.submit import stand_ins

    return stand_ins(fallback_tests(source, skipped))
