"""`arc-pipeline import-reference STEP_FILE --identifiers FILE --out DIR [--format auto|trm|urm]`: a
checkpoint written by the reference TRM code (also Trelis's fork: LoRA adapters merged) or by URM, its
config beside it, as one of ours, puzzle rows as augmentation records (docs/importing.md)."""

from pathlib import Path

import click


@click.command("import-reference")
@click.argument("step_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--identifiers", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The reference dataset's identifiers.json (one name per puzzle row).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Checkpoint folder to write (a step directory and its `latest` pointer).")
@click.option("--canvas", default=30, show_default=True, type=click.IntRange(1, 255),
              help="Side of the reference dataset's canvas (its max grid size; the sequence length is canvas^2).")
@click.option("--format", "fmt", default="auto", show_default=True, type=click.Choice(["auto", "trm", "urm"]),
              help="trm: the reference TRM's step_N (and Trelis's fork, LoRA merged); urm: URM's step_N.pt; "
                   "auto: read it off the file.")
def import_reference(step_file: Path, identifiers: Path, out_dir: Path, canvas: int, fmt: str) -> None:
    """Import a reference TRM (or Trelis fork) or URM checkpoint into our checkpoint format."""
    from arc_pipeline import ui
    from arc_pipeline.solver.importers import import_checkpoint

    r = import_checkpoint(step_file, identifiers, out_dir, canvas=canvas, fmt=fmt)
    c = r.model_config
    ui.table("imported", ["checkpoint", "step", "tasks", "puzzle rows", "hidden", "layers", "n, T, N_sup", "canvas"],
             [[r.checkpoint, r.step, r.tasks, r.puzzles, c.hidden, c.layers,
               f"{c.n_latent}, {c.n_recursions}, {c.max_steps}", canvas]])
    ui.info("evaluate it on the tasks it was trained with (its own augmentations):", markup=False)
    ui.info(f"  arc-pipeline run --preset gpu --set run.checkpoint={out_dir} --set data.train=[] "
            f"--set build.canvas={canvas} --target SRC", markup=False)
    ui.info("or adapt it to new tasks: add --set run.protocol=pretrain-adapt", markup=False)
