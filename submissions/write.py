"""Write submission.json from ranked candidates: every task, every test input, both attempts.

Rule per test input, after dropping invalid grids and duplicates (rank order kept):
- two or more candidates: attempt_1 and attempt_2 are the top two;
- one candidate: attempt_2 is the test input itself when it differs (a free second guess:
  some tasks leave the grid unchanged), else the candidate again;
- none: both attempts are the test input (a fallback, counted and listed in the report).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.arc.io import write_json
from arc_pipeline.arc.task import Task, grid_to_list
from arc_pipeline.submissions.validate import TaskLike, as_task_map, grid_problem, validate

Grid = list[list[int]]
Entry = tuple[str, int]  # (task_id, test_index)


@dataclass(frozen=True)
class WriteReport:
    """What the writer did: counts, and which entries used a fallback or lost a candidate."""

    tasks: int
    entries: int
    fallbacks: int  # test inputs with no usable candidate: attempt_1 is the test input
    fallback_entries: tuple[Entry, ...]
    single: int  # test inputs with exactly one distinct candidate: attempt_2 is filled in
    single_entries: tuple[Entry, ...]
    invalid: tuple[tuple[str, int, int, str], ...]  # (task_id, test_index, rank, why) dropped

    def to_dict(self) -> dict:
        return {
            "tasks": self.tasks,
            "entries": self.entries,
            "fallbacks": self.fallbacks,
            "fallback_entries": [list(e) for e in self.fallback_entries],
            "single": self.single,
            "single_entries": [list(e) for e in self.single_entries],
            "invalid": [list(e) for e in self.invalid],
        }


def _as_rows(candidate: Any) -> tuple[Grid | None, str | None]:
    """A candidate (numpy array or nested lists) as plain int rows, or why it is not a grid."""
    if candidate is None:
        return None, "is None"
    if isinstance(candidate, np.ndarray):
        if candidate.ndim != 2:
            return None, f"is a {candidate.ndim}-D array, not 2-D"
        if not np.issubdtype(candidate.dtype, np.integer):
            return None, f"has dtype {candidate.dtype}, not an integer type"
        candidate = candidate.tolist()
    why = grid_problem(candidate)
    if why is not None:
        return None, why
    return [[int(v) for v in row] for row in candidate], None


def _candidates_for(task: Task, per_task: Any) -> list[Any]:
    """The per-test-input candidate lists of one task (a sequence or a mapping by test index)."""
    n = len(task.test)
    if per_task is None:
        return [None] * n
    if isinstance(per_task, Mapping):
        extra = sorted(k for k in per_task if not (isinstance(k, int) and 0 <= k < n))
        lists = [per_task.get(i) for i in range(n)]
    elif isinstance(per_task, Sequence):
        extra = list(range(n, len(per_task)))
        lists = list(per_task[:n]) + [None] * max(0, n - len(per_task))
    else:
        raise ArcError(
            f"task {task.id}: candidates are {type(per_task).__name__}; "
            "expected a list (or dict by test index) of ranked grid lists"
        )
    if extra:
        raise ArcError(
            f"task {task.id}: candidates for test index {', '.join(map(str, extra))} "
            f"but the task has {n} test inputs "
            f"(valid indices 0..{n - 1}); the predictions do not match these tasks"
        )
    return lists


def build_submission(tasks: TaskLike, candidates: Mapping[str, Any]) -> tuple[dict, WriteReport]:
    """The submission object and the report; pure (writes nothing)."""
    tasks = as_task_map(tasks)
    unknown = sorted(set(candidates) - set(tasks))
    if unknown:
        shown = ", ".join(unknown[:10]) + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
        raise ArcError(
            f"candidates for {len(unknown)} task(s) not in the target tasks: {shown}; "
            "predictions and tasks come from different sources"
        )
    submission: dict[str, list[dict]] = {}
    fallbacks: list[Entry] = []
    single: list[Entry] = []
    invalid: list[tuple[str, int, int, str]] = []
    for task_id, task in tasks.items():
        entries = []
        for i, ranked in enumerate(_candidates_for(task, candidates.get(task_id))):
            if isinstance(ranked, np.ndarray):  # one grid passed where a ranked list belongs
                raise ArcError(
                    f"task {task_id} test {i}: candidates are one array, not a ranked list of grids; "
                    "wrap it in a list"
                )
            distinct: list[Grid] = []
            for rank, cand in enumerate(ranked if ranked is not None else []):
                rows, why = _as_rows(cand)
                if rows is None:
                    invalid.append((task_id, i, rank, why))
                elif rows not in distinct:
                    distinct.append(rows)
                if len(distinct) == 2:
                    break
            test_input = grid_to_list(task.test[i].input)
            if not distinct:
                fallbacks.append((task_id, i))
                distinct = [test_input, test_input]
            elif len(distinct) == 1:
                single.append((task_id, i))
                distinct.append(test_input if test_input != distinct[0] else distinct[0])
            entries.append({"attempt_1": distinct[0], "attempt_2": distinct[1]})
        submission[task_id] = entries
    report = WriteReport(
        tasks=len(submission),
        entries=sum(len(e) for e in submission.values()),
        fallbacks=len(fallbacks),
        fallback_entries=tuple(fallbacks),
        single=len(single),
        single_entries=tuple(single),
        invalid=tuple(invalid),
    )
    return submission, report


def write_submission(path: str | Path, tasks: TaskLike, candidates: Mapping[str, Any]) -> WriteReport:
    """Build, validate and atomically write submission.json; returns what the writer did."""
    tasks = as_task_map(tasks)
    submission, report = build_submission(tasks, candidates)
    problems = validate(submission, tasks)
    if problems:  # the builder should make this impossible; refuse rather than write a rejected file
        raise ArcError(
            f"{path}: refusing to write an invalid submission: {problems[0]} ({len(problems)} problems)"
        )
    write_json(path, submission)
    return report
