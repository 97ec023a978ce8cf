"""ingest: load the train and target sources, filter them, drop training tasks that leak a
target test pair (exactly, or up to a dihedral transform and a colour permutation unless
data.overlap_check = "exact"), and write tasks/train.json, tasks/target.json and tasks/tasks.parquet."""

from __future__ import annotations

from pathlib import Path

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.arc.fingerprint import grid_key as _grid_key
from arc_pipeline.arc.fingerprint import task_fingerprint
from arc_pipeline.arc.task import Task
from arc_pipeline.rundir import TARGET_JSON, TASKS, TASKS_PARQUET, TRAIN_JSON, RunDir
from arc_pipeline.stages import puzzles
from arc_pipeline.stages.contract import Context, Stage, StageResult


def _max_side(task: Task) -> int:
    grids = [p.input for p in task.train + task.test] + [p.output for p in task.train + task.test if p.output is not None]
    return max(max(g.shape) for g in grids)


def _filter(tasks: dict[str, Task], max_side: int, limit: int) -> dict[str, Task]:
    kept = {k: t for k, t in tasks.items() if not max_side or _max_side(t) <= max_side}
    if limit:
        kept = {k: kept[k] for k in sorted(kept)[:limit]}
    return kept


def leaking_train_ids(train: dict[str, Task], target: dict[str, Task]) -> list[str]:
    """Training tasks holding a target test pair (its input alone when the output is hidden)."""
    pairs, inputs = set(), set()
    for t in target.values():
        for p in t.test:
            if p.output is None:
                inputs.add(_grid_key(p.input))
            else:
                pairs.add((_grid_key(p.input), _grid_key(p.output)))
    out = []
    for tid, t in train.items():
        for p in t.train + t.test:
            ik = _grid_key(p.input)
            if ik in inputs or (p.output is not None and (ik, _grid_key(p.output)) in pairs):
                out.append(tid)
                break
    return out


def symmetric_leaks(train: dict[str, Task], target: dict[str, Task], *, permute_zero: bool = False,
                    skip: set[str] = frozenset()) -> dict[str, str]:
    """Training tasks (not in `skip`) holding a target test pair up to symmetry (its input alone when
    the output is hidden): id -> which target pair and the transform found."""
    from arc_pipeline.augment.symmetry import canon_pairs, describe, transform_between

    solved = [(t.id, j, p) for t in target.values() for j, p in enumerate(t.test) if p.output is not None]
    hidden = [(t.id, j, p) for t in target.values() for j, p in enumerate(t.test) if p.output is None]
    mine = [(tid, p) for tid, t in train.items() if tid not in skip for p in (*t.train, *t.test)]
    out: dict[str, str] = {}
    for refs, with_output in ((solved, True), (hidden, False)):
        if not refs:
            continue
        ref = canon_pairs([r[2] for r in refs], permute_zero=permute_zero, with_output=with_output)
        index = {k: i for i, k in reversed(list(enumerate(ref.keys)))}
        pairs = [(tid, p) for tid, p in mine if not with_output or p.output is not None]
        got = canon_pairs([p for _, p in pairs], permute_zero=permute_zero, with_output=with_output)
        for n, key in enumerate(got.keys):
            i = index.get(key)
            if i is not None and pairs[n][0] not in out:
                aug = transform_between(ref, i, got, n)  # how the training copy was made from the target pair
                out[pairs[n][0]] = f"{refs[i][0]} test {refs[i][1]} ({describe(aug)})"
    return out


def load_sources(cfg, skipped: dict[str, str] | None = None) -> tuple[dict[str, Task], dict[str, str], dict[str, Task]]:
    """(train tasks, train task id -> source, target tasks), filtered as [data] asks; with
    data.skip_invalid, invalid tasks are left out and their problems put in `skipped`."""
    from arc_pipeline.arc.load import load as load_all

    d = cfg.data
    skip = bool(getattr(d, "skip_invalid", False))

    def load(src, **kw):
        ts = load_all(src, skip_invalid=skip, **kw)
        if skipped is not None:
            skipped.update({f"{src}: {k}": v for k, v in ts.skipped.items()})
        return ts

    if not d.target:
        raise ArcError("no target source: set data.target (or pass --target SRC)")
    target = load(d.target)
    train: dict[str, Task] = {}
    origin: dict[str, str] = {}
    for src in d.train_sources():
        loaded = load(src.source, demos=src.demos, seed=cfg.run.seed).tasks
        for tid, task in _filter(dict(loaded), d.max_side, src.limit).items():
            key = tid
            if key in train:  # the same id in two sources: keep both unless identical
                if _same(train[key], task):
                    continue
                key = f"{tid}@{src.source}"
                n = 2
                while key in train:  # the new name may be taken too (a real task of that name): never overwrite
                    key, n = f"{tid}@{src.source}#{n}", n + 1
            train[key] = Task(key, task.train, task.test) if key != tid else task
            origin[key] = src.source
    tgt = _filter(dict(target.tasks), d.max_side, d.limit_target)
    if not tgt:
        raise ArcError(f"target {d.target!r}: no task left after data.max_side={d.max_side}, "
                       f"data.limit_target={d.limit_target}; loosen them")
    return _filter(train, d.max_side, d.limit_train), origin, tgt


def _same(a: Task, b: Task) -> bool:
    return task_fingerprint(a) == task_fingerprint(b)


def run(cfg, run_dir: str | Path, ctx: Context | None = None) -> StageResult:
    if puzzles.for_run(cfg):  # Sudoku or mazes
        return puzzles.ingest(cfg, Path(run_dir), ctx or Context())
    import polars as pl

    from arc_pipeline.arc.load import save_tasks

    ctx = ctx or Context()
    rd = RunDir(run_dir)
    skipped: dict[str, str] = {}
    train, origin, target = load_sources(cfg, skipped)
    if skipped:
        ctx.note(f"ingest: skipped {len(skipped)} invalid task(s) (data.skip_invalid): " + "; ".join(
            list(skipped.values())[:3]) + (" ..." if len(skipped) > 3 else ""))
    exact = leaking_train_ids(train, target)
    check = cfg.data.overlap_check
    sym = {} if check == "exact" else symmetric_leaks(train, target, permute_zero=check == "symmetry+zero",
                                                       skip=set(exact))
    leaked = exact + [k for k in train if k in sym]
    how = f" ({len(sym)} of them only up to symmetry, e.g. {next(iter(sym))} ~ {sym[next(iter(sym))]})" if sym else ""
    if leaked and not cfg.data.keep_overlap:
        ctx.note(f"ingest: dropped {len(leaked)} training task(s) containing a target test pair{how} "
                 f"(data.keep_overlap=true or --keep-overlap keeps them)")
    elif leaked:
        ctx.note(f"ingest: kept {len(leaked)} training task(s) that contain a target test pair{how} (keep_overlap)")
    leaked_set = set(leaked)
    kept = {k: t for k, t in train.items() if cfg.data.keep_overlap or k not in leaked_set}
    if not kept and cfg.run.protocol == "joint" and not any(t.train for t in target.values()):
        raise ArcError("no training data left after the overlap check; add --train sources")
    save_tasks(kept, rd.train_json)
    save_tasks(target, rd.target_json)
    rows = [_row(t, "train", origin.get(k, ""), k in leaked_set, k not in kept, sym.get(k, "")) for k, t in train.items()]
    rows += [_row(t, "target", cfg.data.target, False, False, "") for t in target.values()]
    frame = pl.DataFrame(rows, schema=_SCHEMA, orient="row")
    weights = {s.source: s.weight for s in cfg.data.train_sources()}
    frame = frame.with_columns(pl.col("source").replace_strict(weights, default=None, return_dtype=pl.Float64)
                               .alias("weight"))  # the source's weight (null: shares follow pairs)
    from arc_pipeline.mix import source_shares

    for row in source_shares(frame):
        ctx.note(f"ingest: source {row['source']}: {row['tasks']} task(s), {row['pairs']} pair(s), "
                 f"share {row['share']:.1%}" + (f" (weight {row['weight']:g})" if row["weight"] is not None else ""))
    from arc_pipeline.arc.io import atomic_path

    with atomic_path(rd.tasks_parquet) as tmp:
        frame.write_parquet(tmp)
    summary = {
        "train_tasks": len(kept),
        "train_dropped": len(leaked) if not cfg.data.keep_overlap else 0,
        "train_overlapping": len(leaked),
        "train_overlapping_symmetric": len(sym),
        "target_tasks": len(target),
        "target_test_inputs": sum(len(t.test) for t in target.values()),
        "target_has_solutions": all(t.has_solutions for t in target.values()),
    }
    return StageResult([TRAIN_JSON, TARGET_JSON, TASKS_PARQUET], summary)


_SCHEMA = {
    "id": str, "split": str, "source": str, "pairs": int, "test_inputs": int, "max_side": int,
    "fingerprint": str, "overlap": bool, "dropped": bool, "overlap_symmetric": str,
}


def _row(t: Task, split: str, source: str, overlap: bool, dropped: bool, symmetric: str) -> list:
    # overlap_symmetric: the target pair and transform when the overlap holds only up to symmetry
    return [t.id, split, source, len(t.train), len(t.test), _max_side(t), task_fingerprint(t), overlap, dropped,
            symmetric]


def load_tasks(run_dir: str | Path) -> tuple[dict[str, Task], dict[str, Task]]:
    """The (train, target) tasks a finished ingest wrote (`RunDir.tasks`, for callers outside the stages)."""
    return RunDir(run_dir).tasks()


def source_stat(source: str) -> list:
    """(name, size, mtime) of the files behind a source path; [] for built-in names."""
    p = Path(source)
    if not p.exists():
        return []
    from arc_pipeline.arc.readers import tree_files

    files = tree_files(p) if p.is_dir() else [p]  # the same files the loader reads, at any depth
    if p.is_file() and p.name.endswith("_challenges.json"):
        files.append(p.with_name(p.name.replace("_challenges.json", "_solutions.json")))
    return [(str(f.relative_to(p)) if p.is_dir() else f.name, f.stat().st_size, f.stat().st_mtime_ns)
            for f in files if f.exists()]


def _source_files(cfg) -> list:
    # an edited source file must reach the tasks, not hit a stale cache; run.seed cuts RE-ARC example
    # pools into tasks (hashed when set: seed 0, what every run used before it was hashed, hashes as before)
    sources = [s.source for s in cfg.data.train_sources()]  # names or {source, weight, ...} tables alike
    stats = [source_stat(src) for src in (*sources, cfg.data.target)]
    return [*stats, ("run.seed", cfg.run.seed)] if cfg.run.seed else stats


STAGE = Stage(
    "ingest", run, "Load, validate and normalise train and target tasks (tasks/).",
    writes=(TASKS,),  # train.json, target.json, tasks.parquet (Sudoku/maze runs: train.csv, target.csv)
    config=("data", "run.protocol"),
    inputs=_source_files,
)
