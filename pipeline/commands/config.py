"""`arc-pipeline config`: the resolved config (preset, then files, then --set) as TOML; runs nothing."""

from __future__ import annotations

import click

from arc_pipeline import ui


@click.command("config")
@click.option("--preset", default=None, help="A shipped preset (`arc-pipeline presets`; default: gpu with a GPU, "
              "smoke without).")
@click.option("--config", "files", multiple=True, type=click.Path(dir_okay=False),
              help="A TOML file layered over the preset (repeatable).")
@click.option("--set", "sets", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override one config value, e.g. --set train.steps=200 (repeatable).")
@click.option("--bare", is_flag=True, help="Values only, without each key's help and valid values as comments.")
def config(preset: str | None, files: tuple[str, ...], sets: tuple[str, ...], bare: bool) -> None:
    """Print the config a run would use, each key with its help, and run nothing (what `run` would write to
    RUN_DIR/config.toml; the output is a valid --config file)."""
    from arc_pipeline.config import default_preset, load_config, to_toml

    if preset is None and not files:
        preset = default_preset()
    ui.verbatim(to_toml(load_config(preset, files, sets), explain=not bare).rstrip("\n"))
