"""All terminal output goes through here (rich). Library code returns values or takes callbacks."""

from __future__ import annotations

import os
import re
import time
from contextlib import contextmanager
from typing import Callable, Iterator

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

# emoji off: ":x:" in a task id or path stays as typed
console = Console(highlight=False, emoji=False)
err_console = Console(stderr=True, highlight=False, emoji=False)

Advance = Callable[..., None]  # advance(n=1, metrics=None)

# Untrusted text (ids, paths, file contents) reaches the terminal only through `clean`: control
# characters (escape sequences that move the cursor, clear the screen or retitle the window), bidi
# overrides and lone surrogates (unprintable in UTF-8) are shown as Python-style escapes.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
LINE_LIMIT = 2000  # characters of one message shown; the rest is elided (a 2M-cell grid stays one line)


def clean(text: object, limit: int | None = LINE_LIMIT) -> str:
    """`text` safe for a terminal: unsafe characters escaped, and at most `limit` characters (middle elided)."""
    s = _UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256 else f"\\u{ord(m.group()):04x}",
                    str(text))
    if limit is not None and len(s) > limit:
        cut = len(s) - limit
        s = f"{s[:limit - limit // 4]} ... ({cut:,} characters cut) ... {s[len(s) - limit // 4:]}"
    return s


def plain(text: object, limit: int | None = LINE_LIMIT) -> str:
    """`clean` text for a string that is printed with markup: square brackets shown, never parsed."""
    return escape(clean(text, limit))


def note(msg: str) -> None:
    """A stage's note (it may hold paths and ids with square brackets): plain text."""
    info(msg)


_live: list = []  # the progress bar on screen, if any: lines are printed above it, through its console


def _print(target: Console, text, **kw) -> None:
    # with a live bar on the terminal, a line printed to another console would land on the bar's line
    (_live[-1].console if _live else target).print(text, **kw)


def info(msg: str, *, markup: bool = False) -> None:
    """A line for the user, shown as written (brackets, control characters escaped). markup=True
    styles it with rich markup: then everything untrusted in it must go through `plain`."""
    _print(console, msg if markup else plain(msg), soft_wrap=True)


def verbatim(text: str) -> None:
    """Machine-readable output (e.g. --json): printed exactly, never wrapped or styled."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def warn(msg: str) -> None:
    _print(err_console, f"[yellow]warning:[/] {plain(msg)}", soft_wrap=True)


def error(msg: str) -> None:
    _print(err_console, f"[bold red]error:[/] {plain(msg)}", soft_wrap=True)


def table(title: str | None, columns: list[str], rows: list[list[object]]) -> None:
    """A table; cells are plain text (square brackets in ids and paths are shown, never parsed as markup);
    the title may carry markup, so callers pass what they interpolate into it through `plain`."""
    t = Table(title=title)
    for c in columns:
        t.add_column(plain(c))
    for r in rows:
        t.add_row(*(plain(x) for x in r))
    console.print(t)


PROGRESS_ENV = "ARC_PIPELINE_PROGRESS"  # "1": the bar even off a terminal; "0": no progress output at all
EVERY_ENV = "ARC_PIPELINE_PROGRESS_EVERY"  # seconds between plain records off a terminal (default 30)


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(max(seconds, 0))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def eta(by_rate: float | None, stop_at: float | None, now: float) -> tuple[float | None, bool]:
    """(seconds left, whether the time budget binds): the rate's estimate `by_rate`, cut to
    `stop_at` (when the stage's budget stops it) if that comes first."""
    by_budget = max(stop_at - now, 0.0) if stop_at else None
    if by_budget is not None and (by_rate is None or by_budget < by_rate):
        return by_budget, True
    return by_rate, False


class _BudgetRemaining(ProgressColumn):
    """Rich's remaining-time column, cut to the stage's budget (`stop_at` field) when that binds."""

    def render(self, task) -> Text:
        left, binds = eta(task.time_remaining, task.fields.get("stop_at"), time.time())
        return Text(("budget " if binds else "ETA ") + clock(left), style="progress.remaining")


class _Records:
    """Plain one-line progress records at a steady interval (logs, pipes, notebooks)."""

    def __init__(self, description, total, unit, stop_at, deadline, every, completed=0):
        self.description, self.total, self.unit = description, total, unit
        self.stop_at, self.deadline, self.every = stop_at, deadline, every
        self.t0, self.done, self.base, self.metrics, self.last, self.shown = time.time(), completed, completed, {}, None, completed

    def advance(self, n: int = 1, metrics: dict | None = None) -> None:
        self.done += n
        if metrics:
            self.metrics = metrics
        now = time.time()
        if self.last is None or now - self.last >= self.every:
            self.emit(now)

    def line(self, now: float) -> str:
        m, elapsed = self.metrics, now - self.t0
        total = f"/{self.total}" if self.total else ""
        pct = f" {100 * self.done / self.total:.0f}%" if self.total else ""
        parts = [f"progress {self.description} {self.unit} {self.done}{total}{pct}"]
        if "loss" in m:
            parts.append(f"loss {m['loss']:.4g}")
        if "exact_accuracy" in m:
            parts.append(f"exact {m['exact_accuracy']:.3f}")
        if "examples_per_s" in m:
            parts.append(f"{m['examples_per_s']:,.1f} examples/s")
        else:
            parts.append(f"{(self.done - self.base) / max(elapsed, 1e-9):,.1f} {self.unit}/s")
        ran = self.done - self.base
        by_rate = (self.total - self.done) * elapsed / ran if ran and self.total else None
        left, binds = eta(by_rate, self.stop_at, now)
        parts += [f"elapsed {clock(elapsed)}", f"ETA {clock(left)}" + (" (budget)" if binds else "")]
        if self.deadline:
            parts.append(f"budget left {clock(self.deadline - now)}")
        return " | ".join(parts)

    def emit(self, now: float) -> None:
        err_console.print(clean(self.line(now)), markup=False, highlight=False, soft_wrap=True)
        self.last, self.shown = now, self.done


@contextmanager
def progress(description: str, total: int | None, *, unit: str = "it", stop_at: float | None = None,
             deadline: float | None = None, completed: int = 0) -> Iterator[Advance]:
    """Progress of a long stage; yields `advance(n=1, metrics=None)` (metrics: the trainer's row).

    On a terminal: a bar with rate and ETA. Elsewhere (a pipe, a log file, a notebook): a plain
    record every ARC_PIPELINE_PROGRESS_EVERY seconds and at the end. The ETA is cut to `stop_at`
    (unix seconds at which the stage's time budget stops it) when that comes first; `deadline`
    (the run's) adds the time left in the budget; `completed` counts work done before (a resume)."""
    mode = os.environ.get(PROGRESS_ENV)
    if mode == "0":
        yield lambda n=1, metrics=None: None
        return
    if not (err_console.is_terminal or mode == "1"):
        rec = _Records(description, total, unit, stop_at, deadline, float(os.environ.get(EVERY_ENV) or 30),
                       completed)
        yield rec.advance
        if rec.done != rec.shown:
            rec.emit(time.time())
        return
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        _BudgetRemaining(),
    ]
    with Progress(*columns, console=err_console, transient=False) as bar:
        task = bar.add_task(description, total=total, completed=completed, rate="", stop_at=stop_at)
        _live.append(bar)

        def advance(n: int = 1, metrics: dict | None = None) -> None:
            bar.advance(task, n)
            m = metrics or {}
            speed = m.get("examples_per_s") or bar.tasks[task].speed
            if speed:
                what = "examples" if "examples_per_s" in m else unit
                loss = f" loss {m['loss']:.3g}" if "loss" in m else ""
                bar.update(task, rate=f"{speed:,.1f} {what}/s{loss}")

        try:
            yield advance
        finally:
            _live.remove(bar)
