"""All terminal output goes through here (rich). Library code returns values or takes callbacks."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Callable, Iterator

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

Advance = Callable[[int], None]


def info(msg: str, *, markup: bool = True) -> None:
    """A line for the user; pass markup=False for text that may hold square brackets."""
    console.print(msg if markup else escape(msg), soft_wrap=True)


def raw(text: str) -> None:
    """Machine-readable output (e.g. --json): printed exactly, never wrapped or styled."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def warn(msg: str) -> None:
    err_console.print(f"[yellow]warning:[/] {escape(msg)}", soft_wrap=True)


def error(msg: str) -> None:
    err_console.print(f"[bold red]error:[/] {escape(msg)}", soft_wrap=True)


def table(title: str | None, columns: list[str], rows: list[list[object]]) -> None:
    t = Table(title=title)
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*(str(x) for x in r))
    console.print(t)


@contextmanager
def progress(description: str, total: int | None, *, unit: str = "it") -> Iterator[Advance]:
    """A progress bar with rate and ETA; yields `advance(n)`. Quiet when stderr is not a terminal
    unless ARC_PIPELINE_PROGRESS=1."""
    enabled = err_console.is_terminal or os.environ.get("ARC_PIPELINE_PROGRESS") == "1"
    if not enabled:
        yield lambda n=1: None
        return
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=err_console, transient=False) as bar:
        task = bar.add_task(description, total=total, rate="")

        def advance(n: int = 1) -> None:
            bar.advance(task, n)
            speed = bar.tasks[task].speed
            if speed:
                bar.update(task, rate=f"{speed:,.1f} {unit}/s")

        yield advance


def debug_enabled() -> bool:
    return os.environ.get("ARC_PIPELINE_DEBUG") == "1" or "--debug" in sys.argv
