"""`arc-pipeline show TASK_ID`: draw a task in the terminal, or to a PNG file."""

from __future__ import annotations

import difflib
from pathlib import Path

import click

from arc_pipeline import ui


@click.command("show")
@click.argument("task_id")
@click.option("--source", "-s", default=None, help="Data source holding the task (default: search the built-ins).")
@click.option("--png", "png", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the drawing to this PNG file (labelled: task id, demo/test N, input/output).")
@click.option("--cell", default=16, show_default=True, type=click.IntRange(2, 64), help="PNG pixels per cell.")
@click.option("--labels/--no-labels", default=True, show_default=True, help="Label the PNG's grids.")
def show(task_id: str, source: str | None, png: Path | None, cell: int, labels: bool) -> None:
    """Draw TASK_ID's train and test pairs, input beside output."""
    from arc_pipeline.arc.errors import ArcError
    from arc_pipeline.arc.load import BUILTINS, load
    from arc_pipeline.arc import render

    sources = [source] if source else list(BUILTINS)
    known: dict[str, None] = {}  # ordered set of ids, for suggestions
    for src in sources:
        ts = load(src, skip_invalid=True)
        if task_id in ts.tasks:
            task = ts.tasks[task_id]
            break
        known.update(dict.fromkeys(ts.tasks))
    else:
        near = difflib.get_close_matches(task_id, list(known), n=3)
        hint = f"; did you mean {', '.join(near)}?" if near else ""
        where = source or "any built-in data set"
        raise ArcError(f"task {task_id!r} is not in {where}{hint}")
    if png is not None:
        render.write_task_png(task, png, cell, labels=labels)
        ui.info(f"wrote {png} (task {task_id} from {src})")
        return
    # Without colour (a pipe, a log) the cells would be blank: print the colour digits instead.
    plain = ui.console.color_system is None
    ui.console.print(render.task_renderable(task, max_width=ui.console.width, digits=plain))
