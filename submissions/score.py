"""Exact-match, two-attempt scoring of a submission against known test outputs.

Iterates the solutions, never the submission: a task or entry missing from the submission
scores 0 and stays in the denominator. Reports micro (over test outputs), macro (mean over tasks
of each task's fraction right) and the number of tasks with every output right.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.submissions.validate import ATTEMPTS, TaskLike, as_task_map, grid_problem, load_submission


@dataclass(frozen=True)
class TaskScore:
    """One task: which of its test outputs were matched by either attempt."""

    task_id: str
    hits: tuple[bool, ...]  # per test index
    present: bool  # the task was in the submission

    @property
    def outputs(self) -> int:
        return len(self.hits)

    @property
    def correct(self) -> int:
        return sum(self.hits)

    @property
    def fraction(self) -> float:
        return self.correct / self.outputs

    @property
    def solved(self) -> bool:
        return all(self.hits)


@dataclass(frozen=True)
class Score:
    """Aggregate and per-task scores."""

    rows: tuple[TaskScore, ...]

    @property
    def tasks(self) -> int:
        return len(self.rows)

    @property
    def outputs(self) -> int:
        return sum(r.outputs for r in self.rows)

    @property
    def outputs_correct(self) -> int:
        return sum(r.correct for r in self.rows)

    @property
    def tasks_solved(self) -> int:
        return sum(r.solved for r in self.rows)

    @property
    def missing_tasks(self) -> int:
        return sum(not r.present for r in self.rows)

    @property
    def micro(self) -> float:
        return self.outputs_correct / self.outputs if self.outputs else 0.0

    @property
    def macro(self) -> float:
        return sum(r.fraction for r in self.rows) / self.tasks if self.tasks else 0.0

    def to_dict(self) -> dict:
        return {
            "micro": self.micro,
            "macro": self.macro,
            "tasks_solved": self.tasks_solved,
            "tasks": self.tasks,
            "outputs": self.outputs,
            "outputs_correct": self.outputs_correct,
            "missing_tasks": self.missing_tasks,
        }

    def per_task_frame(self):
        """One row per task: task_id, outputs, correct, fraction, solved (polars)."""
        import polars as pl  # only callers that want the table pay for the import

        return pl.DataFrame(
            {
                "task_id": [r.task_id for r in self.rows],
                "outputs": [r.outputs for r in self.rows],
                "correct": [r.correct for r in self.rows],
                "fraction": [r.fraction for r in self.rows],
                "solved": [r.solved for r in self.rows],
            },
            schema={
                "task_id": pl.Utf8,
                "outputs": pl.Int64,
                "correct": pl.Int64,
                "fraction": pl.Float64,
                "solved": pl.Boolean,
            },
        )


def _matches(attempt: Any, expected: np.ndarray) -> bool:
    if grid_problem(attempt) is not None:  # malformed attempts never score
        return False
    got = np.asarray(attempt)
    return got.shape == expected.shape and bool(np.array_equal(got, expected))


def _hit(entries: Any, index: int, expected: np.ndarray) -> bool:
    if not isinstance(entries, list) or index >= len(entries):
        return False
    entry = entries[index]
    if not isinstance(entry, dict):
        return False
    return any(key in entry and _matches(entry[key], expected) for key in ATTEMPTS)


def score(submission: Any, tasks: TaskLike) -> Score:
    """Score `submission` (a path, a run directory, or parsed JSON) against the tasks' test outputs."""
    if isinstance(submission, (str, Path)):
        submission = load_submission(submission)
    if not isinstance(submission, dict):
        raise ArcError(
            f"submission is {type(submission).__name__}, "
            "not a JSON object mapping task ids to lists of entries; "
            "check it with `arc-pipeline validate`"
        )
    tasks = as_task_map(tasks)
    if not tasks:
        raise ArcError("no tasks to score against (the solutions source holds none); pass a source with tasks")
    unsolved = [tid for tid, t in tasks.items() if not t.has_solutions]
    if unsolved:
        shown = ", ".join(unsolved[:10]) + (f" and {len(unsolved) - 10} more" if len(unsolved) > 10 else "")
        raise ArcError(
            f"{len(unsolved)} task(s) have no known test outputs: {shown}; "
            "pass a source with solutions (e.g. a *_challenges.json beside its *_solutions.json)"
        )
    rows = []
    for task_id, task in tasks.items():
        entries = submission.get(task_id)
        hits = tuple(_hit(entries, i, pair.output) for i, pair in enumerate(task.test))
        rows.append(TaskScore(task_id=task_id, hits=hits, present=task_id in submission))
    return Score(rows=tuple(rows))
