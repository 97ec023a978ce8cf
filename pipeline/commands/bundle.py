"""`arc-pipeline bundle`: the offline Kaggle folder (wheels, slim checkpoint, entry script, notebook)."""

from __future__ import annotations

import os

import click


@click.command("bundle")
@click.option("--checkpoint", required=True, type=click.Path(exists=True),
              help="A step directory or a checkpoints folder (its latest).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="The folder to write.")
@click.option("--preset", default="kaggle", show_default=True, help="The preset the notebook runs (checked here).")
@click.option("--set", "sets", multiple=True, metavar="SECTION.KEY=VALUE",
              help="A config override the notebook applies too (checked here; repeatable).")
@click.option("--owner", default=lambda: os.environ.get("KAGGLE_USERNAME", "INSERT-KAGGLE-USERNAME"),
              help="Kaggle user owning the dataset (default $KAGGLE_USERNAME).")
@click.option("--slug", default="arc-pipeline-bundle", show_default=True, help="The dataset's name in its URL.")
@click.option("--title", default="arc-pipeline bundle", show_default=True)
@click.option("--pip-arg", "pip_args", multiple=True,
              help="Extra `pip download` argument, e.g. --pip-arg=--python-version=3.11 (repeatable).")
def bundle(checkpoint, out_dir, preset, sets, owner, slug, title, pip_args) -> None:
    """Build the folder to upload as a Kaggle dataset; its notebook runs run_kaggle.py."""
    from arc_pipeline import ui
    from arc_pipeline.bundle import METADATA_NAME, make_bundle

    result = make_bundle(checkpoint, out_dir, pip_args=tuple(pip_args), preset=preset, sets=tuple(sets),
                         owner=owner, slug=slug, title=title, on_step=ui.info)
    ui.table("bundle", ["what", "value"], [
        ["folder", result.out_dir], ["wheels", len(result.wheels)],
        ["checkpoint", f"{result.checkpoint} ({result.source_checkpoint_mb:.1f} MB -> {result.checkpoint_mb:.1f} MB)"],
        ["entry", result.entry], ["notebook", result.notebook], ["size", f"{result.size_mb:.1f} MB"]])
    ui.info(f"upload: kaggle datasets create -p {result.out_dir} --dir-mode tar   (edit {METADATA_NAME} first "
            f"if its owner is wrong); then import {result.notebook.name} as a notebook and attach the dataset")
