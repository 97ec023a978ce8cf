"""What a report page shows, as plain records (`report.gather` fills them from a run directory)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from arc_pipeline.arc.task import Task

LOW_AGREEMENT = 0.5  # a test input whose top candidate holds less than this share of the votes
SHOWN = 5  # candidates drawn per test input


@dataclass
class Candidate:
    grid: np.ndarray
    votes: int
    share: float  # votes / predictions made for the test input
    halt: float  # mean halting probability of its votes
    steps: float  # mean supervision steps of its votes
    right: bool | None = None  # None when the truth is unknown


@dataclass
class InputView:
    candidates: list[Candidate]  # ranked, best first (at most SHOWN)
    correct: bool | None  # the submission's attempts hold the truth (None: unknown)
    predicted: int = 0  # predictions made for this test input
    planned: int | None = None  # predictions planned (augmented copies), when the build is there
    rank: int | None = None  # rank of the truth among all candidates (None: not predicted or unknown)
    fallback: bool = False  # no candidate: the submission's attempts are the test input
    attempt: np.ndarray | None = None  # the submission's attempt 1
    distinct: int = 0  # distinct valid grids voted (predictions.parquet keeps at most vote.top_k)
    capped: bool = False  # distinct reached vote.top_k: there may have been more
    category: str | None = None  # report.categories key (None: truth unknown)
    wrong: int | None = None  # cells of attempt 1 that differ from the truth (None: unknown or another shape)

    @property
    def no_valid(self) -> bool:
        """Predictions were made and none decoded to a valid grid."""
        return self.fallback and self.predicted > 0

    @property
    def budget_cut(self) -> bool:
        return self.planned is not None and self.predicted < self.planned

    @property
    def top_share(self) -> float:
        return self.candidates[0].share if self.candidates else 0.0


@dataclass
class TaskRow:
    task: Task
    tests: list[InputView]
    failed: str | None = None  # predict failed for this task (its inputs fall back)

    @property
    def known(self) -> list[bool]:
        return [t.correct for t in self.tests if t.correct is not None]

    @property
    def best_rank(self) -> int | None:
        ranks = [t.rank for t in self.tests if t.rank is not None]
        return min(ranks) if ranks else None

    def tags(self) -> list[str]:
        k = self.known
        out = ["unknown"] if not k else (["solved"] if all(k) else ["unsolved"])
        if k and 0 < sum(k) < len(k):
            out.append("partial")
        if any(t.candidates and t.top_share < LOW_AGREEMENT for t in self.tests):
            out.append("low")
        if any(t.rank is not None and t.rank > 2 for t in self.tests):
            out.append("rankloss")
        if self.failed or any(t.fallback for t in self.tests):
            out.append("fallback")
        if any(t.budget_cut for t in self.tests):
            out.append("budget")
        return out + [f"cat-{c}" for c in dict.fromkeys(t.category for t in self.tests if t.category)]


@dataclass
class ReportData:
    title: str
    scores: dict[str, Any] | None  # score.json, or None when the target has no solutions
    stages: list[tuple[str, str, float, str]]  # (stage, status, seconds, note)
    rows: list[TaskRow]
    curves: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # metric -> (step, value)
    notes: list[str] = field(default_factory=list)
    sources: list[dict] = field(default_factory=list)  # training sources: source, tasks, pairs, weight, share
    budget: dict[str, Any] = field(default_factory=dict)  # time_budget_s, predictions, planned, stopped, fallbacks, entries
    halt_steps: dict[int, int] = field(default_factory=dict)  # halting step -> predictions
    aug_pass: list[tuple[int, float, float]] = field(default_factory=list)  # (augmentations, pass@2 task, output)
    facts: list[tuple[str, str]] = field(default_factory=list)  # (label, value): the run-facts box
    # score.json's protocol and cost blocks and RUN/evaluation/checkpoints.json: report.provenance
    provenance: dict[str, Any] = field(default_factory=dict)  # protocol, cost, evaluation


def read_curves(files: dict[str, Path], keys_with: str = "") -> dict[str, list[tuple[float, float]]]:
    """(step, value) series of every numeric field (whose name contains `keys_with`), per labelled JSONL file."""
    curves: dict[str, list[tuple[float, float]]] = {}
    for label, path in files.items():
        if not path.exists():
            continue
        for i, line in enumerate(path.read_text().splitlines()):
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a kill
            if not isinstance(rec, dict):
                continue
            step = rec.get("step", i)
            for k, v in rec.items():
                if k != "step" and keys_with in k and isinstance(v, (int, float)) and not isinstance(v, bool):
                    curves.setdefault(f"{label} {k}", []).append((float(step), float(v)))
    return curves
