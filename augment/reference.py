"""The reference TRM's puzzle names (its dataset builder's `identifiers.json`) as augmentation records.

The reference names each augmented copy of a task `<task>|||t<k>|||<10 digits>`: `k` its dihedral
id, digit c the NEW colour of ORIGINAL colour c, so augmented = dihedral_k(digits[grid]); the plain
task id is the un-augmented task; index 0 is `<blank>`. Its dihedral ids number the group
differently from ours (`augment.records`): 4 is its left-right mirror (our 7), 6 its transpose (our
4), 7 its anti-transpose (our 6). Colour maps run the same way in both, and commute with the
dihedral part, so one record per name is exact. The list index is the puzzle id the reference
trained, kept as our puzzle id so the imported table needs no reordering.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.augment.records import N_COLORS, Aug

SEPARATOR = "|||"
BLANK = "<blank>"
# REFERENCE_DIHEDRAL[k] = our id of the reference's dihedral id k (checked on its own grids by the tests)
REFERENCE_DIHEDRAL = (0, 1, 2, 3, 7, 5, 4, 6)


def parse_name(name: str) -> tuple[str, Aug]:
    """(task id, record) of one reference puzzle name; ValueError when it is not one."""
    parts = name.split(SEPARATOR)
    if len(parts) == 1:
        return name, Aug.identity()
    if len(parts) != 3 or not parts[1].startswith("t") or not parts[1][1:].isdigit():
        raise ValueError(f"{name!r} is not <task>|||t<k>|||<10 colour digits>")
    k, digits = int(parts[1][1:]), parts[2]
    if not 0 <= k < len(REFERENCE_DIHEDRAL) or len(digits) != N_COLORS or not digits.isdigit():
        raise ValueError(f"{name!r}: dihedral id must be t0..t7 and the colour map 10 digits")
    return parts[0], Aug(REFERENCE_DIHEDRAL[k], tuple(int(d) for d in digits))


def read_identifiers(path: str | Path) -> list[str]:
    """The builder's list of puzzle names (index = puzzle identifier), checked."""
    path = Path(path)
    try:
        names = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ArcError(f"{path}: cannot read the reference identifiers ({e}); pass the dataset's identifiers.json") from None
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ArcError(f"{path}: expected a JSON list of puzzle names (the reference dataset's identifiers.json)")
    if names[0] != BLANK:
        raise ArcError(f"{path}: entry 0 is {names[0]!r}, expected {BLANK!r}; is this the reference's identifiers.json?")
    return names


def puzzle_map(names: list[str], origin: str = "identifiers.json") -> pl.DataFrame:
    """Our puzzle-map frame (puzzle_id, task_id, role, aug_index, dihedral, colors) of a name list.

    Every row is a trained row (the reference trains every identifier it lists). Duplicate
    (task, record) pairs would make two rows claim one augmentation: refused.
    """
    ids, tasks, augs, index, seen, count = [], [], [], [], set(), {}
    for i, name in enumerate(names[1:], start=1):
        try:
            task, aug = parse_name(name)
        except ValueError as e:
            raise ArcError(f"{origin}: entry {i}: {e}; the file is not a reference identifiers list") from None
        if (task, aug) in seen:
            raise ArcError(f"{origin}: entry {i} ({name!r}) repeats an augmentation of task {task}")
        seen.add((task, aug))
        ids.append(i)
        tasks.append(task)
        augs.append(aug.to_row())
        index.append(count.get(task, 0))
        count[task] = index[-1] + 1
    rows = np.stack(augs) if augs else np.zeros((0, 1 + N_COLORS), np.uint8)
    return pl.DataFrame({
        "puzzle_id": np.asarray(ids, dtype=np.int32), "task_id": tasks, "role": ["train"] * len(ids),
        "aug_index": np.asarray(index, dtype=np.int32), "dihedral": rows[:, 0], "colors": rows[:, 1:],
    })
