"""ingest: load the train and target sources, filter them, drop training tasks that leak a
target test pair (exactly, or up to a dihedral transform and a colour permutation unless
data.overlap_check = "exact"), and write tasks/train.json, tasks/train/ (the same tasks packed for
a memory-mapped build: `arc.store`), tasks/target.json and tasks/tasks.parquet.

Training sources stream: each is read in pieces (`arc.load.units`) on every core, each piece
filtered, checked against an index of the target's test pairs and written to tasks/.work/
(`pipeline.ingest_units`); then the pieces are merged in order (limits, ids shared between sources)
into the outputs. Memory holds one piece per worker and a small index per task, never a whole
source; a killed ingest resumes with the pieces it finished."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.arc.fingerprint import task_fingerprint
from arc_pipeline.arc.task import Task
from arc_pipeline.ingest_units import max_side as _max_side
from arc_pipeline.rundir import TARGET_JSON, TARGET_SKIPPED, TASKS, TASKS_PARQUET, TRAIN_JSON, TRAIN_STORE, RunDir
from arc_pipeline.stages import boards
from arc_pipeline.stages.contract import Context, Stage, StageResult


def _filter(tasks: dict[str, Task], max_side: int, limit: int) -> dict[str, Task]:
    kept = {k: t for k, t in tasks.items() if not max_side or _max_side(t) <= max_side}
    if limit:
        kept = {k: kept[k] for k in sorted(kept)[:limit]}
    return kept


def load_sources(cfg, skipped: dict[str, str] | None = None) -> tuple[dict[str, Task], dict[str, str], dict[str, Task]]:
    """(train tasks, train task id -> source, target tasks), filtered as [data] asks; with
    data.skip_invalid, invalid tasks are left out and their problems put in `skipped`."""
    from arc_pipeline.arc.load import load as load_all

    d = cfg.data
    skipped = {} if skipped is None else skipped
    tgt = _target(cfg, skipped)
    train: dict[str, Task] = {}
    origin: dict[str, str] = {}
    for src in d.train_sources():
        ts = load_all(src.source, skip_invalid=bool(getattr(d, "skip_invalid", False)), demos=src.demos,
                      seed=cfg.run.seed)
        skipped.update({f"{src.source}: {k}": v for k, v in ts.skipped.items()})
        for tid, task in _filter(dict(ts.tasks), d.max_side, src.limit).items():
            key = tid
            if key in train:  # the same id in two sources: keep both unless identical
                if _same(train[key], task):
                    continue
                key = _renamed(tid, src.source, train)
            train[key] = Task(key, task.train, task.test) if key != tid else task
            origin[key] = src.source
    return _filter(train, d.max_side, d.limit_train), origin, tgt


def _renamed(tid: str, source: str, taken) -> str:
    """The id of a task of `source` whose id `tid` another source's task holds: id@source, or
    id@source#2, #3, ... while that is taken too (a real task of that name: never overwritten)."""
    key, n = f"{tid}@{source}", 2
    while key in taken:
        key, n = f"{tid}@{source}#{n}", n + 1
    return key


def _same(a: Task, b: Task) -> bool:
    return task_fingerprint(a) == task_fingerprint(b)


def _target(cfg, skipped: dict[str, str], target_skipped: dict[str, str] | None = None) -> dict[str, Task]:
    """The target tasks, filtered as [data] asks; with data.skip_invalid the invalid ones are named in
    `skipped` and, by id, in `target_skipped` (submit still answers them)."""
    from arc_pipeline.arc.load import load

    d = cfg.data
    if not d.target:
        raise ArcError("no target source: set data.target (or pass --target SRC)")
    ts = load(d.target, skip_invalid=bool(getattr(d, "skip_invalid", False)))
    skipped.update({f"{d.target}: {k}": v for k, v in ts.skipped.items()})
    if target_skipped is not None:
        target_skipped.update(ts.skipped)
    tgt = _filter(dict(ts.tasks), d.max_side, d.limit_target)
    if not tgt:
        raise ArcError(f"target {d.target!r}: no task left after data.max_side={d.max_side}, "
                       f"data.limit_target={d.limit_target}; loosen them")
    return tgt


def _read_pieces(cfg, target: dict[str, Task], work: Path, ctx: Context, workers: int | None) -> list[tuple]:
    """Every piece of every training source read into `work` (pieces already there are kept):
    [(source, [(unit, folder), ...]), ...] in source order."""
    from arc_pipeline.arc.load import units
    from arc_pipeline.arc.pool import ordered, worker_pool, workers_for
    from arc_pipeline.ingest_units import ingest_unit, make_targets

    plan, jobs = [], []
    for si, src in enumerate(cfg.data.train_sources()):
        pieces = [(u, work / f"s{si:03d}_u{ui:06d}") for ui, u in enumerate(units(src.source, demos=src.demos))]
        plan.append((src, pieces))
        jobs += [(u, f) for u, f in pieces if not (f / "index.json").is_file()]
    targets = make_targets(target, cfg.data.overlap_check)
    n = workers_for(workers, len(jobs) >= 4)
    with ctx.progress("ingest", sum(len(p) for _, p in plan), unit="piece") as advance:
        advance(sum(len(p) for _, p in plan) - len(jobs))
        with worker_pool(min(n, max(1, len(jobs))), spawn=True) as pool:  # spawned: workers read parquet with polars
            for _ in ordered(ingest_unit, [(u, cfg.run.seed, cfg.data.max_side, targets, f) for u, f in jobs], pool):
                advance(1)
    return plan


class _Index:
    """The per-task index of the pieces read: what merging and tasks.parquet need, no grids."""

    def __init__(self):
        self.key: list[str] = []  # the id in train.json (id@source when two sources share an id)
        self.at: list[tuple[int, int]] = []  # (piece number, task number in it)
        self.source: list[str] = []
        self.cols: dict[str, list] = {k: [] for k in ("fingerprint", "pairs", "tests", "max_side", "exact", "sym_level", "sym")}


def _merge(cfg, plan: list[tuple], skipped: dict[str, str]) -> tuple[_Index, list[Path]]:
    """Every source's pieces merged in order as the in-memory loader would: invalid tasks and ids
    seen twice in a source refused (or skipped), each source's limit, ids shared between sources."""
    from arc_pipeline.arc.load import _finish  # the one message for a source with invalid tasks

    skip = bool(getattr(cfg.data, "skip_invalid", False))
    idx, folders, seen = _Index(), [], {}
    for src, pieces in plan:
        where: dict[str, str] = {}
        problems: dict[str, str] = {}
        entries = []  # (id, piece, k, index) of valid tasks, in source order
        for unit, folder in pieces:
            index = json.loads((folder / "index.json").read_text())
            p = len(folders)
            folders.append(folder)
            for tid, place, problem in index["rows"]:
                if tid in where:
                    raise ArcError(f"task id {tid!r} appears twice: {where[tid]} and {place}; task ids must be unique "
                                   "within a source (rename one, or load them as separate sources)")
                where[tid] = place
                if problem is not None:
                    problems[tid] = problem
            entries += [(tid, p, k, index) for k, tid in enumerate(index["ids"])]
        if problems:
            ts = _finish(src.source, {}, problems, skip)  # raises unless data.skip_invalid
            skipped.update({f"{src.source}: {k}": v for k, v in ts.skipped.items()})
        if src.limit:
            entries = sorted(entries, key=lambda e: e[0])[: src.limit]
        for tid, p, k, index in entries:
            key = tid
            if key in seen:  # the same id in two sources: keep both unless identical
                if idx.cols["fingerprint"][seen[key]] == index["fingerprint"][k]:
                    continue
                key = _renamed(tid, src.source, seen)
            seen[key] = len(idx.key)
            idx.key.append(key)
            idx.at.append((p, k))
            idx.source.append(src.source)
            for c in idx.cols:
                idx.cols[c].append(index[c][k])
    if cfg.data.limit_train:
        order = sorted(range(len(idx.key)), key=lambda i: idx.key[i])[: cfg.data.limit_train]
        cut = _Index()
        cut.key = [idx.key[i] for i in order]
        cut.at = [idx.at[i] for i in order]
        cut.source = [idx.source[i] for i in order]
        cut.cols = {c: [v[i] for i in order] for c, v in idx.cols.items()}
        idx = cut
    return idx, folders


def _write_train(idx: _Index, folders: list[Path], kept: list[int], rd: RunDir) -> None:
    """train.json and the task store tasks/train/: the kept tasks in order, copied from the pieces."""
    from arc_pipeline.arc.io import atomic_path
    from arc_pipeline.arc.store import StoreWriter, TaskStore

    piece, store, ends, texts = None, None, [], None
    writer = StoreWriter(rd.train_store)
    try:
        with atomic_path(rd.train_json) as tmp, open(tmp, "wb") as out:
            out.write(b"{")
            for n, i in enumerate(kept):
                p, k = idx.at[i]
                if p != piece:  # pieces are visited in order unless a limit sorted the ids
                    if texts is not None:
                        texts.close()
                    piece, store = p, TaskStore(folders[p] / "store")
                    ends = json.loads((folders[p] / "index.json").read_text())["text_end"]
                    texts = open(folders[p] / "texts.bin", "rb")
                lo = ends[k - 1] if k else 0
                texts.seek(lo)
                out.write((b"," if n else b"") + json.dumps(idx.key[i]).encode() + b":" + texts.read(ends[k] - lo))
                writer.add_from(store, k, idx.key[i])
            out.write(b"}")
        writer.close()
    finally:
        if texts is not None:
            texts.close()


def _work(rd: RunDir, cfg) -> Path:
    """tasks/.work: kept for a rerun with the same inputs (a killed ingest resumes), else emptied."""
    work = rd.root / TASKS / ".work"
    key = hashlib.sha256(json.dumps([repr(cfg.data), cfg.run.seed, _source_files(cfg)], default=str).encode()).hexdigest()
    if not ((work / "key").is_file() and (work / "key").read_text() == key):
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        (work / "key").write_text(key)
    return work


def run(cfg, run_dir: str | Path, ctx: Context | None = None, workers: int | None = None) -> StageResult:
    if boards.for_run(cfg):  # Sudoku or mazes
        return boards.ingest(cfg, Path(run_dir), ctx or Context())
    import polars as pl

    from arc_pipeline.arc.load import save_tasks

    ctx = ctx or Context()
    rd = RunDir(run_dir)
    skipped: dict[str, str] = {}
    target_skipped: dict[str, str] = {}
    target = _target(cfg, skipped, target_skipped)
    work = _work(rd, cfg)
    plan = _read_pieces(cfg, target, work, ctx, workers)
    idx, folders = _merge(cfg, plan, skipped)
    if skipped:
        ctx.note(f"ingest: skipped {len(skipped)} invalid task(s) (data.skip_invalid): " + "; ".join(
            list(skipped.values())[:3]) + (" ..." if len(skipped) > 3 else ""))
    exact, level, sym = idx.cols["exact"], idx.cols["sym_level"], idx.cols["sym"]
    leaked = [i for i in range(len(idx.key)) if exact[i] or level[i]]
    first_sym = next((i for lv in (1, 2) for i in range(len(idx.key)) if level[i] == lv), None)
    n_sym = sum(1 for lv in level if lv)
    how = f" ({n_sym} of them only up to symmetry, e.g. {idx.key[first_sym]} ~ {sym[first_sym]})" if n_sym else ""
    if leaked and not cfg.data.keep_overlap:
        ctx.note(f"ingest: dropped {len(leaked)} training task(s) containing a target test pair{how} "
                 f"(data.keep_overlap=true or --keep-overlap keeps them)")
    elif leaked:
        ctx.note(f"ingest: kept {len(leaked)} training task(s) that contain a target test pair{how} (keep_overlap)")
    leaked_set = set(leaked)
    kept = [i for i in range(len(idx.key)) if cfg.data.keep_overlap or i not in leaked_set]
    if not kept and cfg.run.protocol == "joint" and not any(t.train for t in target.values()):
        raise ArcError("no training data left after the overlap check; add --train sources")
    _write_train(idx, folders, kept, rd)
    save_tasks(target, rd.target_json)
    outputs = [TRAIN_JSON, TRAIN_STORE, TARGET_JSON, TASKS_PARQUET]
    if target_skipped:  # still answered (the test input, else [[0]]): a submission Kaggle accepts has every task
        from arc_pipeline.arc.io import write_json
        from arc_pipeline.arc.load import fallback_tests

        write_json(rd / TARGET_SKIPPED, fallback_tests(cfg.data.target, target_skipped))
        outputs.append(TARGET_SKIPPED)
        ctx.note(f"ingest: {len(target_skipped)} invalid target task(s) left out of training and prediction; "
                 "the submission answers each with its test input")
    kept_set = set(kept)
    cols = {"id": idx.key, "split": ["train"] * len(idx.key), "source": idx.source, "pairs": idx.cols["pairs"],
            "test_inputs": idx.cols["tests"], "max_side": idx.cols["max_side"], "fingerprint": idx.cols["fingerprint"],
            "overlap": [i in leaked_set for i in range(len(idx.key))],
            "dropped": [i not in kept_set for i in range(len(idx.key))], "overlap_symmetric": sym}
    tgt = list(target.values())
    extra = {"id": [t.id for t in tgt], "split": ["target"] * len(tgt), "source": [cfg.data.target] * len(tgt),
             "pairs": [len(t.train) for t in tgt], "test_inputs": [len(t.test) for t in tgt],
             "max_side": [_max_side(t) for t in tgt], "fingerprint": [task_fingerprint(t) for t in tgt],
             "overlap": [False] * len(tgt), "dropped": [False] * len(tgt), "overlap_symmetric": [""] * len(tgt)}
    frame = pl.DataFrame({k: v + extra[k] for k, v in cols.items()}, schema=_SCHEMA)
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
    shutil.rmtree(work, ignore_errors=True)
    summary = {
        "train_tasks": len(kept),
        "train_dropped": len(leaked) if not cfg.data.keep_overlap else 0,
        "train_overlapping": len(leaked),
        "train_overlapping_symmetric": n_sym,
        "target_tasks": len(target),
        "target_test_inputs": sum(len(t.test) for t in target.values()),
        "target_has_solutions": all(t.has_solutions for t in target.values()),
    }
    if target_skipped:
        summary["target_skipped"] = sorted(target_skipped)
    return StageResult(outputs, summary)


_SCHEMA = {
    "id": str, "split": str, "source": str, "pairs": int, "test_inputs": int, "max_side": int,
    "fingerprint": str, "overlap": bool, "dropped": bool, "overlap_symmetric": str,
}


def load_tasks(run_dir: str | Path) -> tuple[dict[str, Task], dict[str, Task]]:
    """The (train, target) tasks a finished ingest wrote (`RunDir.tasks`, for callers outside the stages)."""
    return RunDir(run_dir).tasks()


def source_stat(source: str) -> list:
    """(name, size, mtime) of the files behind a source path; [] for built-in names."""
    p = Path(source)
    if not p.exists():
        return []
    from arc_pipeline.arc import nvarc
    from arc_pipeline.arc.readers import tree_files

    if p.is_dir() and nvarc.is_hf_dataset(p):  # a Hugging Face dataset: its state and shards
        files = [p / nvarc.STATE, *nvarc.shards(p)]
    else:
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
    "ingest", run,
    writes=(TASKS,),  # train.json, target.json, tasks.parquet (Sudoku/maze runs: train.csv, target.csv)
    config=("data", "run.protocol"),
    inputs=_source_files,
)
