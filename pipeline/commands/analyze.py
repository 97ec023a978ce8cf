"""`arc-pipeline analyze RUN_DIR`: the run's raw predictions (predictions_raw.parquet) voted again
under other stopping rules (all steps, halting at each threshold, each fixed step), with fewer
augmentations, and under every ranking rule (`solver.vote.VoteConfig.rule`), pass@1/pass@2 per
task (the paper's) and per output (Kaggle's)."""

from pathlib import Path

import click


@click.command("analyze")
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--thresholds", default="0.1,0.3,0.5,0.7,0.9,0.99", show_default=True,
              help="Halting probabilities to sweep (comma-separated).")
@click.option("--min-steps", type=int, default=None, help="Steps before halting may stop (default: the run's predict.min_steps).")
@click.option("--json", "as_json", is_flag=True, help="Print the tables as one JSON object.")
def analyze(run_dir: Path, thresholds: str, min_steps: int | None, as_json: bool) -> None:
    """Halting, augmentation count and ranking rules, judged after the fact on a run's raw predictions."""
    import json

    import polars as pl

    from arc_pipeline.arc.errors import ArcError
    from arc_pipeline import ui
    from arc_pipeline.stages.ingest import load_tasks
    from arc_pipeline.solver.raw import RAW_FILE, augmentations_voted, ranking_rules, stopping_rules

    path = run_dir / RAW_FILE
    if not path.is_file():
        raise ArcError(f"{path} is missing: run predict with predict.keep_raw = true (the default) first")
    try:
        ts = tuple(float(t) for t in thresholds.split(",") if t.strip())
    except ValueError:
        raise ArcError(f"--thresholds {thresholds!r}: expected comma-separated probabilities, e.g. 0.5,0.9") from None
    if not ts or not all(0 < t < 1 for t in ts):
        raise ArcError(f"--thresholds {thresholds!r}: every threshold must be a probability in (0, 1)")
    if min_steps is None:
        min_steps = _run_min_steps(run_dir)
    _, target = load_tasks(run_dir)
    known = {tid: t for tid, t in target.items() if all(p.output is not None for p in t.test)}
    if not known:
        raise ArcError(f"{run_dir}: the target tasks have no solutions; nothing to score")
    try:
        raw = pl.read_parquet(path)
        halted = bool((raw["steps"] < raw["steps"].max()).any()) if raw.height else False
        rules = stopping_rules(raw, known, thresholds=ts, min_steps=min_steps)
        augs = augmentations_voted(raw, known)
        ranked, missing, ceiling = ranking_rules(raw, known)
    except (OSError, pl.exceptions.PolarsError) as e:  # truncated, or not the raw file predict writes
        raise ArcError(f"{path}: not a readable raw-predictions file ({type(e).__name__}: {str(e).splitlines()[0]}); "
                       f"rerun `arc-pipeline predict --run-dir {run_dir} --force`") from None
    if as_json:
        ui.verbatim(json.dumps({"run_dir": str(run_dir), "predictions": raw.height, "min_steps": min_steps,
                           "halted_at_inference": halted,
                           "stopping_rules": [r.__dict__ for r in rules], "augmentations": [r.__dict__ for r in augs],
                           "ranking_rules": [r.__dict__ for r in ranked], "ranking_rules_missing": missing,
                           "candidates_ceiling": ceiling}))
        return
    ui.info(f"{raw.height} predictions of {len(known)} tasks ({sum(len(t.test) for t in known.values())} test outputs); "
            f"halting sweep with min_steps {min_steps}", markup=False)
    if halted:
        ui.warn("this run halted at inference: steps after a prediction halted were not run, so "
                "'all steps' and later fixed steps reuse the halting step's grid; rerun predict with predict.halt=off")
    cols = ["votes from", "mean steps", "pass@1 per task", "pass@2 per task", "pass@1 per output", "pass@2 per output"]
    for title, rows in (("stopping rule", rules), ("augmentations voted (all steps)", augs),
                        ("ranking rule (all steps)", ranked)):
        ui.table(title, cols, [[r.rule, f"{r.mean_steps:.2f}", f"{r.per_task['1']:.4f}", f"{r.per_task['2']:.4f}",
                                f"{r.per_output['1']:.4f}", f"{r.per_output['2']:.4f}"] for r in rows])
    ui.info(f"right grid among the candidates at all (no rule can beat it): {ceiling['per_task']:.4f} per task, "
            f"{ceiling['per_output']:.4f} per output", markup=False)
    for rule, why in missing.items():
        ui.info(f"rule {rule}: not judged ({why})", markup=False)


def _run_min_steps(run_dir: Path) -> int:
    from arc_pipeline.config import read_config

    cfg_file = run_dir / "config.toml"
    return int(read_config(cfg_file).predict.min_steps) if cfg_file.is_file() else 1
