"""What a stage is: `run(cfg, run_dir, ctx=None) -> StageResult` plus the contract it declares
beside it (`Stage`): the run-directory artifacts it reads and writes (names from pipeline.rundir),
the config it is fingerprinted on, and how the runner treats it (torchrun, resume, time budget).

`ctx` carries what the command around a stage provides (progress bars, the run's deadline,
notes for the log); a stage called without one runs quietly with no deadline.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterator

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


StageFn = Callable[[Any, Path, Context], StageResult]


@dataclass(frozen=True)
class Stage:
    """One stage's contract, declared in pipeline/stages/<name>.py next to its `run`.

    Paths are pipeline.rundir names, relative to the run directory. The runner reads nothing about
    a stage from anywhere else."""

    name: str
    run: StageFn
    writes: tuple[str, ...]  # what it owns: cleared before a fresh (not resumed) run, digests verified when cached
    reads: tuple[str, ...] = ()  # what it needs from earlier stages (a path, or one under a path they write)
    optional: tuple[str, ...] = ()  # what it reads when present
    # fingerprint inputs: a config section ("train") or one key ("run.protocol"); the previous stage's
    # fingerprint is always chained in
    config: tuple[str, ...] = ()
    unhashed: tuple[str, ...] = ()  # "section.key"s of those sections that change where or how fast, not what
    # more fingerprint inputs from the config, None for none (ingest: source file stats; predict: [vote] changes)
    inputs: Callable[[Any], Any] | None = None
    distributed: bool = False  # under torchrun (run.devices per node x run.nnodes) when that is > 1
    resumable: bool = False  # a rerun with unchanged inputs continues from its partial outputs (checkpoints)
    # under the run's deadline: "reserve" = its own time limit cut to the deadline less run.reserve of the
    # budget, skipped when none is left; "deadline" = cut to the deadline, never skipped; "" = untouched.
    # A callable picks per config (adapt is a no-op under protocol joint, so nothing to budget).
    budget: str | Callable[[Any], str] = ""
    verify: Callable[[Path], str | None] | None = None  # a check of cached outputs beyond digests (why not, or None)
    # writes a valid stand-in for its outputs (when its inputs allow) while the stage itself is not done,
    # so a run cut short still leaves one (submit: the fallback submission.json)
    placeholder: Callable[[Path], None] | None = None

    def budget_for(self, cfg) -> str:
        return self.budget(cfg) if callable(self.budget) else self.budget
