"""Check a submission.json the way Kaggle would: every problem listed, none fixed silently."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.arc.task import MAX_SIDE, N_COLORS, Task, TaskSet
from arc_pipeline.arc.validate import read_json, short_repr

ATTEMPTS = ("attempt_1", "attempt_2")

TaskLike = Mapping[str, Task] | TaskSet | Iterable[Task]


def as_task_map(tasks: TaskLike) -> Mapping[str, Task]:
    """Tasks by id from a TaskSet, a mapping id -> Task, or an iterable of Tasks."""
    if isinstance(tasks, TaskSet):
        return tasks.tasks
    if isinstance(tasks, Mapping):
        return tasks
    return {t.id: t for t in tasks}


def _is_int(v: Any) -> bool:
    # bool is a subclass of int in Python; Kaggle's JSON would carry true/false, not a colour
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def grid_problem(value: Any) -> str | None:
    """Why `value` (parsed JSON) is not an ARC grid, or None when it is one."""
    if not isinstance(value, list):
        return f"is {type(value).__name__}, not a list of rows"
    if not 1 <= len(value) <= MAX_SIDE:
        return f"has {len(value)} rows (must be 1..{MAX_SIDE})"
    width = None
    for r, row in enumerate(value):
        if not isinstance(row, list):
            return f"row {r} is {type(row).__name__}, not a list of ints"
        if width is None:
            width = len(row)
            if not 1 <= width <= MAX_SIDE:
                return f"row 0 has {width} cells (must be 1..{MAX_SIDE})"
        elif len(row) != width:
            return f"row {r} has {len(row)} cells but row 0 has {width} (rows must be the same length)"
        for c, v in enumerate(row):
            if not _is_int(v):
                return f"cell ({r}, {c}) is {short_repr(v)} ({type(v).__name__}), not an int 0..{N_COLORS - 1}"
            if not 0 <= v < N_COLORS:
                return f"cell ({r}, {c}) is {v}, not a colour 0..{N_COLORS - 1}"
    return None


def load_submission(path: str | Path) -> Any:
    """Parsed JSON of a submission file (or of `submission.json` inside a run directory)."""
    path = Path(path)
    if path.is_dir():
        path = path / "submission.json"
    if not path.exists():
        raise ArcError(f"{path}: no such file (pass a submission.json or a run directory holding one)")
    parsed = read_json(path, fix="fix the file or write it again with `arc-pipeline submit`")
    if not isinstance(parsed, dict):  # e.g. a JSON string: never read as the name of another file
        kind = {"str": "string", "list": "array", "int": "number", "float": "number", "bool": "boolean",
                "NoneType": "null"}.get(type(parsed).__name__, type(parsed).__name__)
        raise ArcError(f"{path}: submission is a JSON {kind}, not a JSON object mapping task ids "
                       "to lists of entries; write it again with `arc-pipeline submit`")
    return parsed


def _entry_problems(task_id: str, index: int, entry: Any) -> list[str]:
    where = f"task {task_id} test {index}"
    if not isinstance(entry, dict):
        return [f"{where}: entry is {type(entry).__name__}, not an object with attempt_1 and attempt_2"]
    problems = []
    for key in ATTEMPTS:
        if key not in entry:
            problems.append(f"{where}: missing {key} (both attempts are required, repeat a guess if need be)")
            continue
        why = grid_problem(entry[key])
        if why is not None:
            problems.append(f"{where}: {key} is not a valid ARC grid: it {why}")
    return problems


def validate(submission: Any, tasks: TaskLike) -> list[str]:
    """Every reason Kaggle would reject `submission` (a path or parsed JSON); empty = accepted."""
    if isinstance(submission, (str, Path)):
        try:
            submission = load_submission(submission)
        except ArcError as e:
            return [str(e)]
    if not isinstance(submission, dict):
        kind = type(submission).__name__
        return [f"submission is {kind}, not a JSON object mapping task ids to lists of entries"]
    tasks = as_task_map(tasks)
    problems: list[str] = []
    for task_id, task in tasks.items():
        if task_id not in submission:
            problems.append(f"task {task_id}: missing (add one entry per test input, {len(task.test)} here)")
            continue
        entries = submission[task_id]
        if not isinstance(entries, list):
            problems.append(f"task {task_id}: value is {type(entries).__name__}, not a list of entries")
            continue
        if len(entries) != len(task.test):
            problems.append(
                f"task {task_id}: {len(entries)} entries but the task has {len(task.test)} test inputs "
                "(one entry per test input, in order)"
            )
        for i, entry in enumerate(entries):
            problems.extend(_entry_problems(task_id, i, entry))
    for task_id in submission:
        if task_id not in tasks:
            problems.append(f"task {task_id}: not in the challenges (remove it)")
    return problems
