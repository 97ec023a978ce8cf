"""`arc-pipeline evaluate RUN --checkpoints all|latest|best|STEP[,STEP...]`: score each saved checkpoint of a
run (EMA and live weights) on its target and held-out split (docs/evaluating.md; library: `pipeline.evaluation`)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("evaluate")
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--checkpoints", "which", default="all", show_default=True, metavar="all|latest|best|STEP[,STEP...]",
              help="Which saved checkpoints to score.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON instead of a table.")
def evaluate(run_dir: Path, which: str, as_json: bool) -> None:
    """Score every saved checkpoint (EMA and live) on the run's target and held-out split."""
    import json

    from arc_pipeline import ui
    from arc_pipeline.evaluation import evaluate as run_evaluation, table_rows

    loud = {} if as_json else {"progress": ui.progress, "on_note": ui.note}  # --json prints the JSON alone
    result = run_evaluation(run_dir, which, **loud)
    if as_json:
        ui.console.print_json(json.dumps(result.to_dict()))
        return
    head, body = table_rows(result.rows, result.best)
    ui.table(f"checkpoints of {run_dir} (target: pass@K; held-out: the build's val split)", head, body)
    if result.best is not None:
        ui.info(f"best ({result.rule}): step {result.best.step}, {result.best.weights} weights "
                f"({result.best.checkpoint})", markup=False)
    for f in result.files:
        ui.note(f"{f.name:18s} {f}")
