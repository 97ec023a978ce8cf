"""`arc-pipeline validate SUBMISSION --challenges SRC`: every reason Kaggle would reject it."""

from pathlib import Path

import click


@click.command("validate")
@click.argument("submission", type=click.Path(path_type=Path))
@click.option(
    "--challenges",
    "source",
    required=True,
    help="Tasks the submission answers: a built-in name, a directory or a *_challenges.json.",
)
@click.pass_context
def validate(ctx: click.Context, submission: Path, source: str) -> None:
    """Check a submission.json (or a run directory holding one) as Kaggle would; exit 0 only if accepted."""
    from rich.markup import escape

    from arc.load import load
    from pipeline import ui
    from submissions.validate import load_submission
    from submissions.validate import validate as problems_of

    tasks = load(source)
    problems = problems_of(load_submission(submission), tasks)  # unreadable JSON: one-line ArcError
    if problems:
        for p in problems:
            ui.console.print(f"  {escape(p)}", soft_wrap=True)
        name = escape(str(submission))
        ui.error(f"{name}: {len(problems)} problem(s); Kaggle would reject this submission")
        ctx.exit(1)
    ui.console.print(
        f"ok: {escape(str(submission))} answers all {len(tasks)} tasks of {escape(source)} "
        f"({tasks.n_test} test inputs); Kaggle would accept it",
        soft_wrap=True,
    )
