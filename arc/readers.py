"""Readers for the layouts training sets ship in, beside the ARC/Kaggle shapes of `arc.load`.

- RE-ARC: one JSON file per task holding a list of `{"input", "output"}` examples (a pool of
  generated examples of one rule). A pool becomes tasks of `demos` demonstrations + 1 test pair:
  the examples are shuffled by a generator seeded from (seed, file stem), cut into runs of
  demos + 1, and the remainder is left out. Ids are `<stem>_<n>`. With `demos = 0` a pool is one
  task, its last example the test pair, its id the stem (NVARC's synthetic puzzles, `arc.nvarc`).
- JSON Lines (`.jsonl`) and parquet: one task per line/row, either a task object (`train`/`test`)
  or an example list (`examples`: `[input, output]` pairs or `{"input", "output"}` objects, BARC /
  ARC-Heavy style), whose last example is the test pair. The id is the record's `id` (or
  `task_id`, `uid`, `name`) when it has one, else `<stem>_<line>`.
- Directory trees (ConceptARC's concept folders): every task file below the folder, at any depth;
  task ids must be unique across the tree.

Every problem is reported as `validate` reports it (file, task, pair, field); JSONL problems name
the line too.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.arc.task import Pair, Task
from arc_pipeline.arc.validate import TaskProblem, _parse_pair, _type_name, parse_grid, parse_task, read_json

DEFAULT_DEMOS = 3  # demonstrations per task cut from an example pool (ARC's median is 3)
TASK_SUFFIXES = (".json", ".jsonl", ".parquet")
_ID_KEYS = ("id", "task_id", "uid", "name")
_SPLIT_DIRS = {"training", "evaluation", "test", "train", "eval"}

Loaded = tuple[dict[str, Task], dict[str, str]]  # tasks by id, problems by id


def is_example_pool(raw: object) -> bool:
    """True for RE-ARC's layout: a JSON list of examples rather than a task object."""
    return isinstance(raw, list)


def _parse_example(raw: object, where: str) -> Pair:
    if isinstance(raw, list):  # BARC writes an example as [input, output]
        if len(raw) != 2:
            raise TaskProblem(f"{where}: an example as a list must be [input, output], got {len(raw)} items")
        return Pair(parse_grid(raw[0], f"{where}, field 'input'"), parse_grid(raw[1], f"{where}, field 'output'"))
    return _parse_pair(raw, where, need_output=True)


def _parse_examples(raw: object, head: str) -> list[Pair]:
    if not isinstance(raw, list):
        raise TaskProblem(f"{head}: 'examples' is a {_type_name(raw)}, expected a list of examples")
    return [_parse_example(e, f"{head}, example {i}") for i, e in enumerate(raw)]


def _pool_rng(seed: int, stem: str) -> np.random.Generator:
    # Seeded per file, so adding or removing another file never reshuffles this one.
    digest = hashlib.blake2b(f"pool\x00{seed}\x00{stem}".encode(), digest_size=8).digest()
    return np.random.default_rng(int.from_bytes(digest, "little"))


def pool_tasks(raw: object, stem: str, path: Path | str, *, demos: int, seed: int) -> list[Task]:
    """The tasks of demos + 1 pairs cut from one RE-ARC example pool, or `TaskProblem`."""
    if demos < 1:
        raise ArcError(f"{path}: demos must be >= 1 (demonstrations per task cut from an example pool), got {demos}")
    head = f"{path}: task {stem}"
    pairs = _parse_examples(raw, head)
    size = demos + 1
    if len(pairs) < size:
        raise TaskProblem(
            f"{head}: holds {len(pairs)} example(s); a task of {demos} demonstration(s) + 1 test needs "
            f"{size}; lower demos for this source"
        )
    order = _pool_rng(seed, stem).permutation(len(pairs))
    out = []
    for n in range(len(pairs) // size):
        chosen = [pairs[i] for i in order[n * size : (n + 1) * size]]
        out.append(Task(f"{stem}_{n}", tuple(chosen[:-1]), (chosen[-1],)))
    return out


def _record_id(raw: object, default: str) -> str:
    if isinstance(raw, dict):
        for key in _ID_KEYS:
            v = raw.get(key)
            if isinstance(v, (str, int)) and not isinstance(v, bool) and str(v):
                return str(v)
    return default


def record_task(raw: object, task_id: str, where: str) -> Task:
    """One task from a JSONL line or parquet row: a task object or an example list."""
    if isinstance(raw, dict) and "examples" in raw and "train" not in raw:
        raw = raw["examples"]
        if not isinstance(raw, list):  # named as the field it is, not as a bad task object
            _parse_examples(raw, f"{where}: task {task_id}")
    if isinstance(raw, list):
        head = f"{where}: task {task_id}"
        pairs = _parse_examples(raw, head)
        if len(pairs) < 2:
            raise TaskProblem(f"{head}: holds {len(pairs)} example(s); a task needs at least 2 (demonstrations, then the test pair)")
        return Task(task_id, tuple(pairs[:-1]), (pairs[-1],))
    if isinstance(raw, dict) and "train" not in raw and "test" not in raw:
        raise TaskProblem(
            f"{where}: task {task_id}: expected a task ('train' and 'test') or an example list ('examples'), "
            f"got keys {', '.join(map(repr, sorted(raw)[:6]))}"
        )
    return parse_task(raw, task_id, where)


def _add(tasks: dict[str, Task], problems: dict[str, str], where: dict[str, str], tid: str, place: str,
         task: Task | None, problem: str | None) -> None:
    if tid in where:
        raise ArcError(
            f"task id {tid!r} appears twice: {where[tid]} and {place}; task ids must be unique within a "
            "source (rename one, or load them as separate sources)"
        )
    where[tid] = place
    if task is not None:
        tasks[tid] = task
    else:
        problems[tid] = problem or ""


Row = tuple[str, str, "Task | None", "str | None"]  # id, where it was read, the task or None, the problem or None


def line_rows(path: Path, lo: int = 0, hi: int | None = None, first_line: int = 1) -> list[Row]:
    """The tasks of the lines starting in bytes lo..hi of a JSON Lines file (`first_line`: the
    number of the line at `lo`), one line at a time."""
    out: list[Row] = []
    try:
        f = open(path, "rb")
    except OSError as e:
        raise ArcError(f"{path}: cannot read the file ({e}); check the path") from None
    with f:
        f.seek(lo)
        n, pos = first_line - 1, lo
        for raw_line in f:
            if hi is not None and pos >= hi:
                break
            pos += len(raw_line)
            n += 1
            try:
                line = raw_line.decode("utf-8")
            except UnicodeDecodeError as e:
                raise ArcError(f"{path}: cannot read the file ({e}); check it is a UTF-8 JSON Lines file") from None
            if not line.strip():
                continue
            place = f"{path} line {n}"
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as e:
                out.append((f"{path.stem}_{n}", place, None, f"{place}: invalid JSON at column {e.colno}: {e.msg}; fix the line"))
                continue
            except ValueError as e:  # a number past Python's int-string limit
                out.append((f"{path.stem}_{n}", place, None, f"{place}: {str(e).split(';')[0]}; fix the line"))
                continue
            tid = _record_id(raw, f"{path.stem}_{n}")
            try:
                out.append((tid, place, record_task(raw, tid, place), None))
            except TaskProblem as e:
                out.append((tid, place, None, str(e)))
    return out


def line_ranges(path: Path, size: int) -> list[tuple[int, int, int]]:
    """(start byte, end byte, number of the first line) of pieces of about `size` bytes, cut at line
    ends, so the pieces of a large JSON Lines file can be read apart."""
    total = path.stat().st_size
    out, lo, line = [], 0, 1
    with open(path, "rb") as f:
        while lo < total:
            f.seek(min(lo + size, total))
            f.readline()  # to the end of the line the cut falls in
            hi = min(f.tell(), total)
            f.seek(lo)
            line_count = f.read(hi - lo).count(b"\n")
            out.append((lo, hi, line))
            lo, line = hi, line + line_count
    return out or [(0, 0, 1)]


def read_lines(path: Path) -> Loaded:
    """Every task of a JSON Lines file (one line at a time)."""
    return collect(line_rows(path))


def collect(rows: list[Row]) -> Loaded:
    """Rows as (tasks, problems); an id seen twice is an ArcError naming both places."""
    tasks: dict[str, Task] = {}
    problems: dict[str, str] = {}
    where: dict[str, str] = {}
    for tid, place, task, problem in rows:
        _add(tasks, problems, where, tid, place, task, problem)
    return tasks, problems


def read_parquet(path: Path) -> Loaded:
    """Every task of a parquet file with `examples` or `train`/`test` columns (nested lists of ints)."""
    import polars as pl

    try:
        frame = pl.read_parquet(path)
    except Exception as e:  # polars raises several types for a broken file
        raise ArcError(f"{path}: cannot read it as parquet ({e}); check the file") from None
    cols = set(frame.columns)
    if "examples" not in cols and not {"train", "test"} <= cols:
        raise ArcError(f"{path}: parquet needs an 'examples' column or 'train' and 'test' columns; it has "
                       f"{', '.join(frame.columns)}")
    tasks: dict[str, Task] = {}
    problems: dict[str, str] = {}
    where: dict[str, str] = {}
    for n, row in enumerate(frame.iter_rows(named=True)):
        place = f"{path} row {n}"
        tid = _record_id(row, f"{path.stem}_{n}")
        raw = {"examples": row["examples"]} if "examples" in cols and row.get("examples") is not None else row
        try:
            _add(tasks, problems, where, tid, place, record_task(raw, tid, place), None)
        except TaskProblem as e:
            _add(tasks, problems, where, tid, place, None, str(e))
    return tasks, problems


def read_json_file(path: Path, *, demos: int, seed: int) -> Loaded | None:
    """A single task file or an example pool as tasks; None when the file is a collection ({id: task}).

    demos = 0 reads a pool as one task (NVARC's synthetic puzzles: every example but the last a
    demonstration, the last the test pair, the id the file's stem); demos >= 1 cuts it into tasks
    of that many demonstrations + 1 test pair (RE-ARC)."""
    raw = read_json(path)
    if isinstance(raw, dict) and isinstance(raw.get("train"), list):
        try:
            return {path.stem: parse_task(raw, path.stem, path)}, {}
        except TaskProblem as e:
            return {}, {path.stem: str(e)}
    if is_example_pool(raw):
        try:
            if demos == 0:
                return {path.stem: record_task(raw, path.stem, path)}, {}
            return {t.id: t for t in pool_tasks(raw, path.stem, path, demos=demos, seed=seed)}, {}
        except TaskProblem as e:
            return {}, {path.stem: str(e)}
    return None


def tree_files(root: Path) -> list[Path]:
    """Task files at any depth below `root`, in sorted path order (hidden folders skipped)."""
    if (root / "tasks").is_dir() and (root / "metadata.json").is_file():
        root = root / "tasks"  # RE-ARC's archive: metadata.json describes tasks/, it is not a task
    files = [
        p for p in root.rglob("*")
        if p.suffix in TASK_SUFFIXES and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    ]
    return sorted(files, key=lambda p: p.relative_to(root).parts)


def split_folders(root: Path) -> list[str]:
    """Sub-folders named like splits (training, evaluation, ...) directly under `root`."""
    return sorted(d.name for d in root.iterdir() if d.is_dir() and d.name.lower() in _SPLIT_DIRS)


def read_tree(root: Path, files: list[Path], *, demos: int, seed: int) -> list[Row]:
    """Every task in `files` (found below `root`) as rows; the caller checks ids (`collect`)."""
    out: list[Row] = []
    for f in files:
        if f.suffix == ".jsonl":
            got = read_lines(f)
        elif f.suffix == ".parquet":
            got = read_parquet(f)
        else:
            try:
                got = read_json_file(f, demos=demos, seed=seed)
            except ArcError as e:  # one unreadable file is one bad task, reported with the rest
                got = {}, {f.stem: str(e)}
            if got is None:
                got = {}, {f.stem: f"{f}: a collection of tasks ({{id: task}}) inside a folder tree; pass the file itself"}
        out += [(tid, str(f), task, None) for tid, task in got[0].items()]
        out += [(tid, str(f), None, msg) for tid, msg in got[1].items()]
    return out
