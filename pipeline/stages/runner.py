"""Running stages against the manifest: fingerprints, skip/resume/force, the time budget, torchrun.

The runner iterates `pipeline.stages.PIPELINE` and reads everything it needs about a stage from the
stage's own contract (`STAGE` in pipeline/stages/<name>.py): what it writes, its fingerprint inputs,
whether it resumes, runs under torchrun, is cut to the deadline, has a stand-in output or a check.

Each stage's input fingerprint hashes the config its contract names and the fingerprint of the
stage before it, so a change anywhere reruns that stage and everything after it. A stage found
`running` or `failed` with the same fingerprint is resumed in place (train and adapt continue from
their last checkpoint); a stage whose fingerprint changed, or that is forced, first loses what it
wrote before. A stage rerun only because its outputs were damaged (same inputs) is a rebuild: what
follows it waits, and is kept when the rebuild's outputs come back with the digests recorded before.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from arc_pipeline import launch
from arc_pipeline.arc.errors import ArcError
from arc_pipeline.config import PipelineConfig, to_toml, write_config
from arc_pipeline.config.root import fingerprint_values
from arc_pipeline.manifest import Manifest, StageRecord, fingerprint
from arc_pipeline.rundir import SUBMISSION, RunDir, describe
from arc_pipeline.stages import BY_NAME, PIPELINE, STAGES, Context, Stage, StageResult


def fingerprints(cfg: PipelineConfig) -> dict[str, str]:
    """The input fingerprint of every stage, chained in stage order: the config its contract names
    (less its `unhashed` keys), its extra `inputs`, and the fingerprint of the stage before it."""
    out, prev = {}, ""
    for stage in PIPELINE:
        parts = []
        for r in stage.config:
            sec, _, key = r.partition(".")
            values = fingerprint_values(sec, getattr(cfg, sec))
            if key:  # one key: nothing while it is an added-later key at its default (as for a section)
                if key in values:
                    parts.append((r, values[key]))
            elif values:  # a section whose keys are all added-later defaults adds nothing
                parts.append((r, {k: v for k, v in values.items() if f"{sec}.{k}" not in stage.unhashed}))
        extra = stage.inputs(cfg) if stage.inputs is not None else None
        if extra is not None:
            parts.append(extra)
        prev = out[stage.name] = fingerprint(stage.name, prev, parts)
    return out


@dataclass
class PlanRow:
    stage: str
    action: str  # run | cached | resume
    reason: str
    # a rebuild (rerun with the same inputs because its outputs were damaged): the digests it must
    # reproduce for what follows to be kept
    expect: dict | None = None
    after: str | None = None  # cached only if this rebuild comes back identical


def _damaged(why: str) -> bool:
    return why.startswith(("outputs changed", "outputs missing"))


def plan(cfg: PipelineConfig, run_dir: str | Path, *, force: str | None = None,
         stages: tuple[str, ...] = STAGES) -> list[PlanRow]:
    """What `execute` would do with each stage, and why (a cached stage is one whose outputs verify).
    `force`: rerun that stage and every one after it, whatever the manifest says."""
    if force is not None and force not in STAGES:
        raise ArcError(f"{force!r}: unknown stage; valid stages: {', '.join(STAGES)}")
    manifest = Manifest(run_dir)
    fps = fingerprints(cfg)
    rows, dirty, rebuild = [], False, None
    for name in stages:
        stage, rec = BY_NAME[name], manifest.get(name)
        if force is not None and STAGES.index(name) >= STAGES.index(force):
            rows.append(PlanRow(name, "run", f"forced from {force}"))
            dirty = True
        elif rec.fingerprint == fps[name] and rec.status in ("running", "failed"):
            # same inputs (fingerprints chain), so partial work such as checkpoints stays valid
            if rec.expected and not dirty and not stage.resumable:  # a rebuild that did not finish
                rows.append(PlanRow(name, "run", f"was {rec.status}; rebuilding", expect=rec.expected))
                rebuild = name
            else:
                rows.append(PlanRow(name, "resume", f"was {rec.status}"))
                dirty = True
        elif dirty:
            rows.append(PlanRow(name, "run", "an earlier stage reruns"))
        else:
            why = manifest.why_not_current(name, fps[name])
            if why is None and stage.verify is not None:
                why = stage.verify(Path(run_dir))
            if why is None:
                done = f"done {rec.seconds:.1f}s, verified"
                rows.append(PlanRow(name, "cached", done) if rebuild is None else
                            PlanRow(name, "cached", f"{done}; kept if {rebuild} rebuilds identical", after=rebuild))
            elif stage.resumable and why.startswith("outputs changed"):
                # intact checkpoints are kept: the stage resumes from the newest one
                rows.append(PlanRow(name, "resume", f"{why}; resuming from the newest intact checkpoint",
                                    after=rebuild))
                dirty = True
            elif _damaged(why) and rebuild is None and rec.digests:
                # same inputs, damaged outputs: rebuilt, and what follows is kept if it comes back identical
                rows.append(PlanRow(name, "run", f"{why}; rebuilding it", expect=dict(rec.digests)))
                rebuild = name
            else:
                rows.append(PlanRow(name, "run", why))
                dirty = True
    return rows


Launcher = Callable[[str, PipelineConfig, Path, list[str], Context], StageResult]
StageFn = Callable[[PipelineConfig, Path, Context], StageResult]


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

    `force`: rerun that stage and every one after it. `impl` replaces stage functions by name
    (tests); `launcher` replaces torchrun. On node 0 of a multi-node run the other nodes follow
    (`pipeline.launch`) and learn at the end how it went."""
    ctx = ctx or Context()
    rd = RunDir(run_dir)
    run_dir = rd.root
    if not rd.root.exists() and stages[0] != STAGES[0]:  # only a run, or its first stage, starts a directory
        raise ArcError(f"{rd.root}: no such run directory; `arc-pipeline run --run-dir {rd.root}` (or "
                       f"`arc-pipeline {STAGES[0]} --run-dir {rd.root}`) starts one")
    if not rd.writable():
        return _read_only(cfg, rd, force, stages, ctx, on_start, on_end)
    with rd.lock() as lock, launch.session(cfg, run_dir, ctx):
        if lock.previous:
            ctx.note(f"took over the lock of a run that is no longer running ({describe(lock.previous)})")
        for note in rd.guard():  # links refused, killed writes' temp files removed
            ctx.note(note)
        text = to_toml(cfg)
        if not rd.config.is_file() or rd.config.read_text() != text:
            write_config(cfg, rd.config)
        manifest = Manifest(run_dir)
        fps = fingerprints(cfg)
        rows = plan(cfg, run_dir, force=force, stages=stages)
        waiting = invalidate(rd, manifest, rows, ctx)
        for row in rows:
            stage = BY_NAME[row.stage]
            if row.after is not None and row.after in waiting:  # the rebuild it waited on came back different
                row = PlanRow(row.stage, "run", f"{row.after} rebuilt with different outputs")
            if on_start is not None:
                on_start(stage.name, row)
            if row.action == "cached":
                rec = manifest.get(stage.name)
            else:
                fn = (impl or {}).get(stage.name) or stage.run
                rec = run_one(stage, cfg, run_dir, manifest, fps[stage.name], ctx, fn, launcher, expect=row.expect)
                if row.expect is not None:
                    settle(rd, manifest, stage.name, row.expect, waiting, ctx)
            if on_end is not None:
                on_end(stage.name, rec)
            placeholders(rd, manifest, stage if row.action != "cached" else None)
        return dict(manifest.stages)


def settle(rd: RunDir, manifest: Manifest, name: str, expect: dict, waiting: dict[str, list[str]], ctx: Context) -> None:
    """After a rebuild: keep the stages that waited on it when its outputs match `expect`, else clear them."""
    kept = waiting.get(name, [])
    if manifest.get(name).digests == expect:
        waiting.pop(name, None)
        if kept:
            ctx.note(f"{name}: rebuilt identical to what was recorded; kept {', '.join(kept)}")
        return
    for later in kept:
        clear(rd.root, later, manifest.get(later).outputs)
        manifest.mark_stale(later, f"{name} rebuilt with different outputs")
    if kept:
        ctx.note(f"{name}: rebuilt with different outputs; {', '.join(kept)} will run again")


def placeholders(rd: RunDir, manifest: Manifest, ran: Stage | None = None) -> None:
    """Write the stand-in outputs of stages not done yet (the fallback submission.json): when they
    are missing, or when `ran` (the stage that just ran) rewrote what they read."""
    for stage in PIPELINE:
        if stage.placeholder is None or manifest.get(stage.name).status == "done":
            continue
        missing = not all((rd / rel).exists() for rel in stage.writes)
        if missing or (ran is not None and _overlap(ran.writes, stage.reads)):
            stage.placeholder(rd.root)


def _overlap(written: tuple[str, ...], read: tuple[str, ...]) -> bool:
    """True when a path in `read` is one of `written` or lies under or above one of them."""
    def under(a: str, b: str) -> bool:
        return a == b or a.startswith(b.rstrip("/") + "/")

    return any(under(r, w) or under(w, r) for r in read for w in written)


def invalidate(rd: RunDir, manifest: Manifest, rows: list[PlanRow], ctx: Context) -> dict[str, list[str]]:
    """Before any work: every stage that will run, and every stage after the first that will run or
    resume (planned now or not), is marked stale and loses its outputs, so a failure can never leave
    old results presented as current. Stand-ins (the fallback submission.json) fill in meanwhile.

    Except after a rebuild (same inputs, damaged outputs): the done stages after it wait, untouched,
    until it ends (`settle`). Returns {rebuilding stage: the stages waiting on it}."""
    waiting: dict[str, list[str]] = {}
    acting = [r for r in rows if r.action != "cached"]
    if not acting:
        return waiting
    first = min(STAGES.index(r.stage) for r in acting)
    planned = {r.stage: r for r in rows}
    rebuild = None
    for stage in STAGES[first:]:
        row = planned.get(stage)
        if row is not None and row.expect is not None:
            rebuild = stage
            waiting[stage] = []
        elif row is not None and row.after is not None:
            waiting[row.after].append(stage)
            if row.action == "resume":
                ctx.note(f"{stage}: {row.reason}")
            continue
        elif row is None and rebuild is not None:
            if manifest.get(stage).status == "done":
                waiting[rebuild].append(stage)
            continue
        elif row is not None and row.action != "cached":
            rebuild = None  # a stage that reruns anyway: it and what follows lose their outputs
        if row is not None and row.action == "resume":
            if row.reason.startswith("outputs changed"):
                ctx.note(f"{stage}: {row.reason}")
            continue
        if row is None and manifest.get(stage).status == "pending":
            continue
        if row is not None and row.action == "cached":
            continue
        why = row.reason if row is not None else f"{STAGES[first]} reruns"
        if row is not None and row.expect is not None:
            ctx.note(f"{stage}: {why}")
        elif why.startswith(("outputs changed", SUBMISSION)):
            ctx.note(f"{stage}: {why}; running it again")
        rec = manifest.get(stage)
        for moved in clear(rd.root, stage, rec.outputs, aside=rec.status == "pending"):
            ctx.note(f"{stage}: {moved}")
        manifest.mark_stale(stage, why)
    placeholders(rd, manifest)
    return waiting


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


def clear(run_dir: Path, stage: str, recorded: list[str] | tuple[str, ...] = (), *, aside: bool = False) -> list[str]:
    """Remove what `stage` writes and what the manifest recorded it wrote (inside the run directory only).

    `aside`: the stage never ran here, so a checkpoint folder under its names (put there by hand or
    by import-reference) was not written by it: moved to NAME.aside-<time>, never deleted. Returns a
    note per folder moved aside."""
    root = Path(run_dir).resolve()
    moved = []
    for rel in dict.fromkeys((*BY_NAME[stage].writes, *recorded)):
        p = Path(run_dir) / rel
        if p.is_symlink() or not p.resolve().is_relative_to(root) or p.resolve() == root:
            continue
        if aside and p.is_dir() and any(p.glob("step_*/meta.json")):
            dest = p.with_name(f"{p.name}.aside-{time.strftime('%Y%m%d-%H%M%S')}")
            n = 1
            while dest.exists():
                dest, n = p.with_name(f"{p.name}.aside-{time.strftime('%Y%m%d-%H%M%S')}-{n}"), n + 1
            os.replace(p, dest)
            moved.append(f"{rel} was not written by this run's {stage} stage: moved to {dest.name}, not deleted")
        elif p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()
    return moved


def run_one(stage: Stage, cfg: PipelineConfig, run_dir: Path, manifest: Manifest, fp: str, ctx: Context,
            fn: StageFn, launcher: Launcher | None = None, *, expect: dict | None = None) -> StageRecord:
    manifest.start(stage.name, fp, expected=expect)
    try:
        cfg, sets = budgeted(stage.name, cfg, ctx)
        if cfg is None:
            result = StageResult([], {"skipped": True}, note="no time left in the budget")
            ctx.note(f"{stage.name}: skipped, no time left in the budget")
        elif launch.distributed(cfg) and stage.distributed:
            result = (launcher or launch.launch)(stage.name, cfg, run_dir, sets, ctx)
        else:
            result = fn(cfg, run_dir, ctx)
    except BaseException as e:  # record the failure (even Ctrl-C), then let it propagate
        try:
            manifest.fail(stage.name, f"{type(e).__name__}: {e}"[:500])
        except OSError:  # e.g. the disk that failed the stage is full: the stage's own error is the one to show
            pass
        raise
    return manifest.finish(stage.name, result.outputs, note=result.note, summary=result.summary)


def budgeted(name: str, cfg: PipelineConfig, ctx: Context) -> tuple[PipelineConfig | None, list[str]]:
    """`cfg` with the stage's own time limit (`[<stage>] time_budget_s`) cut to fit the run's deadline
    as its contract's `budget` says (None: no time left, skip it)."""
    remaining = ctx.remaining()
    kind = BY_NAME[name].budget_for(cfg)
    if remaining is None or not kind:
        return cfg, []
    from arc_pipeline.config import parse_duration

    total = parse_duration(cfg.run.time_budget) or remaining
    limit = remaining - (cfg.run.reserve * total if kind == "reserve" else 0.0)
    if limit <= 1.0:
        return (None, []) if kind == "reserve" else (cfg, [])
    section = getattr(cfg, name)
    if not any(f.name == "time_budget_s" for f in dataclasses.fields(section)):
        return cfg, []
    current = getattr(section, "time_budget_s") or float("inf")
    value = round(min(current, limit), 1)
    new = dataclasses.replace(cfg, **{name: dataclasses.replace(section, time_budget_s=value)})
    return new, [f"{name}.time_budget_s={value}"]

