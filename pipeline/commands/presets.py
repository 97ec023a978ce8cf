"""`arc-pipeline presets`: the shipped presets and variant overlays, one line each (the summary line
of each file's header)."""

from __future__ import annotations

import click

from arc_pipeline import ui


@click.command("presets")
def presets() -> None:
    """List the shipped presets and variant overlays with one line each (`arc-pipeline config --preset NAME`
    shows a preset in full; `--config variants/NAME` layers a variant over any preset)."""
    from arc_pipeline.config.presets import preset_names, preset_summary, variant_names, variant_summary

    names, variants = preset_names(), variant_names()
    width = max(map(len, names + [f"variants/{v}" for v in variants]))
    for name in names:
        ui.note(f"{name:<{width}}  {preset_summary(name)}")
    ui.note("\nvariants: layer one over any preset with --config variants/NAME (bench learn and bench suite read them)")
    for name in variants:
        ui.note(f"{'variants/' + name:<{width}}  {variant_summary(name)}")
