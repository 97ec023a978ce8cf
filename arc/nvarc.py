"""NVARC's published data (ARC Prize 2025 winners; see docs/nvarc.md for where each fact comes from).

Synthetic puzzles (Kaggle `sorokin/nvarc-synthetic-puzzles`, 103k puzzles): two subset folders,
`nvarc_training/` (mixes of ARC-AGI-2 training puzzles) and `nvarc_full/` (also mixes involving
ARC-AGI-2 evaluation puzzles), each `<anchor puzzle id>/<puzzle>.json`, a file holding one puzzle:
a JSON list of `{"input", "output"}` pairs (12 or more) that share one rule. One file is one task:
every pair but the last is a demonstration, the last is the test pair; the id is the file's stem.

Augmented puzzles (Kaggle `sorokin/nvarc-augmented-puzzles`, 3.2M rows): subset folders
(`arc2_training`, `arc2_evaluation6`, `concept`, `mini`, `rearc`, `nvarc_training`, `nvarc_full`),
each a Hugging Face `save_to_disk` dataset: `state.json` listing its `data-XXXXX-of-YYYYY.arrow`
shards (Arrow IPC streams) with columns `puzzle_name` (string) and `messages` (a list of
`{"role", "content"}`: user = an input grid, assistant = its output, as text, one line of digits
per row). A row is one already augmented copy of a puzzle; it becomes one task (every pair but the
last a demonstration, the last the test pair) with id `<puzzle_name>_<shard>_<row in shard>`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.arc.readers import Row
from arc_pipeline.arc.task import MAX_SIDE, Pair, Task
from arc_pipeline.arc.validate import TaskProblem

SYNTHETIC_SUBSETS = ("nvarc_training", "nvarc_full")
AUGMENTED_SUBSETS = ("arc2_training", "arc2_evaluation6", "concept", "mini", "rearc", "nvarc_training", "nvarc_full")
DOWNLOAD = "kaggle datasets download -d sorokin/nvarc-synthetic-puzzles, then unzip nvarc-synthetic-puzzles.zip"
STATE = "state.json"  # a Hugging Face save_to_disk folder: its shards, in order
# what each subset is, for the message that asks for one of them
_WHAT = {"nvarc_training": "mixes of ARC-AGI-2 training puzzles",
         "nvarc_full": "also mixes involving ARC-AGI-2 evaluation puzzles: not for scoring on arc2/evaluation",
         "arc2_evaluation6": "the ARC-AGI-2 evaluation tasks themselves: never train on it when scoring them"}


def is_hf_dataset(path: Path) -> bool:
    """True for a Hugging Face `save_to_disk` folder (state.json beside .arrow shards)."""
    return path.is_dir() and (path / STATE).is_file() and any(path.glob("*.arrow"))


def is_synthetic(path: Path) -> bool:
    """True for a folder inside one of the synthetic subsets (the subset or one anchor folder)."""
    return path.is_dir() and any(part in SYNTHETIC_SUBSETS for part in path.resolve().parts[-2:])


def check_root(path: Path) -> None:
    """An ArcError when `path` holds NVARC subset folders rather than being one: each subset is a
    separate source (and two of them hold ARC-AGI-2 evaluation material)."""
    subsets = sorted(d.name for d in path.iterdir() if d.is_dir() and (
        d.name in SYNTHETIC_SUBSETS or (d.name in AUGMENTED_SUBSETS and is_hf_dataset(d))))
    if not subsets:
        return
    notes = "; ".join(f"{s}: {_WHAT[s]}" for s in subsets if s in _WHAT)
    raise ArcError(f"{path}: holds NVARC's subset folder(s) {', '.join(subsets)}; pass one of them as a source, e.g. "
                   f"{path / subsets[0]}" + (f" ({notes})" if notes else ""))


def shards(path: Path) -> list[Path]:
    """The .arrow shards of a save_to_disk folder, in the order its state.json lists them."""
    state_file = path / STATE
    try:
        state = json.loads(state_file.read_text())
        names = [f["filename"] for f in state["_data_files"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ArcError(f"{state_file}: not a Hugging Face dataset state ({e}); expected "
                       '{"_data_files": [{"filename": "data-00000-of-00001.arrow"}, ...]}') from None
    missing = [n for n in names if not (path / n).is_file()]
    if missing:
        raise ArcError(f"{state_file} lists {', '.join(missing[:3])}, missing from {path}; download the dataset again")
    return [path / n for n in names]


def grid_text(text: object, where: str) -> np.ndarray:
    """A grid written as text, one line of digits per row ('012\\n340'), or `TaskProblem`."""
    if not isinstance(text, str):
        raise TaskProblem(f"{where}: expected a grid as text (rows of digits, one per line), got {type(text).__name__}")
    rows = text.strip("\n").split("\n")
    if not 1 <= len(rows) <= MAX_SIDE:
        raise TaskProblem(f"{where}: grid has {len(rows)} rows; a grid has 1..{MAX_SIDE} rows")
    width = len(rows[0])
    if not 1 <= width <= MAX_SIDE:
        raise TaskProblem(f"{where}: grid has {width} columns; a grid has 1..{MAX_SIDE} columns")
    for r, row in enumerate(rows):
        if len(row) != width:
            raise TaskProblem(f"{where}: ragged grid: row {r} has {len(row)} cells, row 0 has {width}")
        bad = next((c for c, ch in enumerate(row) if ch not in "0123456789"), None)
        if bad is not None:
            raise TaskProblem(f"{where}: cell (row {r}, col {bad}) is {row[bad]!r}; cells are digits 0..9")
    g = (np.frombuffer("".join(rows).encode(), dtype=np.uint8) - 48).reshape(len(rows), width)
    g.setflags(write=False)
    return g


def messages_task(messages: object, task_id: str, where: str) -> Task:
    """One task from a row's chat messages (user = input, assistant = output), or `TaskProblem`."""
    head = f"{where}: task {task_id}"
    if not isinstance(messages, list) or len(messages) < 4 or len(messages) % 2:
        n = len(messages) if isinstance(messages, list) else type(messages).__name__
        raise TaskProblem(f"{head}: 'messages' must alternate user/assistant over 2 or more pairs, got {n}")
    pairs = []
    for i in range(0, len(messages), 2):
        grids = []
        for j, role in ((i, "user"), (i + 1, "assistant")):
            m = messages[j]
            if not isinstance(m, dict) or m.get("role") != role:
                got = m.get("role") if isinstance(m, dict) else type(m).__name__
                raise TaskProblem(f"{head}, pair {i // 2}: message {j} should be the {role}'s, got {got!r}")
            grids.append(grid_text(m.get("content"), f"{head}, pair {i // 2}, field {'input' if role == 'user' else 'output'}"))
        pairs.append(Pair(*grids))
    return Task(task_id, tuple(pairs[:-1]), (pairs[-1],))


def read_shard(path: Path, shard: int) -> list[Row]:
    """Every row of one .arrow shard as a task (or the problem that stops it)."""
    import polars as pl

    try:
        frame = pl.read_ipc_stream(path, columns=["puzzle_name", "messages"])
    except Exception as e:  # polars raises several types for a broken or foreign file
        raise ArcError(f"{path}: cannot read it as a dataset shard with 'puzzle_name' and 'messages' columns ({e}); "
                       "download the dataset again") from None
    out: list[Row] = []
    for n, row in enumerate(frame.iter_rows()):
        name, messages = row
        tid = f"{name}_{shard}_{n}"
        where = f"{path} row {n}"
        try:
            out.append((tid, where, messages_task(messages, tid, where), None))
        except TaskProblem as e:
            out.append((tid, where, None, str(e)))
    return out
