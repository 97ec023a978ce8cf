"""ingest: load the train and target sources, filter them, drop training tasks that leak a
target test pair, and write tasks/train.json, tasks/target.json and tasks/tasks.parquet."""

from __future__ import annotations

from pathlib import Path

from arc.errors import ArcError
from arc.fingerprint import grid_key as _grid_key
from arc.fingerprint import task_fingerprint
from arc.task import Task
from pipeline import puzzles
from pipeline.rundir import TARGET_JSON, TASKS_PARQUET, TRAIN_JSON, RunDir  # noqa: F401 (names kept for importers)
from pipeline.stages import Context, StageResult


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


def load_sources(cfg) -> tuple[dict[str, Task], dict[str, str], dict[str, Task]]:
    """(train tasks, train task id -> source, target tasks), filtered as [data] asks."""
    from arc.load import load

    d = cfg.data
    if not d.target:
        raise ArcError("no target source: set data.target (or pass --target SRC)")
    target = load(d.target)
    train: dict[str, Task] = {}
    origin: dict[str, str] = {}
    for src in d.train:
        for tid, task in load(src).tasks.items():
            key = tid
            if key in train:  # the same id in two sources: keep both unless identical
                if _same(train[key], task):
                    continue
                key = f"{tid}@{src}"
            train[key] = Task(key, task.train, task.test) if key != tid else task
            origin[key] = src
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

    from arc.load import save_tasks

    ctx = ctx or Context()
    rd = RunDir(run_dir)
    train, origin, target = load_sources(cfg)
    leaked = leaking_train_ids(train, target)
    if leaked and not cfg.data.keep_overlap:
        ctx.note(f"ingest: dropped {len(leaked)} training task(s) containing a target test pair "
                 f"(data.keep_overlap=true or --keep-overlap keeps them)")
    elif leaked:
        ctx.note(f"ingest: kept {len(leaked)} training task(s) that contain a target test pair (keep_overlap)")
    leaked_set = set(leaked)
    kept = {k: t for k, t in train.items() if cfg.data.keep_overlap or k not in leaked_set}
    if not kept and cfg.run.protocol == "joint" and not any(t.train for t in target.values()):
        raise ArcError("no training data left after the overlap check; add --train sources")
    save_tasks(kept, rd.train_json)
    save_tasks(target, rd.target_json)
    rows = [_row(t, "train", origin.get(k, ""), k in leaked_set, k not in kept) for k, t in train.items()]
    rows += [_row(t, "target", cfg.data.target, False, False) for t in target.values()]
    frame = pl.DataFrame(rows, schema=_SCHEMA, orient="row")
    from arc.io import atomic_path

    with atomic_path(rd.tasks_parquet) as tmp:
        frame.write_parquet(tmp)
    summary = {
        "train_tasks": len(kept),
        "train_dropped": len(leaked) if not cfg.data.keep_overlap else 0,
        "train_overlapping": len(leaked),
        "target_tasks": len(target),
        "target_test_inputs": sum(len(t.test) for t in target.values()),
        "target_has_solutions": all(t.has_solutions for t in target.values()),
    }
    return StageResult([TRAIN_JSON, TARGET_JSON, TASKS_PARQUET], summary)


_SCHEMA = {
    "id": str, "split": str, "source": str, "pairs": int, "test_inputs": int, "max_side": int,
    "fingerprint": str, "overlap": bool, "dropped": bool,
}


def _row(t: Task, split: str, source: str, overlap: bool, dropped: bool) -> list:
    return [t.id, split, source, len(t.train), len(t.test), _max_side(t), task_fingerprint(t), overlap, dropped]


def load_tasks(run_dir: str | Path) -> tuple[dict[str, Task], dict[str, Task]]:
    """The (train, target) tasks a finished ingest wrote."""
    from arc.load import load

    rd = RunDir(run_dir)
    for path in (rd.train_json, rd.target_json):
        if not path.exists():
            raise ArcError(f"{path} is missing; run `arc-pipeline ingest --run-dir {rd.root}` first")
    train = dict(load(str(rd.train_json)).tasks) if rd.train_json.read_text().strip() not in ("{}", "") else {}
    return train, dict(load(str(rd.target_json)).tasks)
