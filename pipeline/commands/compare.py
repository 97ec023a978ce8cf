"""`arc-pipeline compare RUN_A RUN_B`: two runs side by side (scores, stage seconds, the tasks each
solves that the other does not) printed and written as one self-contained HTML page."""

from pathlib import Path

import click


@click.command("compare")
@click.argument("run_a", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.argument("run_b", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("compare.html"),
              show_default=True, help="Where to write the page.")
def compare(run_a: Path, run_b: Path, out: Path) -> None:
    """Two runs side by side: scores, and the tasks each solves that the other does not."""
    from arc_pipeline.arc.io import write_text
    from arc_pipeline import ui
    from arc_pipeline.report.compare import gather_two, render

    c = gather_two(run_a, run_b)
    ui.table("runs", ["figure", c.names[0], c.names[1]], [list(r) for r in c.score_rows()])
    for i in (0, 1):
        only = c.only(i)
        ui.info(f"solved by {c.names[i]} only ({len(only)}): {', '.join(only) or 'none'}", markup=False)
    write_text(out, render(c))
    ui.info(f"wrote {out}", markup=False)
