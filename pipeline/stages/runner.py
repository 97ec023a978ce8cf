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
from pipeline.config import PipelineConfig, section_dict, to_toml, write_config
from pipeline.manifest import Manifest, StageRecord, fingerprint
from pipeline.rundir import CONFIG as CONFIG_TOML
from pipeline.rundir import OWNS, SUBMISSION, RunDir, describe
from pipeline.stages import STAGES, Context, StageResult
from pipeline.stages.submit import write_fallback

# what each stage reads from the config: a section name or "section.key"
READS: dict[str, tuple[str, ...]] = {
    "ingest": ("data", "run.protocol"),
    "build": ("build", "run.protocol", "run.seed", "run.checkpoint"),
    "train": ("model", "train", "run.checkpoint"),
    "adapt": ("adapt", "run.protocol", "run.checkpoint"),
    "predict": ("predict",),
    "submit": (),
    "score": (),
    "report": (),
}
# keys that change how fast or where a stage runs, not what it computes
NOT_HASHED = {"device", "devices", "time_budget", "time_budget_s", "reserve", "log_every", "compile", "workers"}
DISTRIBUTED = ("train", "adapt", "predict")  # stages launched under torchrun when run.devices > 1


def fingerprints(cfg: PipelineConfig) -> dict[str, str]:
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


def plan(cfg: PipelineConfig, run_dir: str | Path, *, force: str | None = None,
         stages: tuple[str, ...] = STAGES) -> list[PlanRow]:
    """What `execute` would do with each stage, and why (a cached stage is one whose outputs verify)."""
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
        else:
            why = manifest.why_not_current(stage, fps[stage]) or verify(stage, Path(run_dir))
            if why is None:
                rows.append(PlanRow(stage, "cached", f"done {rec.seconds:.1f}s, verified"))
            elif stage in RESUMABLE and why.startswith("outputs changed"):
                # intact checkpoints are kept: the stage resumes from the newest one
                rows.append(PlanRow(stage, "resume", f"{why}; resuming from the newest intact checkpoint"))
            else:
                rows.append(PlanRow(stage, "run", why))
            dirty = why is not None
    return rows


RESUMABLE = ("train", "adapt")  # stages whose partial outputs (checkpoints) a rerun continues from


def verify(stage: str, run_dir: Path) -> str | None:
    """Checks of a cached stage beyond its digests: submission.json must pass the validator."""
    rd = RunDir(run_dir)
    if stage != "submit" or not rd.submission.exists() or not rd.target_json.exists():
        return None
    from submissions.validate import validate

    from pipeline.stages.ingest import load_tasks

    try:
        problems = validate(rd.submission, load_tasks(run_dir)[1])
    except ArcError as e:
        problems = [str(e)]
    return f"{SUBMISSION} fails validation: {problems[0]}" if problems else None


Launcher = Callable[[str, PipelineConfig, Path, list[str], Context], StageResult]
DEADLINE_ENV = "ARC_PIPELINE_DEADLINE"  # how torchrun'd stages learn the run's deadline
StageFn = Callable[[PipelineConfig, Path, Context], StageResult]


def stage_function(stage: str) -> StageFn:
    return importlib.import_module(f"pipeline.stages.{stage}").run


def execute(
    cfg: PipelineConfig,
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
    """Run (or skip) `stages` in order under the run directory's lock; the manifest records each one.
    Returns the records. A read-only run directory is served when every stage is cached.

    `impl` replaces stage functions by name (tests); `launcher` replaces torchrun."""
    ctx = ctx or Context()
    rd = RunDir(run_dir)
    run_dir = rd.root
    if not rd.writable():
        return _read_only(cfg, rd, force, stages, ctx, on_start, on_end)
    with rd.lock() as lock:
        if lock.previous:
            ctx.note(f"took over the lock of a run that is no longer running ({describe(lock.previous)})")
        text = to_toml(cfg)
        if not rd.config.is_file() or rd.config.read_text() != text:
            write_config(cfg, rd.config)
        manifest = Manifest(run_dir)
        fps = fingerprints(cfg)
        rows = plan(cfg, run_dir, force=force, stages=stages)
        invalidate(rd, manifest, rows, ctx)
        for row in rows:
            stage = row.stage
            if on_start is not None:
                on_start(stage, row)
            if row.action == "cached":
                rec = manifest.get(stage)
            else:
                fn = (impl or {}).get(stage) or stage_function(stage)
                rec = run_one(stage, cfg, run_dir, manifest, fps[stage], ctx, fn, launcher)
            if on_end is not None:
                on_end(stage, rec)
            if stage == "ingest" and (row.action != "cached" or not rd.submission.exists()) and rd.target_json.exists():
                # a valid submission exists from here on, whatever happens to the later stages
                write_fallback(run_dir)
        return dict(manifest.stages)


def invalidate(rd: RunDir, manifest: Manifest, rows: list[PlanRow], ctx: Context) -> None:
    """Before any work: every stage that will run, and every stage after the first that will run or
    resume (planned now or not), is marked stale and loses its outputs, so a failure can never leave
    old results presented as current. submission.json falls back to the test inputs meanwhile."""
    acting = [r for r in rows if r.action != "cached"]
    if not acting:
        return
    first = min(STAGES.index(r.stage) for r in acting)
    planned = {r.stage: r for r in rows}
    for stage in STAGES[first:]:
        row = planned.get(stage)
        if row is not None and row.action == "resume":
            if row.reason.startswith("outputs changed"):
                ctx.note(f"{stage}: {row.reason}")
            continue
        if row is None and manifest.get(stage).status == "pending":
            continue
        if row is not None and row.action == "cached":
            continue
        why = row.reason if row is not None else f"{STAGES[first]} reruns"
        if why.startswith(("outputs changed", SUBMISSION)):
            ctx.note(f"{stage}: {why}; running it again")
        clear(rd.root, stage, manifest.get(stage).outputs)
        manifest.mark_stale(stage, why)
    ingest_runs = "ingest" in planned and planned["ingest"].action != "cached"
    if not ingest_runs and not rd.submission.exists() and rd.target_json.exists():
        write_fallback(rd.root)


def _read_only(cfg, rd: RunDir, force, stages, ctx, on_start, on_end) -> dict[str, StageRecord]:
    """Serve a run directory we cannot write: fine when every stage is cached and verified."""
    rows = plan(cfg, rd.root, force=force, stages=stages)
    todo = [r for r in rows if r.action != "cached"]
    if todo:
        shown = ", ".join(f"{r.stage} ({r.reason})" for r in todo[:4])
        raise ArcError(f"{rd.root} is not writable and {len(todo)} stage(s) would run: {shown}; make it writable "
                       "or copy it and pass --run-dir COPY")
    manifest = Manifest(rd.root)
    ctx.note(f"{rd.root} is read-only: every stage is cached and verified; nothing was written")
    for row in rows:
        if on_start is not None:
            on_start(row.stage, row)
        if on_end is not None:
            on_end(row.stage, manifest.get(row.stage))
    return dict(manifest.stages)


def clear(run_dir: Path, stage: str, recorded: list[str] | tuple[str, ...] = ()) -> None:
    """Remove what `stage` owns and what the manifest recorded it wrote (inside the run directory only)."""
    root = Path(run_dir).resolve()
    for rel in dict.fromkeys((*OWNS.get(stage, ()), *recorded)):
        p = Path(run_dir) / rel
        if not p.resolve().is_relative_to(root) or p.resolve() == root:
            continue
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()


def run_one(stage: str, cfg: PipelineConfig, run_dir: Path, manifest: Manifest, fp: str, ctx: Context,
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


def budgeted(stage: str, cfg: PipelineConfig, ctx: Context) -> tuple[PipelineConfig | None, list[str]]:
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


def torchrun(stage: str, cfg: PipelineConfig, run_dir: Path, sets: list[str], ctx: Context) -> StageResult:
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
