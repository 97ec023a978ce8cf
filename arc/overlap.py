"""Which tasks of one source are copies of, or leak answers from, another source (by content)."""

from __future__ import annotations

from dataclasses import dataclass, field

from arc_pipeline.arc.fingerprint import pair_key, task_fingerprint
from arc_pipeline.arc.task import TaskSet


@dataclass(frozen=True)
class Overlap:
    """Ids of B, in B's order. `identical`: same train pairs and same test pairs (as sets) as a task
    of A. `leaked`: at least one solved test pair (input and output) of B is a pair of A (train or
    test). The maps give, for each such B id, the A ids it matches. `symmetric` ("leaked up to
    symmetry", filled by `augment.symmetry.overlap`): not leaked, but a solved test pair of B is a
    pair of A under a dihedral transform and a colour permutation; `symmetric_from` gives, per B id,
    one match per such test pair (A task, A pair, the transform taking the A pair onto B's)."""

    identical: list[str]
    leaked: list[str]
    identical_to: dict[str, list[str]] = field(default_factory=dict)
    leaked_from: dict[str, list[str]] = field(default_factory=dict)
    symmetric: list[str] = field(default_factory=list)
    symmetric_from: dict[str, list[dict]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "identical": self.identical,
            "leaked": self.leaked,
            "identical_to": self.identical_to,
            "leaked_from": self.leaked_from,
            "symmetric": self.symmetric,
            "symmetric_from": self.symmetric_from,
        }


def overlap(a: TaskSet, b: TaskSet) -> Overlap:
    """Tasks of `b` identical to a task of `a`, and tasks of `b` whose test answers appear in `a`."""
    by_fp: dict[str, list[str]] = {}
    by_pair: dict[str, list[str]] = {}
    for t in a:
        by_fp.setdefault(task_fingerprint(t), []).append(t.id)
        for p in (*t.train, *t.test):
            if p.output is not None:  # a hidden output reveals nothing
                ids = by_pair.setdefault(pair_key(p), [])
                if not ids or ids[-1] != t.id:
                    ids.append(t.id)
    identical_to: dict[str, list[str]] = {}
    leaked_from: dict[str, list[str]] = {}
    for t in b:
        same = by_fp.get(task_fingerprint(t))
        if same:
            identical_to[t.id] = list(same)
        sources: list[str] = []
        for p in t.test:
            if p.output is not None:
                for aid in by_pair.get(pair_key(p), ()):
                    if aid not in sources:
                        sources.append(aid)
        if sources:
            leaked_from[t.id] = sources
    return Overlap(list(identical_to), list(leaked_from), identical_to, leaked_from)
