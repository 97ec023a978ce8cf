"""`arc-pipeline evaluate RUN --checkpoints all|latest|best|STEP[,STEP...]` (docs/evaluating.md).

Every chosen checkpoint of a run is scored, with its EMA weights and its live weights where both exist,
on the run's target tasks through the same call as the predict stage (`solver.predict.predict`: every
augmented copy of every test input, `[predict]` and `[vote]` as the run's config says), and on the build's
held-out split (`val`: pairs of training tasks, never the target) with the trainer's own evaluation.
One row per (checkpoint, weights): step, pass@1 / pass@2 per task and per output on the target,
held-out exact and token accuracy. The rows go to RUN/evaluation/checkpoints.json and checkpoints.md,
the pass@2 curve over steps to curve.svg; a run whose report stage is done gets its report.html redrawn
(the report's "Checkpoints" section: the curve and the table, `report.provenance`).

The `best` row follows the rule training uses for the `best` pointer (`solver.ckpt_folder.BEST_RULE`):
held-out exact accuracy, then held-out token accuracy, then the later step; never the target's score,
which would be selection on the test set. EMA weights are preferred at equal keys (what predict uses).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.arc.io import write_json, write_text

CHOICES = ("all", "latest", "best")


@dataclass
class Row:
    step: int
    weights: str  # ema | live
    checkpoint: str  # step directory name
    pass1_task: float
    pass2_task: float
    pass1_output: float
    pass2_output: float
    held_out_exact: float | None
    held_out_tokens: float | None
    predictions: int
    seconds: float


@dataclass
class Evaluation:
    run_dir: Path
    rows: list[Row]
    best: Row | None
    rule: str
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "best": asdict(self.best) if self.best else None,
                "rows": [asdict(r) for r in self.rows]}


def checkpoint_folder(cfg, run_dir: Path) -> Path:
    """Where the run's checkpoints are: adapt/ under pretrain-adapt, checkpoints/ otherwise."""
    from arc_pipeline.rundir import ADAPT, CHECKPOINTS

    return run_dir / (ADAPT if cfg.run.protocol == "pretrain-adapt" else CHECKPOINTS)


def choose(folder: Path, which: str) -> list[Path]:
    """The step directories `which` names (all | latest | best | STEP[,STEP...]), oldest first."""
    from arc_pipeline.solver import ckpt_folder

    intact = sorted(p for p in ckpt_folder.steps(folder) if ckpt_folder.problem(p) is None)
    if not intact:
        raise ArcError(f"{folder}: no intact checkpoint to evaluate; train first (`arc-pipeline run --run-dir ...`)")
    if which == "all":
        return intact
    if which in ("latest", "best"):
        found, note = ckpt_folder.find(folder, which)
        if found is None:
            raise ArcError(f"{folder}: no usable '{which}' pointer ({note or 'none written'}); "
                           f"saved steps: {', '.join(str(_step(p)) for p in intact)}")
        return [found]
    try:
        wanted = sorted({int(s) for s in which.split(",") if s.strip()})
    except ValueError:
        raise ArcError(f"--checkpoints {which!r}: valid: all, latest, best, or steps such as 500,1000") from None
    by_step = {_step(p): p for p in intact}
    missing = [s for s in wanted if s not in by_step]
    if missing or not wanted:
        raise ArcError(f"--checkpoints {which!r}: no intact checkpoint for step(s) {missing or which}; saved steps: "
                       f"{', '.join(str(s) for s in sorted(by_step))}")
    return [by_step[s] for s in wanted]


def _step(path: Path) -> int:
    return int(path.name.removeprefix("step_"))


def evaluate(run_dir: str | Path, which: str = "all", *, progress=None, on_note: Callable[[str], None] | None = None,
             write: bool = True) -> Evaluation:
    """Score the chosen checkpoints of a run (see the module docstring); writes RUN/evaluation/ when `write`."""
    from arc_pipeline.augment.dataset import open_split, read_meta
    from arc_pipeline.config import read_config
    from arc_pipeline.rundir import DATASET, RunDir
    from arc_pipeline.solver import ckpt_folder
    from arc_pipeline.solver.device import setup_runtime
    from arc_pipeline.solver.vote import pass_at_k_both

    run_dir = Path(run_dir)
    if not (run_dir / "config.toml").is_file():
        raise ArcError(f"{run_dir}: not a run directory (no config.toml)")
    cfg = read_config(run_dir / "config.toml")
    rd = RunDir(run_dir)
    _, target = rd.tasks()
    if not all(t.has_solutions for t in target.values()):
        raise ArcError(f"{run_dir}: the target tasks have no solutions, so there is nothing to score checkpoints on")
    ds = run_dir / DATASET
    meta = read_meta(ds)
    test = open_split(ds, "test")
    val = open_split(ds, "val") if meta["counts"].get("val", 0) else None
    runtime = setup_runtime(cfg.train.device, cfg.train.dtype)
    note = on_note or (lambda msg: None)
    own = None if cfg.run.protocol == "pretrain-adapt" else meta["fingerprint"]
    rows = []
    with rd.lock("arc-pipeline evaluate"):
        chosen = choose(checkpoint_folder(cfg, run_dir), which)
        for path in chosen:
            for weights in (("ema", "live") if (path / "ema.pt").is_file() else ("live",)):
                t0 = time.time()
                voted, made = predict_target(path, test, runtime, cfg, weights, own, progress=progress, on_note=note)
                p = pass_at_k_both(voted, target, (1, 2))
                held = held_out(path, val, runtime, weights == "ema", own, cfg) if val is not None else {}
                rows.append(Row(_step(path), weights, path.name, p["per_task"]["1"], p["per_task"]["2"],
                                p["per_output"]["1"], p["per_output"]["2"], held.get("exact"),
                                held.get("token_accuracy"), made, round(time.time() - t0, 2)))
                note(f"evaluate: {path.name} {weights}: pass@2 per task {p['per_task']['2']:.4f}"
                     + (f", held-out exact {held['exact']:.4f}" if held else ""))
        if val is None:
            note("evaluate: the build has no held-out split (build.val_fraction = 0): `best` is the latest step")
        result = Evaluation(run_dir, rows, best_row(rows), ckpt_folder.BEST_RULE)
        if write:
            result.files = write_evaluation(result, run_dir)
    if write and _has_report(run_dir):
        result.files.append(redraw_report(cfg, run_dir, note))
    return result


def _has_report(run_dir: Path) -> bool:
    from arc_pipeline.manifest import Manifest

    return Manifest(run_dir).get("report").status == "done"


def redraw_report(cfg, run_dir: Path, note: Callable[[str], None]) -> Path:
    """The run's report stage again (through the runner and its manifest), so report.html shows the
    checkpoints just evaluated; after the evaluation's lock is let go, as the runner takes it. The
    runner alone, not `api.run_stage`: a redrawn page is no end of a run to send to `run.track`."""
    from arc_pipeline.rundir import REPORT_HTML
    from arc_pipeline.stages import Context
    from arc_pipeline.stages.runner import execute

    execute(cfg, run_dir, force="report", stages=("report",), ctx=Context(on_note=note))
    note("evaluate: report.html redrawn with the checkpoints' curve and table")
    return run_dir / REPORT_HTML


def best_row(rows: list[Row]) -> Row | None:
    """The row the `best` rule picks: held-out exact, then token accuracy, then the later step (EMA first on a tie)."""
    from arc_pipeline.solver.ckpt_folder import best_key

    if not rows:
        return None
    return max(rows, key=lambda r: (*best_key({"exact": r.held_out_exact if r.held_out_exact is not None else -1.0,
                                               "token_accuracy": r.held_out_tokens if r.held_out_tokens is not None
                                               else -1.0}, r.step), r.weights == "ema"))


def predict_target(path: Path, source, runtime, cfg, weights: str, fingerprint: str | None, *, progress=None,
                   on_note=None):
    """(voted candidates, predictions made) for one checkpoint and weight set: the predict stage's code path."""
    pcfg = replace(cfg.predict, use_ema=weights == "ema", keep_raw=False)
    # one weight set per row: the pooled rule ("checkpoints") ranks this set's votes alone, and no
    # second pass runs for `vote.compare`
    vote = replace(cfg.vote, rule="votes" if cfg.vote.rule == "checkpoints" else cfg.vote.rule, compare=False)
    from arc_pipeline.solver.predict import predict  # the predict stage's one library call

    made = predict(path, source, runtime, pcfg, vote, fingerprint=fingerprint, max_test_augs=cfg.run.max_test_augs,
                   progress=progress, on_note=on_note)
    return made.voted, int(made.summary.get("predictions", 0))


def held_out(path: Path, val, runtime, use_ema: bool, fingerprint: str | None, cfg) -> dict:
    """The trainer's held-out evaluation (exact and token accuracy, every example, all N_sup steps)."""
    from arc_pipeline.solver.checkpoint import build_model
    from arc_pipeline.solver.evaluate import evaluate as evaluate_split

    model = build_model(path, device=runtime.device, use_ema=use_ema, fingerprint=fingerprint)
    return evaluate_split(model, val, runtime, batch_size=cfg.predict.batch_size)


def table_rows(rows: list[Row], best: Row | None) -> tuple[list[str], list[list[str]]]:
    """The evaluation as a table: header and one row of text per (checkpoint, weights) (the report's too)."""
    from arc_pipeline.report.provenance import CHECKPOINT_COLUMNS, checkpoint_table

    return list(CHECKPOINT_COLUMNS), checkpoint_table([asdict(r) for r in rows], asdict(best) if best else None)


def curve_svg(rows: list[Row]) -> str:
    """pass@2 per task on the target, held-out exact and token accuracy against the step, one line per weight set."""
    from arc_pipeline.report.provenance import checkpoint_chart

    return checkpoint_chart([asdict(r) for r in rows])


def write_evaluation(result: Evaluation, run_dir: Path) -> list[Path]:
    from arc_pipeline.rundir import EVALUATION

    out = run_dir / EVALUATION
    out.mkdir(exist_ok=True)
    write_json(out / "checkpoints.json", result.to_dict(), indent=1)
    head, body = table_rows(result.rows, result.best)
    md = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(r) + " |" for r in body]
    write_text(out / "checkpoints.md", f"# Checkpoints of {run_dir.name}\n\n`best` rule: {result.rule}.\n\n"
               + "\n".join(md) + "\n")
    write_text(out / "curve.svg", curve_svg(result.rows))
    return [out / "checkpoints.json", out / "checkpoints.md", out / "curve.svg"]
