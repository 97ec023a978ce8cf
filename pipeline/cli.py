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
# pipeline/stages/<name>.py (its command built from it); groups (bench, generate) register like commands.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("pipeline.commands.run", "run", "Run every stage, resuming where a previous run stopped."),
    "ingest": ("pipeline.stages.ingest", "STAGE", "Stage: load, validate and normalise train and target tasks."),
    "build": ("pipeline.stages.build", "STAGE", "Stage: build the augmented dataset."),
    "train": ("pipeline.stages.train", "STAGE", "Stage: train the TRM (resumable, multi-GPU)."),
    "adapt": ("pipeline.stages.adapt", "STAGE", "Stage: fine-tune on the target tasks' demonstrations."),
    "predict": ("pipeline.stages.predict", "STAGE", "Stage: predict every augmented test input and vote."),
    "submit": ("pipeline.stages.submit", "STAGE", "Stage: write submission.json from the votes."),
    "report": ("pipeline.stages.report", "STAGE", "Stage: write report.html for a run."),
    "datasets": ("pipeline.commands.datasets", "datasets", "List the built-in ARC data sets."),
    "check": ("pipeline.commands.check", "check", "Validate every task of a data source."),
    "show": ("pipeline.commands.show", "show", "Draw a task in the terminal or to PNG."),
    "overlap": ("pipeline.commands.overlap", "overlap", "Tasks of B identical to, or leaked from, tasks of A."),
    "validate": ("pipeline.commands.validate", "validate", "Check a submission.json as Kaggle would."),
    "score": ("pipeline.stages.score", "STAGE",
              "Stage: score a run (--run-dir DIR); or score a submission.json against solutions."),
    "generate": ("pipeline.commands.generate", "generate", "Generate Sudoku or maze data sets."),
    "bench": ("pipeline.commands.bench", "bench", "Benchmarks that print figures."),
    "bundle": ("pipeline.commands.bundle", "bundle", "Build the offline Kaggle folder."),
    "compare": ("pipeline.commands.compare", "compare", "Two runs side by side: scores, tasks each solves alone."),
    "analyze": ("pipeline.commands.analyze", "analyze", "Halting and augmentation count judged on a run's raw predictions."),
    "import-reference": ("pipeline.commands.import_reference", "import_reference",
                         "Import a checkpoint written by the reference TRM code."),
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
        module, attr, _ = self.registry[name]
        obj = getattr(importlib.import_module(module), attr)  # every command ships: a failure is a bug to see
        return obj if isinstance(obj, click.Command) else obj.verb()  # a stage: its verb

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, self.registry[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


class Main(LazyGroup):
    def invoke(self, ctx: click.Context):
        from arc.errors import ArcError

        try:
            return super().invoke(ctx)
        except ArcError as e:
            if ctx.meta.get("debug"):
                raise
            from pipeline import ui

            ui.error(str(e))
            ctx.exit(getattr(e, "exit_code", 1))  # e.g. 143 after a SIGTERM checkpoint, for job schedulers


@click.group(cls=Main, registry=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks for user errors.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """ARC-AGI competition pipeline around Tiny Recursive Models."""
    ctx.meta["debug"] = debug


if __name__ == "__main__":  # python -m pipeline.cli
    sys.exit(main())
