"""Turn raw JSON into `Task`s, or say exactly what is wrong and where.

Every problem message names the place (file, task, pair, field) so a user can find and fix it;
`parse_task` raises `TaskProblem` with that text and the loader gathers them into one `ArcError`.
"""

from __future__ import annotations

import json
import reprlib
from pathlib import Path

import numpy as np

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.arc.task import MAX_SIDE, N_COLORS, Pair, Task

# Allowed cell values as a set of types: `type(v) is int` rejects bool and float in one C-level pass.
_INT_ONLY = {int}


class TaskProblem(ValueError):
    """One invalid task; the message is complete (file, task, pair, field, what is wrong)."""


def read_json(path: Path, *, fix: str = "fix the file") -> object:
    """Parse a JSON file once; an error names the file (and line and column) and says `fix`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ArcError(f"{path}: file not found; check the path") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ArcError(f"{path}: cannot read the file ({e}); check it is a UTF-8 JSON file") from None
    try:
        return json.loads(text)
    except RecursionError:
        raise ArcError(f"{path}: JSON nested too deeply to be ARC data (lists inside lists beyond Python's limit); {fix}") from None
    except json.JSONDecodeError as e:
        raise ArcError(f"{path}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}; {fix}") from None
    except ValueError as e:  # a number past Python's int-string limit (4300 digits): no ARC value is that long
        raise ArcError(f"{path}: {str(e).split(';')[0]}; no ARC value has that many digits; {fix}") from None


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60
_REPR.maxlist = _REPR.maxdict = 6


def short_repr(v: object) -> str:
    """repr(v) cut to a few dozen characters (a bad cell may be a list of millions of items)."""
    return _REPR.repr(v)


def _type_name(v: object) -> str:
    return type(v).__name__


def parse_grid(raw: object, where: str) -> np.ndarray:
    """A validated read-only uint8 grid, or `TaskProblem` naming `where` (task, pair, field)."""
    if not isinstance(raw, list):
        raise TaskProblem(f"{where}: expected a list of rows, got {_type_name(raw)}")
    h = len(raw)
    if not 1 <= h <= MAX_SIDE:
        raise TaskProblem(f"{where}: grid has {h} rows; a grid has 1..{MAX_SIDE} rows")
    width = None
    for r, row in enumerate(raw):
        if not isinstance(row, list):
            raise TaskProblem(f"{where}: row {r} is a {_type_name(row)}, expected a list of ints")
        if width is None:
            width = len(row)
            if not 1 <= width <= MAX_SIDE:
                raise TaskProblem(f"{where}: grid has {width} columns; a grid has 1..{MAX_SIDE} columns")
        elif len(row) != width:
            raise TaskProblem(f"{where}: ragged grid: row {r} has {len(row)} cells, row 0 has {width}")
        if not set(map(type, row)) <= _INT_ONLY:
            c = next(c for c, v in enumerate(row) if type(v) is not int)
            raise TaskProblem(
                f"{where}: cell (row {r}, col {c}) is {short_repr(row[c])} ({_type_name(row[c])}); "
                f"cells must be ints 0..{N_COLORS - 1}"
            )
    try:
        g = np.array(raw, dtype=np.int64)
    except OverflowError:  # a colour beyond 64 bits, e.g. 10**30
        r, c = next((r, c) for r, row in enumerate(raw) for c, v in enumerate(row) if not -2**63 <= v < 2**63)
        raise TaskProblem(f"{where}: cell (row {r}, col {c}) is {raw[r][c]}; colours are ints 0..{N_COLORS - 1}") from None
    bad = (g < 0) | (g >= N_COLORS)
    if bad.any():
        r, c = (int(i) for i in np.argwhere(bad)[0])
        raise TaskProblem(
            f"{where}: cell (row {r}, col {c}) is {int(g[r, c])}; colours are ints 0..{N_COLORS - 1}"
        )
    out = g.astype(np.uint8)
    out.setflags(write=False)
    return out


def _parse_pair(raw: object, where: str, *, need_output: bool) -> Pair:
    if not isinstance(raw, dict):
        raise TaskProblem(f"{where}: expected an object with 'input'/'output', got {_type_name(raw)}")
    if "input" not in raw:
        raise TaskProblem(f"{where}: missing key 'input'")
    inp = parse_grid(raw["input"], f"{where}, field 'input'")
    if raw.get("output") is None:  # absent, or null (a hidden test output in a parquet row)
        if need_output:
            what = "missing key 'output'" if "output" not in raw else "'output' is null"
            raise TaskProblem(f"{where}: {what} (every train pair needs one)")
        return Pair(inp, None)
    return Pair(inp, parse_grid(raw["output"], f"{where}, field 'output'"))


def parse_task(raw: object, task_id: str, file: str | Path) -> Task:
    """A validated `Task` from its JSON object, or `TaskProblem` naming file, task, pair and field."""
    head = f"{file}: task {task_id}"
    if not isinstance(raw, dict):
        raise TaskProblem(f"{head}: expected an object with 'train' and 'test', got {_type_name(raw)}")
    pairs: dict[str, tuple[Pair, ...]] = {}
    for part in ("train", "test"):
        if part not in raw:
            raise TaskProblem(f"{head}: missing key '{part}'")
        items = raw[part]
        if not isinstance(items, list):
            raise TaskProblem(f"{head}: '{part}' is a {_type_name(items)}, expected a list of pairs")
        if not items:
            raise TaskProblem(f"{head}: '{part}' is empty; a task needs at least one {part} pair")
        pairs[part] = tuple(
            _parse_pair(p, f"{head}, {part} pair {i}", need_output=part == "train")
            for i, p in enumerate(items)
        )
    return Task(task_id, pairs["train"], pairs["test"])


def attach_solutions(task: Task, raw: object, file: str | Path) -> Task:
    """`task` with the test outputs of a Kaggle solutions entry (one grid per test input, in order)."""
    head = f"{file}: task {task.id}"
    if not isinstance(raw, list):
        raise TaskProblem(f"{head}: expected a list of output grids, got {_type_name(raw)}")
    if len(raw) != len(task.test):
        raise TaskProblem(
            f"{head}: {len(raw)} solution output(s) but the challenge has {len(task.test)} test "
            "input(s); the solutions file does not match the challenges file"
        )
    test = tuple(
        Pair(p.input, parse_grid(g, f"{head}, test pair {i}, solution output"))
        for i, (p, g) in enumerate(zip(task.test, raw))
    )
    return Task(task.id, task.train, test)
