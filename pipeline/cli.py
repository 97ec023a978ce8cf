"""The `arc-pipeline` command. Imports click and rich only: each command's module (and torch,
numba) loads when that command runs, so `arc-pipeline --help` is instant."""

from __future__ import annotations

import importlib
import os
import sys

import click

# OpenMP threads that spin while waiting halve CPU throughput when the machine is shared; this must be
# set before torch loads, which happens only inside a command.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# name -> (module, attribute, one-line help). A stage's verb is its contract, `STAGE` in
# pipeline/stages/<name>.py (its command built from it, with the help written here, once: the contract
# holds none); groups (bench, generate) register like commands.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("arc_pipeline.commands.run", "run", "Run every stage, resuming where a previous run stopped."),
    "ingest": ("arc_pipeline.stages.ingest", "STAGE", "Stage: load, validate and normalise train and target tasks (tasks/)."),
    "build": ("arc_pipeline.stages.build", "STAGE", "Stage: build the augmented dataset (dataset/)."),
    "train": ("arc_pipeline.stages.train", "STAGE",
              "Stage: train the TRM, resuming from the last checkpoint (checkpoints/; torchrun with --devices)."),
    "adapt": ("arc_pipeline.stages.adapt", "STAGE", "Stage: fine-tune on the target tasks' demonstrations (adapt/; no-op for joint)."),
    "predict": ("arc_pipeline.stages.predict", "STAGE", "Stage: predict every augmented test input and vote (predictions.parquet)."),
    "submit": ("arc_pipeline.stages.submit", "STAGE", "Stage: write submission.json from the votes, validated."),
    "score": ("arc_pipeline.commands.score", "score",
              "Stage: score a run (--run-dir DIR); or score a submission.json against solutions."),
    "report": ("arc_pipeline.stages.report", "STAGE", "Stage: write report.html for a run."),
    "presets": ("arc_pipeline.commands.presets", "presets", "List the shipped presets, one line each."),
    "config": ("arc_pipeline.commands.config", "config", "Print the resolved config (preset + files + --set); run nothing."),
    "datasets": ("arc_pipeline.commands.datasets", "datasets", "List the built-in ARC data sets."),
    "check": ("arc_pipeline.commands.check", "check", "Validate every task of a data source."),
    "show": ("arc_pipeline.commands.show", "show", "Draw a task in the terminal or to PNG."),
    "overlap": ("arc_pipeline.commands.overlap", "overlap", "Tasks of B identical to, or leaked from, tasks of A."),
    "validate": ("arc_pipeline.commands.validate", "validate", "Check a submission.json as Kaggle would."),
    "generate": ("arc_pipeline.commands.generate", "generate", "Generate Sudoku or maze data sets."),
    "bench": ("arc_pipeline.commands.bench", "bench", "Benchmarks that print figures."),
    "bundle": ("arc_pipeline.commands.bundle", "bundle", "Build the offline Kaggle folder."),
    "compare": ("arc_pipeline.commands.compare", "compare", "Two runs side by side: scores, tasks each solves alone."),
    "analyze": ("arc_pipeline.commands.analyze", "analyze", "Halting and augmentation count judged on a run's raw predictions."),
    "evaluate": ("arc_pipeline.commands.evaluate", "evaluate", "Score every saved checkpoint of a run (a table, JSON, a curve)."),
    "export": ("arc_pipeline.commands.export", "export", "Export a run: ARC Prize benchmarking layout or a model card folder."),
    "import-reference": ("arc_pipeline.commands.import_reference", "import_reference",
                         "Import a reference TRM (or Trelis fork) or URM checkpoint."),
}


class LazyGroup(click.Group):
    """A group whose commands are imported only when invoked (or when their help is asked)."""

    def __init__(self, *args, registry: dict[str, tuple[str, str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.registry = registry

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.registry)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.registry:
            return None
        module, attr, help = self.registry[name]
        obj = getattr(importlib.import_module(module), attr)  # every command ships: a failure is a bug to see
        if isinstance(obj, click.Command):
            return obj
        from arc_pipeline.commands.stage import stage_command  # a stage: the verb built from its contract

        return stage_command(obj, help=help)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, self.registry[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


class Main(LazyGroup):
    def invoke(self, ctx: click.Context):
        from arc_pipeline.arc.errors import ArcError

        try:
            return super().invoke(ctx)
        except ArcError as e:
            if ctx.meta.get("debug"):
                raise
            from arc_pipeline import ui

            ui.error(str(e))
            ctx.exit(getattr(e, "exit_code", 1))  # e.g. 143 after a SIGTERM checkpoint, for job schedulers
        except OSError as e:  # a full disk where no writer named it (a library's own write): still one line
            import errno

            if e.errno not in (errno.ENOSPC, errno.EDQUOT) or ctx.meta.get("debug"):
                raise
            from arc_pipeline import ui

            ui.error(f"{e.filename or 'a file being written'}: no space left on the device ({e.strerror}); free "
                     "space and rerun: nothing half-written is kept, and a run resumes where it stopped")
            ctx.exit(1)


@click.group(cls=Main, registry=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="arc-pipeline", prog_name="arc-pipeline")
@click.option("--debug", is_flag=True, help="Show tracebacks for user errors.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """ARC-AGI competition pipeline around Tiny Recursive Models."""
    ctx.meta["debug"] = debug


if __name__ == "__main__":  # python -m arc_pipeline.cli
    sys.exit(main())
