"""Optional experiment tracking from the trainer's metrics stream: TensorBoard and Weights & Biases.

`run.track = ["tensorboard", "wandb"]` sends every row the train and adapt stages log (the rows of
metrics.jsonl, the same ones the progress records show) to each tracker, keyed `<stage>/<name>`
against that stage's own step. Neither package is a dependency: they are the extras
`pip install arc-pipeline[tensorboard]` / `[wandb]`, and asking for one that is not installed is a
one-line error. W&B runs offline unless WANDB_MODE says otherwise (no internet needed; upload
later with `wandb sync RUN_DIR/wandb/offline-run-*`). A tracker opens at its first row, so under
torchrun only the rank that logs (rank 0) creates one.
"""

from __future__ import annotations

import importlib.util
import math
import os
from pathlib import Path
from typing import Any, Callable

from arc_pipeline.arc.errors import ArcError

TENSORBOARD_DIR = "tensorboard"
WANDB_DIR = "wandb"


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

    def close(self) -> None:
        for t in self.open or []:
            t.close()
        self.open = None


def for_run(cfg, run_dir: str | Path) -> Tracker:
    return Tracker(cfg.run.track, run_dir, cfg.to_dict())
