"""SIGTERM during training (a preemptible VM's notice, Slurm's scancel, `kill`): the step in flight
finishes, a checkpoint is written, and the run stops with `Preempted` (solver/train.py's loop reads the flag)."""

from __future__ import annotations

import contextlib
import signal
import threading
from pathlib import Path

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.solver.config import TrainConfig


class Preempted(ArcError):
    """SIGTERM arrived: the step in flight finished, a checkpoint was written, the run stops."""

    exit_code = 128 + signal.SIGTERM  # what a shell reports for a process ended by SIGTERM


class _Abandoned(BaseException):
    """Raised by the SIGTERM handler inside a step that may be compiling (a BaseException, so no
    `except Exception` in the compiler turns it into a compile error or an eager fallback)."""


class StopOnSigterm:
    """While active, SIGTERM (a preemptible VM's notice, Slurm's scancel, `kill`) only sets a
    flag that the loop reads after each step; the previous handler comes back on exit.

    While `abandon` is set (the first step of a compiled run: the compile takes minutes, longer than
    a scheduler's notice) the handler raises `_Abandoned` at once instead: no step has been done
    since the last checkpoint, so nothing is lost by not finishing it."""

    def __init__(self):
        self.requested = False
        self.abandon = False
        self._previous = None

    def __enter__(self) -> "StopOnSigterm":
        if threading.current_thread() is threading.main_thread():  # signals reach the main thread only
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def _handle(self, signum, frame) -> None:  # noqa: ANN001 - signal's signature
        self.requested = True
        if self.abandon:
            raise _Abandoned()

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)


@contextlib.contextmanager
def abandoned_first_step(step: int, cfg: TrainConfig, last_good: Path | None):
    """SIGTERM arrived while the first step compiled: say so as a preemption (exit status 143)."""
    try:
        yield
    except _Abandoned:
        where = f"the last checkpoint, {last_good.name}," if last_good is not None else "the start"
        raise Preempted(f"SIGTERM while step {step + 1} of {cfg.steps} was compiling: abandoned at once (nothing to "
                        f"save since {where}); rerun the same command to resume from there") from None
