"""`arc-pipeline check SRC`: validate every task of a data source."""

from __future__ import annotations

import click

from arc_pipeline import ui


@click.command("check")
@click.argument("source")
@click.option("--skip-invalid", is_flag=True, help="Report invalid tasks as warnings and succeed if any task is valid.")
@click.pass_context
def check(ctx: click.Context, source: str, skip_invalid: bool) -> None:
    """Load SOURCE (built-in name, directory, challenges file or task file) and report every invalid task."""
    from arc_pipeline.arc.load import load

    # Always collect every problem; the flag only decides whether they fail the command.
    ts = load(source, skip_invalid=True)
    for msg in ts.skipped.values():
        (ui.warn if skip_invalid else ui.error)(msg)
    solved = sum(p.output is not None for t in ts for p in t.test)
    summary = (
        f"{ts.name}: {len(ts)} tasks, {ts.n_pairs} train pairs, {ts.n_test} test inputs "
        f"({solved} with outputs)"
    )
    if ts.skipped and not skip_invalid:
        ui.error(f"{len(ts.skipped)} invalid task(s) in {ts.name}; valid: {summary}")
        ctx.exit(1)
    if ts.skipped:
        summary += f"; {len(ts.skipped)} invalid task(s) skipped"
    ui.info(summary)
