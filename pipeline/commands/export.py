"""`arc-pipeline export RUN --format arc-agi-benchmarking|model-card --out DIR`: a run's results in the
formats the field reads (docs/exporting.md; the library is `pipeline.exports`)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("export")
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--format", "fmt", required=True, type=click.Choice(["arc-agi-benchmarking", "model-card"]),
              help="arc-agi-benchmarking: one <task_id>.json per target task (ARC Prize's benchmarking tool); "
                   "model-card: model.safetensors, checkpoint/, config, puzzle map and a model card.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="The folder to write.")
@click.option("--price", type=click.FloatRange(0, min_open=True), default=None,
              help="$ per device-hour for the cost (default: run.device_price, else the assumed table).")
@click.option("--model", default=None, help="The model name written into the export (default arc-pipeline-<run>).")
def export(run_dir: Path, fmt: str, out_dir: Path, price: float | None, model: str | None) -> None:
    """Export a run's results (ARC Prize benchmarking layout) or its model (Hugging Face style folder)."""
    from arc_pipeline import ui
    from arc_pipeline.exports import export as write

    result = write(run_dir, out_dir, fmt, price=price, model=model)
    for note in result.notes:
        ui.warn(note)
    ui.table(f"export ({fmt})", ["what", "value"], [[k, str(v)] for k, v in result.summary.items()]
             + [["folder", str(result.out_dir)], ["files", str(len(result.files))]])
