"""Pipeline stages: each a module with `run(cfg, run_dir, ctx=None) -> StageResult`.

`ctx` carries what the command around a stage provides (progress bars, the run's deadline,
notes for the log); a stage called without one runs quietly with no deadline.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, ContextManager, Iterator

STAGES = ("ingest", "build", "train", "adapt", "predict", "submit", "score", "report")

Advance = Callable[..., None]  # advance(n=1, metrics=None)


@dataclass
class StageResult:
    outputs: list[str]  # paths relative to the run directory
    summary: dict[str, Any] = field(default_factory=dict)
    note: str = ""


@contextmanager
def _quiet(description: str, total: int | None, unit: str = "it", **_) -> Iterator[Advance]:
    yield lambda n=1, metrics=None: None


@dataclass
class Context:
    """What a stage may use from its caller: progress bars, a deadline, a place for notes."""

    progress: Callable[..., ContextManager[Advance]] = _quiet  # (description, total, unit=, stop_at=, deadline=)
    deadline: float | None = None  # unix seconds by which the whole run must be done
    notes: list[str] = field(default_factory=list)
    on_note: Callable[[str], None] | None = None
    on_metrics: Callable[[str, dict], None] | None = None  # (stage, the trainer's row): experiment tracking

    def metrics(self, stage: str, row: dict) -> None:
        if self.on_metrics is not None:
            self.on_metrics(stage, row)

    def note(self, msg: str) -> None:
        self.notes.append(msg)
        if self.on_note is not None:
            self.on_note(msg)

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.time()
