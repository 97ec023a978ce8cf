"""The Click options that `run` and the stage verbs share (config, run directory, [data] flags,
--devices and the multi-node flags, --force) and how they become a resolved config; a follower
node's command (`follow_node_0`)."""

from __future__ import annotations

import click


def _apply(f, options):
    for opt in reversed(options):
        f = opt(f)
    return f


def config_options(f):
    """The options every run and stage command shares: which config, which run directory."""
    return _apply(f, [
        click.option("--preset", default=None, help="A shipped preset: smoke, cpu, gpu, multi-gpu, kaggle "
                     "(default: the run directory's config.toml, else gpu with a GPU, smoke without)."),
        click.option("--config", "files", multiple=True, type=click.Path(dir_okay=False),
                     help="A TOML file layered over the preset (repeatable)."),
        click.option("--set", "sets", multiple=True, metavar="SECTION.KEY=VALUE",
                     help="Override one config value, e.g. --set train.steps=200 (repeatable)."),
        click.option("--run-dir", type=click.Path(file_okay=False), default=None,
                     help="The run directory (default runs/<preset>)."),
    ])


def data_options(f):
    """[data] as flags: for `run` and `ingest`, the commands that read the sources."""
    return _apply(f, [
        click.option("--train", "train_sources", multiple=True, metavar="SRC",
                     help="Training source (built-in name, directory, challenges file); repeatable."),
        click.option("--target", default=None, metavar="SRC", help="Target source: the tasks to answer."),
        click.option("--keep-overlap", is_flag=True, default=False,
                     help="Keep training tasks that contain a target test pair."),
        click.option("--skip-invalid", is_flag=True, default=False,
                     help="Leave out invalid tasks (each named) instead of failing (data.skip_invalid)."),
    ])


devices_option = click.option("--devices", type=int, default=None,
                              help="Processes per node for train, adapt and predict (torchrun when > 1).")


def nodes_options(f):
    """Many machines (torchrun's c10d rendezvous): every node runs the same command with its own --node-rank."""
    return _apply(f, [
        click.option("--nnodes", type=int, default=None, help="Machines in the run (run.nnodes); each runs this command."),
        click.option("--node-rank", type=int, default=None, help="This machine's place, 0 .. nnodes-1 (run.node_rank); "
                     "node 0 runs the pipeline, the others follow it."),
        click.option("--rdzv-endpoint", default=None, metavar="HOST:PORT",
                     help="Node 0's address for the rendezvous (run.rdzv_endpoint)."),
    ])
force_option = click.option("--force", is_flag=True, help="Rerun even when the inputs are unchanged (and what follows "
                            "goes stale).")


def flag_sets(train_sources=(), target=None, keep_overlap=False, skip_invalid=False, devices=None,
              time_budget=None, nnodes=None, node_rank=None, rdzv_endpoint=None) -> list[str]:
    """Command-line flags as `section.key=value` overrides (applied after --set)."""
    sets = []
    if train_sources:
        sets.append("data.train=[" + ", ".join(f'"{s}"' for s in train_sources) + "]")
    if target:
        sets.append(f'data.target="{target}"')
    if keep_overlap:
        sets.append("data.keep_overlap=true")
    if skip_invalid:
        sets.append("data.skip_invalid=true")
    if devices is not None:
        sets.append(f"run.devices={devices}")
    if time_budget is not None:
        sets.append(f'run.time_budget="{time_budget}"')
    if nnodes is not None:
        sets.append(f"run.nnodes={nnodes}")
    if node_rank is not None:
        sets.append(f"run.node_rank={node_rank}")
    if rdzv_endpoint is not None:
        sets.append(f'run.rdzv_endpoint="{rdzv_endpoint}"')
    return sets


def follow_node_0(cfg, rdir) -> None:
    """On a node other than node 0: follow it to the end of the run and exit with its status."""
    from arc_pipeline import ui
    from arc_pipeline.launch import follow
    from arc_pipeline.stages import Context

    code = follow(cfg, rdir, Context(progress=ui.progress, on_note=ui.note))
    ui.info(f"node {cfg.run.node_rank}: node 0 ended with exit status {code}")
    click.get_current_context().exit(code)


def resolve_from_options(preset, files, sets, run_dir, **flags):
    """(config, run directory, where the config came from) from the shared options and the flags."""
    from arc_pipeline.config import resolve

    return resolve(run_dir, preset=preset, files=tuple(files), sets=tuple(sets) + tuple(flag_sets(**flags)))
