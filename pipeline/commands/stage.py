"""One stage in a run directory: `arc-pipeline ingest|build|train|adapt|predict|submit|report`."""

from __future__ import annotations

import click

from pipeline.commands.run import config_options, resolve_from_options


def _stage_command(name: str, help_text: str) -> click.Command:
    @click.command(name, help=help_text)
    @config_options
    @click.option("--force", is_flag=True, help="Rerun the stage even when its inputs are unchanged.")
    @click.option("--no-manifest", is_flag=True, hidden=True,
                  help="Run the stage body only (what each torchrun process does).")
    def command(preset, files, sets, run_dir, train_sources, target, keep_overlap, devices, time_budget, force,
                no_manifest, skip_invalid=False) -> None:
        from pipeline import ui
        from pipeline.stages import Context

        cfg, rdir, _ = resolve_from_options(preset, files, sets, run_dir, train_sources, target, keep_overlap,
                                            devices, time_budget, skip_invalid)
        import os

        from pipeline.stages.runner import DEADLINE_ENV

        deadline = float(os.environ[DEADLINE_ENV]) if os.environ.get(DEADLINE_ENV) else None
        from pipeline.track import for_run

        tracker = for_run(cfg, rdir)
        ctx = Context(progress=ui.progress, on_note=ui.note, deadline=deadline, on_metrics=tracker.log)

        if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not no_manifest:
            # started by torchrun directly: every rank runs the body; no rank may clear or record
            # (use --devices N, or `arc-pipeline run`, to keep the manifest)
            no_manifest = True
        if no_manifest:
            import importlib

            try:
                importlib.import_module(f"pipeline.stages.{name}").run(cfg, rdir, ctx)
            finally:
                tracker.close()
                from solver.device import teardown

                teardown()  # leave torchrun's process group cleanly
            return
        from pipeline.stages.runner import execute

        try:
            records = execute(cfg, rdir, stages=(name,), force=name if force else None, ctx=ctx)
        finally:
            tracker.close()
        rec = records[name]
        ui.note(f"{name}: {rec.status} in {rec.seconds:.1f}s" + (f" ({rec.note})" if rec.note else ""))
        if rec.summary:
            ui.note("  " + ", ".join(f"{k}={v}" for k, v in rec.summary.items()))

    return command


ingest = _stage_command("ingest", "Load, validate and normalise train and target tasks (tasks/).")
build = _stage_command("build", "Build the augmented dataset (dataset/).")
train = _stage_command("train", "Train the TRM, resuming from the last checkpoint (checkpoints/).")
adapt = _stage_command("adapt", "Fine-tune on the target tasks' demonstrations (adapt/; no-op for joint).")
predict = _stage_command("predict", "Predict every augmented test input and vote (predictions.parquet).")
submit = _stage_command("submit", "Write submission.json from the votes, validated.")
report = _stage_command("report", "Write report.html for a run.")
