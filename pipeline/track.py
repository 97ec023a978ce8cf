"""Optional experiment tracking: TensorBoard and Weights & Biases.

`run.track = ["tensorboard", "wandb"]` sends every row the train and adapt stages log (the rows of
metrics.jsonl, the same ones the progress records show) to each tracker, keyed `<stage>/<name>`
against that stage's own step; at the end of a run, `Tracker.finish` sends what the run left
(`run_figures`): the score and pass@K per task and per output (`score/*`), the predict, submit
and vote figures (`predict/*`, `vote/*`), the resolved config as hyperparameters, and the halting
step of every prediction as a histogram (`predict/halt_step`). Neither package is a dependency: they are the extras
`pip install arc-pipeline[tensorboard]` / `[wandb]`, and asking for one that is not installed is a
one-line error. W&B runs offline unless WANDB_MODE says otherwise (no internet needed; upload
later with `wandb sync RUN_DIR/wandb/offline-run-*`). A tracker opens at its first row, so under
torchrun only the rank that logs (rank 0) creates one.
"""

from __future__ import annotations

import importlib.util
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from arc_pipeline.arc.errors import ArcError

TENSORBOARD_DIR = "tensorboard"
WANDB_DIR = "wandb"
HPARAMS_RUN = "hparams"  # TensorBoard's hyperparameter table lives in its own run, under tensorboard/


def _require(name: str, module: str):
    """The module a tracker needs, or the one error that says how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ArcError(f"run.track has {name!r} but it is not installed ({e}); "
                       f"pip install 'arc-pipeline[{name}]' or drop it from run.track") from None


class _TensorBoard:
    def __init__(self, run_dir: Path, config: dict):
        writer = _require("tensorboard", "torch.utils.tensorboard").SummaryWriter
        self.writer = writer(log_dir=str(run_dir / TENSORBOARD_DIR))

    def log(self, stage: str, step: int, values: dict[str, float]) -> None:
        for k, v in values.items():
            self.writer.add_scalar(f"{stage}/{k}", v, step)
        self.writer.flush()

    def finish(self, figures: "RunFigures") -> None:
        import numpy as np

        for k, v in figures.scalars.items():
            self.writer.add_scalar(k, v, figures.step)
        if figures.halt_steps:
            values = np.asarray(figures.halt_steps)
            self.writer.add_histogram("predict/halt_step", values, figures.step,
                                      bins=np.arange(0.5, values.max() + 1.5))
        metrics = {f"hparam/{k}": v for k, v in figures.scalars.items() if k.startswith("score/")}
        self.writer.add_hparams(figures.hparams, metrics, run_name=HPARAMS_RUN, global_step=figures.step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class _WandB:
    def __init__(self, run_dir: Path, config: dict):
        wandb = _require("wandb", "wandb")
        self.wandb, self.stages = wandb, set()
        self.run = wandb.init(project=os.environ.get("WANDB_PROJECT", "arc-pipeline"), dir=str(run_dir),
                              name=run_dir.name, config=config, mode=os.environ.get("WANDB_MODE", "offline"))

    def log(self, stage: str, step: int, values: dict[str, float]) -> None:
        if stage not in self.stages:  # each stage has its own step axis (adapt restarts at 0)
            self.run.define_metric(f"{stage}/step")
            self.run.define_metric(f"{stage}/*", step_metric=f"{stage}/step")
            self.stages.add(stage)
        self.run.log({f"{stage}/{k}": v for k, v in values.items()} | {f"{stage}/step": step})

    def finish(self, figures: "RunFigures") -> None:
        # one figure per run: W&B's run summary (what its runs table compares), and the config as hyperparameters
        self.run.summary.update(figures.scalars)
        self.run.config.update(figures.hparams, allow_val_change=True)
        if figures.halt_steps:
            self.run.log({"predict/halt_step": self.wandb.Histogram(figures.halt_steps)})

    def close(self) -> None:
        self.run.finish()


BACKENDS: dict[str, Callable[[Path, dict], Any]] = {"tensorboard": _TensorBoard, "wandb": _WandB}
NEEDS = {"tensorboard": "tensorboard", "wandb": "wandb"}  # the module each backend imports


def numeric(row: dict) -> dict[str, float]:
    """The finite numbers of a metrics row (lists such as exact_by_step are left out)."""
    return {k: float(v) for k, v in row.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v)) and k != "step"}


class Tracker:
    """The trackers of one run; `log(stage, row)` is the metrics callback, `close()` flushes them."""

    def __init__(self, names: tuple[str, ...], run_dir: str | Path, config: dict | None = None):
        unknown = [n for n in names if n not in BACKENDS]
        if unknown:
            raise ArcError(f"run.track: unknown tracker(s) {', '.join(unknown)}; valid: {', '.join(BACKENDS)}")
        # refuse before any stage runs, not at the first row hours into training
        missing = [n for n in names if NEEDS.get(n) and importlib.util.find_spec(NEEDS[n]) is None]
        if missing:
            raise ArcError(f"run.track has {', '.join(missing)} but it is not installed; "
                           f"pip install 'arc-pipeline[{','.join(missing)}]' or drop it from run.track")
        self.names, self.run_dir, self.config = tuple(names), Path(run_dir), config or {}
        self.open: list[Any] | None = None

    def log(self, stage: str, row: dict) -> None:
        if not self.names:
            return
        if self.open is None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.open = [BACKENDS[n](self.run_dir, self.config) for n in self.names]
        step = int(row.get("step", 0))
        for t in self.open:
            t.log(stage, step, numeric(row))

    def finish(self) -> None:
        """Send what the finished run left (`run_figures`) to every tracker."""
        if not self.names:
            return
        figures = run_figures(self.run_dir)
        if self.open is None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.open = [BACKENDS[n](self.run_dir, self.config) for n in self.names]
        for t in self.open:
            t.finish(figures)

    def close(self) -> None:
        for t in self.open or []:
            t.close()
        self.open = None


def for_run(cfg, run_dir: str | Path) -> Tracker:
    return Tracker(cfg.run.track, run_dir, cfg.to_dict())


@dataclass
class RunFigures:
    step: int  # the last training step (where the end-of-run figures sit on a step axis)
    scalars: dict[str, float]  # score/*, predict/*, vote/*
    hparams: dict[str, Any]  # the resolved config, flat: "section.key" -> bool | int | float | str
    halt_steps: list[int]  # the halting step of every prediction (predictions_raw.parquet)


def run_figures(run_dir: str | Path) -> RunFigures:
    """The figures a finished run leaves in its directory, read back for the trackers."""
    import json

    from arc_pipeline.manifest import Manifest
    from arc_pipeline.rundir import RunDir

    rd, scalars = RunDir(Path(run_dir)), {}
    manifest = Manifest(rd.root)
    if rd.score_json.is_file():
        s = json.loads(rd.score_json.read_text())
        scalars |= {f"score/{k}": float(s[k]) for k in ("micro", "macro", "tasks_solved", "tasks", "outputs_correct",
                                                        "outputs") if isinstance(s.get(k), (int, float))}
        for per, ks in (s.get("pass_at_k") or {}).items():
            scalars |= {f"score/pass@{k}/{per}": float(v) for k, v in ks.items()}
        if isinstance(s.get("candidates_per_output"), (int, float)):
            scalars["vote/candidates_per_output"] = float(s["candidates_per_output"])
    for stage, keys in (("predict", ("predictions", "of", "candidates", "mean_steps", "seconds")),
                        ("submit", ("fallbacks", "entries"))):
        summary = manifest.get(stage).summary or {}
        scalars |= {f"predict/{'planned' if k == 'of' else k}": float(summary[k]) for k in keys
                    if isinstance(summary.get(k), (int, float)) and not isinstance(summary.get(k), bool)}
    halt_steps: list[int] = []
    if rd.predictions.is_file():
        scalars |= _vote_figures(rd)
    if rd.predictions_raw.is_file():
        import polars as pl

        halt_steps = pl.read_parquet(rd.predictions_raw, columns=["halt_step"])["halt_step"].to_list()
    hparams = {}
    if rd.config.is_file():
        from arc_pipeline.config import read_config

        hparams = {f"{sec}.{k}": v if isinstance(v, (bool, int, float, str)) else str(v)
                   for sec, keys in read_config(rd.config).to_dict().items() for k, v in keys.items()}
    step = int((manifest.get("train").summary or {}).get("step") or 0)
    return RunFigures(step, scalars, hparams, halt_steps)


def _vote_figures(rd) -> dict[str, float]:
    """vote/*: the agreement of the voted candidates per test input (shares among the candidates
    predictions.parquet keeps, the top vote.top_k)."""
    import polars as pl

    voted = pl.read_parquet(rd.predictions, columns=["task_id", "test_index", "rank", "votes"])
    if not voted.height:  # no prediction decoded to a grid
        return {"vote/distinct_per_input_mean": 0.0}
    per = voted.group_by("task_id", "test_index").agg(
        pl.col("votes").filter(pl.col("rank") == 1).first().alias("top"), pl.col("votes").sum().alias("all"),
        pl.len().alias("distinct"))
    return {"vote/top_share_mean": float((per["top"] / per["all"]).mean()),
            "vote/top_votes_mean": float(per["top"].mean()),
            "vote/distinct_per_input_mean": float(per["distinct"].mean())}
