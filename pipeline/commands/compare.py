"""`arc-pipeline compare RUN...`: two or more runs side by side (a warning when their target task sets
differ, with the figures on the common tasks; scores; config differences; training curves overlaid;
the tasks and outputs each run alone solves), printed and written as one self-contained HTML page."""

import json
from pathlib import Path

import click


@click.command("compare")
@click.argument("runs", nargs=-1, required=True, type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("compare.html"),
              show_default=True, help="Where to write the page.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as one JSON object (the page is still written).")
def compare(runs: tuple[Path, ...], out: Path, as_json: bool) -> None:
    """Runs side by side: scores, config differences, curves, and what each run alone solves."""
    from arc_pipeline import ui
    from arc_pipeline.arc.errors import ArcError
    from arc_pipeline.arc.io import write_text
    from arc_pipeline.report.compare import gather_runs, render

    if len(runs) < 2:
        raise ArcError("compare needs two or more run directories")
    c = gather_runs(list(runs))
    write_text(out, render(c))
    if as_json:
        ui.verbatim(json.dumps(c.to_json(), default=str))
        return
    warning = c.warning()
    if warning:
        ui.warn(warning)
        ui.table(f"on the {len(c.common)} common tasks", ["figure", *c.names], [[k, *v] for k, v in c.common_rows()])
    ui.table("runs", ["figure", *c.names], [[k, *v] for k, v in c.score_rows()])
    diff = c.config_rows()
    if diff:
        ui.table("config differences", ["key", *c.names], [[k, *map(str, v)] for k, v in diff])
    for i, name in enumerate(c.names):
        only, outs = c.only(i), c.only_outputs(i)
        ui.info(f"solved by {name} alone ({len(only)}): {', '.join(only) or 'none'}; test outputs ({len(outs)}): "
                f"{', '.join(f'{t} #{j + 1}' for t, j in outs) or 'none'}", markup=False)
    ui.info(f"wrote {out}", markup=False)
