"""The Click verb of one stage (`arc-pipeline ingest|build|train|adapt|predict|submit|score|report`),
built from the stage's contract: the config and run-directory options every stage takes, [data]
flags only where the stage reads [data] (ingest), --devices only where it runs under torchrun."""

from __future__ import annotations

import click

from arc_pipeline.commands.options import (config_options, data_options, devices_option, follow_node_0, force_option,
                                          nodes_options, resolve_from_options)


def stage_command(stage, params: tuple[click.Parameter, ...] = (), other_form=None, help: str = "") -> click.Command:
    """`arc-pipeline <stage.name>`: the stage in a run directory, through the manifest; `help` is the
    verb's line in the CLI registry (written there once: the contract holds none).

    `params` and `other_form(**their values) -> bool` add a second form of the verb (score a file):
    when it returns True the stage does not run."""
    names = {p.name for p in params}

    def command(preset, files, sets, run_dir, force, no_manifest=False, **flags) -> None:
        extra = {k: flags.pop(k) for k in list(flags) if k in names}
        if other_form is not None and other_form(run_dir=run_dir, preset=preset, files=files, sets=sets,
                                                 force=force, **extra):
            return
        run_stage(stage, preset, files, sets, run_dir, force, no_manifest, **flags)

    command = force_option(command)
    if stage.distributed:
        command = click.option("--no-manifest", is_flag=True, hidden=True,
                               help="Run the stage body only (what each torchrun process does).")(command)
        command = nodes_options(command)
        command = devices_option(command)
    if any(r == "data" or r.startswith("data.") for r in stage.config):
        command = data_options(command)
    command = config_options(command)
    cmd = click.command(stage.name, help=help)(command)
    cmd.params[:0] = list(params)  # the other form's argument first, as its usage reads
    return cmd


def run_stage(stage, preset, files, sets, run_dir, force: bool, no_manifest: bool, **flags) -> None:
    import os

    from arc_pipeline import api, ui
    from arc_pipeline.launch import follower

    cfg, rdir, _ = resolve_from_options(preset, files, sets, run_dir, **flags)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # started by torchrun directly (`torchrun ... -m arc_pipeline train`): every rank runs the body after
        # checking that all see one run directory; no rank may clear or record (`--devices N`, or
        # `arc-pipeline run`, keep the manifest)
        from arc_pipeline.launch import handshake
        from arc_pipeline.solver.device import join_process_group

        join_process_group()
        handshake(rdir, {"stage": stage.name})
        no_manifest = True
    if no_manifest:
        stage_body(stage, cfg, rdir)
        return
    if stage.distributed and follower(cfg):
        return follow_node_0(cfg, rdir)
    # the one path of the Python API (the lock, the manifest, tracking; a launching run's deadline)
    result = api.run_stage(stage.name, cfg, rdir, force=force, progress=ui.progress, on_note=ui.note)
    rec, row = result.records[stage.name], result.plan.get(stage.name)
    how = (f"cached ({row.reason}; --force reruns it)" if row is not None and row.action == "cached"
           else f"{rec.status} in {rec.seconds:.1f}s")
    ui.note(f"{stage.name}: {how}" + (f" ({rec.note})" if rec.note else ""))
    if rec.summary:
        ui.note("  " + ", ".join(f"{k}={v}" for k, v in rec.summary.items()))


def stage_body(stage, cfg, rdir):
    """What each torchrun process runs: the stage body, with the launching run's deadline and tracking;
    its StageResult (rank 0's goes back to the launching command's manifest)."""
    from arc_pipeline import ui
    from arc_pipeline.launch import inherited_deadline
    from arc_pipeline.stages import Context
    from arc_pipeline.track import for_run

    tracker = for_run(cfg, rdir)
    ctx = Context(progress=ui.progress, on_note=ui.note, deadline=inherited_deadline(), on_metrics=tracker.log)
    try:
        return stage.run(cfg, rdir, ctx)
    finally:
        tracker.close()
        from arc_pipeline.solver.device import teardown

        teardown()  # leave torchrun's process group cleanly
