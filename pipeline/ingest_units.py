"""Ingest's worker side: one piece of a training source (`arc.load.Unit`) read, filtered, checked
against the target for leaks, and written to the work folder as a small task store plus an index.

Workers run in separate processes (every core); what one writes depends on its piece alone, and
its index file is written last, atomically (`arc.io.write_json`): a piece whose index exists
is done, so a killed ingest resumes with the pieces it finished.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from arc_pipeline.arc.io import write_json
from arc_pipeline.arc.task import Task


def max_side(task: Task) -> int:
    grids = [p.input for p in task.train + task.test] + [p.output for p in task.train + task.test if p.output is not None]
    return max(max(g.shape) for g in grids)


@dataclass
class Targets:
    """What a training task is checked against: the target's test pairs (their inputs alone when the
    output is hidden), exactly and, unless `check` is "exact", up to symmetry."""

    check: str
    pairs: set = field(default_factory=set)
    inputs: set = field(default_factory=set)
    refs: dict = field(default_factory=dict)  # "solved" | "hidden" -> (PairCanon, key -> first index, [(task, test index)])


def make_targets(target: dict[str, Task], check: str) -> Targets:
    from arc_pipeline.arc.fingerprint import grid_key

    out = Targets(check)
    for t in target.values():
        for p in t.test:
            if p.output is None:
                out.inputs.add(grid_key(p.input))
            else:
                out.pairs.add((grid_key(p.input), grid_key(p.output)))
    if check == "exact":
        return out
    from arc_pipeline.augment.symmetry import canon_pairs

    for kind, with_output in (("solved", True), ("hidden", False)):
        refs = [(t.id, j, p) for t in target.values() for j, p in enumerate(t.test) if (p.output is not None) == with_output]
        if refs:
            ref = canon_pairs([r[2] for r in refs], permute_zero=check == "symmetry+zero", with_output=with_output)
            index = {k: i for i, k in reversed(list(enumerate(ref.keys)))}  # the first target pair of a key
            out.refs[kind] = (ref, index, [(r[0], r[1]) for r in refs])
    return out


def exact_leak(task: Task, targets: Targets) -> bool:
    """True when the task holds a target test pair (its input alone when the output is hidden)."""
    from arc_pipeline.arc.fingerprint import grid_key

    for p in task.train + task.test:
        ik = grid_key(p.input)
        if ik in targets.inputs or (p.output is not None and (ik, grid_key(p.output)) in targets.pairs):
            return True
    return False


def symmetric_leaks(tasks: list[Task], targets: Targets) -> list[tuple[int, str]]:
    """Per task (0 = none, 1 = a solved target pair, 2 = a hidden one; the target pair and the transform
    found): the first of its pairs equal to a target test pair up to symmetry."""
    from arc_pipeline.augment.symmetry import canon_pairs, describe, transform_between

    out = [(0, "")] * len(tasks)
    for level, (kind, with_output) in ((1, ("solved", True)), (2, ("hidden", False))):
        if kind not in targets.refs:
            continue
        ref, index, names = targets.refs[kind]
        mine = [(k, p) for k, t in enumerate(tasks) if not out[k][0] for p in (*t.train, *t.test)
                if not with_output or p.output is not None]
        got = canon_pairs([p for _, p in mine], permute_zero=targets.check == "symmetry+zero", with_output=with_output)
        for n, key in enumerate(got.keys):
            i = index.get(key)
            k = mine[n][0]
            if i is not None and not out[k][0]:
                aug = transform_between(ref, i, got, n)  # how the training copy was made from the target pair
                out[k] = (level, f"{names[i][0]} test {names[i][1]} ({describe(aug)})")
    return out


def ingest_unit(unit, seed: int, max_side_limit: int, targets: Targets, folder: Path) -> None:
    """Read `unit`, keep the tasks within `max_side_limit`, check them, and write `folder`: a task
    store (store/), their train.json text (texts.bin) and index.json (per task: id, where, problem,
    fingerprint, counts, leak flags), the last one written last."""
    from arc_pipeline.arc.fingerprint import task_fingerprint
    from arc_pipeline.arc.load import read_unit
    from arc_pipeline.arc.store import StoreWriter

    rows = read_unit(unit, seed=seed)
    kept = [(tid, place, task) for tid, place, task, _ in rows
            if task is not None and (not max_side_limit or max_side(task) <= max_side_limit)]
    tasks = [Task(tid, t.train, t.test) if t.id != tid else t for tid, _, t in kept]
    exact = [exact_leak(t, targets) for t in tasks]
    sym = [(0, "")] * len(tasks)
    if targets.check != "exact":
        pick = [k for k, e in enumerate(exact) if not e]  # an exact leak is not also reported up to symmetry
        for k, v in zip(pick, symmetric_leaks([tasks[k] for k in pick], targets)):
            sym[k] = v
    folder.mkdir(parents=True, exist_ok=True)
    writer = StoreWriter(folder / "store")
    ends = []
    with open(folder / "texts.bin", "wb") as f:
        for t in tasks:
            writer.add(t.id, t)
            f.write(json.dumps(t.to_json(with_solutions=True), separators=(",", ":")).encode())
            ends.append(f.tell())
    writer.close()
    index = {
        "rows": [[tid, place, problem] for tid, place, task, problem in rows],  # every id read, for duplicates
        "ids": [t.id for t in tasks],
        "fingerprint": [task_fingerprint(t) for t in tasks],
        "pairs": [len(t.train) for t in tasks],
        "tests": [len(t.test) for t in tasks],
        "max_side": [max_side(t) for t in tasks],
        "exact": exact,
        "sym_level": [s[0] for s in sym],
        "sym": [s[1] for s in sym],
        "text_end": ends,
    }
    write_json(folder / "index.json", index)  # atomic: a piece whose index exists is whole
