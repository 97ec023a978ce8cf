"""Running stages against the manifest: fingerprints, skip/resume/force, the time budget, torchrun.

Each stage's input fingerprint hashes the config sections it reads and the fingerprint of the
stage before it, so a change anywhere reruns that stage and everything after it. A stage found
`running` or `failed` with the same fingerprint is resumed in place (train and adapt continue from
their last checkpoint); a stage whose fingerprint changed, or that is forced, first loses what it
wrote before.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from arc.errors import ArcError
from pipeline.config import RunConfig, section_dict, write_config
from pipeline.manifest import Manifest, StageRecord, fingerprint
from pipeline.stages import STAGES, Context, StageResult
from pipeline.stages.ingest import TARGET_JSON
from pipeline.stages.submit import SUBMISSION, write_fallback

CONFIG_TOML = "config.toml"

# what each stage reads from the config: a section name or "section.key"
READS: dict[str, tuple[str, ...]] = {
    "ingest": ("data", "run.protocol"),
    "build": ("build", "run.protocol", "run.seed"),
    "train": ("model", "train", "run.checkpoint"),
    "adapt": ("adapt", "run.protocol", "run.checkpoint"),
    "predict": ("predict",),
    "submit": (),
    "score": (),
    "report": (),
}
# keys that change how fast or where a stage runs, not what it computes
NOT_HASHED = {"device", "devices", "time_budget", "time_budget_s", "reserve", "log_every", "compile", "workers"}
# what a stage owns in the run directory (cleared before a fresh, non-resumed run of it)
OWNS: dict[str, tuple[str, ...]] = {
    "ingest": ("tasks",),
    "build": ("dataset",),
    "train": ("checkpoints", "metrics.jsonl"),
    "adapt": ("adapt",),
    "predict": ("predictions.parquet",),
    "score": ("score.json", "scores.parquet"),
    "report": ("report.html", "report"),
}
DISTRIBUTED = ("train", "adapt", "predict")  # stages launched under torchrun when run.devices > 1


def fingerprints(cfg: RunConfig) -> dict[str, str]:
    """The input fingerprint of every stage, chained in stage order."""
    out, prev = {}, ""
    for stage in STAGES:
        parts = []
        for r in READS[stage]:
            sec, _, key = r.partition(".")
            values = section_dict(getattr(cfg, sec))
            if key:
                parts.append((r, values.get(key)))
            else:
                parts.append((r, {k: v for k, v in values.items() if k not in NOT_HASHED}))
        if stage == "ingest":  # an edited source file must reach the tasks, not hit a stale cache
            parts.append([source_stat(src) for src in (*cfg.data.train, cfg.data.target)])
        prev = out[stage] = fingerprint(stage, prev, parts)
    return out


def source_stat(source: str) -> list:
    """(name, size, mtime) of the files behind a source path; [] for built-in names."""
    p = Path(source)
    if not p.exists():
        return []
    from arc.readers import tree_files

    files = tree_files(p) if p.is_dir() else [p]  # the same files the loader reads, at any depth
    if p.is_file() and p.name.endswith("_challenges.json"):
        files.append(p.with_name(p.name.replace("_challenges.json", "_solutions.json")))
    return [(str(f.relative_to(p)) if p.is_dir() else f.name, f.stat().st_size, f.stat().st_mtime_ns)
            for f in files if f.exists()]


@dataclass
class PlanRow:
    stage: str
    action: str  # run | cached | resume
    reason: str


def plan(cfg: RunConfig, run_dir: str | Path, *, force: str | None = None,
         stages: tuple[str, ...] = STAGES) -> list[PlanRow]:
    """What `execute` would do with each stage, and why."""
    if force is not None and force not in STAGES:
        raise ArcError(f"--force {force!r}: unknown stage; valid stages: {', '.join(STAGES)}")
    manifest = Manifest(run_dir)
    fps = fingerprints(cfg)
    rows, dirty = [], False
    for stage in stages:
        rec = manifest.get(stage)
        if force is not None and STAGES.index(stage) >= STAGES.index(force):
            rows.append(PlanRow(stage, "run", f"forced from {force}"))
            dirty = True
        elif rec.fingerprint == fps[stage] and rec.status in ("running", "failed"):
            # same inputs (fingerprints chain), so partial work such as checkpoints stays valid
            rows.append(PlanRow(stage, "resume", f"was {rec.status}"))
            dirty = True
        elif dirty:
            rows.append(PlanRow(stage, "run", "an earlier stage reruns"))
        elif manifest.is_current(stage, fps[stage]):
            rows.append(PlanRow(stage, "cached", f"done {rec.seconds:.1f}s"))
        else:
            why = "new" if rec.status == "pending" else (
                "inputs changed" if rec.fingerprint != fps[stage] else "outputs missing")
            rows.append(PlanRow(stage, "run", why))
            dirty = True
    return rows


Launcher = Callable[[str, RunConfig, Path, list[str], Context], StageResult]
DEADLINE_ENV = "ARC_PIPELINE_DEADLINE"  # how torchrun'd stages learn the run's deadline
StageFn = Callable[[RunConfig, Path, Context], StageResult]


def stage_function(stage: str) -> StageFn:
    return importlib.import_module(f"pipeline.stages.{stage}").run


def execute(
    cfg: RunConfig,
    run_dir: str | Path,
    *,
    force: str | None = None,
    stages: tuple[str, ...] = STAGES,
    ctx: Context | None = None,
    on_start: Callable[[str, PlanRow], None] | None = None,
    on_end: Callable[[str, StageRecord], None] | None = None,
    launcher: Launcher | None = None,
    impl: dict[str, StageFn] | None = None,
) -> dict[str, StageRecord]:
    """Run (or skip) `stages` in order; the manifest records each one. Returns the records.

    `impl` replaces stage functions by name (tests); `launcher` replaces torchrun."""
    ctx = ctx or Context()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_config(cfg, run_dir / CONFIG_TOML)
    manifest = Manifest(run_dir)
    fps = fingerprints(cfg)
    for row in plan(cfg, run_dir, force=force, stages=stages):
        stage = row.stage
        if on_start is not None:
            on_start(stage, row)
        if row.action == "cached":
            rec = manifest.get(stage)
        else:
            if row.action == "run":
                clear(run_dir, stage)
            fn = (impl or {}).get(stage) or stage_function(stage)
            rec = run_one(stage, cfg, run_dir, manifest, fps[stage], ctx, fn, launcher)
        if on_end is not None:
            on_end(stage, rec)
        if stage == "ingest" and (row.action != "cached" or not (run_dir / SUBMISSION).exists()) \
                and (run_dir / TARGET_JSON).exists():
            # a valid submission exists from here on, whatever happens to the later stages
            write_fallback(run_dir)
    return dict(manifest.stages)


def clear(run_dir: Path, stage: str) -> None:
    for rel in OWNS.get(stage, ()):
        p = run_dir / rel
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()


def run_one(stage: str, cfg: RunConfig, run_dir: Path, manifest: Manifest, fp: str, ctx: Context,
            fn: StageFn, launcher: Launcher | None = None) -> StageRecord:
    manifest.start(stage, fp)
    try:
        cfg, sets = budgeted(stage, cfg, ctx)
        if cfg is None:
            result = StageResult([], {"skipped": True}, note="no time left in the budget")
            ctx.note(f"{stage}: skipped, no time left in the budget")
        elif cfg.run.devices > 1 and stage in DISTRIBUTED:
            result = (launcher or torchrun)(stage, cfg, run_dir, sets, ctx)
        else:
            result = fn(cfg, run_dir, ctx)
    except BaseException as e:  # record the failure (even Ctrl-C), then let it propagate
        manifest.fail(stage, f"{type(e).__name__}: {e}"[:500])
        raise
    return manifest.finish(stage, result.outputs, note=result.note, summary=result.summary)


def budgeted(stage: str, cfg: RunConfig, ctx: Context) -> tuple[RunConfig | None, list[str]]:
    """`cfg` with the stage's own time limit cut to fit the run's deadline (None: no time left).

    Train and adapt may use the time up to the deadline less the reserve kept for prediction.
    """
    remaining = ctx.remaining()
    if remaining is None or stage not in ("train", "adapt", "predict"):
        return cfg, []
    if stage == "adapt" and cfg.run.protocol == "joint":
        return cfg, []  # a no-op: nothing to budget
    from pipeline.config import parse_duration

    total = parse_duration(cfg.run.time_budget) or remaining
    limit = remaining - (cfg.run.reserve * total if stage in ("train", "adapt") else 0.0)
    if limit <= 1.0:
        return (None, []) if stage != "predict" else (cfg, [])
    section = getattr(cfg, stage)
    names = {f.name for f in dataclasses.fields(section)} if dataclasses.is_dataclass(section) else set()
    if "time_budget_s" not in names:
        return cfg, []
    current = getattr(section, "time_budget_s") or float("inf")
    value = round(min(current, limit), 1)
    new = dataclasses.replace(cfg, **{stage: dataclasses.replace(section, time_budget_s=value)})
    return new, [f"{stage}.time_budget_s={value}"]


def torchrun(stage: str, cfg: RunConfig, run_dir: Path, sets: list[str], ctx: Context) -> StageResult:
    """Run one stage under torchrun, `run.devices` processes; the parent keeps the manifest."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={cfg.run.devices}",
           "-m", "pipeline", stage, "--run-dir", str(run_dir), "--no-manifest"]
    for s in sets:
        cmd += ["--set", s]
    env = dict(os.environ)
    if ctx.deadline is not None:
        env[DEADLINE_ENV] = repr(ctx.deadline)
    done = subprocess.run(cmd, env=env, check=False)
    if done.returncode != 0:
        raise ArcError(f"{stage} under torchrun ({cfg.run.devices} processes) exited with {done.returncode}; "
                       f"see the output above, fix, and rerun `arc-pipeline run --run-dir {run_dir}` to resume")
    return StageResult(outputs_of(stage, run_dir), {"devices": cfg.run.devices})


def outputs_of(stage: str, run_dir: Path) -> list[str]:
    return [rel for rel in OWNS.get(stage, ()) if (run_dir / rel).exists()]
