"""`arc-pipeline presets`: the shipped presets, one line each (the summary line of each preset's header)."""

from __future__ import annotations

import click

from arc_pipeline import ui


@click.command("presets")
def presets() -> None:
    """List the shipped presets with one line each (`arc-pipeline config --preset NAME` shows one in full)."""
    from arc_pipeline.config.presets import preset_names, preset_summary

    names = preset_names()
    width = max(map(len, names))
    for name in names:
        ui.note(f"{name:<{width}}  {preset_summary(name)}")
