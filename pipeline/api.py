"""The Python API: a whole run, or one stage, exactly as the CLI runs them.

    import arc_pipeline
    result = arc_pipeline.run("smoke", "runs/smoke", sets=["train.steps=200"])
    result.score()                      # score.json, when the target has solutions
    arc_pipeline.train(run_dir="runs/smoke")   # one stage, through the manifest (cached when unchanged)

`config` is a `PipelineConfig`, a preset name, a TOML file, or None (the run directory's config.toml,
else the default preset), with `sets` (`section.key=value`) on top: the CLI's `--preset/--config/--set`.
Everything the CLI does around the stages happens here, and the CLI is a thin layer on these
functions: the run's `run.time_budget` becomes the deadline that cuts train, adapt and predict; the
run directory's lock refuses a second run; `run.track` feeds the trackers. Terminal output is the
caller's: pass `progress` (a `ui.progress`-shaped context manager) and `on_note` to see it.
Nothing here imports torch until a function is called.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

if TYPE_CHECKING:
    from arc_pipeline.config import PipelineConfig
    from arc_pipeline.manifest import StageRecord

StageHook = Callable[[str, Any], None]  # (stage name, plan row or record)


@dataclass
class RunResult:
    """What a run (or one stage) left: its records, the config it ran with, the notes it made."""

    run_dir: Path
    config: "PipelineConfig"
    records: dict[str, "StageRecord"]
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    plan: dict[str, Any] = field(default_factory=dict)  # stage -> this call's `runner.PlanRow` (action: run | cached | resume, reason)

    def score(self) -> dict | None:
        """score.json when the score stage is done (None without solutions or before scoring)."""
        from arc_pipeline.rundir import SCORE_JSON

        rec = self.records.get("score")
        path = self.run_dir / SCORE_JSON
        if rec is None or rec.status != "done" or not path.is_file():
            return None
        return json.loads(path.read_text())


def resolve_config(config: "PipelineConfig | str | Path | None" = None, run_dir: str | Path | None = None, *,
                   sets: Iterable[str] = ()) -> tuple["PipelineConfig", Path, str]:
    """(config, run directory, where the config came from), as the CLI resolves `--preset/--config/--set`:
    a `PipelineConfig` (with `sets` applied on top), a preset name, a TOML file, or None."""
    from arc_pipeline.arc.errors import ArcError
    from arc_pipeline.config import PipelineConfig, override, preset_names, resolve

    sets = tuple(sets)
    if isinstance(config, PipelineConfig):
        if run_dir is None:
            raise ArcError("run_dir is needed with a PipelineConfig (a preset name or a file names a default run directory)")
        return override(config, sets) if sets else config, Path(run_dir), "a PipelineConfig"
    if config is None:
        return resolve(run_dir, sets=sets)
    text = str(config)
    if isinstance(config, Path) or text.endswith(".toml") or os.sep in text:
        return resolve(run_dir, files=(text,), sets=sets)
    if text not in preset_names():
        raise ArcError(f"config {text!r} is neither a preset ({', '.join(preset_names())}) nor a .toml file")
    return resolve(run_dir, preset=text, sets=sets)


def run(config: "PipelineConfig | str | Path | None" = None, run_dir: str | Path | None = None, *,
        sets: Iterable[str] = (), force: bool = False, from_stage: str | None = None,
        stages: tuple[str, ...] | None = None, progress=None, on_note: Callable[[str], None] | None = None,
        on_start: StageHook | None = None, on_end: StageHook | None = None, started: float | None = None,
        impl: dict | None = None) -> RunResult:
    """Run every stage (or `stages`) in order, resuming where a previous run stopped: `arc-pipeline run`.

    `force`: rerun everything; `from_stage`: rerun that stage and every one after it. The run's deadline
    is `started` (unix seconds, default now) + `run.time_budget`. `on_start(stage, plan_row)` and
    `on_end(stage, record)` hear each stage. `impl` replaces stage functions by name (tests)."""
    from arc_pipeline.arc.errors import ArcError
    from arc_pipeline.config import parse_duration
    from arc_pipeline.stages import STAGES

    t0 = time.time() if started is None else started
    cfg, rdir, _ = resolve_config(config, run_dir, sets=sets)
    if from_stage is not None and from_stage not in STAGES:
        raise ArcError(f"{from_stage!r} is not a stage; valid stages: {', '.join(STAGES)}")
    budget = parse_duration(cfg.run.time_budget)
    return _execute(cfg, rdir, t0, deadline=t0 + budget if budget else None, force=STAGES[0] if force else from_stage,
                    stages=stages or STAGES, progress=progress, on_note=on_note, on_start=on_start, on_end=on_end,
                    impl=impl)


def run_stage(name: str, config: "PipelineConfig | str | Path | None" = None, run_dir: str | Path | None = None, *,
              sets: Iterable[str] = (), force: bool = False, progress=None,
              on_note: Callable[[str], None] | None = None, deadline: float | None = None,
              impl: dict | None = None) -> RunResult:
    """One stage in a run directory, through the manifest (skipped when its inputs are unchanged and
    its outputs verify; `force` reruns it): `arc-pipeline <stage>`. Like the CLI verb, a lone stage has
    no deadline unless `deadline` (unix seconds) is given or the run that launched it set one (the
    environment torchrun'd stages inherit)."""
    from arc_pipeline.arc.errors import ArcError
    from arc_pipeline.launch import inherited_deadline
    from arc_pipeline.stages import STAGES

    if name not in STAGES:
        raise ArcError(f"{name!r} is not a stage; valid stages: {', '.join(STAGES)}")
    if deadline is None:
        deadline = inherited_deadline()
    t0 = time.time()
    cfg, rdir, _ = resolve_config(config, run_dir, sets=sets)
    return _execute(cfg, rdir, t0, deadline=deadline, force=name if force else None, stages=(name,), progress=progress,
                    on_note=on_note, impl=impl)


def _execute(cfg, rdir: Path, t0: float, *, deadline: float | None, force: str | None, stages: tuple[str, ...],
             progress=None, on_note=None, on_start=None, on_end=None, impl=None) -> RunResult:
    """The one path of `run`, `run_stage` and the CLI: trackers, the context, the runner (lock, manifest)."""
    from arc_pipeline import launch

    if launch.follower(cfg):
        from arc_pipeline.arc.errors import ArcError

        raise ArcError(f"run.node_rank = {cfg.run.node_rank}: this node follows node 0 and runs no pipeline of its own; "
                       "start it with the same `arc-pipeline run` command as node 0 (docs/distributed.md)")
    from arc_pipeline.stages import STAGES, Context
    from arc_pipeline.stages.runner import execute
    from arc_pipeline.track import for_run

    tracker = for_run(cfg, rdir)
    ctx = Context(deadline=deadline, on_note=on_note, on_metrics=tracker.log)
    if progress is not None:
        ctx.progress = progress
    plan: dict[str, Any] = {}

    def started_stage(name: str, row) -> None:
        plan[name] = row
        if on_start is not None:
            on_start(name, row)

    try:
        records = execute(cfg, rdir, force=force, stages=stages, ctx=ctx, on_start=started_stage, on_end=on_end,
                          impl=impl)
        last = plan.get(STAGES[-1])
        if last is not None and last.action != "cached":  # a run's end reached now (not a rerun of a finished
            tracker.finish()  # run): score, pass@K, predict and vote figures, hparams, halting, sent once
    finally:
        tracker.close()
    return RunResult(rdir, cfg, records, ctx.notes, time.time() - t0, plan)


def _stage(name: str):
    def fn(config=None, run_dir=None, **kw) -> RunResult:
        return run_stage(name, config, run_dir, **kw)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"The {name} stage in a run directory (`arc-pipeline {name}`); see `run_stage`."
    return fn


ingest, build, train, adapt, predict, submit, score, report = (
    _stage(n) for n in ("ingest", "build", "train", "adapt", "predict", "submit", "score", "report"))
