"""`arc-pipeline bundle`: the offline Kaggle folder (wheels, checkpoint, entry script)."""

from __future__ import annotations

import click


@click.command("bundle")
@click.option("--checkpoint", required=True, type=click.Path(exists=True),
              help="A step directory or a checkpoints folder (its latest).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="The folder to write.")
@click.option("--pip-arg", "pip_args", multiple=True,
              help="Extra `pip download` argument, e.g. --pip-arg=--python-version=3.11 (repeatable).")
def bundle(checkpoint, out_dir, pip_args) -> None:
    """Build the folder to upload as a Kaggle dataset; the notebook runs its run_kaggle.py."""
    from pipeline import ui
    from pipeline.bundle import make_bundle

    result = make_bundle(checkpoint, out_dir, pip_args=tuple(pip_args), on_step=ui.info)
    ui.table("bundle", ["what", "value"], [
        ["folder", result.out_dir], ["wheels", len(result.wheels)], ["checkpoint", result.checkpoint],
        ["entry", result.entry], ["size", f"{result.size_mb:.1f} MB"]])
    ui.info(f"in the notebook: !python /kaggle/input/<dataset>/{result.entry.name}")
